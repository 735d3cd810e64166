/**
 * @module dataplanes/ebpf
 * kpr's eBPF dataplane: socket-level load balancing of ClusterIPs and externalIPs (IPv4,
 * TCP/UDP) by the cgroup hooks in bpf/sock_lb.c. This file wires the pieces: loader.ts
 * (load, pin, attach, adopt), desired.ts + mirror.ts + plan.ts (diff and ordered, pre-encoded
 * writes), maps.ts (kernel I/O). Map layout and sync costs: docs/design/ebpf-loader.md.
 * IPv6 frontends and endpoints are skipped silently for now.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { cgroup2Root, ensureBpffs } from '../../util/cgroup.ts';
import { DataplaneError, errorMessage } from '../../util/errors.ts';
import { createLogger } from '../../util/log.ts';
import type { Logger } from '../../util/log.ts';
import type {
  Dataplane,
  DataplaneOptions,
  LiveFrontend,
  SyncRequest,
  SyncResult,
} from '../types.ts';
import { desiredFrontends } from './desired.ts';
import { describeFrontend } from './table.ts';
import type { LibbpfBinding } from './libbpf.ts';
import { createKoffiLibbpf } from './libbpf.ts';
import { loadAndAttach, MAP_NAMES, openPinnedMaps } from './loader.ts';
import type { Loaded, MapKey } from './loader.ts';
import { applyPlan } from './maps.ts';
import type { LbMirror } from './mirror.ts';
import { mirrorFromLive } from './mirror.ts';
import { planSync } from './plan.ts';
import type { Plan } from './plan.ts';
import { countEntries, liveFrontends, readServices } from './readback.ts';

export interface EbpfTuning {
  /** Path of sock_lb.bpf.o; default <repo>/build/bpf/sock_lb.bpf.o or $KPR_BPF_OBJECT. */
  readonly objectPath?: string;
  /** max_entries per map; default: the pinned map's size, else the C header's default. */
  readonly maxEntries?: Partial<Record<MapKey, number>>;
  /** The libbpf seam; default koffi over libbpf.so.1 (tests pass a FakeLibbpf). */
  readonly binding?: LibbpfBinding;
  readonly log?: Logger;
}

export interface MapStats {
  readonly name: string;
  readonly entries: number;
  readonly capacity: number;
}

/** Where the last sync() spent its time, for benchmarks and debug logs. */
export interface SyncTiming {
  /** Building desired frontends, diffing and encoding the writes (JavaScript). */
  readonly planMs: number;
  /** The bpf(2) calls that applied them. */
  readonly kernelMs: number;
  readonly entries: number;
}

export interface EbpfDataplane extends Dataplane {
  /** Entry counts and capacities of the maps, for metrics. */
  stats(): { maps: MapStats[] };
  /** Time split of the last successful sync(); undefined before the first. */
  lastSyncTiming(): SyncTiming | undefined;
}

const DEFAULT_OBJECT = join(import.meta.dirname, '../../../build/bpf/sock_lb.bpf.o');

