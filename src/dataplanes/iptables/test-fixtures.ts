/**
 * @module dataplanes/iptables/test-fixtures
 * Hand-built ServicePortState fixtures for the iptables tests. Categorization follows
 * kube-proxy's CategorizeEndpoints closely enough for these scenarios (ready first, else
 * serving-terminating; Local = same node), so tests do not depend on the model package.
 */
import type { Endpoint, ServicePort, ServicePortState } from '../../model/types.ts';

export type PortInit = Partial<ServicePort> & Pick<ServicePort, 'namespace' | 'name'>;
export type EndpointInit = Partial<Endpoint> & Pick<Endpoint, 'ip'>;

export function servicePort(init: PortInit): ServicePort {
  const portName = init.portName ?? 'p80';
  const protocol = init.protocol ?? 'TCP';
  return {
    key: `${init.namespace}/${init.name}${portName ? `:${portName}` : ''}/${protocol}`,
    portName,
    protocol,
    type: 'ClusterIP',
    clusterIPs: ['198.19.0.10'],
    port: 80,
    targetPort: 8080,
    nodePort: 0,
    externalIPs: [],
    loadBalancerIPs: [],
    loadBalancerSourceRanges: [],
    externalTrafficPolicy: 'Cluster',
    internalTrafficPolicy: 'Cluster',
    sessionAffinity: 'None',
    sessionAffinityTimeoutSeconds: 10800,
    healthCheckNodePort: 0,
    ipFamilies: ['IPv4'],
    trafficDistribution: undefined,
    ...init,
  };
}

export function endpoint(init: EndpointInit): Endpoint {
  return {
    port: 8080,
    ready: true,
    serving: true,
    terminating: false,
    nodeName: 'node-a',
    zone: undefined,
    zoneHints: [],
    nodeHints: [],
    isLocal: (init.nodeName ?? 'node-a') === 'node-a',
    ...init,
  };
}

function usable(eps: readonly Endpoint[]): Endpoint[] {
  const ready = eps.filter((e) => e.ready);
  return ready.length > 0 ? ready : eps.filter((e) => e.serving && e.terminating);
}

/** A state with endpoints categorized; `node-a` is the local node. */
export function portState(init: PortInit, eps: readonly EndpointInit[] = []): ServicePortState {
  const service = servicePort(init);
  const endpoints = eps
    .map(endpoint)
    .sort((a, b) => (`${a.ip}:${a.port}` < `${b.ip}:${b.port}` ? -1 : 1));
  const clusterEndpoints = usable(endpoints);
  const localEndpoints = usable(endpoints.filter((e) => e.isLocal));
  const all = new Set([...clusterEndpoints, ...localEndpoints]);
  return {
    service,
    endpoints,
    clusterEndpoints,
    localEndpoints,
    allReachableEndpoints: endpoints.filter((e) => all.has(e)),
    hasEndpoints: clusterEndpoints.length > 0 || localEndpoints.length > 0,
  };
}

export function stateOf(...ports: ServicePortState[]): Map<string, ServicePortState> {
  return new Map(ports.map((p) => [p.service.key, p]));
}
