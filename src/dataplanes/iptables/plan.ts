/**
 * @module dataplanes/iptables/plan
 * The decisions kube-proxy makes for one service port before writing any rule: which addresses
 * and endpoints of this family are usable (everything else is reported, never interpolated into
 * a rule), which traffic policies apply, and which per-service chains exist. Both the top-level
 * rules (service.ts) and the service's own chains (chains.ts) are written from this plan.
 */
import type { Endpoint, ServicePortState } from '../../model/types.ts';
import { endpointChain, endpointString, serviceChains, servicePortName } from './names.ts';
import type { ServiceChains } from './names.ts';
import { isIPv4, isPort, parseCIDR4 } from './syntax.ts';
import type { CIDR4 } from './syntax.ts';

export interface ServicePlan {
  /** kube-proxy's ServicePortName string, used in comments and hashes. */
  readonly name: string;
  readonly proto: string;
  readonly port: number;
  readonly clusterIP: string;
  readonly externalIPs: readonly string[];
  readonly lbIPs: readonly string[];
  /** Valid IPv4 source ranges (a range list with none valid still makes a deny-all firewall). */
  readonly ranges: readonly CIDR4[];
  readonly nodePort: number;
  readonly hcNodePort: number;
  /** ClientIP affinity timeout in seconds; undefined without affinity. */
  readonly affinitySeconds: number | undefined;
  readonly chains: ServiceChains;
  readonly internalLocal: boolean;
  readonly externalLocal: boolean;
  /** Endpoints of the KUBE-SVC chain (empty when it is not used) and of KUBE-SVL. */
  readonly clusterEps: readonly Endpoint[];
  readonly localEps: readonly Endpoint[];
  /** Every endpoint with a KUBE-SEP chain, sorted by `ip:port`. */
  readonly reachable: readonly Endpoint[];
  readonly hasEndpoints: boolean;
  readonly hasInternal: boolean;
  readonly hasExternal: boolean;
  readonly usesExt: boolean;
  readonly usesFW: boolean;
  readonly sepOf: (ep: Endpoint) => string;
}

const PROTOCOLS: ReadonlySet<string> = new Set(['TCP', 'UDP', 'SCTP']);

const byKey = ([a]: [string, Endpoint], [b]: [string, Endpoint]) => (a < b ? -1 : a > b ? 1 : 0);

/** Endpoints of the given lists, once each, sorted by `ip:port` (kube-proxy's order). */
function sortedUnion(...lists: (readonly Endpoint[])[]): Endpoint[] {
  const m = new Map<string, Endpoint>();
  for (const ep of lists.flat()) m.set(endpointString(ep.ip, ep.port), ep);
  return [...m.entries()].sort(byKey).map(([, e]) => e);
}

/**
 * Plans one service port, or returns undefined when it has nothing for IPv4 (or cannot be
 * programmed at all). Problems are appended to `warnings`.
 */
