/**
 * @module bench/tools
 * The native load generators `kpr bench` drives inside lab pods, and the parsers of their output:
 * build/crr (bench/crr/crr.c: one connection per transaction, timed in C), wrk (connections per
 * second with `Connection: close`, and keep-alive request latency) and iperf3 (bulk TCP). Kernel
 * CPU time comes from /proc/stat deltas around an iperf3 run. The parsers are pure, so they are
 * unit-tested on recorded output.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { labExec } from '../lab/exec.ts';
import type { LabState } from '../lab/state.ts';
import { KprError } from '../util/errors.ts';
import { run } from '../util/exec.ts';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CRR_PATH = join(REPO_ROOT, 'build', 'crr');

/** Builds build/crr when missing or older than its source (make decides). */
export async function buildCrr(): Promise<void> {
  try {
    await run('make', ['-s', '-C', join(REPO_ROOT, 'bench', 'crr')]);
  } catch (e) {
    throw new KprError(
      'KPR_ERR_BENCH_BUILD',
      `cannot build the benchmark client build/crr (needs make and a C compiler; scripts/setup.sh installs them): ${(e as Error).message}`,
      { cause: e },
    );
  }
}

/** Fails early, naming the Debian package, when a load generator is not installed. */
export async function requireTools(names: readonly string[]): Promise<void> {
  for (const name of names) {
    const found = await run('sh', ['-c', 'command -v "$0"', name], { allowFailure: true });
    if (found.code !== 0)
      throw new KprError(
        'KPR_ERR_BENCH_TOOL',
        `${name} is not installed; install it (apt-get install ${name}, or scripts/setup.sh)`,
      );
  }
}

export interface CrrTarget {
  readonly target: string;
  readonly n: number;
  readonly errors: number;
  readonly p50_us?: number;
  readonly p99_us?: number;
  readonly mean_us?: number;
  readonly last_error?: string;
}

export function parseCrr(stdout: string): CrrTarget[] {
  const doc = JSON.parse(stdout) as { targets?: CrrTarget[] };
  if (!Array.isArray(doc.targets))
    throw new Error(`crr printed no targets: ${stdout.slice(0, 200)}`);
  return doc.targets;
}

export interface WrkResult {
  readonly requests: number;
  readonly requestsPerSec: number;
  /** Socket errors (connect, read, write, timeout) plus non-2xx/3xx answers. */
  readonly errors: number;
  readonly p50Us: number | undefined;
  readonly p99Us: number | undefined;
}

const UNIT_US: Readonly<Record<string, number>> = { us: 1, ms: 1e3, s: 1e6, m: 60e6, h: 3600e6 };

/** "38.00us", "1.20ms", "2.00s" in microseconds. */
export function wrkDurationUs(s: string): number {
  const m = /^([\d.]+)(us|ms|s|m|h)$/.exec(s.trim());
  if (!m) throw new Error(`unrecognised wrk duration "${s}"`);
  return Number(m[1]) * UNIT_US[m[2]!]!;
}

/** Parses wrk's text report (run with --latency for the percentiles). */
export function parseWrk(stdout: string): WrkResult {
  const rps = /^Requests\/sec:\s+([\d.]+)/m.exec(stdout);
  const total = /^\s*(\d+) requests in /m.exec(stdout);
  if (!rps || !total) throw new Error(`unrecognised wrk output: ${stdout.slice(0, 300)}`);
  let errors = 0;
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout);
  if (sock) errors += sock.slice(1).reduce((a, x) => a + Number(x), 0);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(stdout);
  if (non2xx) errors += Number(non2xx[1]);
  const pct = (p: number): number | undefined => {
    const m = new RegExp(`^\\s+${p}%\\s+(\\S+)`, 'm').exec(stdout);
    return m ? wrkDurationUs(m[1]!) : undefined;
  };
  return {
    requests: Number(total[1]),
    requestsPerSec: Number(rps[1]),
    errors,
    p50Us: pct(50),
    p99Us: pct(99),
  };
}

export interface IperfResult {
  readonly bytes: number;
  readonly seconds: number;
  readonly gbps: number;
}

/** Parses `iperf3 -J`: what the receiver got (the sender's count includes unacked bytes). */
export function parseIperf(stdout: string): IperfResult {
  const doc = JSON.parse(stdout) as {
    error?: string;
    end?: { sum_received?: { bytes: number; seconds: number; bits_per_second: number } };
  };
  if (doc.error) throw new Error(`iperf3: ${doc.error}`);
  const r = doc.end?.sum_received;
  if (!r) throw new Error(`iperf3 printed no result: ${stdout.slice(0, 200)}`);
  return { bytes: r.bytes, seconds: r.seconds, gbps: r.bits_per_second / 1e9 };
}

