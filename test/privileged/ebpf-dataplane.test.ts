/**
 * Real-kernel tests of the eBPF socket load balancer: a disposable netns with backends on
 * 198.19.0.0/24 (lo), a disposable cgroup the hooks attach to, and a disposable pin dir.
 * Clients run inside both (support/ebpf-client.ts). Needs root; skipped otherwise.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createEbpfDataplane } from '../../src/dataplanes/ebpf/index.ts';
import type { EbpfDataplane } from '../../src/dataplanes/ebpf/index.ts';
import { servicePortState, stateOf } from '../../src/dataplanes/ebpf/testdata.ts';
import type { FixtureOptions } from '../../src/dataplanes/ebpf/testdata.ts';
import type { DataplaneOptions } from '../../src/dataplanes/types.ts';
import { cgroup2Root, ensureBpffs, removeCgroupTree } from '../../src/util/cgroup.ts';
import { run } from '../../src/util/exec.ts';

const isRoot = process.getuid?.() === 0;
const OBJ = join(import.meta.dirname, '../../build/bpf/sock_lb.bpf.o');
const skip = !isRoot
  ? 'needs root (CAP_BPF, CAP_NET_ADMIN, CAP_SYS_ADMIN)'
  : !existsSync(OBJ)
    ? 'run `make -C bpf` first'
    : false;

const id = `kpr-t-${randomBytes(4).toString('hex')}`;
const netns = `/run/netns/${id}`;
const pinDir = `/sys/fs/bpf/${id}`;
const SUPPORT = join(import.meta.dirname, 'support');
const BACKENDS = ['198.19.0.1', '198.19.0.2', '198.19.0.3'];
const BPORT = 8080;
let cgroup = '';
const servers: ChildProcess[] = [];
const agents: ChildProcess[] = [];
let dp: EbpfDataplane | undefined;

function options(): DataplaneOptions {
  return {
    nodeName: 'node-a',
    bpfPinDir: pinDir,
    cgroupPath: cgroup,
    iptablesBackend: undefined,
    nftTable: 'kpr',
    masqueradeAll: false,
    clusterCIDR: undefined,
  };
}

const svc = (o: Partial<FixtureOptions> & { endpoints: string[] }): FixtureOptions => ({
  name: 'web',
  port: 80,
  clusterIPs: ['198.18.100.1'],
  ...o,
});
const WEB = svc({ endpoints: BACKENDS.map((b) => `${b}:${BPORT}`) });
const DNS = svc({
  name: 'dns',
  port: 53,
  protocol: 'UDP',
  clusterIPs: ['198.18.100.53'],
  endpoints: BACKENDS.map((b) => `${b}:${BPORT}`),
});
const EMPTY = svc({ name: 'empty', port: 80, clusterIPs: ['198.18.100.2'], endpoints: [] });
const EXT = svc({
  name: 'ext',
  port: 81,
  clusterIPs: ['198.18.100.3'],
  externalIPs: ['198.18.200.1'],
  endpoints: [`198.19.0.1:${BPORT}`],
});

async function syncAll(d: EbpfDataplane, list: FixtureOptions[]): Promise<void> {
  await d.sync({ state: stateOf(list.map(servicePortState)), changed: new Set(), full: true });
}

/** Spawns `node script args` inside the test netns; with `inCgroup`, inside the test cgroup too. */
function spawnIn(script: string, args: string[], inCgroup: boolean): ChildProcess {
  const enter = inCgroup ? `echo $$ > '${join(cgroup, 'cgroup.procs')}' && ` : '';
  return spawn(
    'nsenter',
    [
      `--net=${netns}`,
      '--',
      'sh',
      '-c',
      `${enter}exec "$0" "$@"`,
      process.execPath,
      join(SUPPORT, script),
      ...args,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
}

async function client(args: string[]): Promise<Record<string, unknown>> {
  const child = spawnIn('ebpf-client.ts', args, true);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((r) => child.on('close', r));
  assert.equal(code, 0, `client ${args.join(' ')} failed: ${err}`);
  return JSON.parse(out.trim().split('\n').pop()!) as Record<string, unknown>;
}

function waitLine(child: ChildProcess, line: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const t = setTimeout(() => reject(new Error(`no "${line}" within 20s`)), 20000);
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      if (buf.includes(line)) {
        clearTimeout(t);
        resolve();
      }
    });
    child.on('exit', (c) => reject(new Error(`exited with ${c} before "${line}"`)));
  });
}

