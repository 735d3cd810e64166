/**
 * API-event-to-dataplane latency of the Kubernetes source (no root needed):
 *   node bench/api-latency.ts [--services 1000,100000] [--endpoints 10] [--updates 200]
 * For each size, the test API server (test/support/apiserver, in this process) holds N Services
 * and N EndpointSlices of E endpoints; an agent runs in a child process (this file with --child):
 * the real KubernetesSource (client-node informers over HTTP) feeding the real Agent, with a
 * recording Dataplane in place of the kernel, so the numbers are the source+agent cost alone.
 * Each update rewrites one slice (endpoint 0 moves to another pod) and is timed from just before
 * the server writes the MODIFIED event to the moment the agent calls dataplane.sync with that
 * service port; both sides read the same wall clock (performance.timeOrigin + now()). The
 * child's RSS is read after the initial sync and after the updates. Agent settings:
 * minSyncPeriodMs 0 (kube-proxy's default is 1 s, which would dominate the latency).
 * Writes bench/results/api-latency-<date>.json.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { parseArgs } from 'node:util';
import type { StoredObject } from '../test/support/apiserver/index.ts';
import { startTestApiServer } from '../test/support/apiserver/index.ts';
import { machine, writeResults } from './lib/results.ts';
import { benchService, benchSlice, NAMESPACE, serviceName } from './lib/services.ts';
import { intList, positiveInt, round, summarize, table } from './lib/stats.ts';

const NODE = 'bench-node';

function now(): number {
  return performance.timeOrigin + performance.now();
}

type ChildMsg =
  | { type: 'sync'; at: number; full: boolean; changed: string[]; size: number }
  | { type: 'mem'; rss: number; heapUsed: number; rssAfterGc: number; heapAfterGc: number };

// ---------------------------------------------------------------- child: the agent under test
async function child(kubeconfig: string): Promise<void> {
  const { Agent } = await import('../src/agent/agent.ts');
  const { KubernetesSource } = await import('../src/sources/kubernetes/index.ts');
  const { RecordingDataplane } = await import('../src/sources/kubernetes/testing.ts');
  const { createLogger } = await import('../src/util/log.ts');
  const log = createLogger({ level: 'warn' });
  const dp = new RecordingDataplane();
  dp.keepLastOnly = true;
  dp.onSync = (req) => {
    const msg: ChildMsg = {
      type: 'sync',
      at: now(),
      full: req.full,
      // A full sync names nothing; partial syncs are small.
      changed: req.full ? [] : [...req.changed].slice(0, 100),
      size: req.state.size,
    };
    process.send!(msg);
  };
  const agent = new Agent({
    nodeName: NODE,
    dataplane: dp,
    source: new KubernetesSource({ kubeconfig, nodeName: NODE, log, eventRecorder: false }),
    log,
    minSyncPeriodMs: 0,
    syncPeriodMs: 1000,
    fullSyncPeriodMs: Infinity,
  });
  process.on('message', (m: { type: string }) => {
    if (m.type === 'mem') {
      const before = process.memoryUsage();
      globalThis.gc?.();
      const after = process.memoryUsage();
      const msg: ChildMsg = {
        type: 'mem',
        rss: before.rss,
        heapUsed: before.heapUsed,
        rssAfterGc: after.rss,
        heapAfterGc: after.heapUsed,
      };
      process.send!(msg);
    } else if (m.type === 'stop') void agent.stop().then(() => process.exit(0));
  });
  await agent.start();
}

// ---------------------------------------------------------------- parent: server and timing
interface SizeResult {
  services: number;
  endpoints: number;
  initialSyncMs: number;
  latencyMs: ReturnType<typeof summarize>;
  rssMiB: number;
  rssAfterGcMiB: number;
  heapAfterGcMiB: number;
}

function waitMsg<T extends ChildMsg>(
  proc: ChildProcess,
  pred: (m: ChildMsg) => m is T,
  timeoutMs: number,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.off('message', on);
      reject(new Error(`timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    const on = (m: ChildMsg): void => {
      if (!pred(m)) return;
      clearTimeout(timer);
      proc.off('message', on);
      resolve(m);
    };
    proc.on('message', on);
  });
}

async function runSize(n: number, endpoints: number, updates: number): Promise<SizeResult> {
  const api = await startTestApiServer();
  const s = api.server;
  for (let i = 0; i < n; i++) {
    s.put('services', benchService(i) as unknown as StoredObject);
    s.put('endpointslices', benchSlice(i, endpoints) as unknown as StoredObject);
  }
  s.expire(); // drop the load's history: the agent lists
  const t0 = now();
  const proc = fork(import.meta.filename, ['--child', api.kubeconfig], {
    execArgv: ['--expose-gc', '--max-old-space-size=8192'],
    stdio: 'inherit',
  });
  try {
    const first = await waitMsg(
      proc,
      (m): m is Extract<ChildMsg, { type: 'sync' }> => m.type === 'sync',
      900_000,
    );
    const initialSyncMs = first.at - t0;
    if (first.size !== n) throw new Error(`first sync has ${first.size} service ports, not ${n}`);
    const lat: number[] = [];
    for (let u = 1; u <= updates; u++) {
      const i = Math.floor(Math.random() * n);
      const key = `${NAMESPACE}/${serviceName(i)}:http/TCP`;
      const slice = benchSlice(i, endpoints, u) as unknown as StoredObject;
      const seen = waitMsg(
        proc,
        (m): m is Extract<ChildMsg, { type: 'sync' }> =>
          m.type === 'sync' && m.changed.includes(key),
        10_000,
      );
      const start = now();
      s.put('endpointslices', slice); // writes the MODIFIED event to the agent's watch
      const got = await seen;
      lat.push(got.at - start);
      await new Promise((r) => setTimeout(r, 2));
    }
    proc.send({ type: 'mem' });
    const mem = await waitMsg(
      proc,
      (m): m is Extract<ChildMsg, { type: 'mem' }> => m.type === 'mem',
      60_000,
    );
    const mib = (b: number): number => round(b / 2 ** 20, 1);
    return {
      services: n,
      endpoints: n * endpoints,
      initialSyncMs: round(initialSyncMs, 0),
      latencyMs: summarize(lat),
      rssMiB: mib(mem.rss),
      rssAfterGcMiB: mib(mem.rssAfterGc),
      heapAfterGcMiB: mib(mem.heapAfterGc),
    };
  } finally {
    proc.send({ type: 'stop' });
    await Promise.race([once(proc, 'exit'), new Promise((r) => setTimeout(r, 5000))]);
    if (proc.exitCode === null) proc.kill('SIGKILL');
    await api.close();
  }
}

async function main(): Promise<void> {
  const { values: a } = parseArgs({
    options: {
      services: { type: 'string', default: '1000,100000' },
      endpoints: { type: 'string', default: '10' },
      updates: { type: 'string', default: '200' },
    },
  });
  const sizes = intList('services', a.services);
  const endpoints = positiveInt('endpoints', a.endpoints);
  const updates = positiveInt('updates', a.updates);
  const results: SizeResult[] = [];
  for (const n of sizes) {
    process.stderr.write(`api-latency: ${n} Services x ${endpoints} endpoints...\n`);
    results.push(await runSize(n, endpoints, updates));
  }
  console.log(
    table([
      [
        'services',
        'endpoints',
        'initial sync ms',
        'p50 ms',
        'p99 ms',
        'max ms',
        'RSS MiB',
        'RSS after GC',
        'heap after GC',
      ],
      ...results.map((r) => [
        r.services,
        r.endpoints,
        r.initialSyncMs,
        r.latencyMs.p50,
        r.latencyMs.p99,
        r.latencyMs.max,
        r.rssMiB,
        r.rssAfterGcMiB,
        r.heapAfterGcMiB,
      ]),
    ]),
  );
  const path = await writeResults('api-latency', {
    machine: machine(),
    endpointsPerService: endpoints,
    updates,
    minSyncPeriodMs: 0,
    results,
  });
  console.log(`results: ${path}`);
}

if (process.argv[2] === '--child') await child(process.argv[3]!);
else await main();
