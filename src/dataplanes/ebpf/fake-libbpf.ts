/**
 * @module dataplanes/ebpf/fake-libbpf
 * An in-memory `LibbpfBinding` for unit tests: maps are JS maps, pins are files in a temporary
 * directory (so the loader's existence checks behave as on bpffs) backed by a shared
 * `FakeKernel`, which survives a dataplane "restart" the way pinned kernel objects do. A hook
 * runs after every single element write, so tests can assert invariants between writes.
 */
import { existsSync, writeFileSync } from 'node:fs';
import type { BatchResult, Handle, LibbpfBinding } from './libbpf.ts';
import { EbpfCallError } from './libbpf.ts';
import { MAP_NAMES, MAP_SHAPES } from './loader.ts';
import type { MapKey } from './loader.ts';

export interface FakeMapSpec {
  readonly name: string;
  readonly type: number;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
}

/** The maps of sock_lb.bpf.o, shaped as kpr_maps.h declares them (default capacities). */
export const KPR_MAP_SPECS: readonly FakeMapSpec[] = (
  Object.entries(MAP_NAMES) as [MapKey, string][]
).map(([key, name]) => ({
  name,
  ...MAP_SHAPES[key],
  maxEntries: key === 'services' ? 1 << 20 : 1 << 18,
}));
export const KPR_PROGRAMS = ['kpr_connect4', 'kpr_sendmsg4', 'kpr_recvmsg4', 'kpr_getpeername4'];

export interface FakeMap extends FakeMapSpec {
  readonly fd: number;
  readonly entries: Map<string, Buffer>;
}
interface FakeLink {
  prog: string;
  progGen: number;
  cgroupFd: number;
}

/** Kernel-side state shared by every FakeLibbpf instance of one test. */
export class FakeKernel {
  nextFd = 1000;
  readonly maps = new Map<number, FakeMap>();
  readonly pins = new Map<
    string,
    { kind: 'map'; fd: number } | { kind: 'prog'; name: string } | { kind: 'link'; link: FakeLink }
  >();
  readonly links = new Set<FakeLink>();
  /** Log of calls that change map content: `${call} ${mapName} ${n}`. */
  readonly log: string[] = [];
  /** Runs after every element written or deleted. */
  afterWrite: (k: FakeKernel) => void = () => {};
  loads = 0;
  /** A pin whose file was removed (rm in bpffs) is gone, and a link only it held is detached. */
  pin(path: string): ReturnType<FakeKernel['pins']['get']> {
    const p = this.pins.get(path);
    if (p && !existsSync(path)) {
      this.pins.delete(path);
      if (p.kind === 'link') this.links.delete(p.link);
      return undefined;
    }
    return p;
  }
  /** Forgets every pin whose file is gone, as the kernel does when a bpffs file is unlinked. */
  prune(): void {
    for (const path of [...this.pins.keys()]) this.pin(path);
  }
  mapByName(name: string): FakeMap {
    for (const m of this.maps.values()) if (m.name === name) return m;
    throw new Error(`no fake map ${name}`);
  }
}

interface FakeObject {
  maps: Map<string, { spec: FakeMapSpec; pin?: string; max: number; fd?: number }>;
  loaded: boolean;
  gen: number;
}

export class FakeLibbpf implements LibbpfBinding {
  readonly k: FakeKernel;
  private readonly objects = new Map<Handle, FakeObject>();
  private readonly handles = new Map<Handle, unknown>();
  private nextHandle = 1n;
  constructor(kernel = new FakeKernel()) {
    this.k = kernel;
  }
  private handle(v: unknown): Handle {
    const h = this.nextHandle++;
    this.handles.set(h, v);
    return h;
  }
  private map(fd: number): FakeMap {
    const m = this.k.maps.get(fd);
    if (!m) throw new EbpfCallError('fake map', 9);
    return m;
  }

