/**
 * @module dataplanes/iptables/names
 * Chain names and constants of kube-proxy's iptables layout. Per-service chain names are derived
 * exactly as kube-proxy derives them (sha256 → standard base32 → first 16 characters), so that
 * operators can grep for the same `KUBE-SVC-…` names they know and tooling keyed on them keeps
 * working.
 */
import * as crypto from 'node:crypto';
import { createHash } from 'node:crypto';
import type { ServicePort } from '../../model/types.ts';

/** Top-level chains, identical in name to kube-proxy's. */
export const KUBE_SERVICES = 'KUBE-SERVICES';
export const KUBE_EXTERNAL_SERVICES = 'KUBE-EXTERNAL-SERVICES';
export const KUBE_NODEPORTS = 'KUBE-NODEPORTS';
export const KUBE_FORWARD = 'KUBE-FORWARD';
export const KUBE_PROXY_FIREWALL = 'KUBE-PROXY-FIREWALL';
export const KUBE_POSTROUTING = 'KUBE-POSTROUTING';
export const KUBE_MARK_MASQ = 'KUBE-MARK-MASQ';

/** Top-level chains per table, in the order kube-proxy declares them. */
export const FILTER_CHAINS: readonly string[] = [
  KUBE_SERVICES,
  KUBE_EXTERNAL_SERVICES,
  KUBE_FORWARD,
  KUBE_NODEPORTS,
  KUBE_PROXY_FIREWALL,
];
export const NAT_CHAINS: readonly string[] = [
  KUBE_SERVICES,
  KUBE_NODEPORTS,
  KUBE_POSTROUTING,
  KUBE_MARK_MASQ,
];

/** kube-proxy's default masquerade bit 14. */
export const MASQ_MARK = '0x4000';

/** Per-service and per-endpoint chains; the only chains ever deleted as stale. */
export const SERVICE_CHAIN_RE = /^KUBE-(SVC|SVL|EXT|FW|SEP)-[A-Z2-7]{16}$/;

/** crypto.hash (Node >= 21.7), when present. */
const hashOnce = (
  crypto as unknown as {
    hash?: (alg: string, data: string, enc: 'buffer') => Buffer;
  }
).hash;

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** RFC 4648 standard base32 (padding omitted: only a prefix of the output is ever used). */
export function base32(bytes: Uint8Array): string {
  let out = '';
  let acc = 0;
  let bits = 0;
  for (const b of bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(acc >>> (bits - 5)) & 31];
      bits -= 5;
    }
    acc &= (1 << bits) - 1;
  }
  if (bits > 0) out += BASE32[(acc << (5 - bits)) & 31];
  return out;
}

function hash16(input: string): string {
  // The one-shot crypto.hash is several times cheaper than createHash for short inputs.
  const digest = hashOnce
    ? hashOnce('sha256', input, 'buffer')
    : createHash('sha256').update(input, 'utf8').digest();
  return base32(digest.subarray(0, 10)).slice(0, 16);
}

/** kube-proxy's ServicePortName.String(): `ns/name`, plus `:portName` for a named port. */
export function servicePortName(svc: Pick<ServicePort, 'namespace' | 'name' | 'portName'>): string {
  const base = `${svc.namespace}/${svc.name}`;
  return svc.portName === '' ? base : `${base}:${svc.portName}`;
}

/** The 16-character hash shared by a service port's SVC, SVL, EXT and FW chains. */
export function servicePortHash(portName: string, protocol: string): string {
  return hash16(portName + protocol.toLowerCase());
}

export interface ServiceChains {
  readonly svc: string;
  readonly svl: string;
  readonly ext: string;
  readonly fw: string;
}

export function serviceChains(portName: string, protocol: string): ServiceChains {
  const h = servicePortHash(portName, protocol);
  return { svc: `KUBE-SVC-${h}`, svl: `KUBE-SVL-${h}`, ext: `KUBE-EXT-${h}`, fw: `KUBE-FW-${h}` };
}

/** `ip:port`, with IPv6 in brackets (Go's net.JoinHostPort form). */
export function endpointString(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/** KUBE-SEP-… for one endpoint of one service port. */
export function endpointChain(
  portName: string,
  protocol: string,
  ip: string,
  port: number,
): string {
  return `KUBE-SEP-${hash16(portName + protocol.toLowerCase() + endpointString(ip, port))}`;
}
