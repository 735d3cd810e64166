/**
 * Data-plane benchmark (run by hand, as root): TCP connect-request-response latency through a
 * ClusterIP versus straight to the pod behind it, per dataplane and number of Services:
 *   node bench/crr.ts [--services 1,1000,5000,10000] [--dataplanes ebpf,iptables,nftables]
 *                     [--count 2000] [--rounds 3] [--lab-timeout 600]
 * For each size and dataplane a lab comes up (unique name, its own namespaces, agent, pins and
 * cgroups; always torn down), with every Service TCP and one endpoint each. The native client
 * build/crr (bench/crr/crr.c) runs inside the lab's client pod (its netns and cgroup, so the
 * eBPF hooks see it as a pod) and alternates, connection by connection, between the last
 * Service's ClusterIP and its pod's IP; `--rounds` such runs per lab. Reported: median over
 * rounds of each target's p50 (and p99), and the ratio ClusterIP / direct.
 * Writes bench/results/crr-<date>.json.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseDataplaneName } from '../src/dataplanes/index.ts';
import type { DataplaneName } from '../src/dataplanes/types.ts';
import { labExec } from '../src/lab/exec.ts';
import { labDown, labUp } from '../src/lab/lab.ts';
import type { LabState } from '../src/lab/state.ts';
import { buildLayout, defaultBackends, serviceAt, TCP_TARGET_PORT } from '../src/lab/topology.ts';
import { run } from '../src/util/exec.ts';
import { machine, reproduceCommand, REPO_ROOT, writeResults } from './lib/results.ts';
import { requireRoot } from './lib/scratch.ts';
import { intList, median, positiveInt, round, table } from './lib/stats.ts';

const { values: a } = parseArgs({
  options: {
    services: { type: 'string', default: '1,1000,5000,10000' },
    dataplanes: { type: 'string', default: 'ebpf,iptables,nftables' },
    count: { type: 'string', default: '2000' },
    rounds: { type: 'string', default: '3' },
    'lab-timeout': { type: 'string', default: '600' },
  },
});
const sizes = intList('services', a.services);
const dataplanes = a.dataplanes.split(',').map((s) => parseDataplaneName(s.trim()));
const count = positiveInt('count', a.count);
const rounds = positiveInt('rounds', a.rounds);
const labTimeoutMs = positiveInt('lab-timeout', a['lab-timeout']) * 1000;
requireRoot('bench/crr.ts');

const CRR = join(REPO_ROOT, 'build', 'crr');
/** A client run may not take longer than this (the client stops itself at --max-ms). */
const RUN_MAX_MS = 60_000;

interface TargetStats {
  target: string;
  n: number;
  errors: number;
  p50_us?: number;
  p90_us?: number;
  p99_us?: number;
  mean_us?: number;
  last_error?: string;
}

interface Measurement {
  dataplane: DataplaneName;
  services: number;
  vip: string;
  direct: string;
  rounds: { vip: TargetStats; direct: TargetStats }[];
  labUpMs: number;
  error: string | undefined;
}

