/**
 * @module model/endpoints
 * EndpointSlices → per-port endpoint lists, as kube-proxy's EndpointSliceCache builds them: only
 * slices of the proxier's address family; `addresses[0]` only; nil conditions default to
 * ready/serving and not terminating; an `ip:port` that appears twice (an endpoint moving between
 * slices) keeps the non-terminating copy; lists are sorted by `ip:port` so rule order is
 * deterministic.
 *
 * Memory matters here (a large cluster has millions of endpoints), so a slice is reduced once, when
 * it arrives, to its endpoints per port (`SlicePort`), and the raw object is not kept. Endpoints that
 * did not change keep their previous object, and a Service with one slice uses that slice's list as
 * is, so an update allocates only what it really changes.
 */
import type { V1EndpointSlice } from '@kubernetes/client-node';
import { endpointArraysEqual, equalEndpoint } from './equal.ts';
import type { Endpoint, IPFamily, Protocol } from './types.ts';

/** `portName/PROTOCOL` → endpoints. */
export type EndpointsByPort = Map<string, readonly Endpoint[]>;

/** One port of one slice: that slice's endpoints for the port, de-duplicated and sorted. */
export interface SlicePort {
  /** `portName/PROTOCOL` (see portSelector). */
  readonly selector: string;
  readonly endpoints: readonly Endpoint[];
}

/** Shared by every endpoint without hints, instead of one empty array each. */
const NO_NAMES: readonly string[] = Object.freeze([]);
const NO_PORTS: readonly SlicePort[] = Object.freeze([]);

/** Returns a canonical copy of a repeated string (node and zone names), to store it once. */
export type Intern = (s: string) => string;

export function portSelector(portName: string, protocol: Protocol): string {
  return `${portName}/${protocol}`;
}

function endpointString(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/** Compares endpoints by their `ip:port` string, as kube-proxy sorts them. */
export function compareEndpoints(a: Endpoint, b: Endpoint): number {
  const x = endpointString(a.ip, a.port);
  const y = endpointString(b.ip, b.port);
  return x < y ? -1 : x > y ? 1 : 0;
}

function names(list: readonly { name: string }[] | undefined, intern: Intern): readonly string[] {
  return list && list.length > 0 ? list.map((h) => intern(h.name)) : NO_NAMES;
}

/**
 * The endpoints of one slice, per port, for `family` (none for a slice of another family).
 * `previous` is what the same slice gave before: unchanged endpoints, lists and the whole result
 * are returned as the previous objects, so callers can compare by identity first.
 */
export function sliceEndpoints(
  slice: V1EndpointSlice,
  family: IPFamily,
  nodeName: string,
  previous: readonly SlicePort[] | undefined,
  intern: Intern = (s) => s,
): readonly SlicePort[] {
  if (slice.addressType !== family) return NO_PORTS;
  const out: SlicePort[] = [];
  for (const port of slice.ports ?? []) {
    if (port.port === undefined || port.port === null || port.port === 0) continue;
    const selector = portSelector(port.name ?? '', (port.protocol ?? 'TCP') as Protocol);
    // A slice never lists a port twice (validation refuses it), but be safe: the first wins.
    if (out.some((p) => p.selector === selector)) continue;
    const byId = new Map<string, Endpoint>();
    for (const ep of slice.endpoints ?? []) {
      const ip = ep.addresses?.[0];
      if (!ip) continue;
      const c = ep.conditions ?? {};
      const node = ep.nodeName ? intern(ep.nodeName) : undefined;
      const endpoint: Endpoint = {
        ip,
        port: port.port,
        ready: c.ready ?? true,
        serving: c.serving ?? true,
        terminating: c.terminating ?? false,
        nodeName: node,
        zone: ep.zone ? intern(ep.zone) : undefined,
        zoneHints: names(ep.hints?.forZones, intern),
        nodeHints: names(ep.hints?.forNodes, intern),
        isLocal: !!nodeName && node === nodeName,
      };
      const id = endpointString(ip, port.port);
      const prev = byId.get(id);
      if (!prev || (prev.terminating && !endpoint.terminating)) byId.set(id, endpoint);
    }
    const old = previous?.find((p) => p.selector === selector);
    out.push({ selector, endpoints: reuse(sortById(byId), old?.endpoints) });
  }
  if (previous && previous.length === out.length) {
    const same = out.every((p, i) => previous[i]!.selector === p.selector);
    if (same && out.every((p, i) => previous[i]!.endpoints === p.endpoints)) return previous;
  }
  return out.length > 0 ? out : NO_PORTS;
}

function sortById(byId: Map<string, Endpoint>): Endpoint[] {
  const ids = [...byId.keys()].sort();
  return ids.map((id) => byId.get(id)!);
}

/** `next` with every endpoint equal to one in `old` replaced by the old object; `old` if all are. */
function reuse(next: Endpoint[], old: readonly Endpoint[] | undefined): readonly Endpoint[] {
  if (!old || old.length === 0) return next;
  const byKey = new Map<string, Endpoint>();
  for (const ep of old) byKey.set(`${ep.ip}|${ep.port}`, ep);
  for (let i = 0; i < next.length; i++) {
    const ep = next[i]!;
    const was = byKey.get(`${ep.ip}|${ep.port}`);
    if (was && equalEndpoint(was, ep)) next[i] = was;
  }
  return endpointArraysEqual(old, next) ? old : next;
}

/**
 * Merges the per-port lists of every slice of one Service. A port that only one slice serves (the
 * common case) gets that slice's list itself, without a copy.
 */
export function mergeSlices(slices: Iterable<readonly SlicePort[]>): EndpointsByPort {
  const lists = new Map<string, (readonly Endpoint[])[]>();
  for (const ports of slices) {
    for (const p of ports) {
      const l = lists.get(p.selector);
      if (l) l.push(p.endpoints);
      else lists.set(p.selector, [p.endpoints]);
    }
  }
  const out: EndpointsByPort = new Map();
  for (const [selector, l] of lists) {
    if (l.length === 1) {
      out.set(selector, l[0]!);
      continue;
    }
    const byId = new Map<string, Endpoint>();
    for (const eps of l) {
      for (const ep of eps) {
        const id = endpointString(ep.ip, ep.port);
        const prev = byId.get(id);
        if (!prev || (prev.terminating && !ep.terminating)) byId.set(id, ep);
      }
    }
    out.set(selector, sortById(byId));
  }
  return out;
}
