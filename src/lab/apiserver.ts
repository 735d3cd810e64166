/**
 * @module lab/apiserver
 * The lab's Kubernetes API (`kpr lab up --source kubernetes`): the test API server of
 * test/support/apiserver, run as a detached process inside the node's network namespace (where the
 * agent runs, so 127.0.0.1 there is the only address it needs) and inside the lab's cgroup (so
 * `down` finds it even without state.json). The lab writes a kubeconfig for it, seeds it with the
 * lab's Node, Services and EndpointSlices, and drives it through a control socket in the lab's
 * state folder: change objects, compact history (410 Gone), drop watches, stop and start.
 */
import { request } from 'node:http';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KprError, errorMessage } from '../util/errors.ts';
import {
  labNodeObject,
  labServiceObject,
  labSliceObject,
  type LabApiObject,
  type LabApiResource,
} from './kube-objects.ts';
import type { EndpointOverrides } from './manifests.ts';
import { isAlive, netnsCgroupArgv, REPO_ROOT, spawnDetached, stopProcess } from './processes.ts';
import { logTail } from './ready.ts';
import { apiServerLogPath, apiServerSocketPath, kubeconfigPath } from './state.ts';
import { serviceAt, type LabLayout } from './topology.ts';

export type { LabApiObject, LabApiResource } from './kube-objects.ts';

/** The API's port on 127.0.0.1 of the node netns (private to the lab, so a fixed port is safe). */
export const LAB_API_PORT = 6443;
export const APISERVER_MAIN = join(REPO_ROOT, 'test', 'support', 'apiserver', 'main.ts');
/** Objects per control request while seeding: 100000 Services must not be one huge body. */
const SEED_BATCH = 1000;

export interface LabApiInfo {
  readonly pid: number;
  readonly port: number;
  /** False between stop() and start(). */
  readonly running: boolean;
  readonly resourceVersion: number;
  /** Watches resuming from a resourceVersion below this get 410 Gone. */
  readonly compactedRevision: number;
  readonly watches: number;
  /** How many list/watch requests the server has recorded (indexes for requests()). */
  readonly requests: number;
  readonly events: number;
}

/** One list or watch request the server received. */
export interface LabApiRequest {
  readonly index: number;
  readonly method: string;
  readonly resource: string;
  readonly watch: boolean;
  /** The query string, e.g. `?resourceVersion=120&watch=true&...`. */
  readonly query: string;
}

function call<T>(name: string, method: string, path: string, body?: unknown): Promise<T> {
  const socketPath = apiServerSocketPath(name);
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise<T>((resolve, reject) => {
    const req = request(
      {
        socketPath,
        method,
        path,
        headers: payload ? { 'Content-Type': 'application/json' } : {},
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          let parsed: unknown;
          try {
            parsed = JSON.parse(Buffer.concat(chunks).toString() || 'null');
          } catch {
            parsed = { error: 'the control answer is not JSON' };
          }
          if ((res.statusCode ?? 500) >= 400)
            reject(
              new KprError(
                'KPR_ERR_LAB_APISERVER',
                `lab ${name} API server refused ${method} ${path}: ${(parsed as { error?: string })?.error ?? res.statusCode}`,
              ),
            );
          else resolve(parsed as T);
        });
      },
    );
    req.on('error', (e: NodeJS.ErrnoException) => {
      const advice =
        e.code === 'ENOENT' || e.code === 'ECONNREFUSED'
          ? `; the lab has no running API server: only labs brought up with \`--source kubernetes\` have one (see ${apiServerLogPath(name)})`
          : '';
      reject(
        new KprError(
          'KPR_ERR_LAB_APISERVER',
          `cannot reach lab ${name}'s API server at ${socketPath}: ${e.message}${advice}`,
          { cause: e },
        ),
      );
    });
    req.end(payload);
  });
}

