import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CommandRunner, ExecOptions } from '../../util/exec.ts';
import { KprError } from '../../util/errors.ts';
import { memoryLogger } from '../../util/log.ts';
import type { DataplaneOptions } from '../types.ts';
import { createIptablesDataplane, localTrafficCIDR } from './index.ts';
import { portState, stateOf } from './test-fixtures.ts';

interface Call {
  cmd: string;
  args: readonly string[];
  opts: ExecOptions | undefined;
}

/** A fake kernel: records commands, serves an empty iptables-save, fails restores on demand. */
function fakeRunner() {
  const calls: Call[] = [];
  const fake = { calls, failRestore: false, run: undefined as unknown as CommandRunner };
  fake.run = async (cmd, args, opts) => {
    calls.push({ cmd, args, opts });
    if (cmd.endsWith('-restore') && fake.failRestore) {
      throw new KprError('KPR_ERR_EXEC', 'iptables-restore: line 12 failed');
    }
    if (cmd.endsWith('-save'))
      return { stdout: '*nat\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n', stderr: '', code: 0 };
    if (args.includes('-C')) return { stdout: '', stderr: 'Bad rule', code: 1 };
    return { stdout: cmd === 'ip' ? '[]' : '0\n', stderr: '', code: 0 };
  };
  return fake;
}

const opts = (over: Partial<DataplaneOptions> = {}): DataplaneOptions => ({
  nodeName: 'node-a',
  bpfPinDir: '',
  cgroupPath: undefined,
  iptablesBackend: undefined,
  nftTable: '',
  masqueradeAll: false,
  clusterCIDR: undefined,
  ...over,
});

const a = portState({ namespace: 'ns1', name: 'a' }, [{ ip: '198.18.128.1' }]);
const b = portState({ namespace: 'ns1', name: 'b', clusterIPs: ['198.19.0.11'] }, [
  { ip: '198.18.128.2' },
]);
const restores = (calls: Call[]) =>
  calls.filter((c) => c.cmd.endsWith('-restore') && !c.args.includes('--version'));
const checks = (calls: Call[]) => calls.filter((c) => c.args.includes('-C'));

test('the backend selects the binaries', async () => {
  for (const [backend, prefix] of [
    ['nft', 'iptables-nft'],
    ['legacy', 'iptables-legacy'],
    [undefined, 'iptables'],
  ] as const) {
    const fake = fakeRunner();
    const dp = createIptablesDataplane(opts({ iptablesBackend: backend }), {
      run: fake.run,
      log: memoryLogger(),
    });
    await dp.sync({ state: stateOf(a), changed: new Set(), full: true });
    const used = new Set(fake.calls.map((c) => c.cmd).filter((c) => c.startsWith('iptables')));
    assert.deepEqual([...used].sort(), [`${prefix}`, `${prefix}-restore`, `${prefix}-save`].sort());
    const r = restores(fake.calls)[0]!;
    assert.deepEqual(r.args, ['-w', '5', '--noflush', '--counters']);
    assert.equal(r.opts?.netns, undefined, 'the dataplane runs in the current namespace');
  }
});

test('the first sync is full, later ones partial, and a failed partial sync forces a full one', async () => {
  const fake = fakeRunner();
  const dp = createIptablesDataplane(opts(), { run: fake.run, log: memoryLogger() });
  // Not asked for a full sync, but nothing was written yet.
  await dp.sync({ state: stateOf(a, b), changed: new Set([a.service.key]), full: false });
  let input = restores(fake.calls).at(-1)!.opts!.input!;
  assert.match(
    input,
    /:KUBE-SVC-\w+ - \[0:0\]\n:KUBE-SEP-\w+ - \[0:0\]\n:KUBE-SVC-/,
    'both services written',
  );
  assert.equal(checks(fake.calls).length, 12, 'jump rules ensured on a full sync');

  fake.calls.length = 0;
  await dp.sync({ state: stateOf(a, b), changed: new Set([b.service.key]), full: false });
  input = restores(fake.calls).at(-1)!.opts!.input!;
  assert.equal(input.match(/^:KUBE-SVC-/gm)?.length, 1, 'only b is written');
  assert.equal(checks(fake.calls).length, 0, 'no jump checks on a partial sync');

  fake.failRestore = true;
  await assert.rejects(
    dp.sync({ state: stateOf(a, b), changed: new Set([a.service.key]), full: false }),
    (e: unknown) =>
      e instanceof KprError && e.code === 'KPR_ERR_IPTABLES' && /partial ruleset/.test(e.message),
  );
  fake.failRestore = false;
  fake.calls.length = 0;
  await dp.sync({ state: stateOf(a, b), changed: new Set(), full: false });
  input = restores(fake.calls).at(-1)!.opts!.input!;
  assert.equal(input.match(/^:KUBE-SVC-/gm)?.length, 2, 'the sync after a failure is full');
  assert.equal(checks(fake.calls).length, 12);
});

