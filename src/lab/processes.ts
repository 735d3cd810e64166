/**
 * @module lab/processes
 * The processes a lab runs: one podserver per pod and the agent in the node namespace, all
 * detached so they outlive `kpr lab up`. Pod processes enter their pod's netns (nsenter --net,
 * not `ip netns exec`, which remounts /sys and would hide bpffs and cgroup2) and their pod's
 * cgroup before exec, exactly like a container runtime would place them, so kpr's cgroup hooks
 * see them from their first syscall.
 */
import { spawn } from 'node:child_process';
import { access, open, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from '../util/exec.ts';
import { KprError } from '../util/errors.ts';
import { netnsPath } from './netns.ts';
import { TCP_TARGET_PORT, UDP_TARGET_PORT } from './topology.ts';
import type { LabLayout, LabPod } from './topology.ts';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const PODSERVER_PATH = join(REPO_ROOT, 'build', 'podserver');
export const KPR_BIN = join(REPO_ROOT, 'bin', 'kpr.js');

/** Builds build/podserver when it is missing or older than its source (make decides). */
export async function buildPodserver(): Promise<string> {
  try {
    await run('make', ['-s', '-C', join(REPO_ROOT, 'tools', 'podserver')]);
  } catch (e) {
    throw new KprError(
      'KPR_ERR_LAB_PODSERVER',
      `cannot build the lab pod server (needs make and a C compiler): ${(e as Error).message}`,
      {
        cause: e,
      },
    );
  }
  return PODSERVER_PATH;
}

/**
 * argv that runs `argv` inside `pod`: in its netns, and moved into its cgroup by a shell that
 * then execs the command (the cgroup path travels as $0, never through the shell's parser).
 */
export function podArgv(pod: LabPod, podCgroup: string, argv: readonly string[]): string[] {
  return netnsCgroupArgv(pod.netns, podCgroup, argv);
}

/** argv that runs `argv` in network namespace `netns` (a name), moved into cgroup `cgroup` first. */
export function netnsCgroupArgv(netns: string, cgroup: string, argv: readonly string[]): string[] {
  return [
    'nsenter',
    `--net=${netnsPath(netns)}`,
    '--',
    'sh',
    '-c',
    'echo $$ > "$0/cgroup.procs" && exec "$@"',
    cgroup,
    ...argv,
  ];
}

export function podCgroupPath(labCgroup: string, pod: LabPod): string {
  return join(labCgroup, pod.name);
}

/** Starts a detached process with stdout and stderr appended to `logPath`; returns its pid. */
export async function spawnDetached(argv: readonly string[], logPath: string): Promise<number> {
  const log = await open(logPath, 'a');
  try {
    const child = spawn(argv[0]!, argv.slice(1), {
      detached: true,
      stdio: ['ignore', log.fd, log.fd],
    });
    const pid = await new Promise<number>((resolve, reject) => {
      child.once('error', (e) =>
        reject(new KprError('KPR_ERR_EXEC', `cannot start ${argv[0]}: ${e.message}`, { cause: e })),
      );
      child.once('spawn', () => resolve(child.pid!));
    });
    child.unref();
    return pid;
  } finally {
    await log.close();
  }
}

export function podserverArgv(pod: LabPod): string[] {
  return [
    PODSERVER_PATH,
    'serve',
    '--name',
    pod.name,
    '--tcp',
    String(TCP_TARGET_PORT),
    '--udp',
    String(UDP_TARGET_PORT),
  ];
}

export async function isAlive(pid: number): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z/.test(stat); // a zombie has exited already
  } catch {
    return false;
  }
}

