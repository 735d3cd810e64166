/**
 * @module test/support/apiserver/main
 * Runs the test API server as its own process, for the lab's `--source kubernetes` mode: the API
 * listens on 127.0.0.1:PORT of whatever network namespace the process was started in (the lab's
 * node, where the agent runs), and a control API listens on a unix socket, which is reachable
 * from every network namespace because it is found through the filesystem. The process outlives
 * the `kpr lab up` that started it, so the control channel cannot be a pipe to the parent.
 *
 *   node main.ts --port 6443 --control /run/kpr/labs/NAME/apiserver.sock
 *
 * Control API (JSON bodies and answers; see src/lab/apiserver.ts for the client):
 *   GET    /info                          port, resourceVersion, compactedRevision, watches, ...
 *   GET    /kubeconfig                    a kubeconfig for the API (text)
 *   GET    /objects/RESOURCE              every stored object of RESOURCE
 *   POST   /objects   {resource, objects} create or replace objects; answers the stored versions
 *   DELETE /objects/RESOURCE/NS/NAME      delete one object (NS is ignored for nodes)
 *   GET    /events                        Events the clients posted
 *   GET    /requests?since=N              list/watch request records from index N
 *   POST   /expire | /drop-watches | /bookmark | /stop | /start
 *   POST   /fail  {count, code}           fail the next COUNT list/watch requests
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import { unlink } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { TestApiServer } from './server.ts';
import { RESOURCES, type Resource, type StoredObject } from './store.ts';

class ControlError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

function resourceOf(s: unknown): Resource {
  if (typeof s === 'string' && (RESOURCES as readonly string[]).includes(s)) return s as Resource;
  throw new ControlError(400, `unknown resource ${JSON.stringify(s)}; use ${RESOURCES.join(', ')}`);
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  if (chunks.length === 0) return {};
  try {
    return JSON.parse(Buffer.concat(chunks).toString()) as unknown;
  } catch {
    throw new ControlError(400, 'the request body is not JSON');
  }
}

const { values } = parseArgs({
  options: { port: { type: 'string', default: '0' }, control: { type: 'string' } },
});
if (!values.control) {
  process.stderr.write('usage: main.ts --port PORT --control SOCKET_PATH\n');
  process.exit(2);
}
const controlPath = values.control;
const api = new TestApiServer({ port: Number(values.port) });
let running = false;

async function route(req: IncomingMessage): Promise<unknown> {
  const url = new URL(req.url ?? '/', 'http://control');
  const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
  const method = req.method ?? 'GET';
  const at = `${method} /${parts.join('/')}`;
  if (at === 'GET /info')
    return {
      pid: process.pid,
      port: api.port,
      running,
      resourceVersion: api.store.resourceVersion,
      compactedRevision: api.store.compactedRevision,
      watches: api.watchCount,
      requests: api.requests.length,
      events: api.events.size,
    };
  if (at === 'GET /kubeconfig') return api.kubeconfig();
  if (at === 'GET /events') return [...api.events.values()];
  if (at === 'GET /requests') {
    const since = Number(url.searchParams.get('since') ?? 0);
    return api.requests.slice(since).map((r, i) => ({ index: since + i, ...r }));
  }
  if (method === 'GET' && parts[0] === 'objects' && parts.length === 2)
    return api.store.list(resourceOf(parts[1]));
  if (at === 'POST /objects') {
    const body = (await readBody(req)) as { resource?: unknown; objects?: unknown };
    const resource = resourceOf(body.resource);
    if (!Array.isArray(body.objects)) throw new ControlError(400, 'objects must be an array');
    try {
      return (body.objects as StoredObject[]).map((o) => api.put(resource, o));
    } catch (e) {
      throw new ControlError(422, (e as Error).message);
    }
  }
  if (method === 'DELETE' && parts[0] === 'objects' && parts.length === 4)
    return { deleted: api.delete(resourceOf(parts[1]), parts[2]!, parts[3]!) };
  if (at === 'POST /expire') return void api.expire();
  if (at === 'POST /drop-watches') return void api.dropWatches();
  if (at === 'POST /bookmark') return void api.bookmark();
  if (at === 'POST /fail') {
    const body = (await readBody(req)) as { count?: unknown; code?: unknown };
    api.failRequests(Number(body.count ?? 1), Number(body.code ?? 500));
    return undefined;
  }
  if (at === 'POST /stop') {
    running = false;
    await api.stop();
    return undefined;
  }
  if (at === 'POST /start') {
    await api.start();
    running = true;
    return undefined;
  }
  throw new ControlError(404, `${at} is not a control request`);
}

function answer(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(body ?? null));
}

const control = createServer((req, res) => {
  route(req).then(
    (body) => answer(res, 200, body),
    (e: unknown) =>
      answer(res, e instanceof ControlError ? e.status : 500, { error: (e as Error).message }),
  );
});

async function shutdown(signal: string): Promise<void> {
  process.stderr.write(`apiserver: ${signal}, stopping\n`);
  control.close();
  await api.stop();
  await unlink(controlPath).catch(() => undefined);
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));

// A socket file left by a killed predecessor would make listen fail with EADDRINUSE.
await unlink(controlPath).catch(() => undefined);
await api.start();
running = true;
control.listen(controlPath);
await once(control, 'listening');
process.stderr.write(`apiserver: serving ${api.url}, control ${controlPath}\n`);
