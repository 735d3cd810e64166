// Golden tests of the rendered nftables ruleset: each scenario's full-sync transaction, minus the
// skeleton (which has its own golden), compared as text with test/golden/nftables/<name>.nft.
// UPDATE_GOLDEN=1 rewrites the files; review the diff before committing it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ProxyState } from '../../model/types.ts';
import { NODE, endpoint, portState, servicePort, stateOf } from './fixtures.ts';
import { EMPTY_INVENTORY, NftPlanner } from './planner.ts';
import type { RenderOptions } from './service.ts';

const GOLDEN_DIR = join(import.meta.dirname, '../../../test/golden/nftables');
const OPTS: RenderOptions = { masqueradeAll: false, clusterCIDR: '198.19.0.0/16' };

function fullText(state: ProxyState, opts: RenderOptions = OPTS): string {
  return new NftPlanner('kpr', opts).full(state, EMPTY_INVENTORY).text;
}

const SKELETON = fullText(new Map());
const skeletonLines = new Set(SKELETON.split('\n'));

function serviceLines(text: string): string {
  return text
    .split('\n')
    .filter((l) => l !== '' && !skeletonLines.has(l))
    .join('\n')
    .concat('\n');
}

function golden(name: string, actual: string): void {
  const file = join(GOLDEN_DIR, `${name}.nft`);
  if (process.env.UPDATE_GOLDEN === '1') {
    mkdirSync(GOLDEN_DIR, { recursive: true });
    writeFileSync(file, actual);
    return;
  }
  assert.ok(existsSync(file), `missing golden ${file}; run with UPDATE_GOLDEN=1 to create it`);
  assert.equal(
    actual,
    readFileSync(file, 'utf8'),
    `${name}: rendered ruleset differs from ${file}`,
  );
}

/** Every jump/goto target and @set reference in a full transaction is declared in it. */
function assertReferencesDefined(text: string): void {
  const chains = new Set<string>();
  const sets = new Set<string>();
  for (const m of text.matchAll(/^add chain ip kpr (\S+)/gm)) chains.add(m[1]!);
  for (const m of text.matchAll(/^add (?:set|map) ip kpr (\S+)/gm)) sets.add(m[1]!);
  for (const m of text.matchAll(/\b(?:jump|goto) ([^\s,}]+)/g))
    assert.ok(chains.has(m[1]!), `jump/goto to undefined chain ${m[1]}`);
  for (const m of text.matchAll(/@([^\s,}]+)/g))
    assert.ok(sets.has(m[1]!), `reference to undefined set ${m[1]}`);
}

const eps = (n: number) => Array.from({ length: n }, (_, i) => endpoint(`198.19.1.${i + 1}`, 8080));
const web = (more: Partial<Parameters<typeof servicePort>[0]> = {}) =>
  servicePort({ namespace: 'default', name: 'web', portName: 'http', ...more });

