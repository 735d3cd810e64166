/**
 * @module dataplanes/nftables/fixtures
 * Hand-built ServicePortState values for the nftables tests (golden, incremental, privileged).
 * The endpoint lists are categorized here the way kube-proxy's CategorizeEndpoints would for the
 * simple cases the tests use (every endpoint ready, no topology hints), so the tests do not
 * depend on the model package.
 */
import type { Endpoint, ProxyState, ServicePort, ServicePortState } from '../../model/types.ts';

export const NODE = 'node-a';

export function endpoint(ip: string, port: number, more: Partial<Endpoint> = {}): Endpoint {
  const nodeName = more.nodeName ?? 'node-b';
  return {
    ip,
    port,
    ready: true,
    serving: true,
    terminating: false,
    nodeName,
    zone: undefined,
    zoneHints: [],
    nodeHints: [],
    isLocal: nodeName === NODE,
    ...more,
  };
}

export function servicePort(
  more: Partial<ServicePort> & { namespace: string; name: string },
): ServicePort {
  const portName = more.portName ?? '';
  const protocol = more.protocol ?? 'TCP';
  return {
    key: `${more.namespace}/${more.name}:${portName}/${protocol}`,
    portName,
    protocol,
    type: 'ClusterIP',
    clusterIPs: ['198.18.100.1'],
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
    ...more,
  };
}

/** Categorizes like CategorizeEndpoints for ready-only endpoints without topology hints. */
export function portState(service: ServicePort, endpoints: readonly Endpoint[]): ServicePortState {
  const sorted = [...endpoints].sort((a, b) =>
    `${a.ip}:${a.port}` < `${b.ip}:${b.port}` ? -1 : 1,
  );
  const ready = sorted.filter((e) => e.ready);
  const usable = ready.length > 0 ? ready : sorted.filter((e) => e.serving && e.terminating);
  const externallyAccessible =
    service.nodePort !== 0 || service.externalIPs.length > 0 || service.loadBalancerIPs.length > 0;
  const usesCluster = service.internalTrafficPolicy === 'Cluster' || externallyAccessible;
  const usesLocal =
    service.internalTrafficPolicy === 'Local' ||
    (service.externalTrafficPolicy === 'Local' && externallyAccessible);
  const clusterEndpoints = usesCluster ? usable : [];
  const localReady = sorted.filter((e) => e.isLocal && e.ready);
  const localEndpoints = usesLocal
    ? localReady.length > 0
      ? localReady
      : sorted.filter((e) => e.isLocal && e.serving && e.terminating)
    : [];
  const all = sorted.filter((e) => clusterEndpoints.includes(e) || localEndpoints.includes(e));
  return {
    service,
    endpoints: sorted,
    clusterEndpoints,
    localEndpoints,
    allReachableEndpoints: all,
    hasEndpoints: usable.length > 0,
  };
}

export function stateOf(...ports: readonly ServicePortState[]): ProxyState {
  return new Map(ports.map((p) => [p.service.key, p]));
}
