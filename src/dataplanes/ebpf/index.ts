/**
 * @module dataplanes/ebpf
 * kpr's eBPF dataplane: socket-level load balancing of ClusterIPs and externalIPs (IPv4,
 * TCP/UDP) by the cgroup hooks in bpf/sock_lb.c. This file wires the pieces: loader.ts
 * (load, pin, attach, adopt), mirror.ts + plan.ts (diff and ordered writes), maps.ts (kernel I/O).
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
import type { LibbpfBinding } from './libbpf.ts';
import { createKoffiLibbpf } from './libbpf.ts';
import { loadAndAttach, MAP_NAMES, openPinnedMaps } from './loader.ts';
import type { Loaded, MapKey } from './loader.ts';
import { applyPlan } from './maps.ts';
import type { LbMirror } from './mirror.ts';
import { mirrorFromLive } from './mirror.ts';
import { planSync } from './plan.ts';
import { countEntries, liveFrontends, readLive } from './readback.ts';

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

export interface EbpfDataplane extends Dataplane {
  /** Entry counts and capacities of the maps, for metrics. */
  stats(): { maps: MapStats[] };
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

  // koffi/libbpf load lazily so that cleanup() works on hosts without libbpf.
  const lib = (): LibbpfBinding => (binding ??= createKoffiLibbpf());

  const rebuildMirror = (l: Loaded): LbMirror => {
    const m = mirrorFromLive(readLive(lib(), l.fds));
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
        frontends: mirror.frontends.size,
        backends: mirror.backends.size,
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
      let plan;
      if (req.full) {
        const d = desiredFrontends(req.state);
        for (const c of d.conflicts)
          log.warn('frontend claimed twice; keeping the first service', { conflict: c });
        plan = planSync(m, d.frontends);
      } else {
        const d = desiredFrontends(req.state, req.changed);
        const scope = new Set(d.frontends.keys());
        for (const key of req.changed) for (const fk of m.byService.get(key) ?? []) scope.add(fk);
        // A frontend still owned by an unchanged service keeps its owner.
        for (const [fk, fe] of d.frontends) {
          const owner = m.frontends.get(fk);
          const ownerName = owner && m.serviceName(owner.serviceId);
          if (ownerName !== undefined && ownerName !== fe.service && !req.changed.has(ownerName)) {
            d.frontends.delete(fk);
            scope.delete(fk);
            log.warn('frontend claimed twice; keeping the first service', {
              frontend: fk,
              owner: ownerName,
              other: fe.service,
            });
          }
        }
        plan = planSync(m, d.frontends, scope);
      }
      try {
        applyPlan(lib(), loaded.fds, plan, req.full);
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
      return withMaps((fds) => liveFrontends(lib(), fds), []);
    },

    stats() {
      return withMaps(
        (fds) => ({
          maps: (Object.entries(MAP_NAMES) as [MapKey, string][]).map(([key, name]) => ({
            name,
            entries:
              key !== 'revnat' && mirror && !mirrorStale
                ? mirrorCount(mirror, key)
                : countEntries(lib(), fds[key]),
            capacity: lib().mapInfo(fds[key]).maxEntries,
          })),
        }),
        { maps: [] },
      );
    },

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

function mirrorCount(m: LbMirror, key: Exclude<MapKey, 'revnat'>): number {
  if (key === 'backends') return m.backends.size;
  if (key === 'names') return m.services.size;
  let n = 0;
  for (const fe of m.frontends.values()) n += 1 + fe.backendIds.length;
  return n;
}
