import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1EndpointSlice, V1Node } from '@kubernetes/client-node';
import type { Source, SourceHandler } from '../sources/types.ts';
import { memoryLogger } from '../util/log.ts';
import { HealthState } from './health.ts';
import { AgentMetrics } from './metrics.ts';
import { SourceTap, TRIGGER_TIME_ANNOTATION, ZONE_LABEL } from './source-tap.ts';

class FakeSource implements Source {
  handler: SourceHandler | undefined;
  start(h: SourceHandler): Promise<void> {
    this.handler = h;
    return Promise.resolve();
  }
  stop(): Promise<void> {
    return Promise.resolve();
  }
}

const noop: SourceHandler = {
  onService: () => {},
  onEndpointSlice: () => {},
  onSynced: () => {},
  onInvalid: () => {},
};

const slice = (trigger: string | undefined): V1EndpointSlice => ({
  addressType: 'IPv4',
  endpoints: [],
  metadata: {
    name: 's1',
    namespace: 'ns',
    labels: { 'kubernetes.io/service-name': 'svc' },
    ...(trigger ? { annotations: { [TRIGGER_TIME_ANNOTATION]: trigger } } : {}),
  },
});

async function value(m: AgentMetrics, name: string): Promise<number[]> {
  const metric = (await m.registry.getMetricsAsJSON()).find((x) => x.name === name);
  return (metric?.values ?? []).map((v) => v.value);
}

test('programming latency comes from new trigger times after startup, once each', async () => {
  let now = Date.parse('2026-01-01T00:00:10Z');
  const metrics = new AgentMetrics('ebpf');
  const inner = new FakeSource();
  const tap = new SourceTap(inner, { log: memoryLogger(), metrics, now: () => now });
  await tap.start(noop);
  const h = inner.handler!;
  h.onEndpointSlice('ns', 's0', slice('2026-01-01T00:00:00Z')); // before startup: ignored
  h.onService('ns', 'svc', undefined);
  h.onEndpointSlice('ns', 's1', slice('2026-01-01T00:00:12Z'));
  h.onEndpointSlice('ns', 's1', slice('2026-01-01T00:00:12Z')); // same trigger: counted once
  assert.deepEqual(
    await value(metrics, 'kubeproxy_sync_proxy_rules_endpoint_changes_pending'),
    [2],
  );
  assert.deepEqual(await value(metrics, 'kubeproxy_sync_proxy_rules_service_changes_pending'), [1]);
  now = Date.parse('2026-01-01T00:00:15Z');
  tap.programmed(100);
  const hist = (await metrics.registry
    .getSingleMetric('kubeproxy_network_programming_duration_seconds')!
    .get()) as { values: { metricName?: string; value: number }[] };
  assert.equal(hist.values.find((v) => v.metricName?.endsWith('_count'))?.value, 1);
  assert.equal(hist.values.find((v) => v.metricName?.endsWith('_sum'))?.value, 3);
  assert.deepEqual(
    await value(metrics, 'kubeproxy_sync_proxy_rules_endpoint_changes_pending'),
    [0],
  );
  assert.deepEqual(await value(metrics, 'kubeproxy_sync_proxy_rules_service_changes_pending'), [0]);
});

test('changes that arrive during a sync stay pending for the next one', async () => {
  let now = 1_000_000;
  const metrics = new AgentMetrics('ebpf');
  const inner = new FakeSource();
  const tap = new SourceTap(inner, { log: memoryLogger(), metrics, now: () => now });
  await tap.start(noop);
  inner.handler!.onService('ns', 'a', undefined);
  now += 50;
  inner.handler!.onService('ns', 'b', undefined);
  now += 10;
  tap.programmed(30); // the sync began 30 ms ago: after 'a' arrived, before 'b' did
  assert.deepEqual(await value(metrics, 'kubeproxy_sync_proxy_rules_service_changes_pending'), [1]);
});

test('the Node drives /healthz eligibility and the zone', async () => {
  const health = new HealthState(60_000);
  const zones: (string | undefined)[] = [];
  const inner = new FakeSource();
  const seen: (V1Node | undefined)[] = [];
  const tap = new SourceTap(inner, { log: memoryLogger(), health, onZone: (z) => zones.push(z) });
  await tap.start({ ...noop, onNode: (n) => seen.push(n) });
  const node = (zone: string, extra: Partial<V1Node> = {}): V1Node => ({
    metadata: { name: 'n1', labels: { [ZONE_LABEL]: zone } },
    ...extra,
  });
  inner.handler!.onNode!(node('z1'));
  inner.handler!.onNode!(node('z1'));
  assert.deepEqual(zones, ['z1']);
  assert.equal(health.nodeEligible, true);
  inner.handler!.onNode!(
    node('z2', {
      spec: { taints: [{ key: 'ToBeDeletedByClusterAutoscaler', effect: 'NoSchedule' }] },
    }),
  );
  assert.equal(health.nodeEligible, false);
  assert.deepEqual(zones, ['z1', 'z2']);
  inner.handler!.onNode!(undefined);
  assert.equal(health.nodeEligible, false);
  assert.deepEqual(zones, ['z1', 'z2', undefined]);
  assert.equal(seen.length, 4, 'the inner handler still sees every Node event');
});
