/**
 * @module dataplanes/ebpf/mirror
 * The agent's in-memory copy of the load-balancer maps: frontends (master + slots), backends
 * with reference counts and id allocation, and service names. It is rebuilt from the live maps
 * at start (restart adoption), so ids allocated by a previous agent stay valid and the first sync
 * writes only differences. It is never the source for `list()`, which reads the kernel.
 */
import type { BackendValue, SvcKey, SvcValue } from './codecs.ts';
import { backendKey, frontendKey } from './desired.ts';

export interface MirrorFrontend {
  readonly vip: string;
  readonly port: number;
  readonly proto: number;
  flags: number;
  serviceId: number;
  /** backendIds[i] is slot i+1; 0 marks a slot missing from the map. */
  backendIds: number[];
}

/** Allocates small integer ids, reusing released ones (ids 0 is never handed out). */
export class IdAllocator {
  private next = 1;
  private readonly free: number[] = [];
  /** Marks an id as used by adopted state. */
  reserve(id: number): void {
    if (id >= this.next) this.next = id + 1;
  }
  /** After adoption: ids below `next` that nobody reserved become reusable. */
  collectGaps(used: ReadonlySet<number>): void {
    for (let i = 1; i < this.next; i++) if (!used.has(i)) this.free.push(i);
  }
  alloc(): number {
    const id = this.free.pop() ?? this.next++;
    if (id > 0xffffffff) throw new Error('id space exhausted');
    return id;
  }
  release(id: number): void {
    this.free.push(id);
  }
}

/**
 * Backends by id in flat typed arrays (ids are dense), plus one key → id map: a full sync
 * handles a million backends, and per-backend objects or maps would dominate its time.
 */
export class BackendTable {
  private keys = new Float64Array(1024).fill(-1);
  private refs = new Int32Array(1024);
  readonly idByKey = new Map<number, number>();
  get size(): number {
    return this.idByKey.size;
  }
  has(id: number): boolean {
    return id < this.keys.length && this.keys[id]! >= 0;
  }
  /** The backendKey of an id, or undefined. */
  key(id: number): number | undefined {
    return this.has(id) ? this.keys[id] : undefined;
  }
  add(id: number, key: number): void {
    while (id >= this.keys.length) {
      const k = new Float64Array(this.keys.length * 2).fill(-1);
      k.set(this.keys);
      const r = new Int32Array(this.keys.length * 2);
      r.set(this.refs);
      this.keys = k;
      this.refs = r;
    }
    this.keys[id] = key;
    this.refs[id] = 0;
    this.idByKey.set(key, id);
  }
  delete(id: number): void {
    if (!this.has(id)) return;
    this.idByKey.delete(this.keys[id]!);
    this.keys[id] = -1;
  }
  /** Adds `d` to the refcount of a known id and returns the new count (undefined if unknown). */
  ref(id: number, d: number): number | undefined {
    if (!this.has(id)) return undefined;
    const n = this.refs[id]! + d;
    this.refs[id] = n;
    return n;
  }
  ids(): IterableIterator<number> {
    return this.idByKey.values();
  }
}

export class LbMirror {
  readonly frontends = new Map<string, MirrorFrontend>();
  /** Frontend keys per service name. */
  readonly byService = new Map<string, Set<string>>();
  readonly backends = new BackendTable();
  readonly services = new Map<number, string>();
  readonly serviceIdByName = new Map<string, number>();
  readonly serviceRefs = new Map<number, number>();
  /** Ids whose refcount dropped to 0: deleted at the end of the next plan unless reused. */
  readonly unusedBackends = new Set<number>();
  readonly unusedServices = new Set<number>();
  /** Slot entries found without a master or above the master's count (left by a crash). */
  readonly orphanSlots: SvcKey[] = [];
  /** Backend entries duplicating another id's address (left by a crash): deleted once. */
  readonly orphanBackends: number[] = [];
  readonly backendIds = new IdAllocator();
  readonly serviceIds = new IdAllocator();

  serviceName(id: number): string | undefined {
    return this.services.get(id);
  }

  refBackend(id: number): void {
    if (this.backends.ref(id, 1) === 1) this.unusedBackends.delete(id);
  }
  unrefBackend(id: number): void {
    // undefined: a slot that pointed at a missing backend
    if (this.backends.ref(id, -1) === 0) this.unusedBackends.add(id);
  }
  refService(id: number): void {
    this.serviceRefs.set(id, (this.serviceRefs.get(id) ?? 0) + 1);
    this.unusedServices.delete(id);
  }
  unrefService(id: number): void {
    const n = this.serviceRefs.get(id);
    if (n === undefined) return;
    this.serviceRefs.set(id, n - 1);
    if (n - 1 === 0) this.unusedServices.add(id);
  }

  setFrontend(fk: string, fe: MirrorFrontend): void {
    this.frontends.set(fk, fe);
    const name = this.services.get(fe.serviceId) ?? '';
    let set = this.byService.get(name);
    if (!set) this.byService.set(name, (set = new Set()));
    set.add(fk);
  }
  deleteFrontend(fk: string): void {
    const fe = this.frontends.get(fk);
    if (!fe) return;
    this.frontends.delete(fk);
    const name = this.services.get(fe.serviceId) ?? '';
    this.byService.get(name)?.delete(fk);
  }
}

export interface LiveEntries {
  readonly services: Iterable<[SvcKey, SvcValue]>;
  readonly backends: Iterable<[number, BackendValue]>;
  readonly names: Iterable<[number, string]>;
}

/** Rebuilds the mirror from entries read out of the live maps. */
export function mirrorFromLive(live: LiveEntries): LbMirror {
  const m = new LbMirror();
  const ids = new Set<number>();
  for (const [id, be] of live.backends) {
    const key = backendKey(be.ip, be.port, be.proto);
    // Two ids for one address (never written by kpr): keep the first, the other is swept.
    if (m.backends.idByKey.has(key)) ids.add(id);
    else m.backends.add(id, key);
    m.backendIds.reserve(id);
  }
  for (const [id, name] of live.names) {
    m.services.set(id, name);
    m.serviceIdByName.set(name, id);
    m.serviceRefs.set(id, 0);
    m.serviceIds.reserve(id);
  }
  const slots: [SvcKey, SvcValue][] = [];
  for (const [k, v] of live.services) {
    if (k.slot !== 0) {
      slots.push([k, v]);
      continue;
    }
    m.setFrontend(frontendKey(k.vip, k.port, k.proto), {
      vip: k.vip,
      port: k.port,
      proto: k.proto,
      flags: v.flags,
      serviceId: v.serviceId,
      backendIds: new Array<number>(v.count).fill(0),
    });
    if (m.services.has(v.serviceId)) m.refService(v.serviceId);
  }
  for (const [k, v] of slots) {
    const fe = m.frontends.get(frontendKey(k.vip, k.port, k.proto));
    if (!fe || k.slot > fe.backendIds.length) {
      m.orphanSlots.push(k);
      continue;
    }
    fe.backendIds[k.slot - 1] = v.backendId;
    if (m.backends.has(v.backendId)) m.refBackend(v.backendId);
  }
  for (const id of m.backends.ids()) if (m.backends.ref(id, 0) === 0) m.unusedBackends.add(id);
  for (const id of ids) m.orphanBackends.push(id);
  for (const [id, n] of m.serviceRefs) if (n === 0) m.unusedServices.add(id);
  m.backendIds.collectGaps(new Set([...m.backends.ids(), ...ids]));
  m.serviceIds.collectGaps(new Set(m.services.keys()));
  return m;
}
