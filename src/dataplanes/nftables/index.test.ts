// The dataplane's command flow through a fake CommandRunner: which nft invocations a sync makes,
// fallback to full syncs after failures, idempotent cleanup, and the read-back parser.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { DataplaneOptions } from '../types.ts';
import type { CommandRunner, ExecResult } from '../../util/exec.ts';
import { memoryLogger } from '../../util/log.ts';
import { DataplaneError, KprError } from '../../util/errors.ts';
import { COLD_START_CHUNK, createNftablesDataplane } from './index.ts';
import { endpoint, portState, servicePort, stateOf } from './fixtures.ts';
import { parseLiveFrontends, serviceFromChain } from './readback.ts';

const OPTS: DataplaneOptions = {
  nodeName: 'node-a',
  bpfPinDir: '/sys/fs/bpf/kpr',
  cgroupPath: undefined,
  iptablesBackend: undefined,
  nftTable: 'kpr',
  masqueradeAll: false,
  clusterCIDR: '198.19.0.0/16',
};
const MISSING: ExecResult = {
  stdout: '',
  stderr: 'Error: No such file or directory\nlist table ip kpr',
  code: 1,
};
const OK: ExecResult = { stdout: '', stderr: '', code: 0 };
/** `nft -j list chains ip` / `list sets ip` in a namespace without ip tables. */
const NONE: ExecResult = { stdout: '{"nftables": []}', stderr: '', code: 0 };

function fake(respond: (args: readonly string[], input: string | undefined) => ExecResult) {
  const calls: { args: readonly string[]; input: string | undefined }[] = [];
  const run: CommandRunner = async (cmd, args, opts) => {
    assert.equal(cmd, 'nft');
    calls.push({ args, input: opts?.input });
    return respond(args, opts?.input);
  };
  return { run, calls };
}

const svc = (n: number) =>
  portState(
    servicePort({ namespace: 'ns', name: 'a' }),
    Array.from({ length: n }, (_, i) => endpoint(`198.19.1.${i + 1}`, 80)),
  );

test('first sync is full (inventory + one transaction); later ones are incremental', async () => {
  const f = fake((args) => (args.includes('list') ? NONE : OK));
  const dp = createNftablesDataplane(OPTS, { run: f.run, log: memoryLogger() });
  const r1 = await dp.sync({ state: stateOf(svc(1)), changed: new Set(), full: false });
  assert.deepEqual(
    f.calls.map((c) => c.args.join(' ')),
    ['-j list chains ip', '-j -t list sets ip', '-f -', '-f -'],
    'inventory, then a cold start: skeleton transaction, one chunk of Service ports',
  );
  assert.match(f.calls[2]!.input!, /^add table ip kpr /);
  assert.match(f.calls[3]!.input!, /^add chain ip kpr service-/);
  assert.ok(r1.written > 20);
  const r2 = await dp.sync({
    state: stateOf(svc(2)),
    changed: new Set([svc(2).service.key]),
    full: false,
  });
  assert.equal(f.calls.length, 5);
  assert.doesNotMatch(f.calls[4]!.input!, /add table|flush map/);
  assert.equal(
    r2.written,
    3 + 1,
    'service chain (masquerade + 2 dnat rules) and a hairpin element',
  );
});

test('a refused transaction throws DataplaneError and forces the next sync to be full', async () => {
  let refuse = false;
  const f = fake((args) => {
    if (args.includes('list')) return NONE;
    return refuse ? { stdout: '', stderr: 'Error: Could not process rule', code: 1 } : OK;
  });
  const log = memoryLogger();
  const dp = createNftablesDataplane(OPTS, { run: f.run, log });
  await dp.sync({ state: stateOf(svc(1)), changed: new Set(), full: true });
  refuse = true;
  await assert.rejects(
    dp.sync({ state: stateOf(svc(2)), changed: new Set([svc(2).service.key]), full: false }),
    (e: unknown) =>
      e instanceof DataplaneError &&
      e.code === 'KPR_ERR_NFT_APPLY' &&
      /Could not process rule/.test(e.message),
  );
  assert.ok(log.lines.some((l) => l.includes('nftables sync failed')));
  refuse = false;
  const before = f.calls.length;
  await dp.sync({ state: stateOf(svc(2)), changed: new Set(), full: false });
  assert.equal(
    f.calls[before]!.args.join(' '),
    '-j list chains ip',
    'full sync re-reads the kernel',
  );
  assert.match(f.calls[before + 2]!.input!, /^add table/);
});

