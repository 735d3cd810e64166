/**
 * @module dataplanes/iptables/test-fixtures
 * ServicePortState fixtures for the iptables tests, with this suite's defaults, built by the
 * model's own builders so endpoint categorization is exactly what the agent would produce.
 */
import { makeEndpoint, makePortState, makeServicePort } from '../../model/testing.ts';
import type { Endpoint, ServicePort, ServicePortState } from '../../model/types.ts';

export { stateOf } from '../../model/testing.ts';

export type PortInit = Partial<ServicePort> & Pick<ServicePort, 'namespace' | 'name'>;
export type EndpointInit = Partial<Endpoint> & Pick<Endpoint, 'ip'>;

/** The iptables scenarios' defaults: port name `p80` and ClusterIP 198.19.0.10. */
export function servicePort(init: PortInit): ServicePort {
  return makeServicePort({ portName: 'p80', clusterIPs: ['198.19.0.10'], ...init });
}

/** Endpoints default to the local node, `node-a`. */
export function endpoint(init: EndpointInit): Endpoint {
  return makeEndpoint({ nodeName: 'node-a', ...init });
}

/** A state categorized by the model's own endpoint selection; `node-a` is the local node. */
export function portState(init: PortInit, eps: readonly EndpointInit[] = []): ServicePortState {
  return makePortState(servicePort(init), eps.map(endpoint));
}