  openObject(): Handle {
    const maps = new Map(
      KPR_MAP_SPECS.map((s) => [s.name, { spec: s, max: s.maxEntries }] as const),
    );
    const h = this.handle('obj');
    this.objects.set(h, { maps, loaded: false, gen: 0 });
    return h;
  }
  async loadObject(obj: Handle): Promise<void> {
    const o = this.objects.get(obj)!;
    o.gen = ++this.k.loads;
    for (const [name, m] of o.maps) {
      const pinned = m.pin ? this.k.pin(m.pin) : undefined;
      if (pinned?.kind === 'map') {
        const live = this.map(pinned.fd);
        if (live.maxEntries !== m.max)
          throw new EbpfCallError('bpf_object__load', 22, `pinned ${name} incompatible`);
        m.fd = pinned.fd;
        continue;
      }
      const fd = this.k.nextFd++;
      this.k.maps.set(fd, { ...m.spec, maxEntries: m.max, fd, entries: new Map() });
      m.fd = fd;
      if (m.pin) this.pinFile(m.pin, { kind: 'map', fd });
    }
    o.loaded = true;
  }
  closeObject(obj: Handle): void {
    this.objects.delete(obj);
  }
  findMap(obj: Handle, name: string): Handle {
    const m = this.objects.get(obj)?.maps.get(name);
    if (!m) throw new EbpfCallError('bpf_object__find_map_by_name', 2, name);
    return this.handle(m);
  }
  mapFd(map: Handle): number {
    return (this.handles.get(map) as { fd?: number }).fd ?? -1;
  }
  mapSetMaxEntries(map: Handle, n: number): void {
    (this.handles.get(map) as { max: number }).max = n;
  }
  mapSetPinPath(map: Handle, path: string): void {
    (this.handles.get(map) as { pin?: string }).pin = path;
  }
  findProgram(obj: Handle, name: string): Handle {
    if (!KPR_PROGRAMS.includes(name))
      throw new EbpfCallError('bpf_object__find_program_by_name', 2, name);
    return this.handle({ name, gen: this.objects.get(obj)!.gen });
  }
  programFd(): number {
    return this.k.nextFd++;
  }
  attachCgroup(prog: Handle, cgroupFd: number): Handle {
    const p = this.handles.get(prog) as { name: string; gen: number };
    const link: FakeLink = { prog: p.name, progGen: p.gen, cgroupFd };
    this.k.links.add(link);
    return this.handle(link);
  }
  linkPin(link: Handle, path: string): void {
    this.pinFile(path, { kind: 'link', link: this.handles.get(link) as FakeLink });
  }
  linkOpen(path: string): Handle {
    const p = this.k.pin(path);
    if (p?.kind !== 'link') throw new EbpfCallError('bpf_link__open', 2, path);
    return this.handle(p.link);
  }
  linkUpdateProgram(link: Handle, prog: Handle): void {
    const l = this.handles.get(link) as FakeLink;
    const p = this.handles.get(prog) as { name: string; gen: number };
    l.prog = p.name;
    l.progGen = p.gen;
  }
  linkDestroy(link: Handle): void {
    this.handles.delete(link);
  }
  objPin(_fd: number, path: string): void {
    this.pinFile(path, { kind: 'prog', name: path });
  }
  objGet(path: string): number {
    const p = this.k.pin(path);
    if (p?.kind !== 'map') throw new EbpfCallError('bpf_obj_get', 2, path);
    return p.fd;
  }
  mapInfo(fd: number): {
    type: number;
    keySize: number;
    valueSize: number;
    maxEntries: number;
    flags: number;
  } {
    const m = this.map(fd);
    return {
      type: m.type,
      keySize: m.keySize,
      valueSize: m.valueSize,
      maxEntries: m.maxEntries,
      flags: 0,
    };
  }
  mapUpdate(fd: number, key: Buffer, value: Buffer): void {
    const m = this.map(fd);
    const k = key.toString('hex');
    if (!m.entries.has(k) && m.entries.size >= m.maxEntries)
      throw new EbpfCallError('bpf_map_update_elem', 7);
    m.entries.set(k, Buffer.from(value));
    this.k.log.push(`update ${m.name} 1`);
    this.k.afterWrite(this.k);
  }
  mapLookup(fd: number, key: Buffer, value: Buffer): boolean {
    const v = this.map(fd).entries.get(key.toString('hex'));
    if (!v) return false;
    v.copy(value);
    return true;
  }
  mapDelete(fd: number, key: Buffer): boolean {
    const m = this.map(fd);
    const had = m.entries.delete(key.toString('hex'));
    this.k.log.push(`delete ${m.name} 1`);
    this.k.afterWrite(this.k);
    return had;
  }
  mapNextKey(fd: number, key: Buffer | null, next: Buffer): boolean {
    const keys = [...this.map(fd).entries.keys()];
    const i = key ? keys.indexOf(key.toString('hex')) + 1 : 0;
    if (i >= keys.length) return false;
    Buffer.from(keys[i]!, 'hex').copy(next);
    return true;
  }
  mapUpdateBatch(fd: number, keys: Buffer, values: Buffer, count: number): void {
    const m = this.map(fd);
    this.k.log.push(`update_batch ${m.name} ${count}`);
    for (let i = 0; i < count; i++) {
      const k = keys.subarray(i * m.keySize, (i + 1) * m.keySize).toString('hex');
      if (!m.entries.has(k) && m.entries.size >= m.maxEntries)
        throw new EbpfCallError('bpf_map_update_batch', 7);
      m.entries.set(k, Buffer.from(values.subarray(i * m.valueSize, (i + 1) * m.valueSize)));
      this.k.afterWrite(this.k);
    }
  }
  mapDeleteBatch(fd: number, keys: Buffer, count: number): void {
    const m = this.map(fd);
    this.k.log.push(`delete_batch ${m.name} ${count}`);
    for (let i = 0; i < count; i++) {
      if (!m.entries.delete(keys.subarray(i * m.keySize, (i + 1) * m.keySize).toString('hex')))
        throw new EbpfCallError('bpf_map_delete_batch', 2);
      this.k.afterWrite(this.k);
    }
  }
  mapLookupBatch(
    fd: number,
    inBatch: Buffer | null,
    outBatch: Buffer,
    keys: Buffer,
    values: Buffer,
    max: number,
  ): BatchResult {
    const m = this.map(fd);
    const all = [...m.entries];
    const start = inBatch ? inBatch.readUInt32LE(0) : 0;
    const slice = all.slice(start, start + max);
    slice.forEach(([k, v], i) => {
      Buffer.from(k, 'hex').copy(keys, i * m.keySize);
      v.copy(values, i * m.valueSize);
    });
    outBatch.writeUInt32LE(start + slice.length, 0);
    return { count: slice.length, done: start + slice.length >= all.length };
  }
  closeFd(): void {}

  private pinFile(path: string, what: NonNullable<ReturnType<FakeKernel['pins']['get']>>): void {
    if (this.k.pin(path)) throw new EbpfCallError('pin', 17, path);
    writeFileSync(path, '');
    this.k.pins.set(path, what);
  }
}
