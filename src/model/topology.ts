/**
 * @module model/topology
 * Endpoint selection, as a pure function: which endpoints Cluster-policy and Local-policy traffic
 * may use (kube-proxy's CategorizeEndpoints semantics).
 *
 * - Cluster: ready endpoints, narrowed by topology hints when every ready endpoint carries them
 *   and one matches this node; when none is ready, the serving-and-terminating ones.
 * - Local: this node's ready endpoints, else this node's serving-and-terminating ones.
 * - hasEndpoints: whether any usable endpoint exists anywhere, which decides between rejecting
 *   (no endpoints at all) and dropping (only no local ones).
 */
import { usesClusterEndpoints, usesLocalEndpoints } from './service.ts';
import type { Endpoint, ServicePort } from './types.ts';

export interface NodeTopology {
  readonly nodeName: string;
  /** The node's `topology.kubernetes.io/zone` label, when known. */
  readonly zone: string | undefined;
}

export interface Categorized {
  readonly clusterEndpoints: readonly Endpoint[];
  readonly localEndpoints: readonly Endpoint[];
  readonly allReachableEndpoints: readonly Endpoint[];
  readonly hasEndpoints: boolean;
}

const usableFallback = (ep: Endpoint): boolean => ep.serving && ep.terminating;

/**
 * `list.filter(pred)`, but `list` itself when every element passes: with all endpoints ready (the
 * usual case) the Cluster list is the endpoint list, stored once.
 */
function keep(list: readonly Endpoint[], pred: (ep: Endpoint) => boolean): readonly Endpoint[] {
  return list.every(pred) ? list : list.filter(pred);
}

/**
 * Which hint kind narrows the ready endpoints, if any: node hints when every ready endpoint has
 * them and one names this node, else zone hints under the same rule with this node's zone.
 */
function topologyFilter(
  endpoints: readonly Endpoint[],
  node: NodeTopology,
): ((ep: Endpoint) => boolean) | undefined {
  const ready = endpoints.filter((ep) => ep.ready);
  if (ready.length === 0) return undefined;
  if (
    ready.every((ep) => ep.nodeHints.length > 0) &&
    ready.some((ep) => ep.nodeHints.includes(node.nodeName))
  ) {
    return (ep) => ep.nodeHints.includes(node.nodeName);
  }
  const zone = node.zone;
  if (
    zone &&
    ready.every((ep) => ep.zoneHints.length > 0) &&
    ready.some((ep) => ep.zoneHints.includes(zone))
  ) {
    return (ep) => ep.zoneHints.includes(zone);
  }
  return undefined;
}

export function categorizeEndpoints(
  sp: ServicePort,
  endpoints: readonly Endpoint[],
  node: NodeTopology,
): Categorized {
  let clusterEndpoints: readonly Endpoint[] = [];
  let hasEndpoints = false;
  const useCluster = usesClusterEndpoints(sp);
  if (useCluster) {
    const hint = topologyFilter(endpoints, node);
    clusterEndpoints = keep(endpoints, (ep) => ep.ready && (!hint || hint(ep)));
    if (clusterEndpoints.length === 0) clusterEndpoints = keep(endpoints, usableFallback);
    hasEndpoints = clusterEndpoints.length > 0;
  }
  if (!usesLocalEndpoints(sp)) {
    return {
      clusterEndpoints,
      localEndpoints: [],
      allReachableEndpoints: clusterEndpoints,
      hasEndpoints,
    };
  }
  let localReady = false;
  let localFallback = false;
  for (const ep of endpoints) {
    if (ep.ready) {
      hasEndpoints = true;
      if (ep.isLocal) localReady = true;
    } else if (usableFallback(ep)) {
      hasEndpoints = true;
      if (ep.isLocal) localFallback = true;
    }
  }
  const localEndpoints = localReady
    ? keep(endpoints, (ep) => ep.isLocal && ep.ready)
    : localFallback
      ? keep(endpoints, (ep) => ep.isLocal && usableFallback(ep))
      : [];
  if (!useCluster) {
    return {
      clusterEndpoints,
      localEndpoints,
      allReachableEndpoints: localEndpoints,
      hasEndpoints,
    };
  }
  const seen = new Set<string>();
  const union: Endpoint[] = [];
  for (const ep of [...clusterEndpoints, ...localEndpoints]) {
    const id = `${ep.ip}:${ep.port}`;
    if (seen.has(id)) continue;
    seen.add(id);
    union.push(ep);
  }
  // Local endpoints usually are among the Cluster ones: then the union is the Cluster list.
  const allReachableEndpoints = union.length === clusterEndpoints.length ? clusterEndpoints : union;
  return { clusterEndpoints, localEndpoints, allReachableEndpoints, hasEndpoints };
}