test('start() creates only missing chains and the jumps; cleanup() restores nothing when clean', async () => {
  const fake = fakeRunner();
  const dp = createIptablesDataplane(opts(), { run: fake.run, log: memoryLogger() });
  await dp.start();
  const input = restores(fake.calls)[0]!.opts!.input!;
  assert.ok(input.includes(':KUBE-SERVICES - [0:0]'));
  assert.ok(!input.includes('-A '), 'start() writes no rules');
  assert.equal(fake.calls.filter((c) => c.args.includes('-I')).length, 12);
  fake.calls.length = 0;
  await dp.cleanup();
  assert.equal(restores(fake.calls).length, 0);
});

test('invalid entries are reported once, not on every sync', async () => {
  const fake = fakeRunner();
  const log = memoryLogger();
  const dp = createIptablesDataplane(opts(), { run: fake.run, log });
  const bad = portState({ namespace: 'ns1', name: 'c', externalIPs: ['not-an-ip'] }, [
    { ip: '198.18.128.3' },
  ]);
  await dp.sync({ state: stateOf(bad), changed: new Set(), full: true });
  await dp.sync({ state: stateOf(bad), changed: new Set([bad.service.key]), full: false });
  assert.equal(log.lines.filter((l) => l.includes('not-an-ip')).length, 1);
});

test('clusterCIDR: the IPv4 member of a dual-stack pair; nonsense is a config error', () => {
  assert.equal(localTrafficCIDR('fd00::/48, 198.18.128.5/17')?.text, '198.18.128.0/17');
  assert.equal(localTrafficCIDR(undefined), undefined);
  assert.equal(localTrafficCIDR('fd00::/48'), undefined);
  assert.throws(() => localTrafficCIDR('198.18.0.0/33'), /not an IPv4 CIDR/);
  assert.throws(() => createIptablesDataplane(opts({ clusterCIDR: 'x -j ACCEPT' })), KprError);
});

test('partial syncs find stale chains from memory; only full syncs list the kernel', async () => {
  const fake = fakeRunner();
  const dp = createIptablesDataplane(opts({ iptablesBackend: 'legacy' }), {
    run: fake.run,
    log: memoryLogger(),
  });
  const saves = () => fake.calls.filter((c) => c.cmd.endsWith('-save')).length;
  await dp.sync({ state: stateOf(a, b), changed: new Set(), full: true });
  assert.equal(saves(), 1);
  const a2 = portState({ namespace: 'ns1', name: 'a' }, [{ ip: '198.18.128.9' }]);
  await dp.sync({ state: stateOf(a2, b), changed: new Set([a.service.key]), full: false });
  assert.equal(saves(), 1, 'a partial sync does not run iptables-save');
  const input = restores(fake.calls).at(-1)!.opts!.input!;
  assert.equal(input.match(/^-X KUBE-SEP-/gm)?.length, 1, "a's old endpoint chain is deleted");
  await dp.sync({ state: stateOf(b), changed: new Set([a.service.key]), full: false });
  const gone = restores(fake.calls).at(-1)!.opts!.input!;
  assert.equal(gone.match(/^-X KUBE-(SVC|SEP)-/gm)?.length, 2, "a's chains are deleted");
  await dp.sync({ state: stateOf(b), changed: new Set(), full: true });
  assert.equal(saves(), 2);
});

test('nft backend: a large full sync is applied in batches, a partial one in one transaction', async () => {
  const fake = fakeRunner();
  const dp = createIptablesDataplane(opts({ iptablesBackend: 'nft' }), {
    run: fake.run,
    log: memoryLogger(),
    nftChunkChains: 4,
  });
  const many = Array.from({ length: 6 }, (_, i) =>
    portState({ namespace: 'ns2', name: `s${i}`, clusterIPs: [`198.19.1.${i}`] }, [
      { ip: `198.18.130.${i}` },
      { ip: `198.18.131.${i}` },
    ]),
  );
  await dp.sync({ state: stateOf(...many), changed: new Set(), full: true });
  const inputs = restores(fake.calls).map((c) => c.opts!.input!);
  assert.equal(inputs.length, 7, 'six ports of three chains, one per batch, then the top level');
  // The fake kernel has no KUBE-MARK-MASQ yet: the first batch creates it.
  assert.match(inputs[0]!, /^:KUBE-MARK-MASQ - \[0:0\]$/m);
  assert.match(inputs.at(-1)!, /^\*filter/);
  fake.calls.length = 0;
  await dp.sync({ state: stateOf(...many), changed: new Set([many[2]!.service.key]), full: false });
  assert.equal(restores(fake.calls).length, 1);

  const legacy = fakeRunner();
  const dpl = createIptablesDataplane(opts({ iptablesBackend: 'legacy' }), {
    run: legacy.run,
    log: memoryLogger(),
    nftChunkChains: 4,
  });
  await dpl.sync({ state: stateOf(...many), changed: new Set(), full: true });
  assert.equal(restores(legacy.calls).length, 1, 'legacy rewrites whole tables: never split');
});
