/**
 * @module model/validate-fields
 * Field-level checks shared by the Service and EndpointSlice validators: Kubernetes name formats
 * (RFC 1123 / RFC 1035 / IANA service names), IP addresses and CIDRs (parsed by `node:net`, never
 * by hand-written regexes), integers, enumerations. Each check appends a specific message
 * (`spec.ports[1].port: 70000 is outside 1-65535`) to a problem list and reports whether it passed.
 */
import { BlockList, isIP } from 'node:net';

/** Collects `path: problem` messages. */
export type Problems = string[];

export type Obj = Record<string, unknown>;

export function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A short rendering of an untrusted value for an error message (values can be huge). */
export function show(v: unknown): string {
  let s: string;
  try {
    s = v === undefined ? 'undefined' : JSON.stringify(v);
  } catch {
    s = String(v);
  }
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const IANA_SVC_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export type NameFormat = 'dns1123Label' | 'dns1035Label' | 'dns1123Subdomain' | 'ianaSvcName';

/** Why `s` is not a valid name of the given format, or undefined when it is. */
export function nameProblem(s: string, format: NameFormat): string | undefined {
  switch (format) {
    case 'dns1123Label':
      if (s.length > 63) return 'must be no more than 63 characters (RFC 1123 label)';
      if (!DNS1123_LABEL.test(s))
        return "must be an RFC 1123 label: lowercase letters, digits and '-', starting and ending with a letter or digit";
      return undefined;
    case 'dns1035Label':
      if (s.length > 63) return 'must be no more than 63 characters (RFC 1035 label)';
      if (!DNS1035_LABEL.test(s))
        return "must be an RFC 1035 label: lowercase letters, digits and '-', starting with a letter and ending with a letter or digit";
      return undefined;
    case 'dns1123Subdomain':
      if (s.length > 253) return 'must be no more than 253 characters (RFC 1123 subdomain)';
      if (!DNS1123_SUBDOMAIN.test(s))
        return "must be an RFC 1123 subdomain: dot-separated labels of lowercase letters, digits and '-'";
      return undefined;
    case 'ianaSvcName':
      if (s.length > 15) return 'must be no more than 15 characters (IANA service name)';
      if (!IANA_SVC_NAME.test(s) || s.includes('--'))
        return "must be an IANA service name: lowercase letters, digits and single '-', not at either end";
      if (!/[a-z]/.test(s)) return 'must contain at least one letter (IANA service name)';
      return undefined;
  }
}

export function checkName(p: Problems, path: string, v: unknown, format: NameFormat): v is string {
  if (typeof v !== 'string' || v === '') {
    p.push(
      `${path}: ${v === undefined || v === '' ? 'is required' : `${show(v)} is not a string`}`,
    );
    return false;
  }
  const why = nameProblem(v, format);
  if (why) p.push(`${path}: ${show(v)} ${why}`);
  return why === undefined;
}

export function checkInt(
  p: Problems,
  path: string,
  v: unknown,
  min: number,
  max: number,
): v is number {
  if (typeof v !== 'number' || !Number.isInteger(v)) {
    p.push(`${path}: ${show(v)} is not an integer`);
    return false;
  }
  if (v < min || v > max) {
    p.push(`${path}: ${v} is outside ${min}-${max}`);
    return false;
  }
  return true;
}

/** Checks an optional enumeration; absent (undefined/null) passes. */
export function checkEnum(
  p: Problems,
  path: string,
  v: unknown,
  allowed: readonly string[],
): boolean {
  if (v === undefined || v === null) return true;
  if (typeof v === 'string' && allowed.includes(v)) return true;
  p.push(`${path}: ${show(v)} is not one of ${allowed.join(', ')}`);
  return false;
}

export function checkOptionalString(p: Problems, path: string, v: unknown): boolean {
  if (v === undefined || v === null || typeof v === 'string') return true;
  p.push(`${path}: ${show(v)} is not a string`);
  return false;
}

export function checkOptionalBool(p: Problems, path: string, v: unknown): boolean {
  if (v === undefined || v === null || typeof v === 'boolean') return true;
  p.push(`${path}: ${show(v)} is not a boolean (true or false)`);
  return false;
}

/** An optional array (absent or null = empty), at most `max` items. */
export function checkArray(p: Problems, path: string, v: unknown, max: number): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) {
    p.push(`${path}: ${show(v)} is not a list`);
    return [];
  }
  if (v.length > max) {
    p.push(`${path}: has ${v.length} items, more than the limit of ${max}`);
    return [];
  }
  return v;
}

/**
 * Addresses that must never be a service frontend or an endpoint: steering them would hijack the
 * node's own traffic (unspecified, loopback, link-local unicast and multicast), as the Kubernetes
 * API server also refuses.
 */
const SPECIAL = new BlockList();
SPECIAL.addSubnet('0.0.0.0', 32, 'ipv4');
SPECIAL.addSubnet('127.0.0.0', 8, 'ipv4');
SPECIAL.addSubnet('169.254.0.0', 16, 'ipv4');
SPECIAL.addSubnet('224.0.0.0', 24, 'ipv4');
SPECIAL.addSubnet('::', 128, 'ipv6');
SPECIAL.addSubnet('::1', 128, 'ipv6');
SPECIAL.addSubnet('fe80::', 10, 'ipv6');
SPECIAL.addSubnet('ff02::', 16, 'ipv6');