export function planServicePort(st: ServicePortState, warnings: string[]): ServicePlan | undefined {
  const svc = st.service;
  const where = `service port ${JSON.stringify(svc.key)}`;
  /** Reports an unusable value; returns false so that it can end a filter predicate. */
  const warn = (what: string, v: unknown): false => {
    warnings.push(`${where}: ignoring invalid ${what} ${JSON.stringify(v)}`);
    return false;
  };
  // IPv6 entries belong to the other family's proxier; anything else is garbage worth reporting.
  const v4 = (list: readonly string[], what: string) =>
    list.filter(
      (ip) => isIPv4(ip) || (!(/^[0-9a-fA-F:.]+$/.test(ip) && ip.includes(':')) && warn(what, ip)),
    );
  const eps = (list: readonly Endpoint[]) =>
    sortedUnion(
      list.filter(
        (ep) =>
          (isIPv4(ep.ip) && isPort(ep.port)) ||
          (!(ep.ip.includes(':') && isPort(ep.port)) && warn('endpoint', `${ep.ip}:${ep.port}`)),
      ),
    );
  const optionalPort = (n: number, what: string) => (n === 0 || isPort(n) ? n : (warn(what, n), 0));

  if (!PROTOCOLS.has(svc.protocol) || !isPort(svc.port)) {
    warnings.push(`${where}: skipped: invalid protocol or port`);
    return undefined;
  }
  const clusterIP = v4(svc.clusterIPs, 'cluster IP')[0];
  if (clusterIP === undefined) return undefined;
  const externalIPs = v4(svc.externalIPs, 'external IP');
  const lbIPs = v4(svc.loadBalancerIPs, 'load balancer IP');
  const ranges: CIDR4[] = [];
  for (const r of svc.loadBalancerSourceRanges) {
    const c = parseCIDR4(r);
    if (c) ranges.push(c);
    else if (!r.includes(':')) warn('source range', r);
  }
  const nodePort = optionalPort(svc.nodePort, 'node port');
  const hcNodePort = optionalPort(svc.healthCheckNodePort, 'health check node port');
  let affinitySeconds: number | undefined;
  if (svc.sessionAffinity === 'ClientIP') {
    affinitySeconds = svc.sessionAffinityTimeoutSeconds;
    if (!Number.isInteger(affinitySeconds) || affinitySeconds < 1 || affinitySeconds > 86400) {
      warn('affinity timeout (using 10800)', affinitySeconds);
      affinitySeconds = 10800;
    }
  }

  // kube-proxy's BaseServicePortInfo predicates. Even under eTP=Local, an externally reachable
  // port needs the Cluster endpoints: pod and host clients short-circuit to them.
  const externallyAccessible = nodePort !== 0 || externalIPs.length > 0 || lbIPs.length > 0;
  const internalLocal = svc.internalTrafficPolicy === 'Local';
  const externalLocal = externallyAccessible && svc.externalTrafficPolicy === 'Local';
  const allCluster = eps(st.clusterEndpoints);
  const allLocal = eps(st.localEndpoints);
  const clusterEps = !internalLocal || externallyAccessible ? allCluster : [];
  const localEps = internalLocal || externalLocal ? allLocal : [];
  // hasEndpoints decides DROP (usable endpoints exist, none local) versus REJECT (none at all). For
  // an externally reachable port it also gates the KUBE-EXT jumps, so it additionally requires an
  // endpoint list to program: no rule may jump to an undeclared chain. A ClusterIP-only port under
  // iTP=Local has no cluster list by design and must still DROP, as kube-proxy does.
  const hasEndpoints =
    st.hasEndpoints && (!externallyAccessible || allCluster.length + allLocal.length > 0);
  const name = servicePortName(svc);
  const seps = new Map<Endpoint, string>();
  return {
    name,
    proto: svc.protocol.toLowerCase(),
    port: svc.port,
    clusterIP,
    externalIPs,
    lbIPs,
    ranges,
    nodePort,
    hcNodePort,
    affinitySeconds,
    chains: serviceChains(name, svc.protocol),
    internalLocal,
    externalLocal,
    clusterEps,
    localEps,
    reachable: sortedUnion(clusterEps, localEps),
    hasEndpoints,
    hasInternal: hasEndpoints && (internalLocal ? localEps : clusterEps).length > 0,
    hasExternal: hasEndpoints && (externalLocal ? localEps : clusterEps).length > 0,
    usesExt: hasEndpoints && externallyAccessible,
    usesFW: hasEndpoints && lbIPs.length > 0 && svc.loadBalancerSourceRanges.length > 0,
    sepOf: (ep) => {
      // Each endpoint's chain name is needed three or four times; hashing dominates rendering.
      let c = seps.get(ep);
      if (c === undefined) seps.set(ep, (c = endpointChain(name, svc.protocol, ep.ip, ep.port)));
      return c;
    },
  };
}

/** The per-service chains a plan uses, in declaration order. */
export function ownChains(p: ServicePlan): string[] {
  const own: string[] = [];
  if (p.clusterEps.length > 0) own.push(p.chains.svc);
  if (p.localEps.length > 0) own.push(p.chains.svl);
  if (p.usesExt) own.push(p.chains.ext);
  if (p.usesFW) own.push(p.chains.fw);
  for (const ep of p.reachable) own.push(p.sepOf(ep));
  return own;
}
