/**
 * @module dataplanes/ebpf/plan
 * Diffs desired frontends against the mirror and produces the map writes, grouped into ordered
 * steps so that a BPF lookup running concurrently never follows a master entry to a missing
 * slot or a slot to a missing backend:
 *   1. new backends, 2. new service names, 3. changed slots 1..n, 4. masters (new count),
 *   5. masters of removed frontends deleted, 6. slots above the new count deleted,
 *   7. unreferenced backends deleted, 8. unreferenced names deleted.
 * A growing frontend gets its slots before its count; a shrinking one gets its count before
 * losing slots. Planning updates the mirror as if the writes succeed; the caller rebuilds the
 * mirror from the kernel if applying fails.
 */
import {
  BACKEND_SIZE,
  encodeBackend,
  encodeSvcKey,
  encodeSvcName,
  encodeSvcValue,
  encodeU32,
  SVC_KEY_SIZE,
  SVC_NAME_LEN,
  SVC_VALUE_SIZE,
  U32_SIZE,
} from './codecs.ts';
import type { DesiredFrontend } from './desired.ts';
import { parseBackendKey } from './desired.ts';
import type { LbMirror, MirrorFrontend } from './mirror.ts';
import { DataplaneError } from '../../util/errors.ts';

export type LbMapName = 'services' | 'backends' | 'names';

/** A run of same-kind writes to one map, encoded back to back. */
export class Step {
  readonly map: LbMapName;
  readonly kind: 'update' | 'delete';
  readonly keySize: number;
  readonly valueSize: number;
  count = 0;
  keys: Buffer;
  values: Buffer;
  constructor(map: LbMapName, kind: 'update' | 'delete', keySize: number, valueSize: number) {
    this.map = map;
    this.kind = kind;
    this.keySize = keySize;
    this.valueSize = kind === 'update' ? valueSize : 0;
    this.keys = Buffer.alloc(keySize * 16);
    this.values = Buffer.alloc(this.valueSize * 16);
  }
  /** Reserves room for one more entry and returns its key and value offsets. */
  push(): { k: number; v: number } {
    if ((this.count + 1) * this.keySize > this.keys.length) {
      this.keys = grow(this.keys);
      if (this.valueSize) this.values = grow(this.values);
    }
    const at = { k: this.count * this.keySize, v: this.count * this.valueSize };
    this.count++;
    return at;
  }
  key(i: number): Buffer {
    return this.keys.subarray(i * this.keySize, (i + 1) * this.keySize);
  }
  value(i: number): Buffer {
    return this.values.subarray(i * this.valueSize, (i + 1) * this.valueSize);
  }
}
function grow(b: Buffer): Buffer {
  const n = Buffer.alloc(b.length * 2);
  b.copy(n);
  return n;
}

export interface Plan {
  /** Non-empty steps in the order they must be applied. */
  readonly steps: Step[];
  readonly written: number;
  readonly deleted: number;
}

const MAX_SLOTS = 0xffff;

/**
 * Plans the writes that make the frontends in `scope` match `desired` (a frontend in scope but
 * absent from `desired` is removed). `scope` undefined means every frontend, mirrored or desired.
 */
