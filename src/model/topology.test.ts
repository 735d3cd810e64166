import { test } from 'node:test';
import assert from 'node:assert/strict';
import { categorizeEndpoints } from './topology.ts';
import { makeEndpoint, makeServicePort } from './testing.ts';
import type { Endpoint, ServicePort } from './types.ts';

const sp = (over: Partial<ServicePort> = {}): ServicePort =>
  makeServicePort({ namespace: 'default', name: 'web', portName: 'http', ...over });
const ep = (ip: string, over: Partial<Endpoint> = {}): Endpoint => makeEndpoint({ ip, ...over });
const node = { nodeName: 'n1', zone: 'z1' };
const ips = (eps: readonly Endpoint[]) => eps.map((e) => e.ip);

test('ready endpoints are used; serving-terminating ones only when none is ready', () => {
  const term = ep('198.18.0.9', { ready: false, serving: true, terminating: true });
  let c = categorizeEndpoints(sp(), [ep('198.18.0.2'), term], node);
  assert.deepEqual(ips(c.clusterEndpoints), ['198.18.0.2']);
  c = categorizeEndpoints(
    sp(),
    [term, ep('198.18.0.3', { ready: false, serving: false, terminating: true })],
    node,
  );
  assert.deepEqual(ips(c.clusterEndpoints), ['198.18.0.9']);
  assert.equal(c.hasEndpoints, true);
  c = categorizeEndpoints(sp(), [ep('198.18.0.3', { ready: false, serving: false })], node);
  assert.deepEqual(ips(c.clusterEndpoints), []);
  assert.equal(c.hasEndpoints, false);
});

test('internalTrafficPolicy Local uses only local endpoints but still knows remote ones exist', () => {
  const c = categorizeEndpoints(
    sp({ internalTrafficPolicy: 'Local' }),
    [ep('198.18.0.2'), ep('198.18.0.3', { isLocal: true, nodeName: 'n1' })],
    node,
  );
  assert.deepEqual(ips(c.localEndpoints), ['198.18.0.3']);
  assert.deepEqual(ips(c.allReachableEndpoints), ['198.18.0.3']);
  assert.deepEqual(ips(c.clusterEndpoints), []);
  const none = categorizeEndpoints(
    sp({ internalTrafficPolicy: 'Local' }),
    [ep('198.18.0.2')],
    node,
  );
  assert.deepEqual(ips(none.localEndpoints), []);
  assert.equal(none.hasEndpoints, true, 'remote endpoints exist: DROP, not REJECT');
});

test('externalTrafficPolicy Local with a NodePort uses both sets; local falls back to terminating', () => {
  const eps = [
    ep('198.18.0.2'),
    ep('198.18.0.3', { isLocal: true, ready: false, serving: true, terminating: true }),
  ];
  const c = categorizeEndpoints(
    sp({ type: 'NodePort', nodePort: 30080, externalTrafficPolicy: 'Local' }),
    eps,
    node,
  );
  assert.deepEqual(ips(c.clusterEndpoints), ['198.18.0.2']);
  assert.deepEqual(ips(c.localEndpoints), ['198.18.0.3']);
  assert.deepEqual(ips(c.allReachableEndpoints), ['198.18.0.2', '198.18.0.3']);
});

test('zone hints narrow cluster endpoints only when every ready endpoint has them', () => {
  const hinted = [ep('198.18.0.2', { zoneHints: ['z1'] }), ep('198.18.0.3', { zoneHints: ['z2'] })];
  assert.deepEqual(ips(categorizeEndpoints(sp(), hinted, node).clusterEndpoints), ['198.18.0.2']);
  const partial = [ep('198.18.0.2', { zoneHints: ['z1'] }), ep('198.18.0.3')];
  assert.deepEqual(ips(categorizeEndpoints(sp(), partial, node).clusterEndpoints), [
    '198.18.0.2',
    '198.18.0.3',
  ]);
  const otherZone = [ep('198.18.0.2', { zoneHints: ['z3'] })];
  assert.deepEqual(ips(categorizeEndpoints(sp(), otherZone, node).clusterEndpoints), [
    '198.18.0.2',
  ]);
});

test('node hints (PreferSameNode) win over zone hints', () => {
  const eps = [
    ep('198.18.0.2', { nodeHints: ['n1'], zoneHints: ['z1'] }),
    ep('198.18.0.3', { nodeHints: ['n2'], zoneHints: ['z1'] }),
  ];
  assert.deepEqual(ips(categorizeEndpoints(sp(), eps, node).clusterEndpoints), ['198.18.0.2']);
});

test('an externally reachable port keeps cluster endpoints even with both policies Local (short-circuit)', () => {
  const eps = [ep('198.18.0.2'), ep('198.18.0.3', { isLocal: true })];
  const c = categorizeEndpoints(
    sp({
      type: 'NodePort',
      nodePort: 30080,
      internalTrafficPolicy: 'Local',
      externalTrafficPolicy: 'Local',
    }),
    eps,
    node,
  );
  assert.deepEqual(ips(c.clusterEndpoints), ['198.18.0.2', '198.18.0.3']);
  assert.deepEqual(ips(c.localEndpoints), ['198.18.0.3']);
});
