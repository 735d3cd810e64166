/**
 * @module bench/run
 * The `kpr bench` plan and its execution. Data path: for each number of Services, one lab per
 * dataplane is brought up (bounded setup time; a dataplane that times out is skipped at the
 * larger sizes, recorded as such), then R rounds run the labs in turn (A B C A B C ...), each
 * measuring ClusterIP and pod IP back to back; iperf3 runs at the smallest size only, since bulk
 * throughput on an established connection does not depend on the number of Services. Control
 * plane: for each size, R rounds of one sync-worker per dataplane, again interleaved.
 */
import { cpus, release, totalmem } from 'node:os';
import { readFileSync } from 'node:fs';
import type { DataplaneName } from '../dataplanes/types.ts';
import { MAX_SERVICES } from '../lab/topology.ts';
import { KprError } from '../util/errors.ts';
import { measureControlPlane } from './control-plane.ts';
import {
  LabTimeoutError,
  measureRound,
  recordAgentMemory,
  startBenchLab,
  stopBenchLab,
  type BenchLab,
} from './datapath.ts';
import { Collector, METRICS, type MetricId } from './records.ts';
import type { BenchDocument, Machine } from './report.ts';
import { MAX_BENCH_SERVICES } from './services.ts';
import { buildCrr, requireTools } from './tools.ts';

export interface BenchOptions {
  readonly quick: boolean;
  readonly services: readonly number[];
  readonly dataplanes: readonly DataplaneName[];
  readonly rounds: number;
  /** Rounds of the control-plane bench. */
  readonly syncRounds: number;
  /** Rounds that also run iperf3 (the first ones; at the smallest size only). */
  readonly throughputRounds: number;
  /** Endpoints per Service in the data-path labs (few: the labs must come up quickly). */
  readonly dataEndpoints: number;
  /** Endpoints per Service in the control-plane bench. */
  readonly syncEndpoints: number;
  readonly crrCount: number;
  readonly wrkSeconds: number;
  readonly cpsConnections: number;
  readonly iperfSeconds: number;
  readonly iperfStreams: number;
  readonly labTimeoutMs: number;
  readonly syncTimeoutMs: number;
  readonly updates: number;
  readonly updateBudgetMs: number;
  /** Leave out a half (e.g. to rerun only the control plane). */
  readonly skipDataPath: boolean;
  readonly skipControlPlane: boolean;
}

export const FULL_SERVICES = [1, 1000, 5000, 10000, 25000, 50000, 100000];

/** Defaults of a full run; --quick overrides to finish in under 3 minutes on 2 cores. */
export function defaultOptions(quick: boolean): BenchOptions {
  return {
    quick,
    services: quick ? [1, 100] : FULL_SERVICES,
    dataplanes: ['ebpf', 'iptables', 'nftables'],
    rounds: quick ? 2 : 3,
    syncRounds: quick ? 1 : 3,
    throughputRounds: quick ? 1 : 3,
    dataEndpoints: 2,
    syncEndpoints: 10,
    crrCount: quick ? 300 : 2000,
    wrkSeconds: quick ? 1 : 2,
    cpsConnections: 8,
    iperfSeconds: quick ? 1 : 3,
    iperfStreams: 4,
    labTimeoutMs: (quick ? 45 : 150) * 1000,
    syncTimeoutMs: (quick ? 45 : 150) * 1000,
    updates: quick ? 10 : 50,
    updateBudgetMs: (quick ? 3 : 20) * 1000,
    skipDataPath: false,
    skipControlPlane: false,
  };
}

export interface BenchProgress {
  /** Total steps, known before the first one. */
  start(total: number): void;
  /** One step done (or skipped), with a line describing it. */
  step(message: string): void;
  /** A remark that is not a step (failures, skips). */
  log(message: string): void;
  stop(): void;
}

const DATA_METRICS = (Object.keys(METRICS) as MetricId[]).filter(
  (m) => !['full_sync_ms', 'update_p50_ms', 'update_p99_ms', 'sync_rss_mib'].includes(m),
);
const THROUGHPUT = new Set<MetricId>([
  'tput_1_gbps',
  'tput_n_gbps',
  'cpu_1_s_per_gb',
  'cpu_n_s_per_gb',
]);
const SYNC_METRICS: MetricId[] = ['full_sync_ms', 'update_p50_ms', 'update_p99_ms', 'sync_rss_mib'];

export function machine(): Machine {
  return {
    kernel: release(),
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
  };
}

export function kprVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

function validate(o: BenchOptions): void {
  const max = Math.min(MAX_SERVICES, MAX_BENCH_SERVICES);
  const bad = o.services.find((n) => !Number.isInteger(n) || n < 1 || n > max);
  if (bad !== undefined)
    throw new KprError('KPR_ERR_CONFIG', `--services: each size must be 1..${max}, got ${bad}`);
  if (o.dataplanes.length === 0)
    throw new KprError('KPR_ERR_CONFIG', '--dataplanes: name at least one dataplane');
  if (process.getuid?.() !== 0)
    throw new KprError(
      'KPR_ERR_BENCH_ROOT',
      'kpr bench needs root: it builds network namespaces, loads BPF programs and makes cgroups',
    );
}

