/**
 * Validates deploy/*.yaml against the Kubernetes API types, offline:
 * - every object survives a round trip through @kubernetes/client-node's ObjectSerializer (built
 *   from the upstream OpenAPI): a field the API does not know (a typo) is dropped and caught;
 * - the upstream JSON schemas via kubernetes-models, when that package is installed;
 * - the cross-references the schemas cannot express (selector vs labels, mounts vs volumes,
 *   probes vs the healthz port, Bidirectional only when privileged, RBAC exactly as documented);
 * - the ConfigMap's KubeProxyConfiguration is accepted by kpr's own parser.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import type { V1ClusterRole, V1ConfigMap, V1DaemonSet } from '@kubernetes/client-node';
import { ObjectSerializer } from '@kubernetes/client-node/dist/serializer.js';
import { parseConfigText } from './config-file.ts';
import { resolveAgentConfig } from './config.ts';

type Obj = { apiVersion: string; kind: string; metadata: { name?: string; namespace?: string } };

const FILES = ['kpr-daemonset.yaml', 'rbac.yaml'];
const objects: Obj[] = FILES.flatMap((f) =>
  parseAllDocuments(readFileSync(new URL(`../../deploy/${f}`, import.meta.url), 'utf8')).map(
    (d) => {
      assert.deepEqual(d.errors, [], f);
      return d.toJS() as Obj;
    },
  ),
);
const byKind = (kind: string) => objects.filter((o) => o.kind === kind);

/** kind → [client-node type, kubernetes-models module, namespaced] */
const TYPES: Record<string, [string, string, boolean]> = {
  ServiceAccount: ['V1ServiceAccount', 'v1/ServiceAccount', true],
  ConfigMap: ['V1ConfigMap', 'v1/ConfigMap', true],
  DaemonSet: ['V1DaemonSet', 'apps/v1/DaemonSet', true],
  ClusterRole: ['V1ClusterRole', 'rbac.authorization.k8s.io/v1/ClusterRole', false],
  ClusterRoleBinding: [
    'V1ClusterRoleBinding',
    'rbac.authorization.k8s.io/v1/ClusterRoleBinding',
    false,
  ],
};

/** JSON form without undefined members, so a round trip compares field for field. */
const plain = (v: unknown): unknown => JSON.parse(JSON.stringify(v));

test('the manifests hold the expected objects', () => {
  assert.deepEqual(objects.map((o) => o.kind).sort(), [
    'ClusterRole',
    'ClusterRoleBinding',
    'ConfigMap',
    'DaemonSet',
    'ServiceAccount',
  ]);
});

test('every field is one the Kubernetes API knows (ObjectSerializer round trip)', () => {
  for (const o of objects) {
    const spec = TYPES[o.kind];
    assert.ok(spec, `unexpected kind ${o.kind}`);
    const [type, , namespaced] = spec;
    const round = ObjectSerializer.serialize(
      ObjectSerializer.deserialize(o, type),
      type,
    ) as unknown;
    assert.deepEqual(
      plain(round),
      plain(o),
      `${o.kind}/${o.metadata.name}: unknown or mistyped field`,
    );
    assert.ok(o.metadata.name, `${o.kind} needs metadata.name`);
    assert.equal(
      o.metadata.namespace,
      namespaced ? 'kube-system' : undefined,
      `${o.kind} namespace`,
    );
  }
});

test('the upstream JSON schemas accept every object (kubernetes-models)', async (t) => {
  let load: (path: string) => Promise<Record<string, new (o: unknown) => { validate(): void }>>;
  try {
    await import('kubernetes-models/v1/ConfigMap' as string);
    load = (path) => import(`kubernetes-models/${path}`);
  } catch {
    t.skip('kubernetes-models is not installed (npm install -D kubernetes-models@5.1.0)');
    return;
  }
  for (const o of objects) {
    const [, path] = TYPES[o.kind]!;
    const Model = (await load(path))[o.kind]!;
    assert.doesNotThrow(() => new Model(o).validate(), `${o.kind}/${o.metadata.name}`);
  }
});

