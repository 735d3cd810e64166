/**
 * @module dataplanes/ebpf/testdata
 * Hand-built ServicePortState fixtures for the eBPF dataplane's unit tests, privileged tests and
 * benchmark (the model module builds these from Kubernetes objects; tests must not depend on it).
 */
import type { Endpoint, Protocol, ServicePort, ServicePortState } from '../../model/types.ts';

export interface FixtureOptions {
  readonly namespace?: string;
  readonly name: string;
  readonly port: number;
  readonly protocol?: Protocol;
  readonly clusterIPs: readonly string[];
  readonly externalIPs?: readonly string[];
  readonly internalTrafficPolicy?: 'Cluster' | 'Local';
  /** `ip:port`, optionally suffixed `@local` for an endpoint on this node. */
  readonly endpoints: readonly string[];
}

export function endpoint(spec: string): Endpoint {
  const [addr, where] = spec.split('@');
  const i = addr!.lastIndexOf(':');
  const isLocal = where === 'local';
  return {
    ip: addr!.slice(0, i),
    port: Number(addr!.slice(i + 1)),
    ready: true,
    serving: true,
    terminating: false,
    nodeName: isLocal ? 'node-a' : 'node-b',
    zone: undefined,
    zoneHints: [],
    nodeHints: [],
    isLocal,
  };
}

export function servicePortState(o: FixtureOptions): ServicePortState {
  const namespace = o.namespace ?? 'default';
  const protocol = o.protocol ?? 'TCP';
  const service: ServicePort = {
    key: `${namespace}/${o.name}:p${o.port}/${protocol}`,
    namespace,
    name: o.name,
    portName: `p${o.port}`,
    protocol,
    type: 'ClusterIP',
    clusterIPs: o.clusterIPs,
    port: o.port,
    targetPort: o.port,
    nodePort: 0,
    externalIPs: o.externalIPs ?? [],
    loadBalancerIPs: [],
    loadBalancerSourceRanges: [],
    externalTrafficPolicy: 'Cluster',
    internalTrafficPolicy: o.internalTrafficPolicy ?? 'Cluster',
    sessionAffinity: 'None',
    sessionAffinityTimeoutSeconds: 10800,
    healthCheckNodePort: 0,
    ipFamilies: ['IPv4'],
    trafficDistribution: undefined,
  };
  const endpoints = o.endpoints.map(endpoint);
  const localEndpoints = endpoints.filter((e) => e.isLocal);
  return {
    service,
    endpoints,
    clusterEndpoints: endpoints,
    localEndpoints,
    allReachableEndpoints: endpoints,
    hasEndpoints: endpoints.length > 0,
  };
}

export function stateOf(list: readonly ServicePortState[]): Map<string, ServicePortState> {
  return new Map(list.map((s) => [s.service.key, s]));
}
