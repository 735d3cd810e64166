/**
 * @module bench/control-plane
 * The control-plane half of `kpr bench`: full sync time, one-endpoint update time and memory of
 * each dataplane versus the number of Services. One measurement runs sync-worker.ts in a fresh
 * child process inside a fresh network namespace (iptables and nftables write only there; eBPF
 * gets its own pin dir and an empty cgroup, so no traffic is ever load-balanced by it), killed
 * with its whole process group when it overruns its time budget.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { DataplaneName } from '../dataplanes/types.ts';
import { Scratch } from './scratch.ts';
import type { WorkerJob, WorkerResult } from './sync-worker.ts';

const WORKER = join(import.meta.dirname, 'sync-worker.ts');

export interface ControlPlaneJob {
  readonly dataplane: DataplaneName;
  readonly services: number;
  readonly endpoints: number;
  readonly updates: number;
  readonly updateBudgetMs: number;
  readonly timeoutMs: number;
  readonly seed: number;
}

export type ControlPlaneOutcome =
  | { readonly ok: true; readonly result: WorkerResult }
  | { readonly ok: false; readonly timedOut: boolean; readonly error: string };

/** Runs the worker in `netnsPath`; never rejects, a failure is an outcome. */
export function runWorker(
  netnsPath: string,
  job: WorkerJob,
  timeoutMs: number,
): Promise<ControlPlaneOutcome> {
  const argv = ['--net=' + netnsPath, '--', process.execPath, WORKER, JSON.stringify(job)];
  return new Promise((resolve) => {
    // Own process group: a timeout kills the worker and whatever iptables-restore/nft it runs.
    const child = spawn('nsenter', argv, {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, KPR_LOG_LEVEL: 'warn' },
    });
    let out = '';
    let err = '';
    let timedOut = false;
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      resolve({ ok: false, timedOut: false, error: `cannot run nsenter: ${e.message}` });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (timedOut) {
        resolve({ ok: false, timedOut: true, error: `timed out after ${timeoutMs / 1000} s` });
      } else if (code === 0) {
        try {
          const result = JSON.parse(out.trim().split('\n').pop()!) as WorkerResult;
          resolve({ ok: true, result });
        } catch {
          resolve({
            ok: false,
            timedOut: false,
            error: `unreadable worker output: ${out.slice(0, 200)}`,
          });
        }
      } else {
        const tail = err.trim().split('\n').slice(-3).join(' | ');
        resolve({ ok: false, timedOut: false, error: `worker exit ${code ?? signal}: ${tail}` });
      }
    });
  });
}

/** One control-plane measurement in its own scratch namespace (and pin dir and cgroup for eBPF). */
export async function measureControlPlane(job: ControlPlaneJob): Promise<ControlPlaneOutcome> {
  const scratch = new Scratch();
  scratch.guardSignals();
  try {
    const ns = await scratch.netns('bench');
    const bpf =
      job.dataplane === 'ebpf'
        ? await scratch.bpf('bench')
        : { pinDir: '/sys/fs/bpf/unused', cgroupPath: '/nonexistent' };
    const workerJob: WorkerJob = {
      dataplane: job.dataplane,
      services: job.services,
      endpoints: job.endpoints,
      updates: job.updates,
      updateBudgetMs: job.updateBudgetMs,
      pinDir: bpf.pinDir,
      cgroupPath: bpf.cgroupPath,
      nftTable: 'kpr_bench',
      seed: job.seed,
    };
    return await runWorker(ns.path, workerJob, job.timeoutMs);
  } catch (e) {
    return { ok: false, timedOut: false, error: e instanceof Error ? e.message : String(e) };
  } finally {
    await scratch.cleanup();
  }
}
