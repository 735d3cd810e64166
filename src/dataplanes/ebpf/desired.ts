/**
 * @module dataplanes/ebpf/desired
 * Turns the model's service ports into the frontends the socket load balancer programs: one per
 * IPv4 clusterIP and externalIP of a TCP/UDP service port, with the endpoints traffic from this
 * node may use (cluster endpoints, or node-local ones under internalTrafficPolicy=Local).
 * IPv6 addresses and SCTP ports are skipped: the BPF programs are IPv4, TCP/UDP only.
 *
 * The result is a FrontendTable (typed arrays, see table.ts), written row by row straight from
 * the model: no per-frontend or per-backend objects, however large the cluster.
 */
import type { ProxyState, ServicePortState } from '../../model/types.ts';
import { packBackend, parseIPv4, protoNumber, SVC_F_EXTERNAL_IP, SVC_F_LOCAL } from './codecs.ts';
import { describeFrontend, FrontendTable, frontendKey } from './table.ts';

export interface DesiredSet {
  readonly table: FrontendTable;
  /** Frontends claimed by two service ports: the one with the smaller key is kept. */
  readonly conflicts: string[];
}

/** The first IPv4 frontend key of a service port, without deriving anything else. */
function firstFrontendKey(sps: ServicePortState, proto: number): number | undefined {
  for (const ip of sps.service.clusterIPs) {
    const vip = parseIPv4(ip);
    if (vip >= 0) return frontendKey(vip, sps.service.port, proto);
  }
  return undefined;
}

/** Appends the usable backends of a service port to t's pool; returns where they start. */
function deriveBackends(t: FrontendTable, sps: ServicePortState): number {
  const local = sps.service.internalTrafficPolicy === 'Local';
  const endpoints = local ? sps.localEndpoints : sps.clusterEndpoints;
  const start = t.reserveBackends(endpoints.length);
  const pool = t.pool; // read after reserving: reserving may reallocate it
  let n = 0;
  // The hot loop of a full sync (a million endpoints): an index loop, no allocation.
  for (let i = 0; i < endpoints.length; i++) {
    const e = endpoints[i]!;
    const ip = parseIPv4(e.ip);
    if (ip >= 0) pool[start + n++] = packBackend(ip, e.port);
  }
  t.poolUsed = start + n; // return what IPv6 endpoints did not use
  return start;
}

/**
 * Desired frontends for the given service port keys (all of them when `keys` is undefined).
 * When two service ports claim one frontend, the one with the smaller key wins, so the result
 * does not depend on map iteration order (and no 100k-key sort is needed).
 *
 * `previous` is the mirror: the model hands out the same immutable ServicePortState until a
 * service port changes, so backends derived from that very object last time are copied over
 * instead of re-parsed, and a periodic resync does not touch a million endpoint objects.
 */
export function desiredFrontends(
  state: ProxyState,
  keys?: Iterable<string>,
  previous?: FrontendTable,
): DesiredSet {
  const t =
    keys === undefined
      ? new FrontendTable(state.size + 16, state.size * 8)
      : new FrontendTable(4, 64);
  const conflicts: string[] = [];
  const reuse = previous !== undefined && previous.size > 0 ? previous : undefined;
  const add = (sps: ServicePortState): void => {
    const svc = sps.service;
    const proto = protoNumber(svc.protocol);
    if (proto === undefined) return;
    let start: number;
    let count: number;
    const fk0 = reuse && firstFrontendKey(sps, proto);
    const pr = fk0 === undefined ? undefined : reuse!.rows.get(fk0);
    if (pr !== undefined && reuse!.source[pr] === sps) {
      count = reuse!.count[pr]!;
      start = t.copyBackends(reuse!.pool, reuse!.start[pr]!, count);
    } else {
      start = deriveBackends(t, sps);
      count = t.poolUsed - start;
    }
    const local = svc.internalTrafficPolicy === 'Local' ? SVC_F_LOCAL : 0;
    const nc = svc.clusterIPs.length;
    for (let i = 0; i < nc + svc.externalIPs.length; i++) {
      const external = i >= nc;
      const vip = parseIPv4(external ? svc.externalIPs[i - nc]! : svc.clusterIPs[i]!);
      if (vip < 0) continue;
      const fk = frontendKey(vip, svc.port, proto);
      const r = t.rows.get(fk);
      if (r !== undefined) {
        const other = t.service[r]!;
        conflicts.push(
          `${describeFrontend(vip, svc.port, proto)} claimed by ${other < svc.key ? `${other} and ${svc.key}` : `${svc.key} and ${other}`}`,
        );
        if (other < svc.key) continue;
      }
      const flags = external ? local | SVC_F_EXTERNAL_IP : local;
      t.set(fk, vip, svc.port, proto, flags, svc.key, sps, start, count);
    }
  };
  if (keys === undefined) for (const sps of state.values()) add(sps);
  else
    for (const k of keys) {
      const sps = state.get(k);
      if (sps) add(sps);
    }
  return { table: t, conflicts };
}
