/**
 * @module agent/metrics
 * Prometheus metrics under kube-proxy's names where the meaning is the same (dashboards and alerts
 * written for kube-proxy keep working), plus kpr's own under `kpr_`.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

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
  readonly programmingDuration: Histogram;
  readonly serviceChangesTotal: Counter;
  readonly endpointChangesTotal: Counter;
  readonly serviceChangesPending: Gauge;
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
    this.programmingDuration = new Histogram({
      name: 'kubeproxy_network_programming_duration_seconds',
      help: 'In-cluster network programming latency in seconds',
      buckets: PROGRAMMING_BUCKETS,
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
    ])
      m.zero(family);
  }
}
