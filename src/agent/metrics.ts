/**
 * @module agent/metrics
 * Prometheus metrics under kube-proxy's names where the meaning is the same (dashboards and alerts
 * written for kube-proxy keep working), plus kpr's own under `kpr_`. Who observes what:
 * - the agent loop (agent.ts): sync durations, last sync/queued timestamps, change totals, sync
 *   errors, invalid objects, and `programmingDuration` (kpr's receipt-to-programmed latency);
 * - the source tap (source-tap.ts): `networkProgrammingDuration` from the EndpointSlice
 *   annotation, and the pending-change gauges;
 * - the CLI: map entries and capacity after each sync, and the health endpoints' counters.
 */
import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { handleHealth, listen, type HealthPath, type HealthState } from './health.ts';

/** kube-proxy's sync buckets: 1 ms doubling, 15 buckets. */
const SYNC_BUCKETS = Array.from({ length: 15 }, (_, i) => 0.001 * 2 ** i);
/** kube-proxy's network-programming buckets, from 0.25 s up to 5 min. */
const PROGRAMMING_BUCKETS = [
  0.25,
  0.5,
  ...Array.from({ length: 59 }, (_, i) => i + 1),
  ...Array.from({ length: 12 }, (_, i) => 60 + 5 * i),
  ...Array.from({ length: 7 }, (_, i) => 120 + 30 * i),
];

export class AgentMetrics {
  readonly registry = new Registry();
  readonly syncDuration: Histogram;
  readonly syncFullDuration: Histogram;
  readonly syncPartialDuration: Histogram;
  readonly lastSync: Gauge;
  readonly lastQueued: Gauge;
  /**
   * kpr's own share of programming latency: from the agent receiving a change to the dataplane
   * having programmed it. Exported as `kpr_change_programming_duration_seconds`; kube-proxy's
   * end-to-end metric is `networkProgrammingDuration`.
   */
  readonly programmingDuration: Histogram;
  /** kube-proxy's end-to-end latency, from `endpoints.kubernetes.io/last-change-trigger-time`. */
  readonly networkProgrammingDuration: Histogram;
  readonly serviceChangesTotal: Counter;
  readonly endpointChangesTotal: Counter;
  readonly serviceChangesPending: Gauge;
  readonly endpointChangesPending: Gauge;
  readonly healthzTotal: Counter<'code'>;
  readonly livezTotal: Counter<'code'>;
  readonly syncErrors: Counter<'dataplane'>;
  readonly invalidObjects: Counter;
  readonly mapEntries: Gauge<'map'>;
  readonly mapCapacity: Gauge<'map'>;

