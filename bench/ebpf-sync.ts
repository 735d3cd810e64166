/**
 * Benchmark of the eBPF dataplane's map programming (needs root and `make -C bpf`):
 *   - full sync of 100000 services x 10 endpoints into empty maps (target <= 1 s);
 *   - single-endpoint incremental update latency, p50/p99, at 100 and 100000 services
 *     (target p99 <= 5 ms).
 * Programs attach to a fresh, empty cgroup so no host traffic is affected; the cgroup and pin
 * dir are removed at exit. Prints one JSON summary on stdout.
 * Usage: node bench/ebpf-sync.ts [--services N] [--endpoints N] [--iterations N]
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { ServicePortState } from '../src/model/types.ts';
import { createEbpfDataplane } from '../src/dataplanes/ebpf/index.ts';
import type { EbpfDataplane } from '../src/dataplanes/ebpf/index.ts';
import { servicePortState } from '../src/dataplanes/ebpf/testdata.ts';
import { cgroup2Root, ensureBpffs, removeCgroupTree } from '../src/util/cgroup.ts';
import { createLogger } from '../src/util/log.ts';

const { values: args } = parseArgs({
  options: {
    services: { type: 'string', default: '100000' },
    endpoints: { type: 'string', default: '10' },
    iterations: { type: 'string', default: '500' },
  },
});
const SERVICES = Number(args.services);
const ENDPOINTS = Number(args.endpoints);
const ITER = Number(args.iterations);

if (process.getuid?.() !== 0) {
  console.error('ebpf-sync bench needs root (it loads BPF programs and creates a cgroup)');
  process.exit(1);
}

/** The n-th address of 198.18.0.0/15 (131072 addresses). */
function addr(n: number): string {
  const v = (198 << 24) + (18 << 16) + (n % 131072);
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}
/** Endpoint j of service i: unique ip:port pairs, ports spread when addresses wrap. */
function ep(i: number, j: number, gen = 0): string {
  const n = i * ENDPOINTS + j;
  return `${addr(n)}:${8000 + Math.floor(n / 131072) + gen * 100}`;
}
function svc(i: number, gen = 0): ServicePortState {
  return servicePortState({
    name: `svc-${i}`,
    port: 80,
    clusterIPs: [addr(i)],
    endpoints: Array.from({ length: ENDPOINTS }, (_, j) => ep(i, j, j === 0 ? gen : 0)),
  });
}

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};
const round = (x: number): number => Math.round(x * 1000) / 1000;

const id = `kpr-t-bench-${randomBytes(3).toString('hex')}`;
const pinDir = `/sys/fs/bpf/${id}`;
let cgroup = '';

function newDp(): EbpfDataplane {
  return createEbpfDataplane(
    {
      nodeName: 'node-a',
      bpfPinDir: pinDir,
      cgroupPath: cgroup,
      iptablesBackend: undefined,
      nftTable: 'kpr',
      masqueradeAll: false,
      clusterCIDR: undefined,
    },
    { log: createLogger({ level: 'warn' }) },
  );
}

/** Changes one endpoint (its port) of a random service, one service per sync. */
async function incremental(
  dp: EbpfDataplane,
  state: Map<string, ServicePortState>,
  n: number,
): Promise<{ p50: number; p99: number; max: number }> {
  const lat: number[] = [];
  for (let k = 0; k < ITER; k++) {
    const i = Math.floor(Math.random() * n);
    const s = svc(i, (k % 2) + 1);
    state.set(s.service.key, s);
    const t0 = performance.now();
    await dp.sync({ state, changed: new Set([s.service.key]), full: false });
    lat.push(performance.now() - t0);
  }
  return { p50: round(pct(lat, 50)), p99: round(pct(lat, 99)), max: round(Math.max(...lat)) };
}

async function main(): Promise<Record<string, unknown>> {
  await ensureBpffs();
  cgroup = join(await cgroup2Root(), id);
  mkdirSync(cgroup);

  // Small: 100 services.
  let dp = newDp();
  await dp.start();
  const small = new Map<string, ServicePortState>();
  for (let i = 0; i < 100; i++) small.set(svc(i).service.key, svc(i));
  await dp.sync({ state: small, changed: new Set(), full: true });
  const inc100 = await incremental(dp, small, 100);
  await dp.cleanup();

  // Large: full sync into empty maps, then incremental updates.
  dp = newDp();
  await dp.start();
  const big = new Map<string, ServicePortState>();
  for (let i = 0; i < SERVICES; i++) {
    const s = svc(i);
    big.set(s.service.key, s);
  }
  const t0 = performance.now();
  const full = await dp.sync({ state: big, changed: new Set(), full: true });
  const fullMs = performance.now() - t0;
  const t1 = performance.now();
  const resync = await dp.sync({ state: big, changed: new Set(), full: true });
  const resyncMs = performance.now() - t1;
  const incBig = await incremental(dp, big, SERVICES);
  const stats = dp.stats();
  await dp.close();
  // Adoption cost: a new process reading the live maps back.
  dp = newDp();
  const t2 = performance.now();
  await dp.start();
  const adoptMs = performance.now() - t2;
  await dp.cleanup();

  return {
    services: SERVICES,
    endpointsPerService: ENDPOINTS,
    fullSync: { ms: Math.round(fullMs), written: full.written, targetMs: 1000, ok: fullMs <= 1000 },
    noopResync: { ms: Math.round(resyncMs), written: resync.written },
    adoptStartMs: Math.round(adoptMs),
    incremental100: { ...inc100, unit: 'ms', iterations: ITER, targetP99: 5, ok: inc100.p99 <= 5 },
    [`incremental${SERVICES}`]: {
      ...incBig,
      unit: 'ms',
      iterations: ITER,
      targetP99: 5,
      ok: incBig.p99 <= 5,
    },
    maps: stats.maps,
  };
}

try {
  console.log(JSON.stringify(await main(), null, 2));
} finally {
  rmSync(pinDir, { recursive: true, force: true });
  if (cgroup) await removeCgroupTree(cgroup);
}
