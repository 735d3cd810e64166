/**
 * @module dataplanes/nftables/naming
 * Chain and set names exactly as kube-proxy's nftables mode builds them, plus the validation and
 * escaping that keeps names and values taken from (possibly hostile) API objects from breaking
 * out of an nft identifier, a quoted comment or an address literal.
 *
 * Name = prefix + base32(sha256(base))[:8] + "-" + base, with the part after the prefix cut to 240
 * characters ("..." suffix) because nft names are limited to 256 and prefixes are at most 16.
 * The hash is always taken over the *raw* base, so two objects whose readable suffixes collapse
 * to the same escaped text still get distinct names.
 */
import { createHash } from 'node:crypto';
import type { Protocol, ServicePort } from '../../model/types.ts';

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
/** nft limits names to 256 bytes; the longest prefix we use ("endpoint-", "affinity-") is < 16. */
const BASE_LENGTH_MAX = 256 - 16;
/** nft stores comments as userdata of at most 128 bytes. */
const COMMENT_LENGTH_MAX = 128;

/** RFC 4648 base32 (standard alphabet, no padding needed: we only keep a prefix). */
export function base32(bytes: Uint8Array): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  return out;
}

/**
 * Characters the nft scanner accepts inside an unquoted identifier (after a leading letter).
 * Everything else in a readable suffix becomes `_`; Kubernetes-valid names never need this.
 */
function escapeIdentifierPart(s: string): string {
  return s.replace(/[^A-Za-z0-9._-]/gu, '_');
}

/** kube-proxy's hashAndTruncate over the raw base, with an escaped readable suffix. */
export function hashAndTruncate(
  rawParts: readonly string[],
  separators: readonly string[],
): string {
  let raw = '';
  let readable = '';
  rawParts.forEach((p, i) => {
    raw += p + (separators[i] ?? '');
    readable += escapeIdentifierPart(p) + (separators[i] ?? '');
  });
  const hash = base32(createHash('sha256').update(raw, 'utf8').digest()).slice(0, 8);
  const name = `${hash}-${readable}`;
  return name.length > BASE_LENGTH_MAX ? name.slice(0, BASE_LENGTH_MAX - 3) + '...' : name;
}

export function protoLower(p: Protocol): 'tcp' | 'udp' | 'sctp' {
  return p === 'TCP' ? 'tcp' : p === 'UDP' ? 'udp' : 'sctp';
}

/** `ns/name` or `ns/name:portName`: kube-proxy's ServicePortName.String(). */
export function servicePortNameString(svc: ServicePort): string {
  return svc.portName
    ? `${svc.namespace}/${svc.name}:${svc.portName}`
    : `${svc.namespace}/${svc.name}`;
}

/** The hashed base shared by service-, local-, external- and firewall- chains of one port. */
export function servicePortChainBase(svc: ServicePort): string {
  return hashAndTruncate(
    [svc.namespace, svc.name, protoLower(svc.protocol), svc.portName],
    ['/', '/', '/', ''],
  );
}

/** The hashed base of endpoint- chains and affinity- sets: `ns/name/proto/port__ip/port`. */
export function endpointChainBase(svc: ServicePort, ip: string, port: number): string {
  return hashAndTruncate(
    [
      svc.namespace,
      svc.name,
      protoLower(svc.protocol),
      svc.portName,
      ip.replaceAll(':', '.'),
      String(port),
    ],
    ['/', '/', '/', '__', '/', ''],
  );
}

/** A quoted nft comment: `"` and control characters can never reach the ruleset. */
export function quoteComment(s: string): string {
  const safe = s.replace(/[^A-Za-z0-9 ._:/,()-]/gu, '_');
  return `"${safe.slice(0, COMMENT_LENGTH_MAX)}"`;
}

export function isValidPort(p: number): boolean {
  return Number.isInteger(p) && p >= 1 && p <= 65535;
}

const OCTET = '(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])';
const CANONICAL_IPV4 = new RegExp(`^${OCTET}(?:\\.${OCTET}){3}$`);

/**
 * Canonical IPv4 dotted quad (no leading zeros, which nft and the kernel would read as octal).
 * One anchored regex: this runs several times per endpoint on every render.
 */
export function isCanonicalIPv4(ip: string): boolean {
  return CANONICAL_IPV4.test(ip);
}

/**
 * An IPv4 CIDR `a.b.c.d/n` (a bare address counts as /32) in canonical form, host bits cleared
 * as Kubernetes itself would interpret it; undefined when it is not an IPv4 CIDR.
 */
export function canonicalIPv4Cidr(cidr: string): string | undefined {
  const [addr, len, extra] = cidr.trim().split('/');
  if (extra !== undefined || addr === undefined || !isCanonicalIPv4(addr)) return undefined;
  if (len === undefined) return addr;
  if (!/^\d{1,2}$/.test(len) || Number(len) > 32) return undefined;
  const bits = Number(len);
  const n = addr.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  const net = (n & mask) >>> 0;
  const text = [24, 16, 8, 0].map((s) => (net >>> s) & 255).join('.');
  return bits === 32 ? text : `${text}/${bits}`;
}
