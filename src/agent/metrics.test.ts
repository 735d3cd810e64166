import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { HealthState } from './health.ts';
import { AgentMetrics, serveMetrics } from './metrics.ts';

/** The names existing kube-proxy dashboards and alerts query, plus kpr's own. */
const EXPECTED = [
  'kubeproxy_sync_proxy_rules_duration_seconds',
  'kubeproxy_sync_full_proxy_rules_duration_seconds',
  'kubeproxy_sync_partial_proxy_rules_duration_seconds',
  'kubeproxy_sync_proxy_rules_last_timestamp_seconds',
  'kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds',
  'kubeproxy_network_programming_duration_seconds',
  'kubeproxy_sync_proxy_rules_service_changes_total',
  'kubeproxy_sync_proxy_rules_endpoint_changes_total',
  'kubeproxy_sync_proxy_rules_service_changes_pending',
  'kubeproxy_sync_proxy_rules_endpoint_changes_pending',
  'kubeproxy_proxy_healthz_total',
  'kubeproxy_proxy_livez_total',
  'kpr_sync_errors_total',
  'kpr_invalid_objects_total',
  'kpr_bpf_map_entries',
  'kpr_bpf_map_capacity',
  'kpr_change_programming_duration_seconds',
];

test('the metrics server serves every metric name, /proxyMode and the health paths', async () => {
  const metrics = new AgentMetrics('nftables');
  const health = new HealthState(60_000);
  metrics.mapEntries.set({ map: 'services' }, 3);
  metrics.lastSync.set({ ip_family: 'IPv4' }, 1);
  metrics.lastQueued.set({ ip_family: 'IPv4' }, 1);
  const server = await serveMetrics(metrics, health, 'nftables', '127.0.0.1', 0);
  try {
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    health.nodeEligible = false;
    assert.equal((await fetch(`${base}/healthz`)).status, 503);
    assert.equal((await fetch(`${base}/livez`)).status, 200);
    const res = await fetch(`${base}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
    const text = await res.text();
    for (const name of EXPECTED) assert.match(text, new RegExp(`^# TYPE ${name} `, 'm'), name);
    assert.match(text, /^kubeproxy_proxy_healthz_total\{code="200"\} 1$/m);
    assert.match(text, /^kubeproxy_proxy_healthz_total\{code="503"\} 1$/m);
    assert.match(text, /^kubeproxy_proxy_livez_total\{code="200"\} 1$/m);
    assert.match(
      text,
      /^kubeproxy_sync_proxy_rules_duration_seconds_bucket\{le="0.001",ip_family="IPv4"\} 0$/m,
    );
    assert.match(text, /^kpr_bpf_map_entries\{map="services"\} 3$/m);
    const mode = await fetch(`${base}/proxyMode`);
    assert.equal(await mode.text(), 'nftables');
    assert.equal((await fetch(`${base}/nope`)).status, 404);
  } finally {
    server.close();
  }
});
