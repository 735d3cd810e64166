import { test } from 'node:test';
import assert from 'node:assert/strict';
import { equalEndpoint, equalServicePort, equalServicePortState } from './equal.ts';
import { makeEndpoint, makeServicePort } from './testing.ts';
import type { Endpoint, ServicePort, ServicePortState } from './types.ts';

// Every field set (trafficDistribution stays undefined on purpose: `other` covers that case).
const port: ServicePort = makeServicePort({ namespace: 'default', name: 'web', portName: 'http' });

const ep: Endpoint = makeEndpoint({
  ip: '198.18.0.2',
  nodeName: 'n1',
  zone: 'z1',
  zoneHints: ['z1'],
  isLocal: true,
});

/** A value different from `v` of the same kind, for every field type the model uses. */
function other(v: unknown): unknown {
  if (typeof v === 'string') return `${v}x`;
  if (typeof v === 'number') return v + 1;
  if (typeof v === 'boolean') return !v;
  if (v === undefined) return 'set';
  if (Array.isArray(v)) return [...(v as unknown[]), '198.18.9.9'];
  throw new Error(`no variant for ${String(v)}`);
}

test('equalServicePort notices a change in every field, and ignores copies', () => {
  assert.ok(equalServicePort(port, { ...port, clusterIPs: [...port.clusterIPs] }));
  for (const k of Object.keys(port) as (keyof ServicePort)[]) {
    const changed = { ...port, [k]: other(port[k]) } as ServicePort;
    assert.equal(equalServicePort(port, changed), false, `field ${k}`);
  }
});

test('equalEndpoint notices a change in every field, and ignores copies', () => {
  assert.ok(equalEndpoint(ep, { ...ep, zoneHints: ['z1'] }));
  for (const k of Object.keys(ep) as (keyof Endpoint)[]) {
    const changed = { ...ep, [k]: other(ep[k]) } as Endpoint;
    assert.equal(equalEndpoint(ep, changed), false, `field ${k}`);
  }
});

test('equalServicePortState compares the port, every endpoint list and hasEndpoints', () => {
  const st: ServicePortState = {
    service: port,
    endpoints: [ep],
    clusterEndpoints: [ep],
    localEndpoints: [],
    allReachableEndpoints: [ep],
    hasEndpoints: true,
  };
  assert.ok(equalServicePortState(st, { ...st, service: { ...port }, endpoints: [{ ...ep }] }));
  const variants: Partial<ServicePortState>[] = [
    { service: { ...port, port: 81 } },
    { endpoints: [ep, { ...ep, ip: '198.18.0.3' }] },
    { endpoints: [{ ...ep, ready: false }] },
    { clusterEndpoints: [] },
    { localEndpoints: [ep] },
    { allReachableEndpoints: [] },
    { hasEndpoints: false },
  ];
  for (const v of variants)
    assert.equal(equalServicePortState(st, { ...st, ...v }), false, JSON.stringify(v));
});
