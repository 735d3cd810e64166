/**
 * @module dataplanes/nftables/service
 * Renders one service port into what it owns in kpr's table: its chains (service-, local-,
 * external-, firewall-, endpoint-), its ClientIP-affinity sets, and its elements in the shared
 * sets and verdict maps. Pure: same input, same output, no kernel access. Follows kube-proxy's
 * nftables proxier with its 1.36 scaling changes (endpoint chains only for ClientIP affinity, no
 * mark-for-masquerade chain, hairpin set), except that endpoints are picked by one
 * `numgen random mod k == 0` rule per endpoint instead of an inline map; see README.md for why.
 *
 * Every value interpolated into nft text is validated here (IPv4 literals, ports, CIDRs) or
 * escaped (names, comments); what fails validation is skipped and reported through `warn`.
 */
import type { Endpoint, ServicePortState } from '../../model/types.ts';
import {
  canonicalIPv4Cidr,
  endpointChainBase,
  isCanonicalIPv4,
  isValidPort,
  protoLower,
  quoteComment,
  servicePortChainBase,
  servicePortNameString,
} from './naming.ts';
import {
  CLUSTER_IPS,
  FIREWALL_IPS,
  HAIRPIN,
  MARK_MASQ,
  NO_ENDPOINT_NODEPORTS,
  NO_ENDPOINT_SERVICES,
  REJECT_CHAIN,
  SERVICE_IPS,
  SERVICE_NODEPORTS,
  type ChainDef,
} from './skeleton.ts';

/** One element of a shared set or map; `value` is undefined for plain sets. */
export interface ElementDef {
  readonly container: string;
  readonly key: string;
  readonly value: string | undefined;
  /** Already quoted. */
  readonly comment: string | undefined;
}

/** A per-endpoint ClientIP-affinity set (dynamic, with the affinity timeout). */
export interface AffinitySetDef {
  readonly name: string;
  readonly timeoutSeconds: number;
}

export interface ServiceRender {
  readonly chains: readonly ChainDef[];
  readonly sets: readonly AffinitySetDef[];
  readonly elements: readonly ElementDef[];
}

export interface RenderOptions {
  readonly masqueradeAll: boolean;
  /** Canonical IPv4 CIDR of the pod network (kube-proxy's ClusterCIDR local-traffic detector). */
  readonly clusterCIDR: string | undefined;
  readonly warn?: (msg: string, fields: Record<string, unknown>) => void;
}

const DEFAULT_AFFINITY_SECONDS = 10800;
const MAX_AFFINITY_SECONDS = 86400;

export const EMPTY_RENDER: ServiceRender = { chains: [], sets: [], elements: [] };

/** The ClusterIP/external/LB element comments kpr reads back in list() to tell frontend kinds apart. */
export const EXTERNAL_IP_COMMENT = 'external IP';
export const LOADBALANCER_IP_COMMENT = 'loadbalancer IP';

function affinityTimeout(seconds: number): number {
  return Number.isInteger(seconds) && seconds > 0
    ? Math.min(seconds, MAX_AFFINITY_SECONDS)
    : DEFAULT_AFFINITY_SECONDS;
}

