/**
 * @module dataplanes/ebpf/loader
 * Loads build/bpf/sock_lb.bpf.o, adopts or creates its pinned maps, and attaches its programs to
 * a cgroup through pinned links, without a gap when a previous agent left pins behind:
 *   - maps get a pin path before load, so libbpf reuses a compatible pinned map (keeping every
 *     entry) instead of creating an empty one;
 *   - an existing pinned link gets the new program through BPF_LINK_UPDATE, an atomic swap, so
 *     a socket is translated by the old or the new program, never by neither.
 * Layout: <pinDir>/maps/<map>, <pinDir>/progs/<prog>, <pinDir>/links/<prog>.
 */
import {
  existsSync,
  mkdirSync,
  openSync,
  closeSync,
  readdirSync,
  readFileSync,
  rmSync,
} from 'node:fs';
import { join } from 'node:path';
import { DataplaneError } from '../../util/errors.ts';
import type { Logger } from '../../util/log.ts';
import { assertLayouts } from './btf.ts';
import {
  LAYOUTS,
  REVNAT_KEY_SIZE,
  REVNAT_VALUE_SIZE,
  SVC_KEY_SIZE,
  SVC_VALUE_SIZE,
} from './codecs.ts';
import type { Handle, LibbpfBinding } from './libbpf.ts';
import type { LbMapFds } from './maps.ts';

export const MAP_NAMES = {
  services: 'kpr_services',
  revnat: 'kpr_revnat',
} as const;
export type MapKey = keyof typeof MAP_NAMES;

const BPF_MAP_TYPE_HASH = 1;
const BPF_MAP_TYPE_LRU_HASH = 9;
/** What a pinned map must look like to be adopted (kpr_maps.h). */
export const MAP_SHAPES: Readonly<
  Record<MapKey, { type: number; keySize: number; valueSize: number }>
> = {
  services: { type: BPF_MAP_TYPE_HASH, keySize: SVC_KEY_SIZE, valueSize: SVC_VALUE_SIZE },
  revnat: { type: BPF_MAP_TYPE_LRU_HASH, keySize: REVNAT_KEY_SIZE, valueSize: REVNAT_VALUE_SIZE },
};
export const PROGRAM_NAMES = [
  'kpr_connect4',
  'kpr_sendmsg4',
  'kpr_recvmsg4',
  'kpr_getpeername4',
] as const;

export interface LoadOptions {
  readonly objectPath: string;
  readonly pinDir: string;
  readonly cgroupPath: string;
  /** max_entries overrides; absent = keep the pinned map's size, else the header default. */
  readonly maxEntries: Partial<Record<MapKey, number>>;
  readonly log: Logger;
}

export interface Loaded {
  readonly obj: Handle;
  readonly fds: LbMapFds;
  readonly links: Handle[];
  /** True when pinned maps from a previous run were reused. */
  readonly adopted: boolean;
}

export const mapPin = (pinDir: string, name: string): string => join(pinDir, 'maps', name);
const progPin = (pinDir: string, name: string): string => join(pinDir, 'progs', name);
const linkPin = (pinDir: string, name: string): string => join(pinDir, 'links', name);

