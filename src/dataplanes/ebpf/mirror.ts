/**
 * @module dataplanes/ebpf/mirror
 * The agent's in-memory copy of kpr_services: a FrontendTable (table.ts) holding every
 * programmed frontend with its flags, owner and backends. It is rebuilt from the live map at
 * start (restart adoption), so the first sync writes only differences. It is never the source
 * for `list()`, which reads the kernel. There are no ids to allocate: backends live inline in
 * the service entries.
 */
import type { SvcKey, SvcValue } from './codecs.ts';
import { parseIPv4, SLOT_BACKENDS } from './codecs.ts';
import { FrontendTable, frontendKey } from './table.ts';

/** Where an orphaned overflow entry lives. */
export interface EntryRef {
  readonly vip: number;
  readonly port: number;
  readonly proto: number;
  readonly slot: number;
}

/** Number of kpr_services entries a frontend with `n` backends occupies. */
export function entriesFor(n: number): number {
  return n <= SLOT_BACKENDS ? 1 : Math.ceil(n / SLOT_BACKENDS);
}

export class LbMirror {
  #table = new FrontendTable();
  /** Overflow entries without a master or beyond its count (left by a crash): deleted once. */
  readonly orphans: EntryRef[] = [];
  /**
   * Frontend keys per owner, built on first use (incremental syncs only), then maintained.
   * Arrays, not Sets: nearly every service port owns one or two frontends, and this index is
   * rebuilt for 100k owners after every full sync.
   */
  private owners: Map<string, number[]> | undefined;

  get table(): FrontendTable {
    return this.#table;
  }
  /**
   * After a full sync: the desired table is the mirror (taken over, not copied; the owner
   * index is rebuilt on demand, cheaper than maintaining it through 100k changes).
   */
  replaceAll(table: FrontendTable): void {
    this.#table = table;
    this.owners = undefined;
  }
  /** Copies row `r` of `from` (a desired table) into the mirror. */
  upsertFrom(from: FrontendTable, r: number): void {
    const t = this.#table;
    const fk = from.key(r);
    const old = t.rows.get(fk);
    const oldOwner = old === undefined ? undefined : t.service[old];
    const start = t.copyBackends(from.pool, from.start[r]!, from.count[r]!);
    const service = from.service[r]!;
    t.set(
      fk,
      from.vip[r]!,
      from.port[r]!,
      from.proto[r]!,
      from.flags[r]!,
      service,
      from.source[r],
      start,
      from.count[r]!,
    );
    if (!this.owners || oldOwner === service) return;
    if (oldOwner !== undefined) this.unindex(oldOwner, fk);
    this.index(service, fk);
  }
  delete(fk: number): void {
    const r = this.#table.rows.get(fk);
    if (r === undefined) return;
    const owner = this.#table.service[r]!;
    this.#table.delete(fk);
    if (this.owners) this.unindex(owner, fk);
  }
  /** Frontend keys owned by a service port. */
  ownedBy(service: string): readonly number[] {
    if (!this.owners) {
      this.owners = new Map();
      for (const [fk, r] of this.#table.rows) this.index(this.#table.service[r]!, fk);
    }
    return this.owners.get(service) ?? [];
  }
  /** kpr_services entries the mirror accounts for. */
  entryCount(): number {
    let n = 0;
    for (const r of this.#table.rows.values()) n += entriesFor(this.#table.count[r]!);
    return n;
  }
  private index(service: string, fk: number): void {
    const list = this.owners!.get(service);
    if (list) list.push(fk);
    else this.owners!.set(service, [fk]);
  }
  private unindex(service: string, fk: number): void {
    const list = this.owners!.get(service);
    const i = list ? list.indexOf(fk) : -1;
    if (i < 0) return;
    if (list!.length === 1) this.owners!.delete(service);
    else list!.splice(i, 1);
  }
}

/**
 * Rebuilds the mirror from the entries of the live kpr_services map. A backend position the
 * kernel lacks (an overflow entry lost in a crash) is recorded as -1, which differs from every
 * desired backend, so the next sync rewrites it.
 */
export function mirrorFromLive(entries: Iterable<[SvcKey, SvcValue]>): LbMirror {
  const m = new LbMirror();
  const t = m.table;
  const overflow: [SvcKey, SvcValue][] = [];
  for (const [k, v] of entries) {
    if (k.slot !== 0) {
      overflow.push([k, v]);
      continue;
    }
    const vip = parseIPv4(k.vip);
    const start = t.reserveBackends(v.count);
    t.pool.fill(-1, start, start + v.count);
    for (let i = 0; i < Math.min(v.count, SLOT_BACKENDS); i++)
      t.pool[start + i] = v.backends[i] || -1;
    t.set(
      frontendKey(vip, k.port, k.proto),
      vip,
      k.port,
      k.proto,
      v.flags,
      v.name,
      undefined,
      start,
      v.count,
    );
  }
  for (const [k, v] of overflow) {
    const vip = parseIPv4(k.vip);
    const r = t.rows.get(frontendKey(vip, k.port, k.proto));
    const base = k.slot * SLOT_BACKENDS;
    if (r === undefined || base >= t.count[r]!) {
      m.orphans.push({ vip, port: k.port, proto: k.proto, slot: k.slot });
      continue;
    }
    const start = t.start[r]!;
    for (let i = 0; i < SLOT_BACKENDS && base + i < t.count[r]!; i++)
      t.pool[start + base + i] = v.backends[i] || -1;
  }
  return m;
}
