/**
 * @module lab/exec
 * Running commands inside a lab pod (`kpr lab exec`), and the probe built on it: one HTTP GET or
 * UDP datagram from a pod, answered by a backend's podserver with its pod name.
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { run } from '../util/exec.ts';
import { KprError } from '../util/errors.ts';
import { findPod } from './manifests.ts';
import { PODSERVER_PATH, podArgv, podCgroupPath } from './processes.ts';
import { layoutOptions, readState } from './state.ts';
import type { LabState } from './state.ts';
import { buildLayout } from './topology.ts';
import type { Protocol } from '../model/types.ts';

export interface LabExecOptions {
  /** 'inherit' passes the caller's stdio through (the CLI); 'pipe' captures output (tests). */
  readonly stdio?: 'inherit' | 'pipe';
  /** Standard input for 'pipe' mode. */
  readonly input?: string;
  readonly timeoutMs?: number;
}

export interface LabExecResult {
  /** The command's exit code; 128 + signal number when a signal ended it. */
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

async function stateOf(lab: string | LabState): Promise<LabState> {
  return typeof lab === 'string' ? readState(lab) : lab;
}

/** Runs argv in `podName`'s netns and cgroup, as that pod's own processes run. */
export async function labExec(
  lab: string | LabState,
  podName: string,
  argv: readonly string[],
  opts: LabExecOptions = {},
): Promise<LabExecResult> {
  if (argv.length === 0)
    throw new KprError('KPR_ERR_LAB_EXEC', 'nothing to run: give a command after `--`');
  const state = await stateOf(lab);
  const pod = findPod(buildLayout(layoutOptions(state)), podName);
  const full = podArgv(pod, podCgroupPath(state.cgroupPath, pod), argv);
  if (opts.stdio !== 'inherit') {
    const res = await run(full[0]!, full.slice(1), {
      allowFailure: true,
      ...(opts.input !== undefined && { input: opts.input }),
      ...(opts.timeoutMs !== undefined && { timeoutMs: opts.timeoutMs }),
    });
    return res;
  }
  const child = spawn(full[0]!, full.slice(1), { stdio: 'inherit' });
  const timer = opts.timeoutMs
    ? setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs)
    : undefined;
  return new Promise((resolve, reject) => {
    child.once('error', (e) =>
      reject(new KprError('KPR_ERR_EXEC', `cannot run nsenter: ${e.message}`, { cause: e })),
    );
    child.once('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      const bySignal = signal ? 128 + (constants.signals[signal] ?? 0) : 1;
      resolve({ code: code ?? bySignal, stdout: '', stderr: '' });
    });
  });
}

export interface ProbeTarget {
  readonly ip: string;
  readonly port: number;
  readonly protocol: Protocol;
}

export interface ProbeResult {
  readonly ok: boolean;
  /** The answering pod's name (first body line) when ok. */
  readonly pod: string | undefined;
  /** The client address the backend saw ("IP:PORT"), when ok. */
  readonly clientAddr: string | undefined;
  /** Why it failed, when not ok. */
  readonly error: string | undefined;
}

/** One request from `fromPod` (default: the client pod) to a target, through the pod's hooks. */
export async function labProbe(
  lab: string | LabState,
  target: ProbeTarget,
  opts: { fromPod?: string; timeoutMs?: number } = {},
): Promise<ProbeResult> {
  const timeout = opts.timeoutMs ?? 2000;
  const mode = target.protocol === 'UDP' ? 'udp' : 'get';
  const res = await labExec(
    lab,
    opts.fromPod ?? 'client',
    [PODSERVER_PATH, mode, target.ip, String(target.port), '--timeout', String(timeout)],
    {
      timeoutMs: timeout + 5000,
    },
  );
  if (res.code !== 0)
    return {
      ok: false,
      pod: undefined,
      clientAddr: undefined,
      error: res.stderr.trim() || `exit ${res.code}`,
    };
  const [pod, client] = res.stdout.split('\n');
  return {
    ok: true,
    pod: pod || undefined,
    clientAddr: client?.replace(/^client /, '') || undefined,
    error: undefined,
  };
}
