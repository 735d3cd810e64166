/**
 * @module agent/health
 * kube-proxy's health semantics: the proxy is healthy unless an update has been queued for longer
 * than `timeoutMs` (2 × syncPeriod) without a successful sync. `/healthz` also requires the node to
 * be eligible (it exists, is not being deleted and is not marked for removal by the cluster
 * autoscaler), so cloud load balancers drain it; `/livez` does not, so a draining node's agent is
 * not restarted by its liveness probe.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { V1Node } from '@kubernetes/client-node';

/** The taint the cluster autoscaler puts on a node it is about to remove. */
export const TO_BE_DELETED_TAINT = 'ToBeDeletedByClusterAutoscaler';

export class HealthState {
  readonly #timeoutMs: number;
  readonly #now: () => number;
  #lastUpdated = 0;
  /** When the oldest update still waiting for a sync was queued; 0 = none. */
  #queuedSince = 0;
  /** True until a source reports this node as gone or going (sources without Nodes never do). */
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

/**
 * Whether a node should receive load-balancer traffic (KEP-3836): it exists, has no
 * deletionTimestamp, and carries no ToBeDeletedByClusterAutoscaler taint.
 */
export function nodeEligible(node: V1Node | undefined): boolean {
  if (!node) return false;
  if (node.metadata?.deletionTimestamp) return false;
  return !(node.spec?.taints ?? []).some((t) => t.key === TO_BE_DELETED_TAINT);
}

export type HealthPath = '/healthz' | '/livez';

/**
 * Answers /healthz and /livez; returns false for any other path so a caller can serve more
 * (the metrics server also answers /healthz, as kube-proxy's does). `onResponse` feeds counters.
 */
export function handleHealth(
  state: HealthState,
  req: IncomingMessage,
  res: ServerResponse,
  onResponse?: (path: HealthPath, status: number) => void,
): boolean {
  const path = (req.url ?? '/').split('?')[0];
  if (path !== '/healthz' && path !== '/livez') return false;
  const { status, body } = state.report(path === '/healthz');
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'X-Content-Type-Options': 'nosniff',
  });
  res.end(JSON.stringify(body));
  onResponse?.(path, status);
  return true;
}

/** Serves /healthz and /livez on `host:port`. */
export function serveHealth(
  state: HealthState,
  host: string,
  port: number,
  onResponse?: (path: HealthPath, status: number) => void,
): Promise<Server> {
  const server = createServer((req, res) => {
    if (!handleHealth(state, req, res, onResponse)) res.writeHead(404).end();
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
  return { host: m[1] || m[2] || '0.0.0.0', port };
}
