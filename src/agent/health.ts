/**
 * @module agent/health
 * kube-proxy's health semantics: the proxy is healthy unless an update has been queued for longer
 * than `timeoutMs` (2 × syncPeriod) without a successful sync. `/healthz` also requires the node to
 * be eligible (not being deleted); `/livez` does not, so a draining node is not restarted.
 */
import { createServer, type Server } from 'node:http';

export class HealthState {
  readonly #timeoutMs: number;
  readonly #now: () => number;
  #lastUpdated = 0;
  /** When the oldest update still waiting for a sync was queued; 0 = none. */
  #queuedSince = 0;
  nodeEligible = true;

  constructor(timeoutMs: number, now: () => number = Date.now) {
    this.#timeoutMs = timeoutMs;
    this.#now = now;
  }

  queued(): void {
    if (this.#queuedSince === 0) this.#queuedSince = this.#now();
  }

  updated(): void {
    this.#lastUpdated = this.#now();
    this.#queuedSince = 0;
  }

  healthy(): boolean {
    return this.#queuedSince === 0 || this.#now() - this.#queuedSince < this.#timeoutMs;
  }

  report(withEligibility: boolean): { status: number; body: Record<string, unknown> } {
    const healthy = this.healthy() && (!withEligibility || this.nodeEligible);
    const body: Record<string, unknown> = {
      lastUpdated: new Date(this.#lastUpdated).toISOString(),
      currentTime: new Date(this.#now()).toISOString(),
      healthy,
      status: {
        IPv4: { healthy: this.healthy(), lastUpdated: new Date(this.#lastUpdated).toISOString() },
      },
    };
    if (withEligibility) body.nodeEligible = this.nodeEligible;
    return { status: healthy ? 200 : 503, body };
  }
}

/** Serves /healthz and /livez on `host:port`. */
export function serveHealth(state: HealthState, host: string, port: number): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/healthz' && path !== '/livez') {
      res.writeHead(404).end();
      return;
    }
    const { status, body } = state.report(path === '/healthz');
    res.writeHead(status, {
      'Content-Type': 'application/json',
      'X-Content-Type-Options': 'nosniff',
    });
    res.end(JSON.stringify(body));
  });
  return listen(server, host, port);
}

export function listen(server: Server, host: string, port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

/** Splits `host:port` (`[v6]:port` allowed); an empty host means all addresses. */
export function parseBindAddress(s: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(s);
  const port = m ? Number(m[3]) : NaN;
  if (!m || !(port >= 0 && port <= 65535))
    throw new Error(`invalid bind address "${s}": expected host:port, e.g. 0.0.0.0:10256`);
  return { host: m[1] ?? m[2] ?? '0.0.0.0', port };
}