test('the DaemonSet is wired consistently', () => {
  const ds = byKind('DaemonSet')[0] as unknown as V1DaemonSet;
  const pod = ds.spec!.template.spec!;
  const labels = ds.spec!.template.metadata!.labels!;
  for (const [k, v] of Object.entries(ds.spec!.selector.matchLabels!)) assert.equal(labels[k], v);
  assert.equal(pod.hostNetwork, true);
  assert.equal(pod.dnsPolicy, 'ClusterFirstWithHostNet');
  assert.equal(pod.priorityClassName, 'system-node-critical');
  assert.deepEqual(pod.tolerations, [{ operator: 'Exists' }]);
  const sa = byKind('ServiceAccount')[0]!;
  assert.equal(pod.serviceAccountName, sa.metadata.name);
  const volumes = new Map(pod.volumes!.map((v) => [v.name, v]));
  for (const c of [...(pod.initContainers ?? []), ...pod.containers]) {
    assert.ok(c.image, `${c.name} needs an image`);
    for (const m of c.volumeMounts ?? []) {
      assert.ok(volumes.has(m.name), `${c.name} mounts undefined volume ${m.name}`);
      if (m.mountPropagation === 'Bidirectional')
        assert.equal(
          c.securityContext?.privileged,
          true,
          `${c.name}: Bidirectional needs privileged`,
        );
    }
  }
  const agent = pod.containers.find((c) => c.name === 'kpr')!;
  assert.notEqual(agent.securityContext?.privileged, true, 'the agent itself is not privileged');
  assert.deepEqual(agent.securityContext?.capabilities?.drop, ['ALL']);
  assert.deepEqual([...agent.securityContext!.capabilities!.add!].sort(), [
    'BPF',
    'NET_ADMIN',
    'SYS_ADMIN',
    'SYS_RESOURCE',
  ]);
  assert.equal(agent.livenessProbe?.httpGet?.path, '/livez');
  assert.equal(agent.livenessProbe?.httpGet?.port, 10256);
  assert.equal(agent.readinessProbe?.httpGet?.path, '/healthz');
  assert.equal(agent.readinessProbe?.httpGet?.port, 10256);
  const hostPaths = pod.volumes!.flatMap((v) => (v.hostPath ? [v.hostPath.path] : [])).sort();
  assert.deepEqual(hostPaths, [
    '/lib/modules',
    '/run/xtables.lock',
    '/sys/fs/bpf',
    '/sys/fs/cgroup',
  ]);
  const configMount = agent.volumeMounts!.find((m) => m.name === 'config')!;
  const cm = byKind('ConfigMap')[0] as unknown as V1ConfigMap;
  assert.equal(volumes.get('config')?.configMap?.name, cm.metadata!.name);
  // The image's entrypoint is `node bin/kpr.js`; the subcommand comes first in args.
  assert.equal(agent.args![0], 'agent');
  assert.ok(agent.args!.includes(`--config=${configMount.mountPath}/config.yaml`));
});

test("the ConfigMap's KubeProxyConfiguration is valid for kpr", () => {
  const cm = byKind('ConfigMap')[0] as unknown as V1ConfigMap;
  const file = parseConfigText(cm.data!['config.yaml']!, 'ConfigMap kpr-config');
  const cfg = resolveAgentConfig(
    file,
    { hostnameOverride: 'node-a' },
    { KUBERNETES_SERVICE_HOST: 'x' },
  );
  assert.equal(cfg.mode, 'ebpf');
  assert.deepEqual(cfg.source, { kind: 'in-cluster' });
  assert.equal(cfg.healthzBindAddress, '0.0.0.0:10256');
  assert.equal(cfg.dataplane.cgroupPath, '/host/cgroup');
  assert.equal(cfg.logFormat, 'json');
});

test('RBAC grants exactly read access to Services, EndpointSlices, Nodes and writing Events', () => {
  const role = byKind('ClusterRole')[0] as unknown as V1ClusterRole;
  const grants = role.rules!.flatMap((r) =>
    r.apiGroups!.flatMap((g) =>
      r.resources!.map((res) => `${g || 'core'}/${res}: ${[...r.verbs].sort().join(',')}`),
    ),
  );
  assert.deepEqual(grants.sort(), [
    'core/events: create,patch',
    'core/nodes: get,list,watch',
    'core/services: get,list,watch',
    'discovery.k8s.io/endpointslices: get,list,watch',
    'events.k8s.io/events: create,patch',
  ]);
  const binding = byKind('ClusterRoleBinding')[0] as unknown as {
    roleRef: { name: string };
    subjects: { name: string; namespace: string }[];
  };
  assert.equal(binding.roleRef.name, role.metadata!.name);
  assert.deepEqual(
    binding.subjects.map((s) => `${s.namespace}/${s.name}`),
    ['kube-system/kpr'],
  );
});
