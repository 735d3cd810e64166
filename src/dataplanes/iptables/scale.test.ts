/**
 * Tests of what makes the iptables dataplane scale: the render cache (partial syncs re-render
 * only changed ports and produce exactly what an uncached render would), the nft backend's
 * dispatch ordering and batched transactions, and the batched cleanup.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { chunkedRestoreInputs, cleanupInputs } from './apply.ts';
import { chainNamesIn, parseSave } from './parse.ts';
import { createRenderCache, renderRuleset } from './render.ts';
import type { RenderOptions } from './render.ts';
import { portState, stateOf } from './test-fixtures.ts';
import { parseCIDR4 } from './syntax.ts';
import type { ServicePortState } from '../../model/types.ts';

const opts: RenderOptions = {
  masqueradeAll: false,
  localCIDR: parseCIDR4('198.18.128.0/17'),
  nodeIPs: ['198.18.0.1'],
  dropInvalid: true,
};

function port(i: number, eps: number, gen = 0): ServicePortState {
  return portState(
    {
      namespace: 'ns',
      name: `svc-${i}`,
      clusterIPs: [`198.19.${i >> 8}.${i & 255}`],
      ...(i % 3 === 0 ? { type: 'NodePort' as const, nodePort: 30000 + i } : {}),
    },
    Array.from({ length: eps }, (_, j) => ({ ip: `198.18.${gen}.${(i * eps + j) % 250}` })),
  );
}

test('a cached partial render equals an uncached one, and reuses unchanged ports', () => {
  const ports = Array.from({ length: 40 }, (_, i) => port(i, 3));
  const cache = createRenderCache();
  const first = renderRuleset(
    { state: stateOf(...ports), changed: undefined, existingChains: new Set() },
    opts,
    cache,
  );
  // Change one port's endpoints and remove another: same objects elsewhere.
  const next = ports.slice(0, 39);
  next[7] = port(7, 3, 1);
  const state = stateOf(...next);
  const changed = new Set([next[7]!.service.key, ports[39]!.service.key]);
  const req = { state, changed, existingChains: first.activeChains };
  const cached = renderRuleset(req, opts, cache);
  const plain = renderRuleset(req, opts);
  assert.deepEqual(cached.deletedChains, plain.deletedChains);
  assert.ok(cached.deletedChains.length >= 4, 'the removed port and the old endpoint chains');
  assert.equal(cached.blocks.length, 1, 'only the changed port is written');
  assert.deepEqual(cached.activeChains, plain.activeChains);
  // Unchanged top-level chains are left out; everything written is what a plain render writes.
  const lines = cached.text.split('\n');
  const plainLines = new Set(plain.text.split('\n'));
  assert.ok(lines.every((l) => plainLines.has(l)));
  assert.ok(!lines.includes(':KUBE-FORWARD - [0:0]'), 'KUBE-FORWARD did not change');
  assert.ok(lines.includes(':KUBE-SERVICES - [0:0]'), 'KUBE-SERVICES lost a port');
  const plainServices = plain.text.split('\n').filter((l) => l.startsWith('-A KUBE-SERVICES '));
  for (const l of plainServices) assert.ok(lines.includes(l));
  // Another endpoint change: no top-level chain changes, so only the port's own chains are sent.
  next[8] = port(8, 3, 1);
  const again = renderRuleset(
    {
      state: stateOf(...next),
      changed: new Set([next[8]!.service.key]),
      existingChains: cached.activeChains,
    },
    opts,
    cache,
  );
  assert.equal(
    again.text.match(/^-A KUBE-(SERVICES|NODEPORTS|FORWARD|POSTROUTING|MARK-MASQ) /gm),
    null,
  );
  assert.equal(again.blocks.length, 1);
  // A full render always writes every chain.
  const full = renderRuleset({ ...req, state: stateOf(...next), changed: undefined }, opts, cache);
  assert.equal(
    full.text,
    renderRuleset({ ...req, state: stateOf(...next), changed: undefined }, opts).text,
  );
});

test('dispatchByTarget reorders only the nat dispatch rules, by target, descending', () => {
  const state = stateOf(...Array.from({ length: 30 }, (_, i) => port(i, 2)));
  const req = { state, changed: undefined, existingChains: new Set<string>() };
  const plain = renderRuleset(req, opts).text.split('\n');
  const sorted = renderRuleset(req, { ...opts, dispatchByTarget: true }).text.split('\n');
  assert.deepEqual([...sorted].sort(), [...plain].sort(), 'the same lines');
  for (const chain of ['KUBE-SERVICES', 'KUBE-NODEPORTS']) {
    const rules = sorted.filter(
      (l) => l.startsWith(`-A ${chain} `) && /-j KUBE-(SVC|EXT)-/.test(l),
    );
    const targets = rules.map((l) => l.slice(l.lastIndexOf('-j ') + 3));
    assert.ok(targets.length > 5);
    assert.deepEqual(targets, [...targets].sort().reverse());
  }
  const nat = sorted.filter((l) => l.startsWith('-A KUBE-SERVICES '));
  assert.match(nat.at(-1)!, /-j KUBE-NODEPORTS$/, 'the nodeports rule stays last');
});

test('a full ruleset splits into batches of whole ports, then the top-level input', () => {
  const state = stateOf(...Array.from({ length: 20 }, (_, i) => port(i, 4)));
  const rs = renderRuleset({ state, changed: undefined, existingChains: new Set() }, opts);
  const inputs = chunkedRestoreInputs(rs.blocks, rs.top, 12, ['KUBE-MARK-MASQ']);
  assert.equal(inputs.at(-1), rs.top);
  assert.ok(inputs.length > 5);
  const batches = inputs.slice(0, -1).map((t) => t.trimEnd().split('\n'));
  assert.deepEqual(batches[0]!.slice(0, 2), ['*nat', ':KUBE-MARK-MASQ - [0:0]']);
  for (const b of inputs.slice(1, -1)) assert.ok(!b.includes(':KUBE-MARK-MASQ'));
  const declared = new Set<string>();
  for (const lines of batches) {
    assert.equal(lines[0], '*nat');
    assert.equal(lines.at(-1), 'COMMIT');
    const decl = lines.filter((l) => l.startsWith(':')).map((l) => l.slice(1).split(' ')[0]!);
    assert.ok(decl.length <= 12 + 1);
    for (const d of decl) declared.add(d);
    // Every jump to a per-service chain stays inside its batch: each port switches atomically.
    for (const l of lines.filter((x) => x.startsWith('-A '))) {
      const to = /-j (KUBE-(SVC|SEP|EXT)-\w+)/.exec(l)?.[1];
      if (to) assert.ok(decl.includes(to), `${to} declared in the same batch`);
    }
  }
  assert.deepEqual(
    [...declared].filter((c) => c !== 'KUBE-MARK-MASQ').sort(),
    [...rs.writtenChains].sort(),
  );
  const batchRules = batches.flat().filter((l) => l.startsWith('-A ')).length;
  const topRules = rs.top.split('\n').filter((l) => l.startsWith('-A ')).length;
  assert.equal(batchRules + topRules, rs.rules, 'no rule lost or duplicated');
});

test('batched cleanup: jumps first, referrers before the chains they jump to, top-level last', async () => {
  const sample = await readFile(new URL('testdata/nft-save-nat.txt', import.meta.url), 'utf8');
  const saved = parseSave(sample);
  assert.deepEqual(cleanupInputs(saved, 1000).length, 1, 'small: one transaction');
  const inputs = cleanupInputs(saved, 2);
  assert.ok(inputs.length > 3);
  assert.match(inputs[0]!, /^-D OUTPUT .*-j KUBE-SERVICES$/m);
  assert.doesNotMatch(inputs[0]!, /^-X KUBE-(SVC|SEP)/m);
  const last = inputs.at(-1)!.trimEnd().split('\n');
  assert.deepEqual(
    last.slice(1, -1).sort(),
    ['-X KUBE-MARK-MASQ', '-X KUBE-NODEPORTS', '-X KUBE-POSTROUTING', '-X KUBE-SERVICES']
      .filter((l) => sample.includes(`:${l.slice(3)} `))
      .sort(),
  );
  const rank = (c: string) => ['FW', 'EXT', 'SVL', 'SVC', 'SEP'].indexOf(c.split('-')[1]!);
  const order = inputs.slice(1, -1).flatMap((t) =>
    t
      .split('\n')
      .filter((l) => l.startsWith('-X '))
      .map((l) => l.slice(3)),
  );
  assert.deepEqual(
    order.map(rank),
    [...order.map(rank)].sort((a, b) => a - b),
  );
  assert.equal(order.length, [...chainNamesIn(sample, 'nat')].filter((c) => rank(c) >= 0).length);
});

test('chainNamesIn reads the chains of one table only', () => {
  const text =
    '# Generated\n*filter\n:INPUT ACCEPT [0:0]\n:KUBE-X - [0:0]\n-A INPUT -j KUBE-X\nCOMMIT\n' +
    '*nat\n:PREROUTING ACCEPT [0:0]\n:KUBE-SVC-AAAAAAAAAAAAAAAA - [0:0]\nCOMMIT\n';
  assert.deepEqual([...chainNamesIn(text, 'nat')], ['PREROUTING', 'KUBE-SVC-AAAAAAAAAAAAAAAA']);
  assert.deepEqual([...chainNamesIn(text, 'filter')], ['INPUT', 'KUBE-X']);
  assert.deepEqual([...chainNamesIn('', 'nat')], []);
});
