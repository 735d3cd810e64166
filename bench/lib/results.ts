/**
 * @module bench/lib/results
 * Where a benchmark's figures go: a JSON file `bench/results/<name>-<date>.json` holding the
 * machine (kernel, cores, CPU model), the exact command that reproduces the run, and the data.
 */
import { cpus, release, totalmem } from 'node:os';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';

export const REPO_ROOT = join(import.meta.dirname, '..', '..');

export interface Machine {
  readonly kernel: string;
  readonly cores: number;
  readonly cpu: string;
  readonly memoryGiB: number;
  readonly node: string;
}

export function machine(): Machine {
  return {
    kernel: release(),
    cores: cpus().length,
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
  };
}

/** The command line that reproduces this run, relative to the repository root. */
export function reproduceCommand(): string {
  const script = relative(REPO_ROOT, process.argv[1] ?? '');
  const args = process.argv.slice(2).map((a) => (/^[\w.,=/:-]+$/.test(a) ? a : `'${a}'`));
  return ['node', script, ...args].join(' ');
}

/** Writes the results file and returns its path (relative to the repo root). */
export async function writeResults(name: string, data: Record<string, unknown>): Promise<string> {
  const dir = join(REPO_ROOT, 'bench', 'results');
  await mkdir(dir, { recursive: true });
  const stamp = new Date().toISOString().slice(0, 19).replace(/[:T]/g, '-');
  const path = join(dir, `${name}-${stamp}.json`);
  const doc = {
    bench: name,
    date: new Date().toISOString(),
    command: reproduceCommand(),
    machine: machine(),
    ...data,
  };
  await writeFile(path, JSON.stringify(doc, null, 2) + '\n');
  return relative(REPO_ROOT, path);
}
