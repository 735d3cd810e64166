// Incremental-sync planning: only changed elements and chains appear, deletions are ordered after
// the flushes and element deletes that release their references, and full syncs clean up leftovers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ServicePortState } from '../../model/types.ts';
import { NODE, endpoint, portState, servicePort, stateOf } from './fixtures.ts';
import { EMPTY_INVENTORY, NftPlanner, type KernelInventory } from './planner.ts';

const OPTS = { masqueradeAll: false, clusterCIDR: '198.19.0.0/16' };
const a = (n: number, more = {}) =>
  portState(
    servicePort({ namespace: 'ns', name: 'a', portName: 'http', ...more }),
    Array.from({ length: n }, (_, i) => endpoint(`198.19.1.${i + 1}`, 8080)),
  );
const b = () =>
  portState(servicePort({ namespace: 'ns', name: 'b', clusterIPs: ['198.18.100.2'] }), [
    endpoint('198.19.2.1', 80),
  ]);

function planner(...ports: ServicePortState[]): NftPlanner {
  const p = new NftPlanner('kpr', OPTS);
  p.full(stateOf(...ports), EMPTY_INVENTORY).commit();
  return p;
}

const lines = (text: string) => text.split('\n').filter(Boolean);
const indexOf = (text: string, re: RegExp) => lines(text).findIndex((l) => re.test(l));

test('adding an endpoint rewrites only the service chain and adds one hairpin element', () => {
  const p = planner(a(1), b());
  const plan = p.incremental(stateOf(a(2), b()), new Set([a(2).service.key]));
  const l = lines(plan.text);
  assert.doesNotMatch(plan.text, /ns\/b/, 'an unchanged service must not appear');
  assert.doesNotMatch(plan.text, /delete element|service-ips|cluster-ips/, 'no frontend changes');
  assert.doesNotMatch(plan.text, /endpoint-/, 'no endpoint chains without ClientIP affinity');
  assert.deepEqual(
    l.map((x) => x.split(' ').slice(0, 2).join(' ')),
    ['flush chain', 'add rule', 'add rule', 'add rule', 'add element'],
  );
  assert.match(l[0]!, /^flush chain ip kpr service-[A-Z2-7]{8}-ns\/a\/tcp\/http$/);
  assert.match(l[2]!, / numgen random mod 2 == 0 meta l4proto tcp dnat to 198\.19\.1\.1:8080$/);
  assert.match(l[3]!, / service-\S+ meta l4proto tcp dnat to 198\.19\.1\.2:8080$/);
  assert.equal(
    l[4],
    'add element ip kpr hairpin-connections { 198.19.1.2 . 198.19.1.2 . tcp . 8080 }',
  );
  assert.equal(plan.deleted, 0);
  plan.commit();
  assert.equal(
    p.incremental(stateOf(a(2), b()), new Set([a(2).service.key])).text,
    '',
    'no-op change writes nothing',
  );
});

test('hairpin elements shared by two Services stay until the last one stops using them', () => {
  const c = portState(servicePort({ namespace: 'ns', name: 'c', clusterIPs: ['198.18.100.3'] }), [
    endpoint('198.19.2.1', 80),
  ]);
  const p = planner(b(), c);
  const one = p.incremental(stateOf(c), new Set([b().service.key]));
  assert.doesNotMatch(one.text, /hairpin/);
  one.commit();
  const two = p.incremental(stateOf(), new Set([c.service.key]));
  assert.match(
    two.text,
    /^delete element ip kpr hairpin-connections \{ 198\.19\.2\.1 \. 198\.19\.2\.1 \. tcp \. 80 \}$/m,
  );
});