export function planSync(
  m: LbMirror,
  desired: ReadonlyMap<string, DesiredFrontend>,
  scope?: Iterable<string>,
): Plan {
  const beUpd = new Step('backends', 'update', U32_SIZE, BACKEND_SIZE);
  const nameUpd = new Step('names', 'update', U32_SIZE, SVC_NAME_LEN);
  const slotUpd = new Step('services', 'update', SVC_KEY_SIZE, SVC_VALUE_SIZE);
  const masterUpd = new Step('services', 'update', SVC_KEY_SIZE, SVC_VALUE_SIZE);
  const masterDel = new Step('services', 'delete', SVC_KEY_SIZE, 0);
  const slotDel = new Step('services', 'delete', SVC_KEY_SIZE, 0);
  const beDel = new Step('backends', 'delete', U32_SIZE, 0);
  const nameDel = new Step('names', 'delete', U32_SIZE, 0);

  const keys = scope ? new Set(scope) : new Set([...m.frontends.keys(), ...desired.keys()]);

  const serviceId = (name: string): number => {
    let id = m.serviceIdByName.get(name);
    if (id === undefined) {
      id = m.serviceIds.alloc();
      m.services.set(id, name);
      m.serviceIdByName.set(name, id);
      m.serviceRefs.set(id, 0);
      const at = nameUpd.push();
      encodeU32(id, nameUpd.keys, at.k);
      encodeSvcName(name, nameUpd.values, at.v);
    }
    return id;
  };
  const backendId = (addr: number): number => {
    let id = m.backends.idByKey.get(addr);
    if (id === undefined) {
      const be = parseBackendKey(addr);
      id = m.backendIds.alloc();
      m.backends.add(id, addr);
      const at = beUpd.push();
      encodeU32(id, beUpd.keys, at.k);
      encodeBackend(be, beUpd.values, at.v);
    }
    return id;
  };
  const slotKey = (step: Step, fe: MirrorFrontend | DesiredFrontend, slot: number): number => {
    const at = step.push();
    encodeSvcKey({ vip: fe.vip, port: fe.port, proto: fe.proto, slot }, step.keys, at.k);
    return at.v;
  };

  for (const fk of keys) {
    const d = desired.get(fk);
    const l = m.frontends.get(fk);
    if (!d) {
      if (!l) continue;
      slotKey(masterDel, l, 0);
      for (let s = 1; s <= l.backendIds.length; s++) slotKey(slotDel, l, s);
      for (const id of l.backendIds) m.unrefBackend(id);
      m.unrefService(l.serviceId);
      m.deleteFrontend(fk);
      continue;
    }
    if (d.backends.length > MAX_SLOTS) {
      throw new DataplaneError(
        'KPR_ERR_EBPF_TOO_MANY_BACKENDS',
        `${d.service} has ${d.backends.length} endpoints for ${fk}; the eBPF dataplane supports at most ${MAX_SLOTS} per frontend`,
      );
    }
    const sid = serviceId(d.service);
    const ids = d.backends.map(backendId);
    const old = l?.backendIds ?? [];
    for (let i = 0; i < ids.length; i++) {
      if (old[i] === ids[i]) continue;
      const v = slotKey(slotUpd, d, i + 1);
      encodeSvcValue({ backendId: ids[i]!, count: 0, flags: 0, serviceId: 0 }, slotUpd.values, v);
    }
    if (!l || old.length !== ids.length || l.flags !== d.flags || l.serviceId !== sid) {
      const v = slotKey(masterUpd, d, 0);
      encodeSvcValue(
        { backendId: 0, count: ids.length, flags: d.flags, serviceId: sid },
        masterUpd.values,
        v,
      );
    }
    for (let s = ids.length + 1; s <= old.length; s++) slotKey(slotDel, d, s);
    for (const id of ids) m.refBackend(id);
    for (const id of old) m.unrefBackend(id);
    m.refService(sid);
    if (l) {
      m.unrefService(l.serviceId);
      m.deleteFrontend(fk);
    }
    m.setFrontend(fk, {
      vip: d.vip,
      port: d.port,
      proto: d.proto,
      flags: d.flags,
      serviceId: sid,
      backendIds: ids,
    });
  }

  // Leftovers of an interrupted run, found at adoption: delete once, whatever the scope.
  for (const k of m.orphanSlots.splice(0)) {
    const at = slotDel.push();
    encodeSvcKey(k, slotDel.keys, at.k);
  }
  for (const id of m.unusedBackends) {
    m.backends.delete(id);
    m.backendIds.release(id);
    encodeU32(id, beDel.keys, beDel.push().k);
  }
  for (const id of m.orphanBackends.splice(0)) {
    m.backendIds.release(id);
    encodeU32(id, beDel.keys, beDel.push().k);
  }
  m.unusedBackends.clear();
  for (const id of m.unusedServices) {
    const name = m.services.get(id);
    if (name !== undefined) {
      m.serviceIdByName.delete(name);
      m.byService.delete(name);
    }
    m.services.delete(id);
    m.serviceRefs.delete(id);
    m.serviceIds.release(id);
    encodeU32(id, nameDel.keys, nameDel.push().k);
  }
  m.unusedServices.clear();

  const steps = [beUpd, nameUpd, slotUpd, masterUpd, masterDel, slotDel, beDel, nameDel].filter(
    (s) => s.count > 0,
  );
  let written = 0;
  let deleted = 0;
  for (const s of steps) {
    if (s.kind === 'update') written += s.count;
    else deleted += s.count;
  }
  return { steps, written, deleted };
}
