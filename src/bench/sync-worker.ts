/**
 * @module bench/sync-worker
 * One control-plane measurement (of `kpr bench` and bench/sync.ts), run in a child process that the parent has already placed in
 * a fresh network namespace (so iptables and nftables write only there). It builds N Services x
 * E endpoints through the real ChangeTracker, times one full sync of an empty dataplane, then K
 * single-endpoint updates (one EndpointSlice changed, committed, synced with `changed`), checks
 * the last update in the kernel through `list()`, removes what it programmed and prints one JSON
 * line on stdout. The parent owns the namespace, pin directory and cgroup and removes them too.
 */
import { createDataplane } from '../dataplanes/index.ts';
import type { DataplaneName } from '../dataplanes/types.ts';
import { ChangeTracker } from '../model/tracker.ts';
import {
  benchService,
  benchSlice,
  clusterIP,
  endpointIPs,
  NAMESPACE,
  serviceName,
} from './services.ts';
import { round, summarize, type Summary } from './stats.ts';

export interface WorkerJob {
  readonly dataplane: DataplaneName;
  readonly services: number;
  readonly endpoints: number;
  readonly updates: number;
  /** Stop the updates (after at least 5) once they took this long in total. */
  readonly updateBudgetMs: number;
  readonly pinDir: string;
  readonly cgroupPath: string;
  readonly nftTable: string;
  /** Seed of the service picker, so every dataplane gets the same update sequence in a round. */
  readonly seed: number;
}

export interface WorkerResult {
  readonly dataplane: DataplaneName;
  readonly services: number;
  readonly endpoints: number;
  /** Building the desired state through the tracker (not part of any sync). */
  readonly buildMs: number;
  readonly fullSyncMs: number;
  readonly fullWritten: number;
  /** Dataplane sync() time of one single-endpoint change. */
  readonly incrementalMs: Summary;
  /** Tracker commit() time of the same changes (shared by every dataplane). */
  readonly commitMs: Summary;
  /** Resident set of this process after the full sync and at the end, MiB. */
  readonly rssAfterFullMiB: number;
  readonly maxRssMiB: number;
  /** The last update was read back from the kernel with list(). */
  readonly verified: boolean;
}

/** A small deterministic PRNG (mulberry32): the same picks for every dataplane of a round. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const mib = (bytes: number): number => round(bytes / 2 ** 20, 1);

export async function runJob(job: WorkerJob): Promise<WorkerResult> {
  const tracker = new ChangeTracker({ nodeName: 'bench-node' });
  const t0 = performance.now();
  for (let i = 0; i < job.services; i++) {
    tracker.updateService(NAMESPACE, serviceName(i), benchService(i));
    tracker.updateEndpointSlice(NAMESPACE, `${serviceName(i)}-abc`, benchSlice(i, job.endpoints));
  }
  const { state } = tracker.commit();
  const buildMs = performance.now() - t0;

  const dp = await createDataplane(job.dataplane, {
    nodeName: 'bench-node',
    bpfPinDir: job.pinDir,
    cgroupPath: job.cgroupPath,
    iptablesBackend: undefined,
    nftTable: job.nftTable,
    masqueradeAll: false,
    clusterCIDR: undefined,
  });
  await dp.start();
  try {
    const t1 = performance.now();
    const full = await dp.sync({ state, changed: new Set(), full: true });
    const fullSyncMs = performance.now() - t1;
    const rssAfterFull = process.memoryUsage().rss;

    const pick = prng(job.seed);
    const inc: number[] = [];
    const commits: number[] = [];
    const generation = new Map<number, number>();
    let last = 0;
    const u0 = performance.now();
    for (let k = 0; k < job.updates; k++) {
      if (k >= 5 && performance.now() - u0 > job.updateBudgetMs) break;
      const i = Math.floor(pick() * job.services);
      const g = (generation.get(i) ?? 0) === 1 ? 2 : 1; // 0 -> 1 -> 2 -> 1 ...: always a change
      generation.set(i, g);
      last = i;
      const c0 = performance.now();
      tracker.updateEndpointSlice(
        NAMESPACE,
        `${serviceName(i)}-abc`,
        benchSlice(i, job.endpoints, g),
      );
      const change = tracker.commit();
      const s0 = performance.now();
      await dp.sync({ state: change.state, changed: change.changed, full: false });
      inc.push(performance.now() - s0);
      commits.push(s0 - c0);
    }

    let verified = inc.length === 0;
    if (inc.length > 0) {
      const want = endpointIPs(last, job.endpoints, generation.get(last))[0]!;
      const fe = (await dp.list()).find((f) => f.ip === clusterIP(last) && f.port === 80);
      verified = fe?.backends.some((b) => b.ip === want) ?? false;
      if (!verified)
        throw new Error(
          `${job.dataplane}: after the updates, ${clusterIP(last)}:80 does not list ${want} in the kernel`,
        );
    }
    return {
      dataplane: job.dataplane,
      services: job.services,
      endpoints: job.endpoints,
      buildMs: round(buildMs, 1),
      fullSyncMs: round(fullSyncMs, 1),
      fullWritten: full.written,
      incrementalMs: summarize(inc),
      commitMs: summarize(commits),
      rssAfterFullMiB: mib(rssAfterFull),
      maxRssMiB: round(process.resourceUsage().maxRSS / 1024, 1),
      verified,
    };
  } finally {
    await dp.cleanup();
  }
}

/**
 * The child-process entry: `node src/bench/sync-worker.ts '<job json>'` prints one JSON result
 * line and exits 0, or prints the error and exits 1. The parent (control-plane.ts or
 * bench/sync.ts) has already put this process in its scratch network namespace.
 */
export function workerMain(argv: readonly string[] = process.argv): void {
  const job = JSON.parse(argv[2] ?? '{}') as WorkerJob;
  runJob(job).then(
    (r) => {
      process.stdout.write(JSON.stringify(r) + '\n');
      process.exit(0);
    },
    (e: unknown) => {
      console.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
      process.exit(1);
    },
  );
}

if (import.meta.main) workerMain();