/** A handle on a lab's API server; every call goes through its control socket. */
export interface LabApiServer {
  info(): Promise<LabApiInfo>;
  /** Creates or replaces objects; answers the stored versions (with resourceVersion and uid). */
  put(resource: LabApiResource, ...objects: LabApiObject[]): Promise<LabApiObject[]>;
  /** Deletes one object; false when it did not exist. `namespace` is ignored for nodes. */
  delete(resource: LabApiResource, namespace: string, name: string): Promise<boolean>;
  list(resource: LabApiResource): Promise<LabApiObject[]>;
  /** Events the agent posted (Warning Events for refused objects). */
  events(): Promise<LabApiObject[]>;
  /** List and watch requests from index `since` on. */
  requests(since?: number): Promise<LabApiRequest[]>;
  /** Compacts history: a watch that resumes from an older resourceVersion gets 410 Gone. */
  expire(): Promise<void>;
  /** Ends every watch stream cleanly; clients resume from their last resourceVersion. */
  dropWatches(): Promise<void>;
  /** Sends a BOOKMARK at the current resourceVersion to every watch that allows them. */
  bookmark(): Promise<void>;
  /** Closes the API and every connection, as a crashed API server; objects can still change. */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** The next `count` list/watch requests fail with HTTP `code`. */
  failRequests(count: number, code?: number): Promise<void>;
  /**
   * An outage the clients cannot watch through: stops the API, runs `during` (changes made then
   * reach clients only when they come back), compacts history when `expire` (the default), so
   * every client resumes into 410 Gone and must re-list, and starts the API again.
   */
  outage(during: () => Promise<void>, opts?: { expire?: boolean }): Promise<void>;
}

export function labApiServer(name: string): LabApiServer {
  const post = (path: string, body?: unknown): Promise<void> =>
    call<unknown>(name, 'POST', path, body).then(() => undefined);
  const api: LabApiServer = {
    info: () => call(name, 'GET', '/info'),
    put: (resource, ...objects) => call(name, 'POST', '/objects', { resource, objects }),
    delete: (resource, namespace, objName) =>
      call<{ deleted: boolean }>(
        name,
        'DELETE',
        `/objects/${resource}/${encodeURIComponent(namespace || '-')}/${encodeURIComponent(objName)}`,
      ).then((r) => r.deleted),
    list: (resource) => call(name, 'GET', `/objects/${resource}`),
    events: () => call(name, 'GET', '/events'),
    requests: (since = 0) => call(name, 'GET', `/requests?since=${since}`),
    expire: () => post('/expire'),
    dropWatches: () => post('/drop-watches'),
    bookmark: () => post('/bookmark'),
    stop: () => post('/stop'),
    start: () => post('/start'),
    failRequests: (count, code = 500) => post('/fail', { count, code }),
    outage: async (during, opts = {}) => {
      await api.stop();
      try {
        await during();
        if (opts.expire ?? true) await api.expire();
      } finally {
        await api.start();
      }
    },
  };
  return api;
}

/**
 * Starts the lab's API server in the node netns and the lab cgroup, waits for its control socket,
 * and writes the agent's kubeconfig. Returns the server's pid.
 */
export async function startLabApiServer(layout: LabLayout, labCgroup: string): Promise<number> {
  const cgroup = join(labCgroup, 'apiserver');
  await mkdir(cgroup, { recursive: true });
  const argv = netnsCgroupArgv(layout.nodeNetns, cgroup, [
    process.execPath,
    APISERVER_MAIN,
    '--port',
    String(LAB_API_PORT),
    '--control',
    apiServerSocketPath(layout.name),
  ]);
  const pid = await spawnDetached(argv, apiServerLogPath(layout.name));
  const api = labApiServer(layout.name);
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      await api.info();
      break;
    } catch (e) {
      if (!(await isAlive(pid)) || Date.now() > deadline) {
        throw new KprError(
          'KPR_ERR_LAB_APISERVER',
          `lab ${layout.name}: the API server (pid ${pid}) did not start (${errorMessage(e)}).\nLast lines of ${apiServerLogPath(layout.name)}:\n${await logTail(apiServerLogPath(layout.name), 20)}`,
        );
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  await writeFile(
    kubeconfigPath(layout.name),
    await call<string>(layout.name, 'GET', '/kubeconfig'),
  );
  return pid;
}

/** Stores the lab's Node, Services and EndpointSlices, in batches; reports progress per batch. */
export async function seedLabApiServer(
  layout: LabLayout,
  overrides: EndpointOverrides,
  onBatch?: (done: number, total: number) => void,
): Promise<void> {
  const api = labApiServer(layout.name);
  await api.put('nodes', labNodeObject(layout));
  for (let first = 0; first < layout.services; first += SEED_BATCH) {
    const last = Math.min(first + SEED_BATCH, layout.services);
    const svcs = [];
    for (let i = first; i < last; i++) svcs.push(serviceAt(layout, i));
    // Slices first: the agent then programs each Service with its endpoints at once.
    await api.put('endpointslices', ...svcs.map((s) => labSliceObject(layout, s, overrides)));
    await api.put('services', ...svcs.map(labServiceObject));
    onBatch?.(last, layout.services);
  }
}

/** Stops the lab's API server (SIGTERM, then SIGKILL), only if `pid` still is that server. */
export async function stopLabApiServer(name: string, pid: number): Promise<void> {
  await stopProcess(pid, apiServerSocketPath(name), 'SIGTERM', 3000);
}
