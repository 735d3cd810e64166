import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import {
  manifestFileCount,
  renderManifestFile,
  rewriteManifestFor,
  serviceEndpoints,
  writeAllManifests,
} from './manifests.ts';
import { buildLayout, serviceAt } from './topology.ts';

type Doc = Record<string, unknown> & {
  kind: string;
  metadata: { name: string; namespace: string; labels?: Record<string, string> };
};

function parse(text: string): Doc[] {
  return parseAllDocuments(text).map((d) => {
    assert.equal(d.errors.length, 0, String(d.errors[0]));
    return d.toJS() as Doc;
  });
}

test('renders a Service and its EndpointSlice per service, as valid YAML', () => {
  const l = buildLayout({ name: 't', dataplane: 'iptables', services: 3, endpoints: 2, pods: 3 });
  const docs = parse(renderManifestFile(l, 0, {}));
  assert.deepEqual(
    docs.map((d) => `${d.kind}/${d.metadata.name}`),
    [
      'Service/svc-0',
      'EndpointSlice/svc-0-lab',
      'Service/svc-1',
      'EndpointSlice/svc-1-lab',
      'Service/dns-2',
      'EndpointSlice/dns-2-lab',
    ],
  );
  assert.deepEqual(docs[0]!.spec, {
    type: 'ClusterIP',
    clusterIP: '198.18.16.1',
    clusterIPs: ['198.18.16.1'],
    ipFamilies: ['IPv4'],
    ports: [{ port: 80, targetPort: 8080, protocol: 'TCP' }],
  });
  const slice = docs[5]!;
  assert.equal(slice.apiVersion, 'discovery.k8s.io/v1');
  assert.equal(slice.metadata.labels?.['kubernetes.io/service-name'], 'dns-2');
  assert.deepEqual(slice.ports, [{ name: '', port: 5353, protocol: 'UDP' }]);
  assert.deepEqual(slice.endpoints, [
    {
      addresses: ['198.18.0.4'],
      conditions: { ready: true, serving: true, terminating: false },
      nodeName: 't-node',
      targetRef: { kind: 'Pod', namespace: 'default', name: 'backend-1' },
    },
    {
      addresses: ['198.18.0.5'],
      conditions: { ready: true, serving: true, terminating: false },
      nodeName: 't-node',
      targetRef: { kind: 'Pod', namespace: 'default', name: 'backend-2' },
    },
  ]);
});

test('overrides replace one service’s endpoints, with Kubernetes condition defaults', () => {
  const l = buildLayout({
    name: 't',
    dataplane: 'iptables',
    services: 2,
    endpoints: 1,
    pods: 3,
    udpServices: 0,
  });
  const overrides = {
    'svc-1': [
      { pod: 'backend-2', ready: false },
      { pod: 'backend-0', terminating: true, serving: true, ready: false },
    ],
  };
  const eps = serviceEndpoints(l, serviceAt(l, 1), overrides);
  assert.deepEqual(
    eps.map((e) => [e.pod.name, e.ready, e.serving, e.terminating]),
    [
      ['backend-2', false, false, false],
      ['backend-0', false, true, true],
    ],
  );
  assert.deepEqual(
    serviceEndpoints(l, serviceAt(l, 0), overrides).map((e) => e.pod.name),
    ['backend-0'],
  );
  assert.throws(
    () => serviceEndpoints(l, serviceAt(l, 0), { 'svc-0': [{ pod: 'nope' }] }),
    /no pod "nope"/,
  );
  const empty = parse(renderManifestFile(l, 0, { 'svc-0': [] }));
  assert.deepEqual(empty[1]!.endpoints, []);
});

test('writes 1000 services per file, rewrites one file, and drops stale files', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kpr-t-manifests-'));
  try {
    await writeFile(join(dir, 'services-009.yaml'), 'stale');
    await writeFile(join(dir, 'other.yaml'), 'not ours');
    const l = buildLayout({ name: 't', dataplane: 'iptables', services: 2500, endpoints: 3 });
    assert.equal(manifestFileCount(l), 3);
    await writeAllManifests(dir, l, {});
    assert.deepEqual((await readdir(dir)).sort(), [
      'other.yaml',
      'services-000.yaml',
      'services-001.yaml',
      'services-002.yaml',
    ]);
    const last = parse(await readFile(join(dir, 'services-002.yaml'), 'utf8'));
    assert.equal(last.length, 1000);
    assert.equal(last.at(-2)!.metadata.name, 'dns-2499');
    const path = await rewriteManifestFor(dir, l, 1234, { 'svc-1234': [{ pod: 'backend-0' }] });
    assert.equal(path, join(dir, 'services-001.yaml'));
    const docs = parse(await readFile(path, 'utf8'));
    const slice = docs.find((d) => d.metadata.name === 'svc-1234-lab')!;
    assert.equal((slice.endpoints as unknown[]).length, 1);
    assert.deepEqual(
      (await readdir(dir)).filter((f) => f.startsWith('.')),
      [],
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('100000 services render in well under the time an agent needs to program them', () => {
  const l = buildLayout({ name: 't', dataplane: 'ebpf', services: 100_000, endpoints: 3 });
  const t0 = performance.now();
  let bytes = 0;
  for (let f = 0; f < manifestFileCount(l); f++) bytes += renderManifestFile(l, f, {}).length;
  const ms = performance.now() - t0;
  assert.ok(bytes > 100_000 * 500);
  assert.ok(ms < 5000, `rendering took ${ms} ms`);
});