test('an empty change writes nothing', async () => {
  const f = fake((args) => (args.includes('list') ? MISSING : OK));
  const dp = createNftablesDataplane(OPTS, { run: f.run, log: memoryLogger() });
  await dp.sync({ state: stateOf(svc(1)), changed: new Set(), full: true });
  const n = f.calls.length;
  assert.deepEqual(await dp.sync({ state: stateOf(svc(1)), changed: new Set(), full: false }), {
    written: 0,
    deleted: 0,
  });
  assert.equal(f.calls.length, n);
});

test('start declares the skeleton without flushing; cleanup is idempotent', async () => {
  let exists = true;
  const f = fake((args) => {
    if (args[0] === 'delete') {
      if (!exists) return { stdout: '', stderr: 'Error: No such file or directory', code: 1 };
      exists = false;
    }
    return OK;
  });
  const dp = createNftablesDataplane(OPTS, { run: f.run, log: memoryLogger() });
  await dp.start();
  assert.match(
    f.calls[0]!.input!,
    /add chain ip kpr nat-prerouting \{ type nat hook prerouting priority -100 ; \}/,
  );
  assert.doesNotMatch(f.calls[0]!.input!, /flush|add rule/);
  await dp.cleanup();
  await dp.cleanup();
  assert.deepEqual(
    f.calls.slice(1).map((c) => c.args.join(' ')),
    ['delete table ip kpr', 'delete table ip kpr'],
  );
  const g = fake(() => ({ stdout: '', stderr: 'Error: Operation not permitted', code: 1 }));
  await assert.rejects(
    createNftablesDataplane(OPTS, { run: g.run, log: memoryLogger() }).cleanup(),
    /Operation not permitted/,
  );
});

test('bad configuration is refused up front', () => {
  assert.throws(
    () => createNftablesDataplane({ ...OPTS, nftTable: 'kpr; flush ruleset' }),
    KprError,
  );
  assert.throws(
    () => createNftablesDataplane({ ...OPTS, clusterCIDR: 'pods' }),
    /invalid clusterCIDR/,
  );
});

