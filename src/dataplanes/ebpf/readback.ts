/**
 * @module dataplanes/ebpf/readback
 * Reads the load-balancer maps back from the kernel: raw entries for mirror adoption, the
 * frontend → backends view for list(), and entry counts for stats().
 */
import {
  BACKEND_SIZE,
  decodeBackend,
  decodeSvcKey,
  decodeSvcName,
  decodeSvcValue,
  decodeU32,
  protoName,
  SVC_F_EXTERNAL_IP,
  SVC_KEY_SIZE,
  SVC_NAME_LEN,
  SVC_VALUE_SIZE,
  U32_SIZE,
} from './codecs.ts';
import type { BackendValue, SvcKey, SvcValue } from './codecs.ts';
import type { LiveFrontend } from '../types.ts';
import type { LibbpfBinding } from './libbpf.ts';
import { dumpMap } from './maps.ts';
import type { LbMapFds } from './maps.ts';
import type { LiveEntries } from './mirror.ts';
import { frontendKey } from './desired.ts';

export function readLive(b: LibbpfBinding, fds: LbMapFds): LiveEntries {
  const services: [SvcKey, SvcValue][] = [];
  const backends: [number, BackendValue][] = [];
  const names: [number, string][] = [];
  dumpMap(b, fds.services, SVC_KEY_SIZE, SVC_VALUE_SIZE, (k, v) =>
    services.push([decodeSvcKey(k), decodeSvcValue(v)]),
  );
  dumpMap(b, fds.backends, U32_SIZE, BACKEND_SIZE, (k, v) =>
    backends.push([decodeU32(k), decodeBackend(v)]),
  );
  dumpMap(b, fds.names, U32_SIZE, SVC_NAME_LEN, (k, v) =>
    names.push([decodeU32(k), decodeSvcName(v)]),
  );
  return { services, backends, names };
}

/** Frontends with their backends in slot order, sorted by address; read from the kernel only. */
export function liveFrontends(b: LibbpfBinding, fds: LbMapFds): LiveFrontend[] {
  const live = readLive(b, fds);
  const backends = new Map(live.backends);
  const names = new Map(live.names);
  const masters = new Map<string, [SvcKey, SvcValue]>();
  const slots = new Map<string, number>();
  for (const [k, v] of live.services) {
    const fk = frontendKey(k.vip, k.port, k.proto);
    if (k.slot === 0) masters.set(fk, [k, v]);
    else slots.set(`${fk}#${k.slot}`, v.backendId);
  }
  const out: LiveFrontend[] = [];
  for (const [fk, [k, v]] of masters) {
    const bes: { ip: string; port: number }[] = [];
    for (let s = 1; s <= v.count; s++) {
      const be = backends.get(slots.get(`${fk}#${s}`) ?? 0);
      if (be) bes.push({ ip: be.ip, port: be.port });
    }
    out.push({
      kind: v.flags & SVC_F_EXTERNAL_IP ? 'ExternalIP' : 'ClusterIP',
      ip: k.vip,
      port: k.port,
      protocol: protoName(k.proto),
      service: names.get(v.serviceId),
      backends: bes,
    });
  }
  const ipNum = (ip: string): number => ip.split('.').reduce((a, o) => a * 256 + Number(o), 0);
  return out.sort(
    (a, b) => ipNum(a.ip) - ipNum(b.ip) || a.port - b.port || a.protocol.localeCompare(b.protocol),
  );
}

/** Counts a map's entries with batched lookups (values are read and discarded). */
export function countEntries(b: LibbpfBinding, fd: number): number {
  const info = b.mapInfo(fd);
  return dumpMap(b, fd, info.keySize, info.valueSize, () => {});
}