before(async () => {
  if (skip) return;
  await ensureBpffs();
  await run('ip', ['netns', 'add', id]);
  await run('ip', ['link', 'set', 'lo', 'up'], { netns });
  for (const b of BACKENDS) await run('ip', ['addr', 'add', `${b}/32`, 'dev', 'lo'], { netns });
  cgroup = join(await cgroup2Root(), id);
  await run('mkdir', [cgroup]);
  for (const [i, b] of BACKENDS.entries()) {
    const s = spawnIn('ebpf-backend.ts', [`be${i + 1}`, b, String(BPORT)], false);
    servers.push(s);
    await waitLine(s, 'ready');
  }
  dp = createEbpfDataplane(options());
  await dp.start();
  await syncAll(dp, [WEB, DNS, EMPTY, EXT]);
});

after(async () => {
  if (skip) return;
  for (const p of [...servers, ...agents]) p.kill('SIGKILL');
  try {
    await dp?.cleanup();
  } finally {
    rmSync(pinDir, { recursive: true, force: true });
    if (cgroup) await removeCgroupTree(cgroup);
    await run('ip', ['netns', 'del', id], { allowFailure: true });
  }
});

test('a ClusterIP reaches a backend and getpeername reports the VIP', { skip }, async () => {
  const r = (await client(['tcp', '198.18.100.1', '80', '30'])) as {
    counts: Record<string, number>;
    errors: string[];
    peers: string[];
  };
  assert.deepEqual(r.errors, []);
  assert.equal(
    Object.values(r.counts).reduce((a, b) => a + b, 0),
    30,
  );
  assert.deepEqual(r.peers, ['198.18.100.1:80']);
});

test('3000 connections spread over 3 backends within ±10% of uniform', { skip }, async () => {
  const r = (await client(['tcp', '198.18.100.1', '80', '3000', '20'])) as {
    counts: Record<string, number>;
    errors: string[];
  };
  assert.deepEqual(r.errors, []);
  assert.deepEqual(Object.keys(r.counts).sort(), ['be1', 'be2', 'be3']);
  for (const [name, n] of Object.entries(r.counts))
    assert.ok(n >= 900 && n <= 1100, `${name} got ${n} of 3000`);
});

test('externalIPs are balanced too', { skip }, async () => {
  const r = (await client(['tcp', '198.18.200.1', '81', '5'])) as {
    counts: Record<string, number>;
  };
  assert.deepEqual(r.counts, { be1: 5 });
});

test(
  'UDP: replies appear to come from the VIP, one socket sticks to one backend',
  { skip },
  async () => {
    const r = (await client(['udp', '198.18.100.53', '53', '10'])) as {
      counts: Record<string, number>;
      from: string[];
    };
    assert.deepEqual(r.from, ['198.18.100.53:53']);
    assert.equal(Object.keys(r.counts).length, 1);
    assert.equal(Object.values(r.counts)[0], 10);
  },
);

test('a service without endpoints refuses connections at once', { skip }, async () => {
  const r = (await client(['refused', '198.18.100.2', '80'])) as { code: string; ms: number };
  assert.equal(r.code, 'ECONNREFUSED');
  assert.ok(r.ms < 200, `took ${r.ms} ms`);
});

test('non-service traffic is untouched', { skip }, async () => {
  const r = (await client(['tcp', '198.19.0.2', String(BPORT), '5'])) as {
    counts: Record<string, number>;
    peers: string[];
  };
  assert.deepEqual(r.counts, { be2: 5 });
  assert.deepEqual(r.peers, [`198.19.0.2:${BPORT}`]);
  const refused = (await client(['refused', '198.18.100.99', '80'])) as { code: string };
  assert.notEqual(refused.code, 'CONNECTED');
});

test(
  'backends beyond the 16 inline ones are reached through overflow entries',
  { skip },
  async () => {
    // Positions 0-15 are be1, 16-19 be2: be2 is only reachable through overflow entry 1.
    const wide = svc({
      name: 'wide',
      port: 82,
      clusterIPs: ['198.18.100.4'],
      endpoints: [
        ...Array.from({ length: 16 }, () => `${BACKENDS[0]}:${BPORT}`),
        ...Array.from({ length: 4 }, () => `${BACKENDS[1]}:${BPORT}`),
      ],
    });
    await syncAll(dp!, [WEB, DNS, EMPTY, EXT, wide]);
    try {
      const r = (await client(['tcp', '198.18.100.4', '82', '500', '20'])) as {
        counts: Record<string, number>;
        errors: string[];
      };
      assert.deepEqual(r.errors, []);
      const be2 = r.counts.be2 ?? 0;
      assert.ok(
        be2 >= 50 && be2 <= 150,
        `be2 got ${be2} of 500, expected ~100 (4 of 20 positions)`,
      );
    } finally {
      await syncAll(dp!, [WEB, DNS, EMPTY, EXT]);
    }
  },
);