export async function loadAndAttach(b: LibbpfBinding, o: LoadOptions): Promise<Loaded> {
  let elf: Buffer;
  try {
    elf = readFileSync(o.objectPath);
  } catch (e) {
    throw new DataplaneError(
      'KPR_ERR_EBPF_OBJECT',
      `cannot read ${o.objectPath}: build it with \`make -C bpf\``,
      { cause: e },
    );
  }
  assertLayouts(o.objectPath, elf, LAYOUTS);
  for (const d of ['maps', 'progs', 'links']) mkdirSync(join(o.pinDir, d), { recursive: true });

  checkPinnedMaps(b, o.pinDir);

  const obj = b.openObject(o.objectPath);
  try {
    let adopted = false;
    for (const [key, name] of Object.entries(MAP_NAMES) as [MapKey, string][]) {
      const map = b.findMap(obj, name);
      const pin = mapPin(o.pinDir, name);
      const wanted = o.maxEntries[key];
      if (existsSync(pin)) {
        const fd = b.objGet(pin);
        const live = b.mapInfo(fd).maxEntries;
        b.closeFd(fd);
        if (wanted !== undefined && wanted !== live) {
          throw new DataplaneError(
            'KPR_ERR_EBPF_MAP_SIZE',
            `pinned map ${pin} has ${live} entries of capacity but ${wanted} were requested; resizing recreates the map and breaks established connections, so run \`kpr cleanup\` first or keep the old size`,
          );
        }
        b.mapSetMaxEntries(map, live);
        adopted = true;
      } else if (wanted !== undefined) {
        b.mapSetMaxEntries(map, wanted);
      }
      b.mapSetPinPath(map, pin);
    }
    await b.loadObject(obj);

    const fds = {
      services: b.mapFd(b.findMap(obj, MAP_NAMES.services)),
      revnat: b.mapFd(b.findMap(obj, MAP_NAMES.revnat)),
    };

    let cgFd: number;
    try {
      cgFd = openSync(o.cgroupPath, 'r');
    } catch (e) {
      throw new DataplaneError(
        'KPR_ERR_EBPF_CGROUP',
        `cannot open cgroup ${o.cgroupPath}: is it a cgroup v2 directory?`,
        { cause: e },
      );
    }
    const links: Handle[] = [];
    try {
      for (const name of PROGRAM_NAMES) {
        const prog = b.findProgram(obj, name);
        // Re-pin the program so bpftool shows the running one; the old one lives on while its link does.
        rmSync(progPin(o.pinDir, name), { force: true });
        b.objPin(b.programFd(prog), progPin(o.pinDir, name));
        const lp = linkPin(o.pinDir, name);
        if (existsSync(lp)) {
          const link = b.linkOpen(lp);
          b.linkUpdateProgram(link, prog);
          links.push(link);
          o.log.debug('ebpf link updated in place', { program: name });
        } else {
          const link = b.attachCgroup(prog, cgFd);
          b.linkPin(link, lp);
          links.push(link);
          o.log.debug('ebpf program attached', { program: name, cgroup: o.cgroupPath });
        }
      }
    } finally {
      closeSync(cgFd);
    }
    return { obj, fds, links, adopted };
  } catch (e) {
    b.closeObject(obj);
    throw e;
  }
}

/**
 * Refuses pins left by a kpr with another map layout (libbpf would fail with a bare EINVAL, or
 * the programs would run next to maps nobody writes): the operator must run `kpr cleanup`.
 */
function checkPinnedMaps(b: LibbpfBinding, pinDir: string): void {
  const problems: string[] = [];
  const known = new Set<string>(Object.values(MAP_NAMES));
  let pinned: string[] = [];
  try {
    pinned = readdirSync(join(pinDir, 'maps'));
  } catch {
    return; // nothing pinned yet
  }
  for (const name of pinned) {
    if (!known.has(name)) problems.push(`${name} is not a map of this kpr version`);
  }
  for (const [key, name] of Object.entries(MAP_NAMES) as [MapKey, string][]) {
    if (!pinned.includes(name)) continue;
    const fd = b.objGet(mapPin(pinDir, name), true);
    try {
      const info = b.mapInfo(fd);
      const want = MAP_SHAPES[key];
      if (
        info.type !== want.type ||
        info.keySize !== want.keySize ||
        info.valueSize !== want.valueSize
      ) {
        problems.push(
          `${name} has type ${info.type}, key ${info.keySize} B, value ${info.valueSize} B but this kpr needs type ${want.type}, key ${want.keySize} B, value ${want.valueSize} B`,
        );
      }
    } finally {
      b.closeFd(fd);
    }
  }
  if (problems.length > 0) {
    throw new DataplaneError(
      'KPR_ERR_EBPF_PINNED_LAYOUT',
      `pinned eBPF maps in ${join(pinDir, 'maps')} were created by a different kpr version (${problems.join('; ')}); run \`kpr cleanup\` to remove them (service traffic is not load-balanced until the agent starts again), then start the agent`,
    );
  }
}

/** Opens the pinned maps of a running (or crashed) agent, for list()/stats() without start(). */
export function openPinnedMaps(b: LibbpfBinding, pinDir: string): LbMapFds | undefined {
  const paths = Object.values(MAP_NAMES).map((n) => mapPin(pinDir, n));
  if (!paths.every((p) => existsSync(p))) return undefined;
  checkPinnedMaps(b, pinDir);
  const [services, revnat] = paths.map((p) => b.objGet(p, true)) as [number, number];
  return { services, revnat };
}
