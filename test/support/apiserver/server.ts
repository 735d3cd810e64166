/**
 * @module test/support/apiserver/server
 * A small Kubernetes API server for tests and benchmarks that speaks the real list/watch wire
 * protocol over plain HTTP on 127.0.0.1, so the real client-node informers can be driven end to
 * end: lists carry `metadata.resourceVersion`; `?watch=true&resourceVersion=N` replays the changes
 * after N then streams newline-delimited watch events (ADDED, MODIFIED, DELETED, BOOKMARK, and
 * ERROR with a 410 Status when N was compacted away); label and field selectors filter lists and
 * watches, with the API server's semantics for objects that start or stop matching (ADDED /
 * DELETED). Events can be POSTed and PATCHed. Test controls: change objects, send bookmarks,
 * compact history, drop watches, fail requests, stop and restart on the same port.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { once } from 'node:events';
import { parseFieldSelector, parseLabelSelector, type Selector } from './selectors.ts';
import { Store, typeMeta, type Change, type Resource, type StoredObject } from './store.ts';
import { applyPatch } from './patch.ts';

interface WatchConn {
  readonly resource: Resource;
  readonly matches: Selector;
  readonly bookmarks: boolean;
  readonly res: ServerResponse;
  readonly close: () => void;
}

export interface RequestRecord {
  readonly method: string;
  readonly resource: string;
  readonly watch: boolean;
  readonly query: string;
}

const COLLECTIONS: Record<string, Resource> = {
  '/api/v1/services': 'services',
  '/apis/discovery.k8s.io/v1/endpointslices': 'endpointslices',
  '/api/v1/nodes': 'nodes',
};
const NAMESPACED = /^\/api\/v1\/namespaces\/([^/]+)\/services$/;
const EVENTS =
  /^\/(?:api\/v1|apis\/events\.k8s\.io\/v1)\/namespaces\/([^/]+)\/events(?:\/([^/]+))?$/;

function status(code: number, reason: string, message: string): object {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    code,
  };
}

export class TestApiServer {
  readonly store: Store;
  /** Events received, by `namespace/name`, as last written. */
  readonly events = new Map<string, StoredObject>();
  readonly requests: RequestRecord[] = [];
  #server: Server | undefined;
  #port: number;
  readonly #sockets = new Set<Socket>();
  readonly #watches = new Set<WatchConn>();
  #failures: { count: number; code: number } = { count: 0, code: 500 };
  readonly #held = new Map<Resource, (() => void)[]>();

  constructor(opts: { port?: number; store?: Store } = {}) {
    this.store = opts.store ?? new Store();
    this.#port = opts.port ?? 0;
  }

  get port(): number {
    return this.#port;
  }

  get url(): string {
    return `http://127.0.0.1:${this.#port}`;
  }

  get watchCount(): number {
    return this.#watches.size;
  }

  async start(): Promise<void> {
    if (this.#server) return;
    const server = createServer((req, res) => this.#handle(req, res));
    server.on('connection', (s) => {
      this.#sockets.add(s);
      s.on('close', () => this.#sockets.delete(s));
    });
    server.listen(this.#port, '127.0.0.1');
    await once(server, 'listening');
    const addr = server.address();
    if (addr && typeof addr === 'object') this.#port = addr.port;
    this.#server = server;
  }

  /** Closes the listener and every connection at once, like an API server that crashed. */
  async stop(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    this.#server = undefined;
    this.dropWatches();
    for (const s of this.#sockets) s.destroy();
    const closed = once(server, 'close');
    server.close();
    server.closeAllConnections();
    await closed;
  }

  async restart(downMs = 0): Promise<void> {
    await this.stop();
    if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
    await this.start();
  }

  /** Ends every watch stream (the clients see a clean close and reconnect). */
  dropWatches(): void {
    for (const w of [...this.#watches]) w.close();
  }

  /** Sends a BOOKMARK at the current resourceVersion to watches that asked for bookmarks. */
  bookmark(): void {
    for (const w of this.#watches) {
      if (!w.bookmarks) continue;
      const { apiVersion, kind } = typeMeta(w.resource);
      const object = {
        apiVersion,
        kind,
        metadata: { resourceVersion: String(this.store.resourceVersion) },
      };
      w.res.write(JSON.stringify({ type: 'BOOKMARK', object }) + '\n');
    }
  }

  /** Compacts history: watches resuming from an earlier resourceVersion get 410 Gone. */
  expire(): void {
    this.store.compact();
  }

  /** The next `count` list or watch requests fail with `code`. */
  failRequests(count: number, code = 500): void {
    this.#failures = { count, code };
  }

  /** Holds list requests for `resource` (unanswered) until resume(). */
  pauseLists(resource: Resource): void {
    if (!this.#held.has(resource)) this.#held.set(resource, []);
  }

  resumeLists(resource: Resource): void {
    const held = this.#held.get(resource) ?? [];
    this.#held.delete(resource);
    for (const answer of held) answer();
  }

  put(resource: Resource, obj: StoredObject): StoredObject {
    return this.store.put(resource, obj);
  }

  delete(resource: Resource, namespace: string, name: string): boolean {
    return this.store.delete(resource, namespace, name);
  }

  /** Writes a kubeconfig pointing at this server; returns its text. */
  kubeconfig(): string {
    return [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '  - name: test',
      '    cluster:',
      `      server: ${this.url}`,
      '      insecure-skip-tls-verify: true',
      'users:',
      '  - name: test',
      '    user:',
      '      token: kpr-test-token',
      'contexts:',
      '  - name: test',
      '    context:',
      '      cluster: test',
      '      user: test',
      'current-context: test',
      '',
    ].join('\n');
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    const send = (code: number, body: object): void => {
      res.writeHead(code, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const ev = EVENTS.exec(url.pathname);
    if (ev) {
      this.#event(req, ev[1]!, ev[2], send);
      return;
    }
    const ns = NAMESPACED.exec(url.pathname);
    const resource = ns ? 'services' : COLLECTIONS[url.pathname];
    if (!resource || req.method !== 'GET') {
      send(404, status(404, 'NotFound', `${req.method} ${url.pathname} is not served here`));
      return;
    }
    const watch = url.searchParams.get('watch') === 'true';
    this.requests.push({ method: 'GET', resource, watch, query: url.search });
    if (this.#failures.count > 0) {
      this.#failures.count--;
      const c = this.#failures.code;
      send(c, status(c, 'InternalError', 'injected failure'));
      return;
    }
    let matches: Selector;
    try {
      const labels = parseLabelSelector(url.searchParams.get('labelSelector'));
      const fields = parseFieldSelector(url.searchParams.get('fieldSelector'));
      const nsOnly = ns?.[1];
      matches = (m) => (nsOnly === undefined || m.namespace === nsOnly) && labels(m) && fields(m);
    } catch (e) {
      send(400, status(400, 'BadRequest', (e as Error).message));
      return;
    }
    if (watch) this.#watch(resource, url, matches, res);
    else if (this.#held.has(resource))
      this.#held.get(resource)!.push(() => this.#list(resource, matches, send));
    else this.#list(resource, matches, send);
  }

  #list(resource: Resource, matches: Selector, send: (c: number, b: object) => void): void {
    const { apiVersion, kind } = typeMeta(resource);
    const items = this.store
      .list(resource)
      .filter((o) => matches(o.metadata))
      // As the real API server: list items carry no apiVersion/kind.
      .map(({ apiVersion: _a, kind: _k, ...rest }) => rest);
    send(200, {
      apiVersion,
      kind: `${kind}List`,
      metadata: { resourceVersion: String(this.store.resourceVersion) },
      items,
    });
  }

  #watch(resource: Resource, url: URL, matches: Selector, res: ServerResponse): void {
    const rvParam = url.searchParams.get('resourceVersion') ?? '';
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
    // As the real API server: the client sees the 200 at once, before any event.
    res.flushHeaders();
    const write = (type: string, object: unknown): void => {
      res.write(JSON.stringify({ type, object }) + '\n');
    };
    // Resuming from a compacted revision: an ERROR event with a 410 Status, then the end.
    let backlog: Change[];
    if (rvParam === '' || rvParam === '0') {
      backlog = this.store
        .list(resource)
        .map((object) => ({ rv: 0, resource, type: 'ADDED', object, previous: undefined }));
    } else {
      const since = this.store.since(Number(rvParam));
      if (!since) {
        const msg = `too old resource version: ${rvParam} (${this.store.compactedRevision})`;
        write('ERROR', status(410, 'Expired', msg));
        res.end();
        return;
      }
      backlog = since;
    }
    const deliver = (c: Change): void => {
      if (c.resource !== resource) return;
      const now = c.type !== 'DELETED' && matches(c.object.metadata);
      const before = c.previous !== undefined && matches(c.previous.metadata);
      if (c.type === 'DELETED') {
        if (before) write('DELETED', c.object);
      } else if (now && before) write('MODIFIED', c.object);
      else if (now) write('ADDED', c.object);
      else if (before) write('DELETED', c.object);
    };
    for (const c of backlog) deliver(c);
    const unsubscribe = this.store.subscribe(deliver);
    const timeout = Number(url.searchParams.get('timeoutSeconds') ?? 0);
    const timer = timeout > 0 ? setTimeout(() => conn.close(), timeout * 1000) : undefined;
    const conn: WatchConn = {
      resource,
      matches,
      bookmarks: url.searchParams.get('allowWatchBookmarks') === 'true',
      res,
      close: () => {
        if (!this.#watches.delete(conn)) return;
        clearTimeout(timer);
        unsubscribe();
        res.end();
      },
    };
    this.#watches.add(conn);
    res.on('close', () => conn.close());
  }

  #event(
    req: IncomingMessage,
    namespace: string,
    name: string | undefined,
    send: (c: number, b: object) => void,
  ): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      this.requests.push({ method: req.method ?? '', resource: 'events', watch: false, query: '' });
      let body: unknown;
      try {
        body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString()) : undefined;
      } catch {
        send(400, status(400, 'BadRequest', 'the body is not JSON'));
        return;
      }
      if (req.method === 'POST' && name === undefined) {
        const ev = body as StoredObject;
        const evName = ev?.metadata?.name;
        if (!evName) {
          send(422, status(422, 'Invalid', 'metadata.name is required'));
          return;
        }
        if (ev.metadata.namespace && ev.metadata.namespace !== namespace) {
          send(
            400,
            status(400, 'BadRequest', 'the namespace of the object does not match the URL'),
          );
          return;
        }
        const key = `${namespace}/${evName}`;
        if (this.events.has(key)) {
          send(409, status(409, 'AlreadyExists', `events "${evName}" already exists`));
          return;
        }
        const stored = { ...ev, metadata: { ...ev.metadata, namespace } };
        this.events.set(key, stored);
        send(201, stored);
        return;
      }
      if (req.method === 'PATCH' && name !== undefined) {
        const key = `${namespace}/${name}`;
        const cur = this.events.get(key);
        if (!cur) {
          send(404, status(404, 'NotFound', `events "${name}" not found`));
          return;
        }
        try {
          const next = applyPatch(cur, body, req.headers['content-type'] ?? '') as StoredObject;
          this.events.set(key, next);
          send(200, next);
        } catch (e) {
          send(422, status(422, 'Invalid', (e as Error).message));
        }
        return;
      }
      send(405, status(405, 'MethodNotAllowed', `${req.method} is not supported on events here`));
    });
  }
}
