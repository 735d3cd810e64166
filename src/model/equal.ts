/**
 * @module model/equal
 * Structural equality of model values, for dropping no-op updates without keeping a serialized
 * copy of every service port around. Every comparison tries object identity first: the tracker
 * reuses unchanged objects, so the common case costs a pointer comparison per field.
 */
import type { Endpoint, ServicePort, ServicePortState } from './types.ts';

export function stringArraysEqual(a: readonly string[], b: readonly string[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function equalEndpoint(a: Endpoint, b: Endpoint): boolean {
  return (
    a === b ||
    (a.ip === b.ip &&
      a.port === b.port &&
      a.ready === b.ready &&
      a.serving === b.serving &&
      a.terminating === b.terminating &&
      a.nodeName === b.nodeName &&
      a.zone === b.zone &&
      a.isLocal === b.isLocal &&
      stringArraysEqual(a.zoneHints, b.zoneHints) &&
      stringArraysEqual(a.nodeHints, b.nodeHints))
  );
}

export function endpointArraysEqual(a: readonly Endpoint[], b: readonly Endpoint[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!equalEndpoint(a[i]!, b[i]!)) return false;
  return true;
}

export function equalServicePort(a: ServicePort, b: ServicePort): boolean {
  return (
    a === b ||
    (a.key === b.key &&
      a.namespace === b.namespace &&
      a.name === b.name &&
      a.portName === b.portName &&
      a.protocol === b.protocol &&
      a.type === b.type &&
      a.port === b.port &&
      a.targetPort === b.targetPort &&
      a.nodePort === b.nodePort &&
      a.externalTrafficPolicy === b.externalTrafficPolicy &&
      a.internalTrafficPolicy === b.internalTrafficPolicy &&
      a.sessionAffinity === b.sessionAffinity &&
      a.sessionAffinityTimeoutSeconds === b.sessionAffinityTimeoutSeconds &&
      a.healthCheckNodePort === b.healthCheckNodePort &&
      a.trafficDistribution === b.trafficDistribution &&
      stringArraysEqual(a.clusterIPs, b.clusterIPs) &&
      stringArraysEqual(a.externalIPs, b.externalIPs) &&
      stringArraysEqual(a.loadBalancerIPs, b.loadBalancerIPs) &&
      stringArraysEqual(a.loadBalancerSourceRanges, b.loadBalancerSourceRanges) &&
      stringArraysEqual(a.ipFamilies, b.ipFamilies))
  );
}

/** Whether a dataplane would program `a` and `b` identically (every field, every endpoint list). */
export function equalServicePortState(a: ServicePortState, b: ServicePortState): boolean {
  return (
    a === b ||
    (a.hasEndpoints === b.hasEndpoints &&
      equalServicePort(a.service, b.service) &&
      endpointArraysEqual(a.endpoints, b.endpoints) &&
      endpointArraysEqual(a.clusterEndpoints, b.clusterEndpoints) &&
      endpointArraysEqual(a.localEndpoints, b.localEndpoints) &&
      endpointArraysEqual(a.allReachableEndpoints, b.allReachableEndpoints))
  );
}