export function renderServicePort(sp: ServicePortState, opts: RenderOptions): ServiceRender {
  const svc = sp.service;
  const key = svc.key;
  const warn = (msg: string, fields: Record<string, unknown> = {}): void =>
    opts.warn?.(msg, { service: key, ...fields });
  const proto = protoLower(svc.protocol);
  if (!isValidPort(svc.port)) {
    warn('service port out of range; not programmed', { port: svc.port });
    return EMPTY_RENDER;
  }
  // This table is family ip: only IPv4 addresses belong here (kube-proxy runs one proxier per family).
  const v4 = (ips: readonly string[], what: string): string[] => {
    const ok = ips.filter((ip) => isCanonicalIPv4(ip));
    for (const bad of ips.filter((ip) => !isCanonicalIPv4(ip) && !ip.includes(':')))
      warn(`invalid ${what}; skipped`, { ip: bad });
    return [...new Set(ok)];
  };
  const clusterIP = v4(svc.clusterIPs, 'cluster IP')[0];
  if (clusterIP === undefined) return EMPTY_RENDER;
  const externalIPs = v4(svc.externalIPs, 'external IP');
  const lbIPs = v4(svc.loadBalancerIPs, 'load balancer IP');
  const nodePort = svc.nodePort !== 0 && isValidPort(svc.nodePort) ? svc.nodePort : 0;
  if (svc.nodePort !== 0 && nodePort === 0)
    warn('node port out of range; skipped', { nodePort: svc.nodePort });

  const usable = (eps: readonly Endpoint[]): Endpoint[] =>
    eps.filter((e) => isCanonicalIPv4(e.ip) && isValidPort(e.port));
  const clusterEndpoints = usable(sp.clusterEndpoints);
  const localEndpoints = usable(sp.localEndpoints);
  const reachable = usable(sp.allReachableEndpoints);
  for (const e of sp.endpoints)
    if (!e.ip.includes(':') && !(isCanonicalIPv4(e.ip) && isValidPort(e.port)))
      warn('invalid endpoint; skipped', { ip: e.ip, port: e.port });
  const hasEndpoints =
    sp.hasEndpoints && sp.endpoints.some((e) => isCanonicalIPv4(e.ip) && isValidPort(e.port));

  const base = servicePortChainBase(svc);
  const clusterChain = `service-${base}`;
  const localChain = `local-${base}`;
  const externalChain = `external-${base}`;
  const firewallChain = `firewall-${base}`;
  const externallyAccessible = nodePort !== 0 || externalIPs.length > 0 || lbIPs.length > 0;
  const iTPLocal = svc.internalTrafficPolicy === 'Local';
  const eTPLocal = svc.externalTrafficPolicy === 'Local' && externallyAccessible;
  const usesClusterEndpoints = !iTPLocal || externallyAccessible;
  const usesLocalEndpoints = iTPLocal || eTPLocal;
  const usesClusterChain = clusterEndpoints.length > 0 && usesClusterEndpoints;
  const usesLocalChain = localEndpoints.length > 0 && usesLocalEndpoints;

  // A policy "has endpoints" only if its chain will exist; in a consistent model that is the same
  // as kube-proxy's test, and it guarantees no element ever points at an undefined chain.
  const internalChain = iTPLocal ? localChain : clusterChain;
  const hasInternalEndpoints = iTPLocal ? usesLocalChain : hasEndpoints && usesClusterChain;
  const externalPolicyChain = eTPLocal ? localChain : clusterChain;
  const hasExternalEndpoints = eTPLocal ? usesLocalChain : hasEndpoints && usesClusterChain;
  const usesExternalChain = hasExternalEndpoints && externallyAccessible;
  // No endpoints anywhere: reject (the client gets an error at once); only "no local endpoints"
  // under a Local policy: drop, as kube-proxy does.
  const noEndpointVerdict = !hasEndpoints ? `goto ${REJECT_CHAIN}` : 'drop';
  const nameComment = quoteComment(servicePortNameString(svc));

  const elements: ElementDef[] = [];
  const chains: ChainDef[] = [];
  const sets: AffinitySetDef[] = [];
  const el = (container: string, k: string, value: string | undefined, comment?: string): void => {
    elements.push({ container, key: k, value, comment });
  };

  // Frontends.
  el(CLUSTER_IPS, clusterIP, undefined);
  if (hasInternalEndpoints)
    el(SERVICE_IPS, `${clusterIP} . ${proto} . ${svc.port}`, `goto ${internalChain}`);
  else
    el(
      NO_ENDPOINT_SERVICES,
      `${clusterIP} . ${proto} . ${svc.port}`,
      noEndpointVerdict,
      nameComment,
    );
  const externalFrontends: [string, string][] = [
    ...externalIPs.map((ip): [string, string] => [ip, EXTERNAL_IP_COMMENT]),
    ...lbIPs.map((ip): [string, string] => [ip, LOADBALANCER_IP_COMMENT]),
  ];
  for (const [ip, kind] of externalFrontends) {
    const k = `${ip} . ${proto} . ${svc.port}`;
    if (usesExternalChain) el(SERVICE_IPS, k, `goto ${externalChain}`, quoteComment(kind));
    else el(NO_ENDPOINT_SERVICES, k, noEndpointVerdict, nameComment);
  }
  if (nodePort !== 0) {
    const k = `${proto} . ${nodePort}`;
    if (usesExternalChain) el(SERVICE_NODEPORTS, k, `goto ${externalChain}`);
    else el(NO_ENDPOINT_NODEPORTS, k, noEndpointVerdict, nameComment);
  }

  // loadBalancerSourceRanges: checked in filter-prerouting, before DNAT; never applied to NodePorts.
  if (lbIPs.length > 0 && svc.loadBalancerSourceRanges.length > 0) {
    const ranges = [...new Set(svc.loadBalancerSourceRanges.map((c) => canonicalIPv4Cidr(c)))];
    const valid = ranges.filter((c): c is string => c !== undefined);
    if (valid.length < ranges.length) warn('invalid loadBalancerSourceRanges entries; skipped', {});
    // With only invalid ranges, fail closed: the owner asked for a restriction we cannot express.
    const rule = valid.length > 0 ? `ip saddr != { ${valid.join(', ')} } drop` : 'drop';
    chains.push({ name: firewallChain, rules: [rule] });
    for (const ip of lbIPs)
      el(FIREWALL_IPS, `${ip} . ${proto} . ${svc.port}`, `goto ${firewallChain}`);
  }

  // Internal traffic: masquerade off-cluster clients of the ClusterIP (or everyone with masqueradeAll).
  const internalRules: string[] = [];
  if (hasInternalEndpoints) {
    if (opts.masqueradeAll) internalRules.push(`ip daddr ${clusterIP} ${MARK_MASQ}`);
    else if (opts.clusterCIDR)
      internalRules.push(`ip daddr ${clusterIP} ip saddr != ${opts.clusterCIDR} ${MARK_MASQ}`);
  }

  // External traffic chain, the same decisions as KUBE-EXT-*.
  if (usesExternalChain) {
    const rules: string[] = [];
    if (!eTPLocal) {
      rules.push(`${MARK_MASQ} comment "masquerade traffic from outside the cluster"`);
    } else if (usesClusterChain) {
      // Pods and the node itself may use any endpoint; only host traffic needs masquerading.
      if (opts.clusterCIDR)
        rules.push(
          `ip saddr ${opts.clusterCIDR} goto ${clusterChain} comment "short-circuit pod traffic"`,
        );
      rules.push(`fib saddr type local ${MARK_MASQ} comment "masquerade local traffic"`);
      rules.push(`fib saddr type local goto ${clusterChain} comment "short-circuit local traffic"`);
    }
    rules.push(`goto ${externalPolicyChain}`);
    chains.push({ name: externalChain, rules });
  }

  const affinity = svc.sessionAffinity === 'ClientIP';
  const timeout = affinityTimeout(svc.sessionAffinityTimeoutSeconds);
  const epNames = (e: Endpoint): { chain: string; set: string } => {
    const b = endpointChainBase(svc, e.ip, e.port);
    return { chain: `endpoint-${b}`, set: `affinity-${b}` };
  };
  const dnat = (e: Endpoint): string => `meta l4proto ${proto} dnat to ${e.ip}:${e.port}`;
  // Endpoint choice: rule i matches with probability 1/(N-i), so every endpoint gets 1/N. kube-proxy
  // 1.36 uses one inline `numgen ... map { }` instead, but every inline map is an anonymous set, and
  // the kernel's cost of adding one grows with the number of sets in the table (10000 Services took
  // 15 s of kernel time); these rules cost the same at any Service count. Only the first packet of
  // a connection traverses them, and only its own Service's rules.
  const pick = (eps: readonly Endpoint[], verdict: (e: Endpoint) => string): string[] =>
    eps.map((e, i) =>
      i === eps.length - 1 ? verdict(e) : `numgen random mod ${eps.length - i} == 0 ${verdict(e)}`,
    );
  const policyRules = (eps: readonly Endpoint[]): string[] => {
    // Without ClientIP affinity the service chain DNATs directly (no endpoint chains).
    if (!affinity) return pick(eps, dnat);
    const rules = eps.map((e) => `ip saddr @${epNames(e).set} goto ${epNames(e).chain}`);
    return [...rules, ...pick(eps, (e) => `goto ${epNames(e).chain}`)];
  };
  const withInternal = (name: string, rules: string[]): string[] =>
    name === internalChain ? [...internalRules, ...rules] : rules;
  if (usesClusterChain)
    chains.push({
      name: clusterChain,
      rules: withInternal(clusterChain, policyRules(clusterEndpoints)),
    });
  if (usesLocalChain)
    chains.push({ name: localChain, rules: withInternal(localChain, policyRules(localEndpoints)) });

  // Every endpoint some traffic from this node may be DNATed to: its hairpin element, and with
  // ClientIP affinity its endpoint chain and affinity set.
  const needed = new Set<string>();
  if (usesClusterChain) for (const e of clusterEndpoints) needed.add(`${e.ip}:${e.port}`);
  if (usesLocalChain) for (const e of localEndpoints) needed.add(`${e.ip}:${e.port}`);
  const seen = new Set<string>();
  for (const e of [...reachable, ...clusterEndpoints, ...localEndpoints]) {
    const id = `${e.ip}:${e.port}`;
    if (!needed.has(id) || seen.has(id)) continue;
    seen.add(id);
    el(HAIRPIN, `${e.ip} . ${e.ip} . ${proto} . ${e.port}`, undefined);
    if (!affinity) continue;
    const n = epNames(e);
    sets.push({ name: n.set, timeoutSeconds: timeout });
    chains.push({ name: n.chain, rules: [`update @${n.set} { ip saddr }`, dnat(e)] });
  }
  return { chains, sets, elements };
}