/** The IP family (4 or 6) of a plain address, 0 when not one; zone ids (`%eth0`) are refused. */
export function ipFamily(s: string): 0 | 4 | 6 {
  if (s.includes('%')) return 0;
  return isIP(s) as 0 | 4 | 6;
}

export interface IPCheck {
  /** Require this family (endpoint slices of addressType IPv4/IPv6). */
  family?: 4 | 6;
  /** Refuse loopback, link-local and unspecified addresses. */
  routable?: boolean;
}

export function checkIP(p: Problems, path: string, v: unknown, opts: IPCheck = {}): v is string {
  if (typeof v !== 'string') {
    p.push(`${path}: ${show(v)} is not a string`);
    return false;
  }
  const fam = ipFamily(v);
  if (fam === 0) {
    p.push(`${path}: ${show(v)} is not a valid IP address`);
    return false;
  }
  if (opts.family && fam !== opts.family) {
    p.push(`${path}: ${show(v)} is not an IPv${opts.family} address`);
    return false;
  }
  if (opts.routable && SPECIAL.check(v, fam === 4 ? 'ipv4' : 'ipv6')) {
    p.push(
      `${path}: ${show(v)} is a loopback, link-local or unspecified address, which may not be used`,
    );
    return false;
  }
  return true;
}

export function checkCIDR(p: Problems, path: string, v: unknown): boolean {
  if (typeof v !== 'string') {
    p.push(`${path}: ${show(v)} is not a string`);
    return false;
  }
  // Kubernetes accepts surrounding spaces in loadBalancerSourceRanges; so do we.
  const s = v.trim();
  const slash = s.indexOf('/');
  const addr = slash < 0 ? '' : s.slice(0, slash);
  const bits = slash < 0 ? '' : s.slice(slash + 1);
  const fam = ipFamily(addr);
  const max = fam === 4 ? 32 : 128;
  if (fam === 0 || !/^[0-9]{1,3}$/.test(bits) || Number(bits) > max) {
    p.push(`${path}: ${show(v)} is not a valid CIDR (address/prefix-length, e.g. 198.18.0.0/15)`);
    return false;
  }
  return true;
}

/** A map of string to string (labels, selectors). */
export function checkStringMap(p: Problems, path: string, v: unknown): Record<string, string> {
  if (v === undefined || v === null) return {};
  if (!isObj(v)) {
    p.push(`${path}: ${show(v)} is not a map`);
    return {};
  }
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(v)) {
    if (typeof val !== 'string') p.push(`${path}.${k}: ${show(val)} is not a string`);
    else out[k] = val;
  }
  return out;
}

export function checkProtocol(p: Problems, path: string, v: unknown): boolean {
  return checkEnum(p, path, v, ['TCP', 'UDP', 'SCTP']);
}

/** Checks apiVersion/kind when present (objects from a typed API list may omit them). */
export function checkTypeMeta(p: Problems, o: Obj, apiVersion: string, kind: string): void {
  if (o.apiVersion !== undefined && o.apiVersion !== apiVersion)
    p.push(`apiVersion: ${show(o.apiVersion)} is not supported for ${kind}; use ${apiVersion}`);
  if (o.kind !== undefined && o.kind !== kind) p.push(`kind: ${show(o.kind)} is not ${kind}`);
}

/** metadata.name (in the given format) and metadata.namespace (an RFC 1123 label). */
export function checkMeta(p: Problems, v: unknown, nameFormat: NameFormat): Obj {
  if (!isObj(v)) {
    p.push(`metadata: ${v === undefined ? 'is required' : `${show(v)} is not a map`}`);
    return {};
  }
  checkName(p, 'metadata.name', v.name, nameFormat);
  checkName(p, 'metadata.namespace', v.namespace, 'dns1123Label');
  checkStringMap(p, 'metadata.labels', v.labels);
  return v;
}

const MAX_ERRORS = 10;

export type Validation<T> = { ok: true; value: T } | { ok: false; errors: string[] };

/** The result: the problems, or a deep copy of the object after `defaults` ran on it. */
export function done<T>(p: Problems, obj: Obj, defaultPorts: (copy: Obj) => void): Validation<T> {
  // A hostile object can carry thousands of bad entries; the first few say enough.
  if (p.length > MAX_ERRORS)
    return {
      ok: false,
      errors: [...p.slice(0, MAX_ERRORS), `and ${p.length - MAX_ERRORS} more problems`],
    };
  if (p.length > 0) return { ok: false, errors: p };
  const copy = structuredClone(obj);
  defaultPorts(copy);
  return { ok: true, value: copy as T };
}

/** Ports without a protocol get TCP, as the API server defaults them. */
export function defaultProtocols(ports: unknown): void {
  if (!Array.isArray(ports)) return;
  for (const port of ports) if (isObj(port) && port.protocol == null) port.protocol = 'TCP';
}
