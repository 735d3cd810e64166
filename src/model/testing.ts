/**
 * @module model/testing
 * Builders for Service and EndpointSlice objects in tests and benchmarks, so each test states only
 * the fields it is about.
 */
import type { V1EndpointSlice, V1Service, V1ServicePort } from '@kubernetes/client-node';
import { compareEndpoints } from './endpoints.ts';
import { servicePortKey } from './names.ts';
import { categorizeEndpoints, type NodeTopology } from './topology.ts';
import type { Endpoint, ServicePort, ServicePortState } from './types.ts';

export interface ServiceSpec {
  namespace?: string;
  name: string;
  clusterIP: string;
  ports?: V1ServicePort[];
  type?: 'ClusterIP' | 'NodePort' | 'LoadBalancer' | 'ExternalName';
  labels?: Record<string, string>;
  externalIPs?: string[];
  internalTrafficPolicy?: 'Cluster' | 'Local';
  externalTrafficPolicy?: 'Cluster' | 'Local';
  lbIngress?: { ip: string; ipMode?: string }[];
}

export function makeService(s: ServiceSpec): V1Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      namespace: s.namespace ?? 'default',
      name: s.name,
      ...(s.labels ? { labels: s.labels } : {}),
    },
    spec: {
      type: s.type ?? 'ClusterIP',
      clusterIP: s.clusterIP,
      ports: s.ports ?? [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }],
      ...(s.externalIPs ? { externalIPs: s.externalIPs } : {}),
      ...(s.internalTrafficPolicy ? { internalTrafficPolicy: s.internalTrafficPolicy } : {}),
      ...(s.externalTrafficPolicy ? { externalTrafficPolicy: s.externalTrafficPolicy } : {}),
    },
    ...(s.lbIngress ? { status: { loadBalancer: { ingress: s.lbIngress } } } : {}),
  };
}

export interface SliceEndpoint {
  ip: string;
  ready?: boolean;
  serving?: boolean;
  terminating?: boolean;
  nodeName?: string;
  zoneHints?: string[];
  nodeHints?: string[];
}

export interface SliceSpec {
  namespace?: string;
  name: string;
  service: string;
  endpoints: SliceEndpoint[];
  ports?: { name?: string; port: number; protocol?: string }[];
  addressType?: string;
  labels?: Record<string, string>;
}

export function makeSlice(s: SliceSpec): V1EndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      namespace: s.namespace ?? 'default',
      name: s.name,
      labels: { 'kubernetes.io/service-name': s.service, ...s.labels },
    },
    addressType: s.addressType ?? 'IPv4',
    ports: s.ports ?? [{ name: 'http', port: 8080, protocol: 'TCP' }],
    endpoints: s.endpoints.map((e) => ({
      addresses: [e.ip],
      conditions: {
        ...(e.ready !== undefined ? { ready: e.ready } : {}),
        ...(e.serving !== undefined ? { serving: e.serving } : {}),
        ...(e.terminating !== undefined ? { terminating: e.terminating } : {}),
      },
      ...(e.nodeName ? { nodeName: e.nodeName } : {}),
      ...(e.zoneHints || e.nodeHints
        ? {
            hints: {
              ...(e.zoneHints ? { forZones: e.zoneHints.map((name) => ({ name })) } : {}),
              ...(e.nodeHints ? { forNodes: e.nodeHints.map((name) => ({ name })) } : {}),
            },
          }
        : {}),
    })),
  };
}

/** A service port with every field defaulted (ClusterIP, TCP, port 80 → 8080, Cluster policies). */
export function makeServicePort(
  init: Partial<ServicePort> & Pick<ServicePort, 'namespace' | 'name'>,
): ServicePort {
  const portName = init.portName ?? '';
  const protocol = init.protocol ?? 'TCP';
  return {
    key: servicePortKey(init.namespace, init.name, portName, protocol),
    portName,
    protocol,
    type: 'ClusterIP',
    clusterIPs: ['198.19.0.1'],
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

/** A ready endpoint on port 8080 with no topology hints; `isLocal` follows `localNode`. */
export function makeEndpoint(
  init: Partial<Endpoint> & Pick<Endpoint, 'ip'>,
  localNode = 'node-a',
): Endpoint {
  return {
    port: 8080,
    ready: true,
    serving: true,
    terminating: false,
    nodeName: undefined,
    zone: undefined,
    zoneHints: [],
    nodeHints: [],
    isLocal: init.nodeName !== undefined && init.nodeName === localNode,
    ...init,
  };
}

/**
 * A service port's state exactly as the change tracker would build it: endpoints sorted by
 * `ip:port` and categorized by the real endpoint-selection function, so dataplane tests see
 * what the agent would hand them.
 */
export function makePortState(
  service: ServicePort,
  endpoints: readonly Endpoint[],
  node: NodeTopology = { nodeName: 'node-a', zone: undefined },
): ServicePortState {
  const sorted = [...endpoints].sort(compareEndpoints);
  return { service, endpoints: sorted, ...categorizeEndpoints(service, sorted, node) };
}

/** A ProxyState keyed by service port key. */
export function stateOf(...ports: readonly ServicePortState[]): Map<string, ServicePortState> {
  return new Map(ports.map((p) => [p.service.key, p]));
}
