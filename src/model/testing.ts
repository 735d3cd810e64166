/**
 * @module model/testing
 * Builders for Service and EndpointSlice objects in tests and benchmarks, so each test states only
 * the fields it is about.
 */
import type { V1EndpointSlice, V1Service, V1ServicePort } from '@kubernetes/client-node';

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
