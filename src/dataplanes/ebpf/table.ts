/**
 * @module dataplanes/ebpf/table
 * FrontendTable: a set of frontends stored column-wise in typed arrays, with every frontend's
 * backends (packed, see packBackend) in one shared Float64Array pool. Both the desired state of
 * a sync and the mirror of the kernel map are tables. A full sync handles 100k frontends and a
 * million backends: as objects that would be ~30 MB of short-lived heap per sync, and on an
 * agent whose model already holds hundreds of MB, the garbage collector then costs more than the
 * sync itself. Here a sync allocates a handful of large off-heap arrays.
 *
 * Rows are addressed by index; `rows` maps a frontend key (frontendKey) to its row. A row's
 * backend range is never overwritten in place (rows may share one: the frontends of one service
 * port do), so replacing backends appends a new range and counts the old one as garbage, which
 * is compacted away when it outgrows the live part.
 */
import type { ServicePortState } from '../../model/types.ts';
import { IPPROTO_UDP } from './codecs.ts';

/** A frontend as one number: address, port and a UDP bit (< 2^49, exact in a double). */
export function frontendKey(vip: number, port: number, proto: number): number {
  return (vip * 65536 + port) * 2 + (proto === IPPROTO_UDP ? 1 : 0);
}

export function describeFrontend(vip: number, port: number, proto: number): string {
  return `${vip >>> 24}.${(vip >>> 16) & 255}.${(vip >>> 8) & 255}.${vip & 255}:${port}/${proto === IPPROTO_UDP ? 'UDP' : 'TCP'}`;
}

export class FrontendTable {
  /** Rows in use or freed; row indexes below this are valid array positions. */
  length = 0;
  vip: Uint32Array;
  port: Uint16Array;
  proto: Uint8Array;
  flags: Uint16Array;
  /** Backends of row r: pool[start[r] .. start[r] + count[r]). */
  start: Uint32Array;
  count: Uint32Array;
  /** Owning service port key per row ('' for a freed row). */
  readonly service: string[] = [];
  /** The model object a row was derived from (undefined when adopted from the kernel). */
  readonly source: (ServicePortState | undefined)[] = [];
  pool: Float64Array;
  poolUsed = 0;
  private garbage = 0;
  readonly rows = new Map<number, number>();
  private readonly free: number[] = [];

  constructor(rows = 64, backends = rows * 4) {
    this.vip = new Uint32Array(rows);
    this.port = new Uint16Array(rows);
    this.proto = new Uint8Array(rows);
    this.flags = new Uint16Array(rows);
    this.start = new Uint32Array(rows);
    this.count = new Uint32Array(rows);
    this.pool = new Float64Array(Math.max(16, backends));
  }

  get size(): number {
    return this.rows.size;
  }

  key(r: number): number {
    return frontendKey(this.vip[r]!, this.port[r]!, this.proto[r]!);
  }

  /** Reserves `n` backend positions at the end of the pool and returns where they start. */
  reserveBackends(n: number): number {
    if (this.poolUsed + n > this.pool.length) {
      if (this.garbage > this.poolUsed / 2) this.compact();
      if (this.poolUsed + n > this.pool.length) {
        const p = new Float64Array(Math.max(this.pool.length * 2, this.poolUsed + n));
        p.set(this.pool.subarray(0, this.poolUsed));
        this.pool = p;
      }
    }
    const at = this.poolUsed;
    this.poolUsed += n;
    return at;
  }

  /** Copies backends from another pool range into this pool; returns the new start. */
  copyBackends(from: Float64Array, start: number, n: number): number {
    const at = this.reserveBackends(n);
    this.pool.set(from.subarray(start, start + n), at);
    return at;
  }

  /**
   * Sets (adds or replaces) the row of frontend `fk`; its backends are the already reserved
   * range pool[start, start+count). Returns the row.
   */
  set(
    fk: number,
    vip: number,
    port: number,
    proto: number,
    flags: number,
    service: string,
    source: ServicePortState | undefined,
    start: number,
    count: number,
  ): number {
    let r = this.rows.get(fk);
    if (r === undefined) {
      r = this.free.pop() ?? this.length++;
      if (r >= this.vip.length) this.growRows();
      this.rows.set(fk, r);
    } else {
      this.garbage += this.count[r]!;
    }
    this.vip[r] = vip;
    this.port[r] = port;
    this.proto[r] = proto;
    this.flags[r] = flags;
    this.start[r] = start;
    this.count[r] = count;
    this.service[r] = service;
    this.source[r] = source;
    return r;
  }

  delete(fk: number): void {
    const r = this.rows.get(fk);
    if (r === undefined) return;
    this.rows.delete(fk);
    this.garbage += this.count[r]!;
    this.count[r] = 0;
    this.service[r] = '';
    this.source[r] = undefined;
    this.free.push(r);
  }

  private growRows(): void {
    const n = this.vip.length * 2;
    const grow = <T extends Uint32Array | Uint16Array | Uint8Array>(
      a: T,
      make: (n: number) => T,
    ) => {
      const b = make(n);
      b.set(a);
      return b;
    };
    this.vip = grow(this.vip, (k) => new Uint32Array(k));
    this.port = grow(this.port, (k) => new Uint16Array(k));
    this.proto = grow(this.proto, (k) => new Uint8Array(k));
    this.flags = grow(this.flags, (k) => new Uint16Array(k));
    this.start = grow(this.start, (k) => new Uint32Array(k));
    this.count = grow(this.count, (k) => new Uint32Array(k));
  }

  /** Rewrites the pool with only live ranges (shared ranges are copied once per row). */
  private compact(): void {
    const p = new Float64Array(Math.max(16, (this.poolUsed - this.garbage) * 2));
    let at = 0;
    for (const r of this.rows.values()) {
      const n = this.count[r]!;
      p.set(this.pool.subarray(this.start[r]!, this.start[r]! + n), at);
      this.start[r] = at;
      at += n;
    }
    this.pool = p;
    this.poolUsed = at;
    this.garbage = 0;
  }
}
