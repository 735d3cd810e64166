/**
 * @module model/endpoints
 * Merges the EndpointSlices of one Service into per-port endpoint lists, as kube-proxy's
 * EndpointSliceCache does: only slices of the proxier's address family; `addresses[0]` only;
 * nil conditions default to ready/serving and not terminating; an `ip:port` that appears twice
 * (an endpoint moving between slices) keeps the non-terminating copy; the result is sorted by
 * `ip:port` so rule order is deterministic.
 */
import type { V1EndpointSlice } from '@kubernetes/client-node';
import type { Endpoint, IPFamily, Protocol } from './types.ts';

/** `portName/PROTOCOL` → endpoints. */
export type EndpointsByPort = Map<string, Endpoint[]>;

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

/** Merges every slice of one Service into endpoint lists keyed by port selector. */
export function mergeSlices(
  slices: Iterable<V1EndpointSlice>,
  family: IPFamily,
  nodeName: string,
): EndpointsByPort {
  const byPort = new Map<string, Map<string, Endpoint>>();
  for (const slice of slices) {
    if (slice.addressType !== family) continue;
    for (const port of slice.ports ?? []) {
      if (port.port === undefined || port.port === null || port.port === 0) continue;
      const sel = portSelector(port.name ?? '', (port.protocol ?? 'TCP') as Protocol);
      let eps = byPort.get(sel);
      if (!eps) byPort.set(sel, (eps = new Map()));
      for (const ep of slice.endpoints ?? []) {
        const ip = ep.addresses?.[0];
        if (!ip) continue;
        const c = ep.conditions ?? {};
        const endpoint: Endpoint = {
          ip,
          port: port.port,
          ready: c.ready ?? true,
          serving: c.serving ?? true,
          terminating: c.terminating ?? false,
          nodeName: ep.nodeName,
          zone: ep.zone,
          zoneHints: (ep.hints?.forZones ?? []).map((z) => z.name),
          nodeHints: (ep.hints?.forNodes ?? []).map((n) => n.name),
          isLocal: !!nodeName && ep.nodeName === nodeName,
        };
        const id = endpointString(ip, port.port);
        const prev = eps.get(id);
        if (!prev || (prev.terminating && !endpoint.terminating)) eps.set(id, endpoint);
      }
    }
  }
  const out: EndpointsByPort = new Map();
  for (const [sel, eps] of byPort) out.set(sel, [...eps.values()].sort(compareEndpoints));
  return out;
}
