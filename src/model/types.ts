/**
 * @module model/types
 * The normalized view of Services and endpoints that every dataplane consumes.
 * It mirrors kube-proxy's ServicePortName / BaseServicePortInfo / Endpoint split: one entry per
 * (Service, port), carrying every field later dataplane features need, even where a dataplane
 * does not program it yet.
 */

export type Protocol = 'TCP' | 'UDP' | 'SCTP';
export type IPFamily = 'IPv4' | 'IPv6';
export type TrafficPolicy = 'Cluster' | 'Local';
export type ServiceType = 'ClusterIP' | 'NodePort' | 'LoadBalancer';

export interface NamespacedName {
  readonly namespace: string;
  readonly name: string;
}

/** One port of one Service (kube-proxy's ServicePortName plus BaseServicePortInfo). */
export interface ServicePort {
  /** Stable, unique key of this service port: `ns/name:portName/PROTOCOL` (see servicePortKey). */
  readonly key: string;
  readonly namespace: string;
  readonly name: string;
  /** The port's name; '' for an unnamed (single) port. */
  readonly portName: string;
  readonly protocol: Protocol;
  readonly type: ServiceType;
  /** spec.clusterIPs (or [spec.clusterIP]); every family. */
  readonly clusterIPs: readonly string[];
  readonly port: number;
  /** spec.ports[].targetPort as written (number or named port); endpoints carry the resolved port. */
  readonly targetPort: number | string;
  /** 0 when the Service has no node port. */
  readonly nodePort: number;
  readonly externalIPs: readonly string[];
  /** status.loadBalancer.ingress[].ip whose ipMode is VIP or unset. */
  readonly loadBalancerIPs: readonly string[];
  readonly loadBalancerSourceRanges: readonly string[];
  readonly externalTrafficPolicy: TrafficPolicy;
  readonly internalTrafficPolicy: TrafficPolicy;
  readonly sessionAffinity: 'None' | 'ClientIP';
  /** sessionAffinityConfig.clientIP.timeoutSeconds, default 10800; meaningful only with ClientIP. */
  readonly sessionAffinityTimeoutSeconds: number;
  /** 0 when unset. */
  readonly healthCheckNodePort: number;
  readonly ipFamilies: readonly IPFamily[];
  /** spec.trafficDistribution (e.g. PreferClose), when set. */
  readonly trafficDistribution: string | undefined;
}

/** One endpoint of a service port, after kube-proxy's slice merge and de-duplication. */
export interface Endpoint {
  readonly ip: string;
  readonly port: number;
  /** conditions.ready, nil = true. */
  readonly ready: boolean;
  /** conditions.serving, nil = true. */
  readonly serving: boolean;
  /** conditions.terminating, nil = false. */
  readonly terminating: boolean;
  readonly nodeName: string | undefined;
  readonly zone: string | undefined;
  /** hints.forZones[].name */
  readonly zoneHints: readonly string[];
  /** hints.forNodes[].name */
  readonly nodeHints: readonly string[];
  /** nodeName equals this agent's node name. */
  readonly isLocal: boolean;
}

/** What a dataplane programs for one service port: the port and its categorized endpoints. */
export interface ServicePortState {
  readonly service: ServicePort;
  /** Every endpoint of the port, de-duplicated and sorted by `ip:port` as kube-proxy does. */
  readonly endpoints: readonly Endpoint[];
  /** Endpoints for traffic under the Cluster policy (ready, else serving-terminating; topology-filtered). */
  readonly clusterEndpoints: readonly Endpoint[];
  /** Node-local endpoints for traffic under the Local policy (ready, else serving-terminating). */
  readonly localEndpoints: readonly Endpoint[];
  /** Union of the two lists above: every endpoint some traffic from this node may reach. */
  readonly allReachableEndpoints: readonly Endpoint[];
  /** Whether any usable endpoint exists anywhere (decides REJECT versus DROP). */
  readonly hasEndpoints: boolean;
}

/** The desired dataplane state: service port key → state. */
export type ProxyState = ReadonlyMap<string, ServicePortState>;

/** The result of committing pending changes: the whole state and the keys that changed. */
export interface StateChange {
  readonly state: ProxyState;
  /** Keys of service ports added, updated or removed since the previous commit. */
  readonly changed: ReadonlySet<string>;
  /** Services (`ns/name`) touched by the change, for per-Service partial syncs. */
  readonly changedServices: ReadonlySet<string>;
}
