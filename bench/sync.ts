/**
 * Control-plane benchmark of the three dataplanes (run by hand, as root):
 *   node bench/sync.ts [--services 1000,10000,50000] [--endpoints 10]
 *                      [--dataplanes ebpf,iptables,nftables] [--rounds 3] [--updates 50]
 *                      [--timeout 300] [--update-budget 60]
 * For each size, each round runs every dataplane once, in order (A B C A B C ...), each in a fresh
 * child process inside a fresh network namespace (eBPF: a fresh pin dir and an empty cgroup):
 * full sync of N Services x E endpoints into an empty dataplane, then `--updates` single-endpoint
 * changes synced incrementally (p50/p99), and the child's RSS. Figures are medians over rounds.
 * The updates of one run stop early (after at least 5) once they took `--update-budget` seconds,
 * so a slow dataplane reports fewer samples rather than running for an hour.
 * A run that exceeds `--timeout` seconds is killed and that dataplane skips the larger sizes.
 * Writes bench/results/sync-<date>.json.
 */
import { parseArgs } from 'node:util';
import { runWorker as runControlPlaneWorker } from '../src/bench/control-plane.ts';
import { parseDataplaneName } from '../src/dataplanes/index.ts';
import type { DataplaneName } from '../src/dataplanes/types.ts';
import { machine, reproduceCommand, writeResults } from './lib/results.ts';
import { requireRoot, Scratch } from './lib/scratch.ts';
import { MAX_BENCH_SERVICES } from './lib/services.ts';
import { intList, median, positiveInt, round, table } from './lib/stats.ts';
import type { WorkerJob, WorkerResult } from './sync-worker.ts';

const { values: a } = parseArgs({
  options: {
    services: { type: 'string', default: '1000,10000,50000' },
    endpoints: { type: 'string', default: '10' },
    dataplanes: { type: 'string', default: 'ebpf,iptables,nftables' },
    rounds: { type: 'string', default: '3' },
    updates: { type: 'string', default: '50' },
    timeout: { type: 'string', default: '300' },
    'update-budget': { type: 'string', default: '60' },
  },
});
const sizes = intList('services', a.services);
const endpoints = positiveInt('endpoints', a.endpoints);
const dataplanes = a.dataplanes.split(',').map((s) => parseDataplaneName(s.trim()));
const rounds = positiveInt('rounds', a.rounds);
const updates = positiveInt('updates', a.updates);
const timeoutMs = positiveInt('timeout', a.timeout) * 1000;
const updateBudgetMs = positiveInt('update-budget', a['update-budget']) * 1000;
if (sizes.some((n) => n > MAX_BENCH_SERVICES)) {
  console.error(
    `--services: at most ${MAX_BENCH_SERVICES} (the ClusterIPs must fit in 198.18.0.0/15)`,
  );
  process.exit(2);
}
requireRoot('bench/sync.ts');

/** Runs one job in `netnsPath` (see src/bench/control-plane.ts); resolves with its result or an error. */
async function runWorker(netnsPath: string, job: WorkerJob): Promise<WorkerResult | string> {
  const outcome = await runControlPlaneWorker(netnsPath, job, timeoutMs);
  return outcome.ok ? outcome.result : outcome.error;
}

interface Cell {
  dataplane: DataplaneName;
  services: number;
  runs: WorkerResult[];
  errors: string[];
}

const cells: Cell[] = [];
const cell = (dp: DataplaneName, n: number): Cell => {
  let c = cells.find((x) => x.dataplane === dp && x.services === n);
  if (!c) cells.push((c = { dataplane: dp, services: n, runs: [], errors: [] }));
  return c;
};
const givenUp = new Set<DataplaneName>();