const SCENARIOS: Record<string, () => ProxyState> = {
  'clusterip-1-endpoint': () => stateOf(portState(web(), eps(1))),
  'clusterip-2-endpoints': () => stateOf(portState(web(), eps(2))),
  'clusterip-3-endpoints': () => stateOf(portState(web(), eps(3))),
  'clusterip-no-endpoints': () => stateOf(portState(web(), [])),
  nodeport: () => stateOf(portState(web({ type: 'NodePort', nodePort: 30080 }), eps(2))),
  'nodeport-no-endpoints': () => stateOf(portState(web({ type: 'NodePort', nodePort: 30080 }), [])),
  'loadbalancer-source-ranges': () =>
    stateOf(
      portState(
        web({
          type: 'LoadBalancer',
          nodePort: 30080,
          loadBalancerIPs: ['198.18.200.1'],
          loadBalancerSourceRanges: ['198.18.50.0/24', '198.18.60.7/32'],
        }),
        eps(2),
      ),
    ),
  'external-ips': () =>
    stateOf(portState(web({ externalIPs: ['198.18.201.1', '198.18.201.2'] }), eps(1))),
  'etp-local-with-local-endpoints': () =>
    stateOf(
      portState(
        web({
          type: 'LoadBalancer',
          nodePort: 30080,
          loadBalancerIPs: ['198.18.200.1'],
          externalTrafficPolicy: 'Local',
        }),
        [endpoint('198.19.1.1', 8080, { nodeName: NODE }), endpoint('198.19.2.1', 8080)],
      ),
    ),
  'etp-local-without-local-endpoints': () =>
    stateOf(
      portState(
        web({
          type: 'LoadBalancer',
          nodePort: 30080,
          loadBalancerIPs: ['198.18.200.1'],
          externalTrafficPolicy: 'Local',
        }),
        [endpoint('198.19.2.1', 8080)],
      ),
    ),
  'itp-local-with-local-endpoints': () =>
    stateOf(
      portState(web({ internalTrafficPolicy: 'Local' }), [
        endpoint('198.19.1.1', 8080, { nodeName: NODE }),
        endpoint('198.19.2.1', 8080),
      ]),
    ),
  'itp-local-without-local-endpoints': () =>
    stateOf(portState(web({ internalTrafficPolicy: 'Local' }), [endpoint('198.19.2.1', 8080)])),
  'clientip-affinity': () =>
    stateOf(
      portState(web({ sessionAffinity: 'ClientIP', sessionAffinityTimeoutSeconds: 600 }), eps(2)),
    ),
  'multi-port': () =>
    stateOf(
      portState(web({ portName: 'http', port: 80 }), eps(2)),
      portState(web({ portName: 'https', port: 443 }), [
        endpoint('198.19.1.1', 8443),
        endpoint('198.19.1.2', 8443),
      ]),
    ),
  udp: () =>
    stateOf(
      portState(
        servicePort({
          namespace: 'kube-system',
          name: 'kube-dns',
          portName: 'dns',
          protocol: 'UDP',
          port: 53,
        }),
        [endpoint('198.19.3.1', 53), endpoint('198.19.3.2', 53)],
      ),
    ),
  'hostile-names': () =>
    stateOf(
      portState(
        servicePort({
          namespace: 'evil ns"; flush ruleset; #',
          name: 'x } ; delete table ip kpr',
          portName: 'p\nadd rule',
          externalIPs: ['198.18.201.1; flush ruleset', '198.18.201.9'],
          loadBalancerIPs: ['198.18.200.1'],
          loadBalancerSourceRanges: ['0.0.0.0/0 } accept; {', '198.18.50.9/24'],
        }),
        [
          endpoint('198.19.1.1', 8080),
          endpoint('198.19.1.2 } drop', 8080),
          endpoint('198.19.1.3', 99999),
        ],
      ),
      portState(
        servicePort({ namespace: 'ns', name: 'empty"comment', clusterIPs: ['198.18.100.9'] }),
        [],
      ),
    ),
};

test('skeleton golden', () => {
  golden('skeleton', SKELETON);
  assertReferencesDefined(SKELETON);
});

for (const [name, build] of Object.entries(SCENARIOS)) {
  test(`golden: ${name}`, () => {
    const text = fullText(build());
    assertReferencesDefined(text);
    golden(name, serviceLines(text));
  });
}

test('golden: masqueradeAll without a cluster CIDR', () => {
  const text = fullText(stateOf(portState(web(), eps(2))), {
    masqueradeAll: true,
    clusterCIDR: undefined,
  });
  assertReferencesDefined(text);
  golden('masquerade-all', serviceLines(text));
});

test('no local-traffic detector: no ClusterIP masquerade and no pod short-circuit', () => {
  const text = fullText(SCENARIOS['etp-local-with-local-endpoints']!(), {
    masqueradeAll: false,
    clusterCIDR: undefined,
  });
  assert.doesNotMatch(text, /ip saddr != /);
  assert.doesNotMatch(text, /short-circuit pod traffic/);
  assert.match(text, /fib saddr type local goto service-/);
});

test('hostile names cannot escape identifiers, comments or literals', () => {
  const text = fullText(SCENARIOS['hostile-names']!());
  assertReferencesDefined(text);
  const lines = text.split('\n').filter(Boolean);
  // Every statement is a single line starting with a known verb; no injected line or statement.
  for (const l of lines)
    assert.match(l, /^(add|flush|delete) (table|chain|rule|set|map|element) ip kpr /);
  assert.doesNotMatch(text, /flush ruleset|delete table|accept;|\n[^afd]/);
  // Quotes only ever open and close whole comments.
  for (const l of lines) assert.equal((l.match(/"/g) ?? []).length % 2, 0, l);
  // Invalid addresses and ports were dropped, valid ones kept.
  assert.doesNotMatch(text, /198\.18\.201\.1 /);
  assert.match(text, /198\.18\.201\.9 \. tcp \. 80/);
  assert.doesNotMatch(text, /99999/);
  assert.match(text, /ip saddr != \{ 198\.18\.50\.0\/24 \} drop/);
});
