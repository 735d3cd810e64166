/**
 * @module model/service
 * Turns a v1.Service into the service ports a dataplane programs, for one IP family, following
 * kube-proxy: headless and ExternalName Services are skipped; LoadBalancer ingress IPs count only
 * with ipMode VIP (or unset); addresses of the other family are ignored.
 */
import { isIPv4, isIPv6 } from 'node:net';
import type { V1Service } from '@kubernetes/client-node';
import { servicePortKey } from './names.ts';
import type { IPFamily, Protocol, ServicePort, ServiceType, TrafficPolicy } from './types.ts';

/** Labels with which a Service or slice opts out of kpr (kube-proxy's server-side selector). */
export const SERVICE_PROXY_NAME_LABEL = 'service.kubernetes.io/service-proxy-name';
export const HEADLESS_LABEL = 'service.kubernetes.io/headless';
export const DEFAULT_AFFINITY_TIMEOUT_SECONDS = 10800;

/** Shared by every port with nothing in a list field, instead of one empty array each. */
const NONE: readonly string[] = Object.freeze([]);
const FAMILY_ONLY: Record<IPFamily, readonly IPFamily[]> = {
  IPv4: Object.freeze(['IPv4']),
  IPv6: Object.freeze(['IPv6']),
};

/** `list` or, when it is empty, the shared empty list. */
function orNone<T>(list: T[]): readonly T[] {
  return list.length > 0 ? list : (NONE as readonly T[]);
}

/** Whether kube-proxy's label selector excludes an object with these labels. */
export function excludedByLabels(labels: Record<string, string> | undefined): boolean {
  return !!labels && (SERVICE_PROXY_NAME_LABEL in labels || HEADLESS_LABEL in labels);
}

function ofFamily(family: IPFamily): (ip: string) => boolean {
  return family === 'IPv4' ? (ip) => isIPv4(ip) : (ip) => isIPv6(ip);
}

/** Whether the Service has no proxied virtual IP at all (headless, ExternalName). */
export function shouldSkipService(svc: V1Service): boolean {
  const spec = svc.spec;
  if (!spec) return true;
  if (spec.type === 'ExternalName') return true;
  const ip = spec.clusterIP;
  if (!ip || ip === 'None') return true;
  return excludedByLabels(svc.metadata?.labels);
}

/** The service ports of `svc` for `family`; [] for a skipped Service or one without an IP of that family. */
export function servicePortsOf(svc: V1Service, family: IPFamily = 'IPv4'): ServicePort[] {
  if (shouldSkipService(svc)) return [];
  const spec = svc.spec!;
  const namespace = svc.metadata?.namespace ?? 'default';
  const name = svc.metadata?.name ?? '';
  const inFamily = ofFamily(family);
  const allClusterIPs = spec.clusterIPs?.length ? spec.clusterIPs : [spec.clusterIP!];
  const clusterIPs = allClusterIPs.filter(inFamily);
  if (clusterIPs.length === 0) return [];
  const type = (spec.type ?? 'ClusterIP') as ServiceType;
  const externalIPs = orNone((spec.externalIPs ?? []).filter(inFamily));
  const loadBalancerIPs =
    type === 'LoadBalancer'
      ? orNone(
          (svc.status?.loadBalancer?.ingress ?? [])
            .filter((i) => i.ip && (i.ipMode === undefined || i.ipMode === 'VIP'))
            .map((i) => i.ip!)
            .filter(inFamily),
        )
      : NONE;
  const sessionAffinity = spec.sessionAffinity === 'ClientIP' ? 'ClientIP' : 'None';
  const timeout =
    spec.sessionAffinityConfig?.clientIP?.timeoutSeconds ?? DEFAULT_AFFINITY_TIMEOUT_SECONDS;
  const ipFamilies = (
    spec.ipFamilies?.length ? [...spec.ipFamilies] : FAMILY_ONLY[family]
  ) as readonly IPFamily[];
  const sourceRanges =
    type === 'LoadBalancer' ? orNone([...(spec.loadBalancerSourceRanges ?? [])]) : NONE;
  return (spec.ports ?? []).map((p) => {
    const protocol = (p.protocol ?? 'TCP') as Protocol;
    const portName = p.name ?? '';
    return {
      key: servicePortKey(namespace, name, portName, protocol),
      namespace,
      name,
      portName,
      protocol,
      type,
      clusterIPs,
      port: p.port,
      targetPort: p.targetPort ?? p.port,
      nodePort: type === 'ClusterIP' ? 0 : (p.nodePort ?? 0),
      externalIPs,
      loadBalancerIPs,
      loadBalancerSourceRanges: sourceRanges,
      externalTrafficPolicy: (spec.externalTrafficPolicy ?? 'Cluster') as TrafficPolicy,
      internalTrafficPolicy: (spec.internalTrafficPolicy ?? 'Cluster') as TrafficPolicy,
      sessionAffinity,
      sessionAffinityTimeoutSeconds: timeout,
      healthCheckNodePort: spec.healthCheckNodePort ?? 0,
      ipFamilies,
      trafficDistribution: spec.trafficDistribution,
    };
  });
}

/** Whether traffic reaches the port from outside the node (kube-proxy's ExternallyAccessible). */
export function externallyAccessible(sp: ServicePort): boolean {
  return sp.nodePort !== 0 || sp.loadBalancerIPs.length > 0 || sp.externalIPs.length > 0;
}

/**
 * Whether some traffic to the port uses Cluster-policy endpoints: internal traffic under the
 * Cluster policy, and any externally reachable port, since even with externalTrafficPolicy Local
 * traffic from pods and from the node itself short-circuits to the Cluster endpoints.
 */
export function usesClusterEndpoints(sp: ServicePort): boolean {
  return sp.internalTrafficPolicy !== 'Local' || externallyAccessible(sp);
}

/** Whether some traffic to the port uses node-local endpoints only. */
export function usesLocalEndpoints(sp: ServicePort): boolean {
  return (
    sp.internalTrafficPolicy === 'Local' ||
    (externallyAccessible(sp) && sp.externalTrafficPolicy === 'Local')
  );
}