/** Runs the whole benchmark; never leaves a lab or scratch namespace behind. */
export async function runBench(
  o: BenchOptions,
  progress: BenchProgress,
  command: string,
  stopRequested: () => boolean = () => false,
): Promise<BenchDocument> {
  validate(o);
  const sizes = [...o.services].sort((a, b) => a - b);
  if (!o.skipDataPath) {
    await requireTools(['wrk', 'iperf3', 'nsenter', 'make']);
    await buildCrr();
  }
  const t0 = performance.now();
  const c = new Collector();
  const nDp = o.dataplanes.length;
  progress.start(
    (o.skipDataPath ? 0 : sizes.length * nDp * (1 + o.rounds)) +
      (o.skipControlPlane ? 0 : sizes.length * nDp * o.syncRounds),
  );

  if (!o.skipDataPath) {
    const givenUp = new Map<DataplaneName, number>();
    for (const n of sizes) {
      const labs: BenchLab[] = [];
      try {
        for (const dp of o.dataplanes) {
          const skippedAt = givenUp.get(dp);
          if (skippedAt !== undefined || stopRequested()) {
            const why = stopRequested() ? 'interrupted' : `timed out at ${skippedAt} Services`;
            const lost =
              n === sizes[0] ? DATA_METRICS : DATA_METRICS.filter((m) => !THROUGHPUT.has(m));
            c.fail(dp, n, o.dataEndpoints, lost, 'skipped', why);
            for (let r = 0; r <= o.rounds; r++) progress.step(`${dp} ${n}: skipped (${why})`);
            continue;
          }
          const l0 = performance.now();
          try {
            const lab = await startBenchLab(dp, n, o.dataEndpoints, o.labTimeoutMs);
            labs.push(lab);
            c.add(dp, n, o.dataEndpoints, 'lab_up_s', null, 0, (performance.now() - l0) / 1000);
            await recordAgentMemory(lab, c);
            progress.step(
              `${dp} ${n}: lab up in ${((performance.now() - l0) / 1000).toFixed(1)} s`,
            );
          } catch (e) {
            const timedOut = e instanceof LabTimeoutError;
            const msg = (e as Error).message.split('\n')[0]!;
            // Throughput is only measured at the smallest size, so only there is it missing.
            const lost =
              n === sizes[0] ? DATA_METRICS : DATA_METRICS.filter((m) => !THROUGHPUT.has(m));
            c.fail(dp, n, o.dataEndpoints, lost, timedOut ? 'timed out' : 'failed', msg);
            if (timedOut) givenUp.set(dp, n);
            progress.log(`${dp} ${n}: lab ${timedOut ? 'timed out' : 'failed'}: ${msg}`);
            for (let r = 0; r <= o.rounds; r++) progress.step(`${dp} ${n}: not measured`);
          }
        }
        for (let r = 0; r < o.rounds; r++) {
          for (const lab of labs) {
            if (stopRequested()) {
              progress.step(`${lab.dataplane} ${n}: interrupted`);
              continue;
            }
            const errors = await measureRound(
              lab,
              r,
              { ...o, throughput: n === sizes[0] && r < o.throughputRounds },
              c,
            );
            for (const e of errors) progress.log(`${lab.dataplane} ${n} round ${r + 1}: ${e}`);
            progress.step(`${lab.dataplane} ${n}: round ${r + 1}/${o.rounds}`);
          }
        }
      } finally {
        for (const lab of labs) {
          const leftover = await stopBenchLab(lab.state.name);
          if (leftover) progress.log(leftover);
        }
      }
    }
  }

  if (!o.skipControlPlane) {
    const givenUp = new Map<DataplaneName, number>();
    for (const n of sizes) {
      for (let r = 0; r < o.syncRounds; r++) {
        for (const dp of o.dataplanes) {
          const skippedAt = givenUp.get(dp);
          if (skippedAt !== undefined || stopRequested()) {
            const why = stopRequested() ? 'interrupted' : `timed out at ${skippedAt} Services`;
            if (skippedAt !== n) c.fail(dp, n, o.syncEndpoints, SYNC_METRICS, 'skipped', why);
            progress.step(`sync ${dp} ${n}: skipped`);
            continue;
          }
          const res = await measureControlPlane({
            dataplane: dp,
            services: n,
            endpoints: o.syncEndpoints,
            updates: o.updates,
            updateBudgetMs: o.updateBudgetMs,
            timeoutMs: o.syncTimeoutMs,
            seed: 1000 * r + n,
          });
          if (res.ok) {
            const w = res.result;
            c.add(dp, n, o.syncEndpoints, 'full_sync_ms', null, r, w.fullSyncMs);
            c.add(dp, n, o.syncEndpoints, 'update_p50_ms', null, r, w.incrementalMs.p50);
            c.add(dp, n, o.syncEndpoints, 'update_p99_ms', null, r, w.incrementalMs.p99);
            c.add(dp, n, o.syncEndpoints, 'sync_rss_mib', null, r, w.rssAfterFullMiB);
            progress.step(
              `sync ${dp} ${n} round ${r + 1}: full ${w.fullSyncMs} ms, update p50 ${w.incrementalMs.p50} ms`,
            );
          } else {
            c.fail(
              dp,
              n,
              o.syncEndpoints,
              SYNC_METRICS,
              res.timedOut ? 'timed out' : 'failed',
              res.error,
            );
            if (res.timedOut) givenUp.set(dp, n);
            progress.log(`sync ${dp} ${n}: ${res.error}`);
            progress.step(
              `sync ${dp} ${n} round ${r + 1}: ${res.timedOut ? 'timed out' : 'failed'}`,
            );
          }
        }
      }
    }
  }
  progress.stop();
  const { skipDataPath, skipControlPlane, ...params } = o;
  return {
    schema: 'kpr-bench/v1',
    kprVersion: kprVersion(),
    date: new Date().toISOString(),
    durationS: Math.round((performance.now() - t0) / 100) / 10,
    command,
    machine: machine(),
    parameters: { ...params, skipDataPath, skipControlPlane, services: sizes },
    records: c.records(),
  };
}