test(
  'a removed backend gets no new connections; list() shows the live maps',
  { skip },
  async () => {
    const two = svc({ endpoints: BACKENDS.slice(0, 2).map((b) => `${b}:${BPORT}`) });
    const key = servicePortState(two).service.key;
    await dp!.sync({
      state: stateOf([two, DNS, EMPTY, EXT].map(servicePortState)),
      changed: new Set([key]),
      full: false,
    });
    const live = await dp!.list();
    assert.deepEqual(
      live.find((f) => f.ip === '198.18.100.1')?.backends.map((b) => b.ip),
      ['198.19.0.1', '198.19.0.2'],
    );
    assert.equal(live.find((f) => f.ip === '198.18.200.1')?.kind, 'ExternalIP');
    const r = (await client(['tcp', '198.18.100.1', '80', '300'])) as {
      counts: Record<string, number>;
      errors: string[];
    };
    assert.deepEqual(r.errors, []);
    assert.equal(r.counts.be3, undefined);
    await syncAll(dp!, [WEB, DNS, EMPTY, EXT]);
    const stats = dp!.stats().maps.find((m) => m.name === 'kpr_services');
    // One entry per frontend (backends are inline): web, dns, empty, ext clusterIP + externalIP.
    assert.ok(stats && stats.entries === 5 && stats.capacity > 100000, JSON.stringify(stats));
  },
);

test(
  'restart: a new instance adopts pins while a looping client sees zero failures',
  { skip },
  async () => {
    const loop = client(['loop', '198.18.100.1', '80', '3000']);
    await new Promise((r) => setTimeout(r, 700));
    await dp!.close();
    const cli = createEbpfDataplane(options()); // like `kpr service list`: pins only, no start()
    assert.equal((await cli.list()).length, 5);
    dp = createEbpfDataplane(options());
    await dp.start();
    assert.deepEqual(
      await dp.sync({
        state: stateOf([WEB, DNS, EMPTY, EXT].map(servicePortState)),
        changed: new Set(),
        full: true,
      }),
      {
        written: 0,
        deleted: 0,
      },
    );
    const r = (await loop) as { ok: number; fail: number; errors: string[] };
    assert.equal(r.fail, 0, JSON.stringify(r));
    assert.ok(r.ok > 50, `only ${r.ok} connections in 3s`);
  },
);

test('restart after SIGKILL: traffic continues, the next agent adopts', { skip }, async () => {
  await dp!.close();
  dp = undefined;
  const agent = spawn(
    process.execPath,
    [join(SUPPORT, 'ebpf-agent.ts'), pinDir, cgroup, JSON.stringify([WEB, DNS, EMPTY, EXT])],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  agents.push(agent);
  await waitLine(agent, 'synced');
  const loop = client(['loop', '198.18.100.1', '80', '2500']);
  await new Promise((r) => setTimeout(r, 500));
  agent.kill('SIGKILL');
  await new Promise((r) => agent.on('exit', r));
  await new Promise((r) => setTimeout(r, 500));
  dp = createEbpfDataplane(options());
  await dp.start();
  const res = await dp.sync({
    state: stateOf([WEB, DNS, EMPTY, EXT].map(servicePortState)),
    changed: new Set(),
    full: true,
  });
  assert.deepEqual(res, { written: 0, deleted: 0 });
  const r = (await loop) as { ok: number; fail: number };
  assert.equal(r.fail, 0, JSON.stringify(r));
  assert.ok(r.ok > 50);
});

test('cleanup removes links, maps and the pin dir, and is idempotent', { skip }, async () => {
  await dp!.cleanup();
  await dp!.cleanup();
  assert.equal(existsSync(pinDir), false);
  const r = (await client(['refused', '198.18.100.2', '80'])) as { code: string };
  assert.notEqual(r.code, 'ECONNREFUSED', 'programs detached: the empty service no longer refuses');
  const { stdout } = await run('bpftool', ['cgroup', 'show', cgroup]);
  assert.equal(stdout.trim(), '');
});