console.error(
  `sync bench: services ${sizes.join(',')} x ${endpoints} endpoints; ${dataplanes.join(',')}; ` +
    `${rounds} rounds; ${updates} updates; timeout ${timeoutMs / 1000} s per run`,
);
for (const n of sizes) {
  for (let r = 0; r < rounds; r++) {
    for (const dp of dataplanes) {
      if (givenUp.has(dp)) continue;
      const scratch = new Scratch();
      scratch.guardSignals();
      try {
        const ns = await scratch.netns('sync');
        const bpf = dp === 'ebpf' ? await scratch.bpf('sync') : { pinDir: '', cgroupPath: '' };
        const job: WorkerJob = {
          dataplane: dp,
          services: n,
          endpoints,
          updates,
          updateBudgetMs,
          pinDir: bpf.pinDir || '/sys/fs/bpf/unused',
          cgroupPath: bpf.cgroupPath || '/nonexistent',
          nftTable: 'kpr_bench',
          seed: 1000 * r + n,
        };
        const res = await runWorker(ns.path, job);
        const c = cell(dp, n);
        if (typeof res === 'string') {
          c.errors.push(res);
          givenUp.add(dp);
          console.error(`  ${dp} ${n}: FAILED (${res}); skipping ${dp} at larger sizes`);
        } else {
          c.runs.push(res);
          console.error(
            `  ${dp.padEnd(8)} N=${n} round ${r + 1}: full ${res.fullSyncMs} ms, ` +
              `${res.incrementalMs.n} updates p50 ${res.incrementalMs.p50} ms p99 ${res.incrementalMs.p99} ms, rss ${res.rssAfterFullMiB} MiB`,
          );
        }
      } finally {
        await scratch.cleanup();
      }
    }
  }
}

const med = (c: Cell, f: (r: WorkerResult) => number): number => round(median(c.runs.map(f)), 3);
const summary = cells.map((c) => ({
  dataplane: c.dataplane,
  services: c.services,
  endpoints,
  rounds: c.runs.length,
  fullSyncMs: med(c, (r) => r.fullSyncMs),
  incrementalP50Ms: med(c, (r) => r.incrementalMs.p50),
  incrementalP99Ms: med(c, (r) => r.incrementalMs.p99),
  rssAfterFullMiB: med(c, (r) => r.rssAfterFullMiB),
  maxRssMiB: med(c, (r) => r.maxRssMiB),
  errors: c.errors,
}));
const ebpfP50 = (n: number): number | undefined =>
  summary.find((s) => s.dataplane === 'ebpf' && s.services === n)?.incrementalP50Ms;
const rows: (string | number)[][] = [
  [
    'dataplane',
    'services',
    'full sync ms',
    'incr p50 ms',
    'incr p99 ms',
    'p50 / ebpf',
    'RSS MiB',
    'runs',
  ],
];
for (const s of summary) {
  const base = ebpfP50(s.services);
  rows.push(
    [
      s.dataplane,
      s.services,
      s.rounds ? s.fullSyncMs : '-',
      s.rounds ? s.incrementalP50Ms : '-',
      s.rounds ? s.incrementalP99Ms : '-',
      s.rounds && base ? `${round(s.incrementalP50Ms / base, 1)}x` : '-',
      s.rounds ? s.rssAfterFullMiB : '-',
      s.errors.length ? `${s.rounds} (${s.errors[0]!.slice(0, 40)})` : s.rounds,
    ].map((x) => (typeof x === 'number' && Number.isNaN(x) ? '-' : x)),
  );
}
const m = machine();
console.log(`\n${m.cpu}, ${m.cores} cores, Linux ${m.kernel}; medians of ${rounds} rounds\n`);
console.log(table(rows));
const path = await writeResults('sync', {
  parameters: {
    services: sizes,
    endpoints,
    dataplanes,
    rounds,
    updates,
    updateBudgetS: updateBudgetMs / 1000,
    timeoutS: timeoutMs / 1000,
  },
  summary,
  runs: cells.flatMap((c) => c.runs),
});
console.log(`\nresults: ${path}\nreproduce: ${reproduceCommand()}`);