export function createEbpfDataplane(
  opts: DataplaneOptions,
  tuning: EbpfTuning = {},
): EbpfDataplane {
  const log = (tuning.log ?? createLogger()).child({ dataplane: 'ebpf' });
  const pinDir = opts.bpfPinDir;
  let binding = tuning.binding;
  let loaded: Loaded | undefined;
  let mirror: LbMirror | undefined;
  let mirrorStale = false;
  let timing: SyncTiming | undefined;

  // koffi/libbpf load lazily so that cleanup() works on hosts without libbpf.
  const lib = (): LibbpfBinding => (binding ??= createKoffiLibbpf());

  const rebuildMirror = (l: Loaded): LbMirror => {
    const m = mirrorFromLive(readServices(lib(), l.fds.services));
    mirrorStale = false;
    return m;
  };

  /** Runs `fn` over the pinned maps, read-only, when this process has not started. */
  const withMaps = <T>(fn: (fds: Loaded['fds']) => T, empty: T): T => {
    if (loaded) return fn(loaded.fds);
    const b = lib();
    const fds = openPinnedMaps(b, pinDir);
    if (!fds) return empty;
    try {
      return fn(fds);
    } finally {
      for (const fd of Object.values(fds)) b.closeFd(fd);
    }
  };

  return {
    name: 'ebpf',

    async start() {
      if (loaded) return;
      if (pinDir.startsWith('/sys/fs/bpf/')) await ensureBpffs();
      const cgroupPath = opts.cgroupPath ?? (await cgroup2Root());
      const l = await loadAndAttach(lib(), {
        objectPath: tuning.objectPath ?? process.env.KPR_BPF_OBJECT ?? DEFAULT_OBJECT,
        pinDir,
        cgroupPath,
        maxEntries: tuning.maxEntries ?? {},
        log,
      });
      loaded = l;
      mirror = rebuildMirror(l);
      log.info(l.adopted ? 'ebpf dataplane adopted pinned maps' : 'ebpf dataplane loaded', {
        pinDir,
        cgroup: cgroupPath,
        frontends: mirror.table.size,
      });
    },

    async sync(req: SyncRequest): Promise<SyncResult> {
      if (!loaded || !mirror)
        throw new DataplaneError(
          'KPR_ERR_EBPF_NOT_STARTED',
          'ebpf dataplane: sync() before start()',
        );
      if (mirrorStale) mirror = rebuildMirror(loaded);
      const m = mirror;
      const t0 = performance.now();
      let plan: Plan;
      try {
        plan = planFor(m, req, log);
      } catch (e) {
        mirrorStale = true; // planning updates the mirror as it goes
        throw e;
      }
      const t1 = performance.now();
      try {
        applyPlan(lib(), loaded.fds.services, plan, req.full);
        timing = {
          planMs: t1 - t0,
          kernelMs: performance.now() - t1,
          entries: plan.written + plan.deleted,
        };
      } catch (e) {
        mirrorStale = true; // the kernel holds part of the plan; re-read it before the next diff
        throw new DataplaneError(
          'KPR_ERR_EBPF_SYNC',
          `ebpf map update failed: ${errorMessage(e)}`,
          { cause: e },
        );
      }
      return { written: plan.written, deleted: plan.deleted };
    },

    async list(): Promise<LiveFrontend[]> {
      return withMaps((fds) => liveFrontends(lib(), fds.services), []);
    },

    stats() {
      return withMaps(
        (fds) => ({
          maps: (Object.entries(MAP_NAMES) as [MapKey, string][]).map(([key, name]) => ({
            name,
            entries:
              key === 'services' && mirror && !mirrorStale
                ? mirror.entryCount()
                : countEntries(lib(), fds[key]),
            capacity: lib().mapInfo(fds[key]).maxEntries,
          })),
        }),
        { maps: [] },
      );
    },

    lastSyncTiming: () => timing,

    async close() {
      if (!loaded) return;
      const b = lib();
      for (const link of loaded.links) b.linkDestroy(link); // pinned links stay attached
      b.closeObject(loaded.obj);
      loaded = undefined;
      mirror = undefined;
    },

    async cleanup() {
      await this.close();
      // Unlinking a link's pin (with no fd left) detaches its program; maps go with their last pin.
      rmSync(pinDir, { recursive: true, force: true });
    },
  };
}

/** Diffs the request against the mirror: every frontend (full) or those of `req.changed`. */
function planFor(m: LbMirror, req: SyncRequest, log: Logger): Plan {
  if (req.full) {
    const d = desiredFrontends(req.state, undefined, m.table);
    for (const c of d.conflicts)
      log.warn('frontend claimed twice; keeping the smaller service key', { conflict: c });
    return planSync(m, d.table);
  }
  const d = desiredFrontends(req.state, req.changed, m.table);
  const t = d.table;
  const scope = new Set(t.rows.keys());
  for (const key of req.changed) for (const fk of m.ownedBy(key)) scope.add(fk);
  // A frontend still owned by an unchanged service keeps its owner.
  for (const [fk, r] of t.rows) {
    const l = m.table.rows.get(fk);
    const owner = l === undefined ? undefined : m.table.service[l];
    const other = t.service[r]!;
    if (owner !== undefined && owner !== other && !req.changed.has(owner)) {
      log.warn('frontend claimed twice; keeping the current owner', {
        frontend: describeFrontend(t.vip[r]!, t.port[r]!, t.proto[r]!),
        owner,
        other,
      });
      t.delete(fk);
      scope.delete(fk);
    }
  }
  return planSync(m, t, scope);
}