async function measure(dataplane: DataplaneName, services: number): Promise<Measurement> {
  const name = `kpr-t-crr-${randomBytes(3).toString('hex')}`;
  // One endpoint per Service: the ClusterIP and the direct target are then the same pod.
  const opts = { name, dataplane, services, endpoints: 1, pods: 1, udpServices: 0 };
  const layout = buildLayout(opts);
  const svc = serviceAt(layout, services - 1); // the last Service: the far end of any rule list
  const pod = defaultBackends(layout, services - 1)[0]!;
  const m: Measurement = {
    dataplane,
    services,
    vip: `${svc.clusterIP}:${svc.port}`,
    direct: `${pod.ip}:${TCP_TARGET_PORT}`,
    rounds: [],
    labUpMs: 0,
    error: undefined,
  };
  const t0 = performance.now();
  let state: LabState | undefined;
  let lastPhase = '';
  try {
    state = await labUp({
      ...opts,
      readyTimeoutMs: labTimeoutMs,
      onProgress: (p) => {
        if (p.phase !== lastPhase) console.error(`    ${name}: ${p.phase}: ${p.message}`);
        lastPhase = p.phase;
      },
    });
    m.labUpMs = round(performance.now() - t0, 0);
    for (let r = 0; r < rounds; r++) {
      const res = await labExec(
        state,
        'client',
        [
          CRR,
          '--count',
          String(count),
          '--warmup',
          '100',
          '--max-ms',
          String(RUN_MAX_MS),
          m.vip,
          m.direct,
        ],
        { timeoutMs: RUN_MAX_MS + 10_000 },
      );
      if (res.code !== 0 && !res.stdout.startsWith('{'))
        throw new Error(`crr exited ${res.code}: ${res.stderr.trim()}`);
      const out = JSON.parse(res.stdout) as { targets: TargetStats[] };
      const [vip, direct] = out.targets;
      m.rounds.push({ vip: vip!, direct: direct! });
      console.error(
        `  ${dataplane.padEnd(8)} N=${services} round ${r + 1}: ClusterIP p50 ${vip!.p50_us} us ` +
          `(${vip!.errors} errors), direct p50 ${direct!.p50_us} us (${direct!.errors} errors)`,
      );
    }
  } catch (e) {
    m.error = e instanceof Error ? e.message.split('\n')[0]! : String(e);
    console.error(`  ${dataplane} N=${services}: FAILED: ${m.error}`);
  } finally {
    await labDown(name).catch((e: unknown) =>
      console.error(`labDown ${name} failed; run \`kpr lab down --name ${name}\`: ${String(e)}`),
    );
  }
  return m;
}

await run('make', ['-s', '-C', join(REPO_ROOT, 'bench', 'crr')]);
let stopping = false;
process.once('SIGINT', () => {
  stopping = true;
  console.error('SIGINT: finishing the current lab (it will be torn down), then stopping');
});

const results: Measurement[] = [];
console.error(
  `crr bench: services ${sizes.join(',')}; ${dataplanes.join(',')}; ${rounds} x ${count} connections per target`,
);
for (const n of sizes) {
  for (const dp of dataplanes) {
    if (stopping) break;
    results.push(await measure(dp, n));
  }
}

const med = (xs: (number | undefined)[]): number =>
  round(median(xs.filter((x): x is number => x !== undefined)), 1);
const summary = results.map((m) => {
  const vipP50 = med(m.rounds.map((r) => r.vip.p50_us));
  const directP50 = med(m.rounds.map((r) => r.direct.p50_us));
  return {
    dataplane: m.dataplane,
    services: m.services,
    rounds: m.rounds.length,
    vipP50Us: vipP50,
    directP50Us: directP50,
    vipP99Us: med(m.rounds.map((r) => r.vip.p99_us)),
    directP99Us: med(m.rounds.map((r) => r.direct.p99_us)),
    ratio: round(vipP50 / directP50, 3),
    errors: m.rounds.reduce((s, r) => s + r.vip.errors + r.direct.errors, 0),
    labUpMs: m.labUpMs,
    error: m.error,
  };
});
const mc = machine();
console.log(
  `\n${mc.cpu}, ${mc.cores} cores, Linux ${mc.kernel}; median of ${rounds} runs of ${count} connections per target\n`,
);
console.log(
  table([
    [
      'dataplane',
      'services',
      'ClusterIP p50 us',
      'direct p50 us',
      'ratio',
      'ClusterIP p99 us',
      'direct p99 us',
      'errors',
    ],
    ...summary.map((s) =>
      s.error
        ? [s.dataplane, s.services, '-', '-', '-', '-', '-', s.error.slice(0, 60)]
        : [
            s.dataplane,
            s.services,
            s.vipP50Us,
            s.directP50Us,
            s.ratio,
            s.vipP99Us,
            s.directP99Us,
            s.errors,
          ],
    ),
  ]),
);
const path = await writeResults('crr', {
  parameters: { services: sizes, dataplanes, count, rounds, endpointsPerService: 1 },
  note: 'one transaction = connect + HTTP GET with Connection: close + read to EOF + close, timed in the client pod; targets alternate per connection',
  summary,
  measurements: results,
});
console.log(`\nresults: ${path}\nreproduce: ${reproduceCommand()}`);