test('list() follows elements to chains to dnat targets', async () => {
  const ep = (ip: string) => `endpoint-AAAAAAAA-ns/web/tcp/http__${ip}/8080`;
  const rule = (chain: string, expr: unknown[]) => ({
    rule: { family: 'ip', table: 'kpr', chain, expr },
  });
  const dnat = (ip: string) =>
    rule(ep(ip), [
      { match: { op: '==', left: { meta: { key: 'l4proto' } }, right: 'tcp' } },
      { dnat: { addr: ip, port: 8080 } },
    ]);
  const doc = {
    nftables: [
      { set: { name: 'cluster-ips', elem: ['198.18.100.1', '198.18.100.9'] } },
      {
        map: {
          name: 'service-ips',
          elem: [
            [
              { concat: ['198.18.100.1', 'tcp', 80] },
              { goto: { target: 'service-BBBBBBBB-ns/web/tcp/http' } },
            ],
            [
              {
                elem: { val: { concat: ['198.18.200.1', 'tcp', 80] }, comment: 'loadbalancer IP' },
              },
              { goto: { target: 'external-BBBBBBBB-ns/web/tcp/http' } },
            ],
          ],
        },
      },
      {
        map: {
          name: 'service-nodeports',
          elem: [
            [{ concat: ['tcp', 30080] }, { goto: { target: 'external-BBBBBBBB-ns/web/tcp/http' } }],
          ],
        },
      },
      {
        map: {
          name: 'no-endpoint-services',
          elem: [
            [
              { elem: { val: { concat: ['198.18.100.9', 'udp', 53] }, comment: 'ns/dns:dns' } },
              { goto: { target: 'reject-chain' } },
            ],
          ],
        },
      },
      rule('external-BBBBBBBB-ns/web/tcp/http', [
        {
          match: { op: '==', left: { fib: { result: 'type', flags: ['saddr'] } }, right: 'local' },
        },
        { goto: { target: 'service-BBBBBBBB-ns/web/tcp/http' } },
      ]),
      rule('external-BBBBBBBB-ns/web/tcp/http', [
        { goto: { target: 'service-BBBBBBBB-ns/web/tcp/http' } },
      ]),
      rule('service-BBBBBBBB-ns/web/tcp/http', [
        {
          vmap: {
            key: { numgen: { mode: 'random', mod: 2, offset: 0 } },
            data: {
              set: [
                [0, { goto: { target: ep('198.19.1.1') } }],
                [1, { goto: { target: ep('198.19.1.2') } }],
              ],
            },
          },
        },
      ]),
      dnat('198.19.1.1'),
      dnat('198.19.1.2'),
    ],
  };
  const f = fake(() => ({ stdout: JSON.stringify(doc), stderr: '', code: 0 }));
  const live = await createNftablesDataplane(OPTS, { run: f.run, log: memoryLogger() }).list();
  const backends = [
    { ip: '198.19.1.1', port: 8080 },
    { ip: '198.19.1.2', port: 8080 },
  ];
  assert.deepEqual(live, [
    {
      kind: 'ClusterIP',
      ip: '198.18.100.1',
      port: 80,
      protocol: 'TCP',
      service: 'ns/web:http',
      backends,
    },
    {
      kind: 'ClusterIP',
      ip: '198.18.100.9',
      port: 53,
      protocol: 'UDP',
      service: 'ns/dns:dns',
      backends: [],
    },
    {
      kind: 'LoadBalancer',
      ip: '198.18.200.1',
      port: 80,
      protocol: 'TCP',
      service: 'ns/web:http',
      backends,
    },
    {
      kind: 'NodePort',
      ip: '0.0.0.0',
      port: 30080,
      protocol: 'TCP',
      service: 'ns/web:http',
      backends,
    },
  ]);
  const missing = fake(() => MISSING);
  assert.deepEqual(await createNftablesDataplane(OPTS, { run: missing.run }).list(), []);
  assert.deepEqual(parseLiveFrontends('{"nftables": []}'), []);
});

test('service names are recovered from chain names', () => {
  assert.equal(serviceFromChain('service-ULMVA6XW-ns1/svc1/tcp/p80'), 'ns1/svc1:p80');
  assert.equal(serviceFromChain('external-ULMVA6XW-ns1/svc1/udp/'), 'ns1/svc1');
  assert.equal(
    serviceFromChain('endpoint-5OJB2KTY-ns1/svc1/tcp/p80__198.19.0.1/80'),
    'ns1/svc1:p80',
  );
  assert.equal(serviceFromChain('reject-chain'), undefined);
  assert.equal(serviceFromChain(`service-ULMVA6XW-ns/${'a'.repeat(300)}...`), undefined);
});

