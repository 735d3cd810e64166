/**
 * @module dataplanes/iptables/service
 * One service port's part of the ruleset, following kube-proxy's iptables proxier: the dispatch
 * rules it adds to the shared top-level chains (nat KUBE-SERVICES / KUBE-NODEPORTS and the filter
 * REJECT/DROP/ACCEPT chains), which are produced on every sync, and its own chains (chains.ts),
 * which are produced only when it changed (partial sync) but always reported as in use so that
 * they are not deleted as stale.
 */
import type { ServicePortState } from '../../model/types.ts';
import {
  KUBE_EXTERNAL_SERVICES,
  KUBE_NODEPORTS,
  KUBE_PROXY_FIREWALL,
  KUBE_SERVICES,
} from './names.ts';
import { line, writeOwnChains } from './chains.ts';
import { ownChains, planServicePort } from './plan.ts';
import { comment } from './syntax.ts';
import type { CIDR4 } from './syntax.ts';

export interface ServiceContext {
  readonly masqueradeAll: boolean;
  /** kube-proxy's ClusterCIDR local-traffic detector; undefined = no detector. */
  readonly localCIDR: CIDR4 | undefined;
  /** This node's IPv4 addresses (for the loadBalancerSourceRanges node exception). */
  readonly nodeIPs: readonly string[];
  /** More than 1000 endpoints in total: per-endpoint comments are left out, as kube-proxy does. */
  readonly largeClusterMode: boolean;
}

/** Where a service port's rules go; every entry is a complete restore line (`-A CHAIN …`). */
export interface RuleSink {
  readonly filterServices: string[];
  readonly filterExternalServices: string[];
  readonly filterNodePorts: string[];
  readonly filterFirewall: string[];
  readonly natServices: string[];
  readonly natNodePorts: string[];
  /** Per-service chains to declare (flush) and rewrite. */
  readonly chains: string[];
  readonly chainRules: string[];
  /** Every per-service chain the current state uses, written this time or not. */
  readonly active: Set<string>;
  readonly warnings: string[];
}

export function renderServicePort(
  st: ServicePortState,
  ctx: ServiceContext,
  sink: RuleSink,
  writeChains: boolean,
): void {
  const p = planServicePort(st, sink.warnings);
  if (!p) return;
  const { name, chains: ch } = p;
  const match = `-m ${p.proto} -p ${p.proto}`;
  const to = (ip: string) => `${match} -d ${ip} --dport ${p.port}`;
  // No endpoints at all: REJECT (the client learns at once); endpoints, but none local under a
  // Local policy: DROP.
  const [verdict, why] = p.hasEndpoints
    ? ['DROP', `${name} has no local endpoints`]
    : ['REJECT', `${name} has no endpoints`];
  const external = (...m: string[]) =>
    sink.filterExternalServices.push(
      line(`-A ${KUBE_EXTERNAL_SERVICES}`, comment(why), ...m, `-j ${verdict}`),
    );

  if (p.hasInternal) {
    const chain = p.internalLocal ? ch.svl : ch.svc;
    sink.natServices.push(
      line(`-A ${KUBE_SERVICES}`, comment(`${name} cluster IP`), to(p.clusterIP), `-j ${chain}`),
    );
  } else {
    sink.filterServices.push(
      line(`-A ${KUBE_SERVICES}`, comment(why), to(p.clusterIP), `-j ${verdict}`),
    );
  }
  for (const ip of p.externalIPs) {
    if (p.hasEndpoints)
      sink.natServices.push(
        line(`-A ${KUBE_SERVICES}`, comment(`${name} external IP`), to(ip), `-j ${ch.ext}`),
      );
    if (!p.hasExternal) external(to(ip));
  }
  // With source ranges, KUBE-PROXY-FIREWALL drops what KUBE-FW did not DNAT.
  for (const ip of p.lbIPs) {
    if (p.hasEndpoints)
      sink.natServices.push(
        line(
          `-A ${KUBE_SERVICES}`,
          comment(`${name} loadbalancer IP`),
          to(ip),
          `-j ${p.usesFW ? ch.fw : ch.ext}`,
        ),
      );
    if (p.usesFW)
      sink.filterFirewall.push(
        line(
          `-A ${KUBE_PROXY_FIREWALL}`,
          comment(`${name} traffic not accepted by ${ch.fw}`),
          to(ip),
          '-j DROP',
        ),
      );
  }
  if (!p.hasExternal) for (const ip of p.lbIPs) external(to(ip));
  // NodePorts are not subject to loadBalancerSourceRanges (as in kube-proxy).
  if (p.nodePort !== 0) {
    if (p.hasEndpoints)
      sink.natNodePorts.push(
        line(`-A ${KUBE_NODEPORTS}`, comment(name), match, `--dport ${p.nodePort}`, `-j ${ch.ext}`),
      );
    if (!p.hasExternal) external('-m addrtype --dst-type LOCAL', match, `--dport ${p.nodePort}`);
  }
  // The health check node port is accepted whether or not there are local endpoints.
  if (p.hcNodePort !== 0)
    sink.filterNodePorts.push(
      line(
        `-A ${KUBE_NODEPORTS}`,
        comment(`${name} health check node port`),
        '-m tcp -p tcp',
        `--dport ${p.hcNodePort}`,
        '-j ACCEPT',
      ),
    );

  const own = ownChains(p);
  for (const c of own) sink.active.add(c);
  if (!writeChains) return;
  sink.chains.push(...own);
  writeOwnChains(p, ctx, sink.chainRules);
}