export async function cmdline(pid: number): Promise<string[]> {
  try {
    return (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').filter(Boolean);
  } catch {
    return [];
  }
}

/** Whether `pid` listens on TCP `port`, read from /proc/PID/net/tcp (which shows the pid's netns). */
async function listensOn(pid: number, port: number): Promise<boolean> {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')} `;
  const text = await readFile(`/proc/${pid}/net/tcp`, 'utf8').catch(() => '');
  return text
    .split('\n')
    .some((l) => l.split(/\s+/)[2]?.endsWith(hex.trim()) && l.split(/\s+/)[4] === '0A');
}

/** Waits until every podserver listens; fails naming the pod whose server died or hung. */
export async function waitPodservers(
  pids: ReadonlyMap<string, number>,
  logPath: string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const [pod, pid] of pids) {
    while (!(await listensOn(pid, TCP_TARGET_PORT))) {
      if (!(await isAlive(pid)) || Date.now() > deadline) {
        throw new KprError(
          'KPR_ERR_LAB_PODSERVER',
          `the pod server of ${pod} (pid ${pid}) did not start listening; see ${logPath}`,
        );
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

/** What the agent follows: a manifest folder, or a cluster through a kubeconfig. */
export type AgentSourceArg = { readonly manifests: string } | { readonly kubeconfig: string };

export function agentArgv(
  layout: LabLayout,
  source: AgentSourceArg,
  labCgroup: string,
  extra: readonly string[],
): string[] {
  return [
    'nsenter',
    `--net=${netnsPath(layout.nodeNetns)}`,
    '--',
    process.execPath,
    KPR_BIN,
    'agent',
    ...('manifests' in source
      ? ['--manifests', source.manifests]
      : ['--kubeconfig', source.kubeconfig]),
    '--dataplane',
    layout.dataplane,
    '--node-name',
    layout.nodeName,
    '--bpf-pin-dir',
    layout.pinDir,
    '--cgroup',
    labCgroup,
    '--nft-table',
    layout.nftTable,
    ...extra,
  ];
}

export async function agentAvailable(): Promise<boolean> {
  return access(KPR_BIN).then(
    () => true,
    () => false,
  );
}

/** Pids of agents started for this lab (found by their --nft-table argument), e.g. after a crash. */
export async function findAgentPids(layout: LabLayout): Promise<number[]> {
  const out: number[] = [];
  for (const e of await readdir('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const argv = await cmdline(Number(e));
    const i = argv.indexOf('--nft-table');
    if (argv.includes('agent') && i >= 0 && argv[i + 1] === layout.nftTable) out.push(Number(e));
  }
  return out;
}

/**
 * Sends `first` (default SIGTERM), then SIGKILL if the process still runs after `graceMs`; only
 * when the pid still runs a command naming `token`, so a reused pid is never signalled.
 */
export async function stopProcess(
  pid: number,
  token: string,
  first: NodeJS.Signals = 'SIGTERM',
  graceMs = 5000,
): Promise<void> {
  if (!(await cmdline(pid)).includes(token)) return; // gone, or the pid was reused by someone else
  const signal = (sig: NodeJS.Signals): void => {
    try {
      process.kill(pid, sig);
    } catch {
      // already gone
    }
  };
  signal(first);
  const deadline = Date.now() + graceMs;
  while ((await isAlive(pid)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  if (await isAlive(pid)) signal('SIGKILL');
}

/**
 * Kills every process in a cgroup subtree (pod servers, `lab exec` leftovers) and waits until it
 * is empty. Uses cgroup.kill (Linux 5.14+) and falls back to signalling each listed pid.
 */
export async function killCgroupTree(cgroupPath: string, timeoutMs = 5000): Promise<void> {
  const populated = async (): Promise<boolean> => {
    const events = await readFile(join(cgroupPath, 'cgroup.events'), 'utf8').catch(
      () => 'populated 0',
    );
    return /^populated 1$/m.test(events);
  };
  if (!(await populated())) return;
  const viaKill = await writeFile(join(cgroupPath, 'cgroup.kill'), '1').then(
    () => true,
    () => false,
  );
  if (!viaKill) await killListed(cgroupPath);
  const deadline = Date.now() + timeoutMs;
  while (await populated()) {
    if (Date.now() > deadline) {
      throw new KprError(
        'KPR_ERR_LAB_CGROUP',
        `processes in ${cgroupPath} did not exit; see ${join(cgroupPath, 'cgroup.procs')}`,
      );
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function killListed(dir: string): Promise<void> {
  const procs = await readFile(join(dir, 'cgroup.procs'), 'utf8').catch(() => '');
  for (const pid of procs.split('\n').filter(Boolean)) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // exited meanwhile
    }
  }
  const subs = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const d of subs) if (d.isDirectory()) await killListed(join(dir, d.name));
}
