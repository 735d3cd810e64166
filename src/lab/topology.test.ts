import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  buildLayout,
  defaultBackends,
  intToIPv4,
  labObjectNames,
  MAX_SERVICES,
  manifestFileIndex,
  serviceAt,
  serviceIndex,
  validateLabName,
} from './topology.ts';

const ipInt = (ip: string): number => ip.split('.').reduce((a, o) => a * 256 + Number(o), 0);
const inLabCidr = (ip: string): boolean =>
  ipInt(ip) >= ipInt('198.18.0.0') && ipInt(ip) <= ipInt('198.19.255.255');

test('lab names reject separators and oversize names', () => {
  for (const ok of ['a', 'lab', 'kpr-t-1a2b', 'x'.repeat(24)]) validateLabName(ok);
  for (const bad of ['', '-a', 'a-', 'A', 'a_b', 'a/b', 'x'.repeat(25), 'a.b']) {
    assert.throws(() => validateLabName(bad), /invalid lab name/, bad);
  }
});

test('object names of labs whose names are prefixes of each other never overlap', () => {
  const a = labObjectNames('a');
  const ab = labObjectNames('a-b');
  assert.ok(!ab.nodeNetns.startsWith(a.netnsPrefix));
  assert.equal(a.pinDir, '/sys/fs/bpf/kpr-lab-a');
  assert.equal(ab.nftTable, 'kpr-lab-a-b');
});

test('layout: default pod count, unique addresses inside 198.18.0.0/15, short veth names', () => {
  const l = buildLayout({ name: 't', dataplane: 'nftables', services: 10, endpoints: 2 });
  assert.equal(l.pods.length, 1 + 3);
  assert.equal(l.pods[0]!.role, 'client');
  assert.equal(l.nodeIP, '198.18.0.1');
  const big = buildLayout({ name: 't', dataplane: 'ebpf', services: 1, endpoints: 1, pods: 4093 });
  const ips = new Set([big.nodeIP, ...big.pods.map((p) => p.ip)]);
  assert.equal(ips.size, 4095);
  for (const ip of ips) assert.ok(inLabCidr(ip) && ipInt(ip) < ipInt('198.18.16.0'), ip);
  for (const p of big.pods) assert.ok(p.hostVeth.length <= 15, p.hostVeth);
  assert.throws(
    () => buildLayout({ name: 't', dataplane: 'ebpf', services: 1, endpoints: 1, pods: 4094 }),
    /--pods/,
  );
  assert.throws(
    () => buildLayout({ name: 't', dataplane: 'ebpf', services: 1, endpoints: 5, pods: 4 }),
    /--pods/,
  );
});

test('ClusterIPs: one per service, distinct from pods, up to MAX_SERVICES >= 100000', () => {
  assert.ok(MAX_SERVICES >= 100_000);
  const l = buildLayout({ name: 't', dataplane: 'iptables', services: MAX_SERVICES, endpoints: 1 });
  const first = serviceAt(l, 0);
  const last = serviceAt(l, MAX_SERVICES - 1);
  assert.equal(first.clusterIP, '198.18.16.1');
  assert.equal(last.clusterIP, '198.19.255.254');
  assert.equal(ipInt(last.clusterIP) - ipInt(first.clusterIP), MAX_SERVICES - 1);
  assert.throws(
    () =>
      buildLayout({ name: 't', dataplane: 'iptables', services: MAX_SERVICES + 1, endpoints: 1 }),
    /--services/,
  );
});

test('services: TCP first, a few UDP last, names map back to indexes', () => {
  const l = buildLayout({ name: 't', dataplane: 'iptables', services: 300, endpoints: 2 });
  assert.equal(l.udpServices, 3);
  assert.deepEqual(serviceAt(l, 0), {
    index: 0,
    namespace: 'default',
    name: 'svc-0',
    clusterIP: '198.18.16.1',
    port: 80,
    targetPort: 8080,
    protocol: 'TCP',
  });
  const udp = serviceAt(l, 299);
  assert.deepEqual(
    [udp.name, udp.port, udp.targetPort, udp.protocol],
    ['dns-299', 53, 5353, 'UDP'],
  );
  assert.equal(serviceAt(l, 296).protocol, 'TCP');
  assert.equal(serviceIndex(l, 'dns-299'), 299);
  assert.equal(serviceIndex(l, 'svc-7'), 7);
  for (const bad of ['svc-299', 'dns-7', 'svc-300', 'svc-07', 'x'])
    assert.equal(serviceIndex(l, bad), undefined, bad);
  assert.equal(
    buildLayout({ name: 't', dataplane: 'iptables', services: 1, endpoints: 1 }).udpServices,
    0,
  );
});

test('default backends spread round-robin over the pods', () => {
  const l = buildLayout({ name: 't', dataplane: 'iptables', services: 6, endpoints: 2, pods: 3 });
  const names = (i: number): string[] => defaultBackends(l, i).map((p) => p.name);
  assert.deepEqual(names(0), ['backend-0', 'backend-1']);
  assert.deepEqual(names(1), ['backend-2', 'backend-0']);
  assert.deepEqual(names(2), ['backend-1', 'backend-2']);
  const zero = buildLayout({ name: 't', dataplane: 'iptables', services: 1, endpoints: 0 });
  assert.deepEqual(defaultBackends(zero, 0), []);
});

test('helpers', () => {
  assert.equal(intToIPv4(0xc6120001), '198.18.0.1');
  assert.equal(manifestFileIndex(999), 0);
  assert.equal(manifestFileIndex(1000), 1);
});
