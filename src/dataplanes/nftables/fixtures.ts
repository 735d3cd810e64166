/**
 * @module dataplanes/nftables/fixtures
 * ServicePortState values for the nftables tests (golden, incremental, privileged).
 * Endpoint lists are categorized by the model's own endpoint selection, so the tests see exactly
 * what the agent would hand the dataplane.
 */
import {
  makeEndpoint,
  makePortState,
  makeServicePort,
  stateOf as baseStateOf,
} from '../../model/testing.ts';
import type { Endpoint, ProxyState, ServicePort, ServicePortState } from '../../model/types.ts';

export const NODE = 'node-a';

export function endpoint(ip: string, port: number, more: Partial<Endpoint> = {}): Endpoint {
  return makeEndpoint({ ip, port, nodeName: 'node-b', ...more }, NODE);
}

export function servicePort(
  more: Partial<ServicePort> & { namespace: string; name: string },
): ServicePort {
  return makeServicePort({ clusterIPs: ['198.18.100.1'], ...more });
}

/** Categorized by the model's own endpoint selection, as the agent would hand it over. */
export function portState(service: ServicePort, endpoints: readonly Endpoint[]): ServicePortState {
  return makePortState(service, endpoints, { nodeName: NODE, zone: undefined });
}

export function stateOf(...ports: readonly ServicePortState[]): ProxyState {
  return baseStateOf(...ports);
}