test('removing a service deletes its elements before its chains', () => {
  const p = planner(a(2), b());
  const plan = p.incremental(stateOf(b()), new Set([a(2).service.key]));
  assert.doesNotMatch(plan.text, /ns\/b|^add /m);
  const delEl = indexOf(
    plan.text,
    /^delete element ip kpr service-ips \{ 198\.18\.100\.1 \. tcp \. 80 \}$/,
  );
  const delClusterIP = indexOf(
    plan.text,
    /^delete element ip kpr cluster-ips \{ 198\.18\.100\.1 \}$/,
  );
  const flush = indexOf(plan.text, /^flush chain ip kpr service-/);
  const delChain = indexOf(plan.text, /^delete chain ip kpr service-/);
  assert.ok(flush >= 0 && delEl > flush && delClusterIP > flush && delChain > delEl, plan.text);
  assert.equal(lines(plan.text).filter((l) => l.startsWith('delete chain')).length, 1);
  assert.equal(plan.deleted, 2 + 2 + 1, 'ClusterIP, service-ips and 2 hairpin elements; 1 chain');
});

test('losing all endpoints swaps service-ips for a reject element and drops the chains', () => {
  const p = planner(a(1));
  const none = a(0);
  const plan = p.incremental(stateOf(none), new Set([none.service.key]));
  assert.match(
    plan.text,
    /^delete element ip kpr service-ips \{ 198\.18\.100\.1 \. tcp \. 80 \}$/m,
  );
  assert.match(
    plan.text,
    /^add element ip kpr no-endpoint-services \{ 198\.18\.100\.1 \. tcp \. 80 comment "ns\/a:http" : goto reject-chain \}$/m,
  );
  assert.doesNotMatch(plan.text, /cluster-ips/, 'the ClusterIP stays active');
  assert.equal(lines(plan.text).filter((l) => l.startsWith('delete chain')).length, 1);
});

test('a changed map value is deleted then re-added (nft refuses to overwrite a verdict)', () => {
  const local = (eps: ReturnType<typeof endpoint>[]) =>
    portState(servicePort({ namespace: 'ns', name: 'l', internalTrafficPolicy: 'Local' }), eps);
  const p = planner(local([endpoint('198.19.1.1', 80, { nodeName: NODE })]));
  const plan = p.incremental(
    stateOf(local([endpoint('198.19.1.1', 80)])),
    new Set([local([]).service.key]),
  );
  const del = indexOf(plan.text, /^delete element ip kpr service-ips/);
  const add = indexOf(plan.text, /^add element ip kpr no-endpoint-services .* : drop \}$/);
  assert.ok(del >= 0 && add > del, plan.text);
});

test('ports of one Service share the ClusterIP element until the last one goes', () => {
  const http = a(1);
  const https = portState(
    servicePort({ namespace: 'ns', name: 'a', portName: 'https', port: 443 }),
    [endpoint('198.19.1.1', 8443)],
  );
  const p = planner(http, https);
  const one = p.incremental(stateOf(https), new Set([http.service.key]));
  assert.doesNotMatch(one.text, /cluster-ips/);
  one.commit();
  const two = p.incremental(stateOf(), new Set([https.service.key]));
  assert.match(two.text, /^delete element ip kpr cluster-ips \{ 198\.18\.100\.1 \}$/m);
});

test('an affinity timeout change recreates the sets after flushing the chains that use them', () => {
  const p = planner(a(1, { sessionAffinity: 'ClientIP', sessionAffinityTimeoutSeconds: 100 }));
  const next = a(1, { sessionAffinity: 'ClientIP', sessionAffinityTimeoutSeconds: 200 });
  const plan = p.incremental(stateOf(next), new Set([next.service.key]));
  const flushes = lines(plan.text).filter((l) => l.startsWith('flush chain')).length;
  assert.equal(flushes, 2, 'service and endpoint chains are flushed');
  const lastFlush = indexOf(plan.text, /^flush chain .*__198/);
  const del = indexOf(plan.text, /^delete set ip kpr affinity-/);
  const add = indexOf(plan.text, /^add set ip kpr affinity-.*timeout 200s ; \}$/);
  const rule = indexOf(plan.text, /update @affinity-/);
  assert.ok(lastFlush < del && del < add && add < rule, plan.text);
});