/** Kernel time (system + irq + softirq) of all CPUs, in clock ticks, from /proc/stat. */
export function parseKernelTicks(procStat: string): number {
  const line = procStat.split('\n').find((l) => l.startsWith('cpu '));
  const f = line?.trim().split(/\s+/).slice(1).map(Number);
  if (!f || f.length < 7 || f.some((x) => !Number.isFinite(x)))
    throw new Error('unrecognised /proc/stat (no aggregate cpu line)');
  // user nice system idle iowait irq softirq ...
  return f[2]! + f[5]! + f[6]!;
}

/** USER_HZ: /proc/stat's tick rate. 100 on every mainstream Linux architecture. */
const TICKS_PER_SECOND = 100;

export async function kernelCpuSeconds(): Promise<number> {
  return parseKernelTicks(await readFile('/proc/stat', 'utf8')) / TICKS_PER_SECOND;
}

/** Runs a command in a lab pod; throws with its stderr on failure or timeout. */
async function podRun(
  lab: LabState,
  pod: string,
  argv: readonly string[],
  timeoutMs: number,
): Promise<string> {
  const res = await labExec(lab, pod, argv, { timeoutMs });
  if (res.code !== 0) {
    const why = res.stderr.trim() || res.stdout.trim() || `exit ${res.code}`;
    throw new Error(`${argv[0]} in ${pod}: ${why.split('\n').slice(-2).join(' ')}`);
  }
  return res.stdout;
}

/** Sequential connect/GET/close transactions, alternating between targets connection by connection. */
export async function runCrr(
  lab: LabState,
  targets: readonly string[],
  count: number,
): Promise<CrrTarget[]> {
  const maxMs = 60_000;
  const res = await labExec(
    lab,
    'client',
    [
      CRR_PATH,
      '--count',
      String(count),
      '--warmup',
      String(Math.min(100, count)),
      '--max-ms',
      String(maxMs),
      ...targets,
    ],
    { timeoutMs: maxMs + 10_000 },
  );
  if (!res.stdout.startsWith('{'))
    throw new Error(`crr exited ${res.code}: ${res.stderr.trim() || res.stdout.trim()}`);
  return parseCrr(res.stdout);
}

/** wrk from the client pod. `close` sends Connection: close, so every request is a new connection. */
export async function runWrk(
  lab: LabState,
  target: string,
  opts: { seconds: number; connections: number; threads: number; close: boolean },
): Promise<WrkResult> {
  const argv = [
    'wrk',
    '--latency',
    '-t',
    String(opts.threads),
    '-c',
    String(opts.connections),
    '-d',
    `${opts.seconds}s`,
    '--timeout',
    '2s',
    ...(opts.close ? ['-H', 'Connection: close'] : []),
    `http://${target}/`,
  ];
  return parseWrk(await podRun(lab, 'client', argv, opts.seconds * 1000 + 15_000));
}

/** Starts a daemonized iperf3 server in `pod` (it dies with the pod's cgroup at labDown). */
export async function startIperfServer(lab: LabState, pod: string, port: number): Promise<void> {
  await podRun(lab, pod, ['iperf3', '-s', '-D', '-p', String(port)], 10_000);
}

export interface ThroughputSample extends IperfResult {
  /** Kernel CPU seconds of the whole machine during the run, per GB received. */
  readonly cpuSecondsPerGB: number;
}

/** One iperf3 run from the client pod; retries once, since the daemon may still be starting. */
export async function runIperf(
  lab: LabState,
  target: string,
  streams: number,
  seconds: number,
): Promise<ThroughputSample> {
  const [host, port] = target.split(':') as [string, string];
  const argv = [
    'iperf3',
    '-J',
    '-c',
    host,
    '-p',
    port,
    '-P',
    String(streams),
    '-t',
    String(seconds),
    '--connect-timeout',
    '2000',
  ];
  for (let attempt = 0; ; attempt++) {
    const cpu0 = await kernelCpuSeconds();
    try {
      const r = parseIperf(await podRun(lab, 'client', argv, seconds * 1000 + 20_000));
      const cpu = (await kernelCpuSeconds()) - cpu0;
      return { ...r, cpuSecondsPerGB: r.bytes > 0 ? cpu / (r.bytes / 1e9) : NaN };
    } catch (e) {
      if (attempt >= 1) throw e;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

/** Resident memory of a process in MiB (VmRSS), or undefined when it is gone. */
export async function rssMiB(pid: number): Promise<number | undefined> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const m = /^VmRSS:\s+(\d+) kB/m.exec(status);
  return m ? Number(m[1]) / 1024 : undefined;
}
