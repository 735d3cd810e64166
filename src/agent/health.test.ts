import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import type { V1Node } from '@kubernetes/client-node';
import { HealthState, nodeEligible, parseBindAddress, serveHealth } from './health.ts';

async function get(server: Server, path: string) {
  const { port } = server.address() as AddressInfo;
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return {
    status: res.status,
    headers: res.headers,
    body: (await res.json()) as Record<string, unknown>,
  };
}

test('healthy until an update stays queued for 2 × syncPeriod without a sync', async () => {
  let now = 1_000_000;
  const syncPeriodMs = 30_000;
  const state = new HealthState(2 * syncPeriodMs, () => now);
  const server = await serveHealth(state, '127.0.0.1', 0);
  try {
    let r = await get(server, '/healthz');
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), 'application/json');
    assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(r.body.healthy, true);
    assert.equal(r.body.nodeEligible, true);

    state.queued();
    now += 2 * syncPeriodMs - 1;
    assert.equal((await get(server, '/healthz')).status, 200, 'just inside the timeout');
    state.queued(); // a later update does not restart the clock
    now += 1;
    r = await get(server, '/healthz');
    assert.equal(r.status, 503);
    assert.equal(r.body.healthy, false);
    assert.equal((await get(server, '/livez')).status, 503, 'livez also fails when syncs stall');

    state.updated();
    r = await get(server, '/healthz');
    assert.equal(r.status, 200);
    assert.equal(r.body.lastUpdated, new Date(now).toISOString());
    // No queued update: time alone never makes the proxy unhealthy.
    now += 10 * syncPeriodMs;
    assert.equal((await get(server, '/healthz')).status, 200);
  } finally {
    server.close();
  }
});

test('an ineligible node fails /healthz but not /livez', async () => {
  const state = new HealthState(60_000);
  const server = await serveHealth(state, '127.0.0.1', 0);
  try {
    state.nodeEligible = false;
    const h = await get(server, '/healthz');
    assert.equal(h.status, 503);
    assert.equal(h.body.nodeEligible, false);
    const l = await get(server, '/livez');
    assert.equal(l.status, 200);
    assert.equal('nodeEligible' in l.body, false);
    const { port } = server.address() as AddressInfo;
    assert.equal((await fetch(`http://127.0.0.1:${port}/metrics`)).status, 404);
  } finally {
    server.close();
  }
});

test('node eligibility: exists, not being deleted, not tainted for autoscaler removal', () => {
  const node = (extra: Partial<V1Node>): V1Node => ({ metadata: { name: 'n1' }, ...extra });
  assert.equal(nodeEligible(node({})), true);
  assert.equal(nodeEligible(undefined), false);
  assert.equal(
    nodeEligible(node({ metadata: { name: 'n1', deletionTimestamp: new Date() } })),
    false,
  );
  assert.equal(
    nodeEligible(
      node({ spec: { taints: [{ key: 'ToBeDeletedByClusterAutoscaler', effect: 'NoSchedule' }] } }),
    ),
    false,
  );
  assert.equal(
    nodeEligible(
      node({
        spec: { taints: [{ key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' }] },
      }),
    ),
    true,
    'a cordoned node still serves',
  );
});

test('bind addresses', () => {
  assert.deepEqual(parseBindAddress('0.0.0.0:10256'), { host: '0.0.0.0', port: 10256 });
  assert.deepEqual(parseBindAddress('[::1]:10249'), { host: '::1', port: 10249 });
  assert.deepEqual(parseBindAddress(':10256'), { host: '0.0.0.0', port: 10256 });
  assert.throws(() => parseBindAddress('10256'), /expected host:port/);
  assert.throws(() => parseBindAddress('h:70000'), /expected host:port/);
});
