/**
 * @module dataplanes/ebpf/desired
 * Turns the model's service ports into the frontends the socket load balancer programs: one per
 * IPv4 clusterIP and externalIP of a TCP/UDP service port, with the endpoints traffic from this
 * node may use (cluster endpoints, or node-local ones under internalTrafficPolicy=Local).
 * IPv6 addresses and SCTP ports are skipped: the BPF programs are IPv4, TCP/UDP only.
 */
import { isIPv4 } from 'node:net';
import type { ProxyState, ServicePortState } from '../../model/types.ts';
import { IPPROTO_TCP, IPPROTO_UDP, protoNumber, SVC_F_EXTERNAL_IP, SVC_F_LOCAL } from './codecs.ts';

export interface DesiredFrontend {
  readonly vip: string;
  readonly port: number;
  readonly proto: number;
  /** SVC_F_* bits. */
  readonly flags: number;
  /** The owning service port's key (ServicePort.key), recorded in kpr_svc_names. */
  readonly service: string;
  /** Backend keys (see backendKey), in slot order. */
  readonly backends: readonly number[];
}

export function frontendKey(vip: string, port: number, proto: number): string {
  return `${vip}:${port}/${proto}`;
}
/**
 * A backend as one number (address, port and UDP bit; < 2^49, so exact in a double): numbers
 * hash and compare far faster than strings when a full sync handles a million backends.
 */
export function backendKey(ip: string, port: number, proto: number): number {
  return (ipv4ToU32(ip) * 65536 + port) * 2 + (proto === IPPROTO_UDP ? 1 : 0);
}
export function parseBackendKey(k: number): { ip: string; port: number; proto: number } {
  const proto = k % 2 === 1 ? IPPROTO_UDP : IPPROTO_TCP;
  const rest = Math.floor(k / 2);
  const a = Math.floor(rest / 65536);
  return {
    ip: `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`,
    port: rest % 65536,
    proto,
  };
}
export function ipv4ToU32(ip: string): number {
  let v = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < ip.length; i++) {
    const c = ip.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || octet > 255) throw new Error(`not an IPv4 address: ${ip}`);
      v = v * 256 + octet;
      octet = digits = 0;
      dots++;
    } else if (c >= 48 && c <= 57 && digits < 3) {
      octet = octet * 10 + (c - 48);
      digits++;
    } else throw new Error(`not an IPv4 address: ${ip}`);
  }
  if (dots !== 3 || digits === 0 || octet > 255) throw new Error(`not an IPv4 address: ${ip}`);
  return v * 256 + octet;
}

/** Frontends of one service port (empty for SCTP or IPv6-only services). */
export function frontendsOf(sps: ServicePortState): DesiredFrontend[] {
  const svc = sps.service;
  const proto = protoNumber(svc.protocol);
  if (proto === undefined) return [];
  const local = svc.internalTrafficPolicy === 'Local';
  const endpoints = local ? sps.localEndpoints : sps.clusterEndpoints;
  const backends = endpoints
    .filter((e) => isIPv4(e.ip))
    .map((e) => backendKey(e.ip, e.port, proto));
  const out: DesiredFrontend[] = [];
  const add = (vip: string, external: boolean): void => {
    if (!isIPv4(vip)) return;
    const flags = (external ? SVC_F_EXTERNAL_IP : 0) | (local ? SVC_F_LOCAL : 0);
    out.push({ vip, port: svc.port, proto, flags, service: svc.key, backends });
  };
  for (const ip of svc.clusterIPs) add(ip, false);
  for (const ip of svc.externalIPs) add(ip, true);
  return out;
}

export interface DesiredSet {
  readonly frontends: Map<string, DesiredFrontend>;
  /** Frontends dropped because another service port already claimed the same VIP:port/proto. */
  readonly conflicts: string[];
}

/**
 * Desired frontends for the given service port keys (all of them when `keys` is undefined).
 * When two service ports claim one frontend, the first in key order wins, so the result does
 * not depend on map iteration order.
 */
export function desiredFrontends(state: ProxyState, keys?: Iterable<string>): DesiredSet {
  const wanted = [...(keys ?? state.keys())].sort();
  const frontends = new Map<string, DesiredFrontend>();
  const conflicts: string[] = [];
  for (const k of wanted) {
    const sps = state.get(k);
    if (!sps) continue;
    for (const fe of frontendsOf(sps)) {
      const fk = frontendKey(fe.vip, fe.port, fe.proto);
      const prev = frontends.get(fk);
      if (prev) conflicts.push(`${fk} claimed by ${prev.service} and ${fe.service}`);
      else frontends.set(fk, fe);
    }
  }
  return { frontends, conflicts };
}
