/**
 * @module bench/scratch
 * Throw-away kernel objects for a benchmark run, each named `kpr-t-<random>` so that nothing a
 * bench did not create is ever touched: network namespaces (iptables and nftables rules die with
 * them), bpffs pin directories and cgroups (eBPF hooks attach to an empty cgroup, so no host
 * traffic is load-balanced by a bench). Every creator returns its own remover; `Scratch` collects
 * them so a bench removes everything in `finally`, and on SIGINT/SIGTERM too.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { cgroup2Root, ensureBpffs, removeCgroupTree } from '../util/cgroup.ts';
import { run } from '../util/exec.ts';

export function scratchName(tag: string): string {
  return `kpr-t-${tag}-${randomBytes(3).toString('hex')}`;
}

export function requireRoot(bench: string): void {
  if (process.getuid?.() !== 0) {
    console.error(
      `${bench} needs root: it creates network namespaces, loads BPF programs and makes cgroups`,
    );
    process.exit(1);
  }
}

/** Scratch sets still holding objects; a SIGINT/SIGTERM cleans them all before exiting. */
const live = new Set<Scratch>();
let signalsHooked = false;

function hookSignals(): void {
  if (signalsHooked) return;
  signalsHooked = true;
  const onSignal = (sig: NodeJS.Signals): void => {
    console.error(`\n${sig}: removing what the bench created...`);
    void Promise.allSettled([...live].map((s) => s.cleanup())).finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
}

/** A set of cleanups run in reverse creation order, once, even if some fail. */
export class Scratch {
  readonly #undo: { what: string; fn: () => Promise<void> }[] = [];

  /** Also clean up on SIGINT/SIGTERM (one process-wide handler, whatever the number of sets). */
  guardSignals(): void {
    hookSignals();
    live.add(this);
  }

  add(what: string, fn: () => Promise<void>): void {
    this.#undo.push({ what, fn });
  }

  async cleanup(): Promise<void> {
    live.delete(this);
    const failures: string[] = [];
    while (this.#undo.length) {
      const u = this.#undo.pop()!;
      try {
        await u.fn();
      } catch (e) {
        failures.push(`${u.what}: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    if (failures.length)
      console.error(`cleanup left something behind:\n  ${failures.join('\n  ')}`);
  }

  /** Creates a network namespace with loopback up; returns its /run/netns path. */
  async netns(tag: string): Promise<{ name: string; path: string }> {
    const name = scratchName(tag);
    await run('ip', ['netns', 'add', name]);
    this.add(`netns ${name}`, () => run('ip', ['netns', 'del', name]).then(() => undefined));
    await run('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
    return { name, path: `/run/netns/${name}` };
  }

  /** A fresh bpffs pin directory and an empty cgroup for the eBPF dataplane's hooks. */
  async bpf(tag: string): Promise<{ pinDir: string; cgroupPath: string }> {
    const name = scratchName(tag);
    await ensureBpffs();
    const pinDir = join('/sys/fs/bpf', name);
    const cgroupPath = join(await cgroup2Root(), name);
    await mkdir(cgroupPath);
    this.add(`cgroup ${cgroupPath}`, () => removeCgroupTree(cgroupPath));
    // Unlinking the pins detaches the links and frees the maps (the cgroup goes after).
    this.add(`pins ${pinDir}`, () => rm(pinDir, { recursive: true, force: true }));
    return { pinDir, cgroupPath };
  }
}
