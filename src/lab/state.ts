/**
 * @module lab/state
 * The lab's state file, /run/kpr/labs/<name>/state.json: the options the layout is rebuilt from,
 * the pids of the processes the lab started, and per-service endpoint overrides. It lives on
 * /run (tmpfs) because a lab does not survive a reboot either.
 */
import { mkdir, readFile, readdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KprError } from '../util/errors.ts';
import { DATAPLANE_NAMES } from '../dataplanes/types.ts';
import type { DataplaneName } from '../dataplanes/types.ts';
import { LAB_PREFIX, validateLabName } from './topology.ts';
import type { LabOptions } from './topology.ts';

export const LAB_STATE_ROOT = '/run/kpr/labs';

function isValidLabName(name: string): boolean {
  try {
    validateLabName(name);
    return true;
  } catch {
    return false;
  }
}

/** One endpoint of a service whose endpoints a test overrode; conditions default as in Kubernetes. */
export interface LabEndpointSpec {
  readonly pod: string;
  readonly ready?: boolean;
  readonly serving?: boolean;
  readonly terminating?: boolean;
}

/** Where the lab's agent learns Services from: manifest files, or the lab's own API server. */
export type LabSource = 'manifests' | 'kubernetes';
export const LAB_SOURCES: readonly LabSource[] = ['manifests', 'kubernetes'];

export interface LabState {
  readonly version: 1;
  readonly name: string;
  readonly dataplane: DataplaneName;
  readonly services: number;
  readonly endpoints: number;
  readonly pods: number;
  readonly udpServices: number;
  readonly createdAt: string;
  /** Absolute cgroup directory of the lab (the agent's --cgroup), found from /proc/mounts at `up`. */
  readonly cgroupPath: string;
  /** The detached agent, when one was started. */
  agentPid: number | undefined;
  /** The agent's source; absent in labs created before sources existed (= manifests). */
  source?: LabSource;
  /** The lab's test API server (source kubernetes), when one was started. */
  apiServerPid?: number | undefined;
  /** Extra agent arguments given at `up`, reused when the agent is restarted. */
  agentArgs?: string[];
  /** Pod name -> pid of its podserver. */
  podserverPids: Record<string, number>;
  /** Service name -> endpoints, for services whose endpoints differ from the default round-robin. */
  endpointOverrides: Record<string, LabEndpointSpec[]>;
}

export function labDir(name: string): string {
  validateLabName(name);
  return join(LAB_STATE_ROOT, name);
}

export function statePath(name: string): string {
  return join(labDir(name), 'state.json');
}

export function manifestsDir(name: string): string {
  return join(labDir(name), 'manifests');
}

export function agentLogPath(name: string): string {
  return join(labDir(name), 'agent.log');
}

export function podLogPath(name: string): string {
  return join(labDir(name), 'podserver.log');
}

/** The control socket of the lab's API server (source kubernetes). */
export function apiServerSocketPath(name: string): string {
  return join(labDir(name), 'apiserver.sock');
}

export function apiServerLogPath(name: string): string {
  return join(labDir(name), 'apiserver.log');
}

/** The kubeconfig the agent reads (source kubernetes); it points into the node's netns. */
export function kubeconfigPath(name: string): string {
  return join(labDir(name), 'kubeconfig');
}

export function sourceOf(s: LabState): LabSource {
  return s.source ?? 'manifests';
}

export function layoutOptions(s: LabState): LabOptions {
  return {
    name: s.name,
    dataplane: s.dataplane,
    services: s.services,
    endpoints: s.endpoints,
    pods: s.pods,
    udpServices: s.udpServices,
  };
}

/** Writes the state atomically (temp file + rename), so a crash never leaves half a file. */
export async function writeState(s: LabState): Promise<void> {
  await mkdir(labDir(s.name), { recursive: true });
  const tmp = `${statePath(s.name)}.tmp`;
  await writeFile(tmp, JSON.stringify(s, null, 2) + '\n');
  await rename(tmp, statePath(s.name));
}

function isState(v: unknown, name: string): v is LabState {
  if (typeof v !== 'object' || v === null) return false;
  const s = v as Record<string, unknown>;
  return (
    s.version === 1 &&
    s.name === name &&
    DATAPLANE_NAMES.includes(s.dataplane as DataplaneName) &&
    [s.services, s.endpoints, s.pods, s.udpServices].every((n) => Number.isInteger(n)) &&
    typeof s.cgroupPath === 'string' &&
    typeof s.podserverPids === 'object' &&
    typeof s.endpointOverrides === 'object'
  );
}

/** The lab's state, or undefined when the lab has no (readable, valid) state file. */
export async function readStateIfAny(name: string): Promise<LabState | undefined> {
  let text: string;
  try {
    text = await readFile(statePath(name), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  try {
    const v: unknown = JSON.parse(text);
    return isState(v, name) ? v : undefined;
  } catch {
    return undefined;
  }
}

export async function readState(name: string): Promise<LabState> {
  const s = await readStateIfAny(name);
  if (!s) {
    throw new KprError(
      'KPR_ERR_LAB_NOT_FOUND',
      `lab ${JSON.stringify(name)} does not exist (no valid ${statePath(name)}); start it with \`kpr lab up --name ${name}\`, or list labs with \`ls ${LAB_STATE_ROOT}\``,
    );
  }
  return s;
}

/** Names of labs with a state directory. */
export async function listLabNames(): Promise<string[]> {
  try {
    return (await readdir(LAB_STATE_ROOT, { withFileTypes: true }))
      .filter((d) => d.isDirectory())
      .map((d) => d.name);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}

/** Lab names that still have a network namespace, even without a state file (after a crash). */
export async function listLabNetnsNames(): Promise<string[]> {
  let entries: string[];
  try {
    entries = await readdir('/run/netns');
  } catch {
    return [];
  }
  const names = new Set<string>();
  for (const e of entries) {
    if (!e.startsWith(LAB_PREFIX)) continue;
    const sep = e.indexOf('_', LAB_PREFIX.length);
    const name = e.slice(LAB_PREFIX.length, sep);
    if (sep > LAB_PREFIX.length && isValidLabName(name)) names.add(name);
  }
  return [...names];
}
