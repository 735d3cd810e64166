/**
 * @module dataplanes/ebpf/readback
 * Reads kpr_services back from the kernel: raw entries for mirror adoption, the frontend →
 * backends view for list(), and entry counts for stats().
 */
import {
  decodeSvcKey,
  decodeSvcValue,
  parseIPv4,
  protoName,
  SLOT_BACKENDS,
  SVC_F_EXTERNAL_IP,
  SVC_KEY_SIZE,
  SVC_VALUE_SIZE,
  unpackBackend,
} from './codecs.ts';
import type { SvcKey, SvcValue } from './codecs.ts';
import type { LiveFrontend } from '../types.ts';
import type { LibbpfBinding } from './libbpf.ts';
import { dumpMap } from './maps.ts';
import { frontendKey } from './table.ts';

/** Every entry of kpr_services, decoded. */
export function readServices(b: LibbpfBinding, servicesFd: number): [SvcKey, SvcValue][] {
  const out: [SvcKey, SvcValue][] = [];
  dumpMap(b, servicesFd, SVC_KEY_SIZE, SVC_VALUE_SIZE, (k, v, i) =>
    out.push([decodeSvcKey(k, i * SVC_KEY_SIZE), decodeSvcValue(v, i * SVC_VALUE_SIZE)]),
  );
  return out;
}

/** Frontends with their backends in position order, sorted by address; from the kernel only. */
export function liveFrontends(b: LibbpfBinding, servicesFd: number): LiveFrontend[] {
  const masters: [SvcKey, SvcValue][] = [];
  const overflow = new Map<string, readonly number[]>();
  const id = (k: SvcKey, slot: number): string =>
    `${frontendKey(parseIPv4(k.vip), k.port, k.proto)}#${slot}`;
  for (const [k, v] of readServices(b, servicesFd)) {
    if (k.slot === 0) masters.push([k, v]);
    else overflow.set(id(k, k.slot), v.backends);
  }
  const out: LiveFrontend[] = [];
  for (const [k, v] of masters) {
    const bes: { ip: string; port: number }[] = [];
    for (let i = 0; i < v.count; i++) {
      const slot = Math.floor(i / SLOT_BACKENDS);
      const entry = slot === 0 ? v.backends : overflow.get(id(k, slot));
      const packed = entry?.[i % SLOT_BACKENDS];
      if (packed) bes.push(unpackBackend(packed));
    }
    out.push({
      kind: v.flags & SVC_F_EXTERNAL_IP ? 'ExternalIP' : 'ClusterIP',
      ip: k.vip,
      port: k.port,
      protocol: protoName(k.proto),
      service: v.name || undefined,
      backends: bes,
    });
  }
  return out.sort(
    (a, b) =>
      parseIPv4(a.ip) - parseIPv4(b.ip) || a.port - b.port || a.protocol.localeCompare(b.protocol),
  );
}

/** Counts a map's entries with batched lookups (values are read and discarded). */
export function countEntries(b: LibbpfBinding, fd: number): number {
  const info = b.mapInfo(fd);
  return dumpMap(b, fd, info.keySize, info.valueSize, () => {});
}
