/**
 * @module util/cgroup
 * Finding the cgroup v2 hierarchy and the bpffs mount. Neither is at a fixed path: hybrid hosts
 * mount cgroup2 at /sys/fs/cgroup/unified, others at /sys/fs/cgroup or /run/...; so both are read
 * from /proc/mounts.
 */
import { readFile, mkdir, writeFile, rmdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { KprError } from './errors.ts';
import { run } from './exec.ts';

interface MountEntry {
  readonly source: string;
  readonly target: string;
  readonly fstype: string;
}

/** /proc/mounts escapes spaces and friends as octal (\040). */
function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

export function parseMounts(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    if (f.length < 3) continue;
    out.push({ source: unescapeMount(f[0]!), target: unescapeMount(f[1]!), fstype: f[2]! });
  }
  return out;
}

async function mounts(): Promise<MountEntry[]> {
  return parseMounts(await readFile('/proc/mounts', 'utf8'));
}

/** The mount point of the cgroup v2 hierarchy; throws with advice when there is none. */
export async function cgroup2Root(): Promise<string> {
  const m = (await mounts()).find((e) => e.fstype === 'cgroup2');
  if (!m) {
    throw new KprError(
      'KPR_ERR_NO_CGROUP2',
      'no cgroup v2 hierarchy is mounted (none in /proc/mounts); mount one with `mount -t cgroup2 none /sys/fs/cgroup/unified` or boot with systemd.unified_cgroup_hierarchy=1',
    );
  }
  return m.target;
}

/** Ensures a bpffs is mounted at `at` (default /sys/fs/bpf), mounting one if missing. */
export async function ensureBpffs(at = '/sys/fs/bpf'): Promise<string> {
  const all = await mounts();
  if (all.some((e) => e.fstype === 'bpf' && e.target === at)) return at;
  await mkdir(at, { recursive: true });
  await run('mount', ['-t', 'bpf', 'bpf', at]);
  return at;
}

/** Creates (if needed) a cgroup directory below the cgroup2 root and returns its absolute path. */
export async function ensureCgroup(relative: string): Promise<string> {
  const path = join(await cgroup2Root(), relative);
  await mkdir(path, { recursive: true });
  return path;
}

/** Moves a process into a cgroup. */
export async function movePidToCgroup(cgroupPath: string, pid: number): Promise<void> {
  await writeFile(join(cgroupPath, 'cgroup.procs'), `${pid}\n`);
}

/**
 * Removes a cgroup subtree, deepest first. Processes still inside are moved to the parent of
 * `cgroupPath` first, since a populated cgroup cannot be removed. Missing paths are fine.
 */
export async function removeCgroupTree(cgroupPath: string): Promise<void> {
  let entries: string[];
  try {
    entries = (await readdir(cgroupPath, { withFileTypes: true }))
      .filter((d) => d.isDirectory())
      .map((d) => d.name);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  for (const sub of entries) await removeCgroupTree(join(cgroupPath, sub));
  try {
    const procs = (await readFile(join(cgroupPath, 'cgroup.procs'), 'utf8'))
      .split('\n')
      .filter(Boolean);
    const parent = join(cgroupPath, '..');
    for (const pid of procs) {
      await writeFile(join(parent, 'cgroup.procs'), `${pid}\n`).catch(() => undefined);
    }
    await rmdir(cgroupPath);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}
