/**
 * @module dataplanes/ebpf/plan
 * Diffs a desired FrontendTable against the mirror and encodes the kpr_services writes straight
 * into large zeroed buffers (one key buffer and one value buffer per step, no per-entry
 * objects), grouped into ordered steps so that a BPF lookup running concurrently never follows
 * a master entry's count to a missing overflow entry or an empty backend position:
 *   1. overflow entries of frontends that keep or grow their backend count,
 *   2. master entries (count, flags, owner, first 16 backends),
 *   3. overflow entries of frontends that shrink (after their master's smaller count),
 *   4. masters of removed frontends deleted,
 *   5. overflow entries of removed frontends, and those above a new count, deleted.
 * Planning updates the mirror as if the writes succeed; the caller rebuilds the mirror from the
 * kernel if applying (or planning) fails.
 */
import { DataplaneError } from '../../util/errors.ts';
import {
  SLOT_BACKENDS,
  SVC_KEY_SIZE,
  SVC_VALUE_SIZE,
  writeSvcBackends,
  writeSvcKey,
  writeSvcMaster,
} from './codecs.ts';
import { entriesFor } from './mirror.ts';
import type { LbMirror } from './mirror.ts';
import { describeFrontend } from './table.ts';
import type { FrontendTable } from './table.ts';

/** A run of same-kind writes to kpr_services, encoded back to back in zeroed buffers. */
export class Step {
  readonly kind: 'update' | 'delete';
  readonly keySize = SVC_KEY_SIZE;
  readonly valueSize: number;
  count = 0;
  keys: Buffer;
  values: Buffer;
  constructor(kind: 'update' | 'delete', capacity = 0) {
    this.kind = kind;
    this.valueSize = kind === 'update' ? SVC_VALUE_SIZE : 0;
    // Buffer.alloc of a large size is calloc: untouched capacity costs no time or memory. Most
    // steps of an incremental sync stay empty and allocate nothing.
    this.keys = capacity ? Buffer.alloc(this.keySize * capacity) : EMPTY;
    this.values = capacity ? Buffer.alloc(this.valueSize * capacity) : EMPTY;
  }
  /** Reserves one entry for `slot` of row r of t, and returns the offset of its (zeroed) value. */
  push(t: FrontendTable, r: number, slot: number): number {
    return this.pushKey(t.vip[r]!, t.port[r]!, t.proto[r]!, slot);
  }
  pushKey(vip: number, port: number, proto: number, slot: number): number {
    if ((this.count + 1) * this.keySize > this.keys.length) {
      this.keys = grow(this.keys, this.keySize);
      if (this.valueSize) this.values = grow(this.values, this.valueSize);
    }
    writeSvcKey(this.keys, this.count * this.keySize, vip, port, proto, slot);
    return this.count++ * this.valueSize;
  }
  key(i: number): Buffer {
    return this.keys.subarray(i * this.keySize, (i + 1) * this.keySize);
  }
  value(i: number): Buffer {
    return this.values.subarray(i * this.valueSize, (i + 1) * this.valueSize);
  }
}
const EMPTY = Buffer.alloc(0);
function grow(b: Buffer, entrySize: number): Buffer {
  const n = Buffer.alloc(Math.max(b.length * 2, entrySize * 4));
  b.copy(n);
  return n;
}

export interface Plan {
  /** Non-empty steps in the order they must be applied. */
  readonly steps: Step[];
  readonly written: number;
  readonly deleted: number;
}

const MAX_BACKENDS = 0xffff;

/**
 * Whether backend positions [from, from+16) of row r of d and row l of o differ; positions past
 * a row's count are 0, as in the kernel.
 */
function groupDiffers(
  d: FrontendTable,
  r: number,
  o: FrontendTable,
  l: number,
  from: number,
): boolean {
  const n = d.count[r]!;
  const on = o.count[l]!;
  const ds = d.start[r]!;
  const os = o.start[l]!;
  for (let i = from; i < from + SLOT_BACKENDS; i++) {
    const x = i < n ? d.pool[ds + i] : 0;
    const y = i < on ? o.pool[os + i] : 0;
    if (x !== y) return true;
  }
  return false;
}