test('turning affinity off deletes the sets once no rule references them', () => {
  const p = planner(a(1, { sessionAffinity: 'ClientIP' }));
  const plan = p.incremental(stateOf(a(1)), new Set([a(1).service.key]));
  assert.ok(
    indexOf(plan.text, /^delete set ip kpr affinity-/) > indexOf(plan.text, /^flush chain .*__198/),
  );
  assert.doesNotMatch(plan.text, /@affinity/);
});

test('two Services claiming one external IP: the smaller key wins, deterministically', () => {
  const x = (name: string) =>
    portState(
      servicePort({
        namespace: 'ns',
        name,
        clusterIPs: [name === 'x1' ? '198.18.100.1' : '198.18.100.2'],
        externalIPs: ['198.18.201.1'],
      }),
      [endpoint('198.19.1.1', 80)],
    );
  const p = new NftPlanner('kpr', OPTS);
  const full = p.full(stateOf(x('x2'), x('x1')), EMPTY_INVENTORY);
  assert.deepEqual(full.conflicts, ['service-ips 198.18.201.1 . tcp . 80']);
  assert.equal((full.text.match(/198\.18\.201\.1 \. tcp \. 80/g) ?? []).length, 1);
  assert.match(
    full.text,
    /198\.18\.201\.1 \. tcp \. 80 comment "external IP" : goto external-[A-Z2-7]+-ns\/x1\//,
  );
  full.commit();
  // When the winner goes, the other claim takes over in the same transaction.
  const plan = p.incremental(stateOf(x('x2')), new Set([x('x1').service.key]));
  const del = indexOf(plan.text, /^delete element ip kpr service-ips \{ 198\.18\.201\.1/);
  const add = indexOf(plan.text, /^add element ip kpr service-ips \{ 198\.18\.201\.1 .*ns\/x2\//);
  assert.ok(del >= 0 && add > del, plan.text);
});

test('a full sync flushes what exists, deletes stale chains and sets, and keeps matching sets', () => {
  const p = new NftPlanner('kpr', OPTS);
  const svc = a(1, { sessionAffinity: 'ClientIP', sessionAffinityTimeoutSeconds: 10800 });
  const fresh = p.full(stateOf(svc), EMPTY_INVENTORY).text;
  const chainNames = [...fresh.matchAll(/^add chain ip kpr (\S+)$/gm)].map((m) => m[1]!);
  const setName = /^add set ip kpr (affinity-\S+)/m.exec(fresh)![1]!;
  const inventory: KernelInventory = {
    chains: new Set([...chainNames, 'services', 'service-OLDOLDOL-ns/gone/tcp/']),
    sets: new Map<string, number | undefined>([
      [setName, 10800],
      ['cluster-ips', undefined],
      ['affinity-OLDOLDOL-ns/gone/tcp/__198.19.9.9/80', 60],
    ]),
  };
  const text = p.full(stateOf(svc), inventory).text;
  assert.doesNotMatch(
    text,
    new RegExp(`^add set ip kpr ${setName.replaceAll('.', '\\.')}`, 'm'),
    'kept, not re-added',
  );
  assert.doesNotMatch(
    text,
    /^add chain ip kpr (service|endpoint)-[A-Z2-7]{8}-/m,
    'existing chains are flushed, not re-added',
  );
  assert.match(text, /^flush chain ip kpr service-[A-Z2-7]{8}-ns\/a\/tcp\/http$/m);
  assert.ok(
    indexOf(text, /^flush chain ip kpr service-OLDOLDOL/) <
      indexOf(text, /^delete chain ip kpr service-OLDOLDOL/),
  );
  assert.match(text, /^delete set ip kpr affinity-OLDOLDOL-ns\/gone\/tcp\/__198\.19\.9\.9\/80$/m);
  assert.doesNotMatch(text, /delete (set|chain) ip kpr (cluster-ips|services)$/m);
});