test('list() reads kpr layout: numgen-guarded dnat rules and numgen-guarded endpoint gotos', () => {
  const numgen = (mod: number) => ({
    match: { op: '==', left: { numgen: { mode: 'random', mod, offset: 0 } }, right: 0 },
  });
  const l4 = { match: { op: '==', left: { meta: { key: 'l4proto' } }, right: 'tcp' } };
  const dnat = (ip: string) => ({ dnat: { addr: ip, port: 8080 } });
  const rule = (chain: string, expr: unknown[]) => ({ rule: { chain, expr } });
  const svcA = 'service-AAAAAAAA-ns/a/tcp/';
  const svcB = 'service-BBBBBBBB-ns/b/tcp/';
  const ep = (ip: string) => `endpoint-CCCCCCCC-ns/b/tcp/__${ip}/8080`;
  const target = (ip: string, chain: string) => [
    { concat: [ip, 'tcp', 80] },
    { goto: { target: chain } },
  ];
  const doc = {
    nftables: [
      { set: { name: 'cluster-ips', elem: ['198.18.100.1', '198.18.100.2'] } },
      {
        map: {
          name: 'service-ips',
          elem: [target('198.18.100.1', svcA), target('198.18.100.2', svcB)],
        },
      },
      rule(svcA, [numgen(2), l4, dnat('198.19.1.1')]),
      rule(svcA, [l4, dnat('198.19.1.2')]),
      // ClientIP affinity: the affinity match must not be followed, the numgen arms must.
      rule(svcB, [
        { match: { op: '==', left: { payload: { protocol: 'ip', field: 'saddr' } }, right: '@x' } },
        { goto: { target: ep('198.19.9.9') } },
      ]),
      rule(svcB, [numgen(2), { goto: { target: ep('198.19.2.1') } }]),
      rule(svcB, [{ goto: { target: ep('198.19.2.2') } }]),
      rule(ep('198.19.2.1'), [l4, dnat('198.19.2.1')]),
      rule(ep('198.19.2.2'), [l4, dnat('198.19.2.2')]),
      rule(ep('198.19.9.9'), [l4, dnat('198.19.9.9')]),
    ],
  };
  const live = parseLiveFrontends(JSON.stringify(doc));
  assert.deepEqual(
    live.map((f) => [f.ip, f.service, f.backends.map((b) => b.ip)]),
    [
      ['198.18.100.1', 'ns/a', ['198.19.1.1', '198.19.1.2']],
      ['198.18.100.2', 'ns/b', ['198.19.2.1', '198.19.2.2']],
    ],
  );
});

test('a cold start is chunked; a full sync over live Service chains is one transaction', async () => {
  const many = stateOf(
    ...Array.from({ length: COLD_START_CHUNK + 1 }, (_, i) =>
      portState(
        servicePort({
          namespace: 'ns',
          name: `s${i}`,
          clusterIPs: [`198.18.${100 + (i >> 8)}.${i & 255}`],
        }),
        [endpoint('198.19.1.1', 80)],
      ),
    ),
  );
  const cold = fake((args) => (args.includes('list') ? NONE : OK));
  await createNftablesDataplane(OPTS, { run: cold.run, log: memoryLogger() }).sync({
    state: many,
    changed: new Set(),
    full: true,
  });
  const applies = cold.calls.filter((c) => c.args[0] === '-f');
  assert.equal(applies.length, 3, 'skeleton + two chunks');
  assert.equal(
    applies.reduce(
      (n, c) => n + (c.input!.match(/^add chain ip kpr service-[A-Z2-7]{8}-/gm) ?? []).length,
      0,
    ),
    COLD_START_CHUNK + 1,
  );
  const live = JSON.stringify({
    nftables: [{ chain: { table: 'kpr', name: 'service-AAAAAAAA-ns/old/tcp/' } }],
  });
  const warm = fake((args) =>
    args.includes('chains')
      ? { stdout: live, stderr: '', code: 0 }
      : args.includes('list')
        ? NONE
        : OK,
  );
  await createNftablesDataplane(OPTS, { run: warm.run, log: memoryLogger() }).sync({
    state: many,
    changed: new Set(),
    full: true,
  });
  const one = warm.calls.filter((c) => c.args[0] === '-f');
  assert.equal(one.length, 1, 'atomic over a live table');
  assert.match(one[0]!.input!, /^delete chain ip kpr service-AAAAAAAA-ns\/old\/tcp\/$/m);
});