  constructor(dataplane: string) {
    const r = [this.registry];
    const family = { ip_family: 'IPv4' };
    this.registry.setDefaultLabels({});
    collectDefaultMetrics({ register: this.registry, prefix: 'kpr_' });
    this.syncDuration = new Histogram({
      name: 'kubeproxy_sync_proxy_rules_duration_seconds',
      help: 'SyncProxyRules latency in seconds',
      buckets: SYNC_BUCKETS,
      registers: r,
      labelNames: ['ip_family'],
    });
    this.syncFullDuration = new Histogram({
      name: 'kubeproxy_sync_full_proxy_rules_duration_seconds',
      help: 'Full SyncProxyRules latency in seconds',
      buckets: SYNC_BUCKETS,
      registers: r,
      labelNames: ['ip_family'],
    });
    this.syncPartialDuration = new Histogram({
      name: 'kubeproxy_sync_partial_proxy_rules_duration_seconds',
      help: 'Partial SyncProxyRules latency in seconds',
      buckets: SYNC_BUCKETS,
      registers: r,
      labelNames: ['ip_family'],
    });
    this.lastSync = new Gauge({
      name: 'kubeproxy_sync_proxy_rules_last_timestamp_seconds',
      help: 'The last time proxy rules were successfully synced',
      registers: r,
      labelNames: ['ip_family'],
    });
    this.lastQueued = new Gauge({
      name: 'kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds',
      help: 'The last time a sync of proxy rules was queued',
      registers: r,
      labelNames: ['ip_family'],
    });
    this.networkProgrammingDuration = new Histogram({
      name: 'kubeproxy_network_programming_duration_seconds',
      help: 'In-cluster network programming latency in seconds',
      buckets: PROGRAMMING_BUCKETS,
      registers: r,
      labelNames: ['ip_family'],
    });
    this.programmingDuration = new Histogram({
      name: 'kpr_change_programming_duration_seconds',
      help: 'Time from the agent receiving a Service or EndpointSlice change to the dataplane having programmed it',
      buckets: SYNC_BUCKETS,
      registers: r,
      labelNames: ['ip_family'],
    });
    this.serviceChangesTotal = new Counter({
      name: 'kubeproxy_sync_proxy_rules_service_changes_total',
      help: 'Cumulative proxy rules Service changes',
      registers: r,
      labelNames: ['ip_family'],
    });
    this.endpointChangesTotal = new Counter({
      name: 'kubeproxy_sync_proxy_rules_endpoint_changes_total',
      help: 'Cumulative proxy rules Endpoint changes',
      registers: r,
      labelNames: ['ip_family'],
    });
    this.serviceChangesPending = new Gauge({
      name: 'kubeproxy_sync_proxy_rules_service_changes_pending',
      help: 'Pending proxy rules Service changes',
      registers: r,
      labelNames: ['ip_family'],
    });
    this.endpointChangesPending = new Gauge({
      name: 'kubeproxy_sync_proxy_rules_endpoint_changes_pending',
      help: 'Pending proxy rules Endpoint changes',
      registers: r,
      labelNames: ['ip_family'],
    });
    this.healthzTotal = new Counter({
      name: 'kubeproxy_proxy_healthz_total',
      help: 'Cumulative proxy healthz HTTP status',
      labelNames: ['code'],
      registers: r,
    });
    this.livezTotal = new Counter({
      name: 'kubeproxy_proxy_livez_total',
      help: 'Cumulative proxy livez HTTP status',
      labelNames: ['code'],
      registers: r,
    });
    this.syncErrors = new Counter({
      name: 'kpr_sync_errors_total',
      help: 'Dataplane syncs that failed (each forces a full resync)',
      labelNames: ['dataplane'],
      registers: r,
    });
    this.invalidObjects = new Counter({
      name: 'kpr_invalid_objects_total',
      help: 'Services and EndpointSlices refused as invalid or conflicting',
      registers: r,
    });
    this.mapEntries = new Gauge({
      name: 'kpr_bpf_map_entries',
      help: 'Entries in each eBPF map',
      labelNames: ['map'],
      registers: r,
    });
    this.mapCapacity = new Gauge({
      name: 'kpr_bpf_map_capacity',
      help: 'Capacity (max_entries) of each eBPF map',
      labelNames: ['map'],
      registers: r,
    });
    this.syncErrors.inc({ dataplane }, 0);
    for (const m of [
      this.syncDuration,
      this.syncFullDuration,
      this.syncPartialDuration,
      this.programmingDuration,
      this.networkProgrammingDuration,
    ])
      m.zero(family);
    for (const m of [this.serviceChangesTotal, this.endpointChangesTotal]) m.inc(family, 0);
    for (const m of [this.serviceChangesPending, this.endpointChangesPending]) m.set(family, 0);
  }
}

/** Counts health responses by code, as kube-proxy's `proxy_healthz_total` / `proxy_livez_total`. */
export function healthCounter(m: AgentMetrics): (path: HealthPath, status: number) => void {
  return (path, status) =>
    (path === '/healthz' ? m.healthzTotal : m.livezTotal).inc({ code: String(status) });
}

/**
 * kube-proxy's metrics server: `/metrics`, `/healthz` and `/livez` (same answers as the health
 * server), and `/proxyMode` (the dataplane's name, which some installers read).
 */
export function serveMetrics(
  m: AgentMetrics,
  health: HealthState,
  mode: string,
  host: string,
  port: number,
): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/metrics') {
      m.registry.metrics().then(
        (text) => res.writeHead(200, { 'Content-Type': m.registry.contentType }).end(text),
        (e: unknown) => res.writeHead(500).end(`cannot collect metrics: ${String(e)}\n`),
      );
    } else if (path === '/proxyMode') {
      res.writeHead(200, { 'Content-Type': 'text/plain' }).end(mode);
    } else if (!handleHealth(health, req, res, healthCounter(m))) {
      res.writeHead(404).end();
    }
  });
  return listen(server, host, port);
}