/**
 * Plans the writes that make the frontends in `scope` match `desired` (a frontend in scope but
 * absent from `desired` is removed). `scope` undefined means every frontend, mirrored or desired;
 * the mirror then takes `desired` over, so the caller must not use it afterwards.
 */
export function planSync(m: LbMirror, desired: FrontendTable, scope?: Iterable<number>): Plan {
  const full = scope === undefined;
  const growUpd = new Step('update');
  const masterUpd = new Step('update', full ? desired.size : 0);
  const shrinkUpd = new Step('update');
  const masterDel = new Step('delete');
  const overflowDel = new Step('delete');

  const remove = (o: FrontendTable, l: number): void => {
    masterDel.push(o, l, 0);
    const entries = entriesFor(o.count[l]!);
    for (let s = 1; s < entries; s++) overflowDel.push(o, l, s);
  };

  /** Writes row r of d where row l of o (undefined: absent) differs from it. */
  const update = (d: FrontendTable, r: number, o: FrontendTable, l: number | undefined): void => {
    const n = d.count[r]!;
    if (n > MAX_BACKENDS) {
      throw new DataplaneError(
        'KPR_ERR_EBPF_TOO_MANY_BACKENDS',
        `${d.service[r]} has ${n} endpoints for ${describeFrontend(d.vip[r]!, d.port[r]!, d.proto[r]!)}; the eBPF dataplane supports at most ${MAX_BACKENDS} per frontend`,
      );
    }
    // Derived from the very model object the mirror row came from: equal by construction.
    if (l !== undefined && d.source[r] !== undefined && o.source[l] === d.source[r]) return;
    const on = l === undefined ? 0 : o.count[l]!;
    const newEntries = entriesFor(n);
    const oldEntries = l === undefined ? 0 : entriesFor(on);
    const overflow = n >= on ? growUpd : shrinkUpd;
    const ds = d.start[r]!;
    for (let s = 1; s < newEntries; s++) {
      const from = s * SLOT_BACKENDS;
      if (l !== undefined && s < oldEntries && !groupDiffers(d, r, o, l, from)) continue;
      const at = overflow.push(d, r, s);
      writeSvcBackends(overflow.values, at, d.pool, ds + from, Math.min(SLOT_BACKENDS, n - from));
    }
    if (
      l === undefined ||
      n !== on ||
      d.flags[r] !== o.flags[l] ||
      d.service[r] !== o.service[l] ||
      groupDiffers(d, r, o, l, 0)
    ) {
      const at = masterUpd.push(d, r, 0);
      writeSvcMaster(masterUpd.values, at, d.flags[r]!, n, d.pool, ds, d.service[r]!);
    }
    for (let s = newEntries; s < oldEntries; s++) overflowDel.push(d, r, s);
  };

  const mt = m.table;
  if (full) {
    let kept = 0;
    for (const [fk, r] of desired.rows) {
      const l = mt.rows.get(fk);
      if (l !== undefined) kept++;
      update(desired, r, mt, l);
    }
    if (kept < mt.size) for (const [fk, l] of mt.rows) if (!desired.rows.has(fk)) remove(mt, l);
    m.replaceAll(desired);
  } else {
    for (const fk of scope) {
      const r = desired.rows.get(fk);
      const l = mt.rows.get(fk);
      if (r !== undefined) {
        update(desired, r, mt, l);
        m.upsertFrom(desired, r);
      } else if (l !== undefined) {
        remove(mt, l);
        m.delete(fk);
      }
    }
  }
  // Leftovers of an interrupted run, found at adoption: delete once, whatever the scope.
  for (const o of m.orphans.splice(0)) overflowDel.pushKey(o.vip, o.port, o.proto, o.slot);

  const steps = [growUpd, masterUpd, shrinkUpd, masterDel, overflowDel].filter((s) => s.count > 0);
  let written = 0;
  let deleted = 0;
  for (const s of steps) {
    if (s.kind === 'update') written += s.count;
    else deleted += s.count;
  }
  return { steps, written, deleted };
}
