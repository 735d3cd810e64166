/**
 * @module dataplanes/iptables/chains
 * The rules inside one service port's own chains, in kube-proxy's order: KUBE-SVC/KUBE-SVL
 * (masquerade, affinity, random endpoint choice), KUBE-EXT (external traffic policy), KUBE-FW
 * (loadBalancerSourceRanges) and one KUBE-SEP per endpoint (hairpin masquerade, DNAT).
 */
import type { Endpoint } from '../../model/types.ts';
import { KUBE_MARK_MASQ, KUBE_PROXY_FIREWALL, endpointString } from './names.ts';
import type { ServicePlan } from './plan.ts';
import type { ServiceContext } from './service.ts';
import { cidrContains, comment } from './syntax.ts';

export function line(...parts: (string | false | undefined)[]): string {
  return parts.filter((p): p is string => typeof p === 'string' && p !== '').join(' ');
}

export function writeOwnChains(p: ServicePlan, ctx: ServiceContext, out: string[]): void {
  const { name, chains: ch } = p;
  const masq = `-j ${KUBE_MARK_MASQ}`;
  if (p.hasInternal) {
    // Masquerade off-cluster clients of the ClusterIP: their replies would not come back here.
    const chain = p.internalLocal ? ch.svl : ch.svc;
    const head = line(
      `-A ${chain}`,
      comment(`${name} cluster IP`),
      `-m ${p.proto} -p ${p.proto}`,
      `-d ${p.clusterIP} --dport ${p.port}`,
    );
    if (ctx.masqueradeAll) out.push(`${head} ${masq}`);
    else if (ctx.localCIDR) out.push(`${head} ! -s ${ctx.localCIDR.text} ${masq}`);
  }
  if (p.usesExt) {
    const usesSvc = p.clusterEps.length > 0;
    if (!p.externalLocal) {
      out.push(
        line(`-A ${ch.ext}`, comment(`masquerade traffic for ${name} external destinations`), masq),
      );
    } else {
      // Pod and host clients are exempt from the Local policy, as if they went out and came back
      // through an external load balancer; host clients need masquerade (their source is local).
      if (ctx.localCIDR && usesSvc)
        out.push(
          line(
            `-A ${ch.ext}`,
            comment(`pod traffic for ${name} external destinations`),
            `-s ${ctx.localCIDR.text}`,
            `-j ${ch.svc}`,
          ),
        );
      const local = '-m addrtype --src-type LOCAL';
      out.push(
        line(
          `-A ${ch.ext}`,
          comment(`masquerade LOCAL traffic for ${name} external destinations`),
          local,
          masq,
        ),
      );
      if (usesSvc)
        out.push(
          line(
            `-A ${ch.ext}`,
            comment(`route LOCAL traffic for ${name} external destinations`),
            local,
            `-j ${ch.svc}`,
          ),
        );
    }
    if (p.hasExternal) out.push(`-A ${ch.ext} -j ${p.externalLocal ? ch.svl : ch.svc}`);
  }
  if (p.usesFW) {
    const head = line(`-A ${ch.fw}`, comment(`${name} loadbalancer IP`));
    for (const r of p.ranges) out.push(`${head} -s ${r.text} -j ${ch.ext}`);
    // A node that owns the VIP reaches it with the VIP as source; allowed when a range covers the node.
    if (p.ranges.some((r) => ctx.nodeIPs.some((ip) => cidrContains(r, ip))))
      for (const ip of p.lbIPs) out.push(`${head} -s ${ip} -j ${ch.ext}`);
    out.push(
      line(
        `-A ${ch.fw}`,
        comment(`other traffic to ${name} will be dropped by ${KUBE_PROXY_FIREWALL}`),
      ),
    );
  }
  // Large clusters drop the per-endpoint comments (up to 40% of the ruleset, says kube-proxy).
  const epComment = (text: string) => (ctx.largeClusterMode ? '' : comment(text));
  const dispatch = (chain: string, eps: readonly Endpoint[]) => {
    const arrow = (ep: Endpoint) => epComment(`${name} -> ${endpointString(ep.ip, ep.port)}`);
    if (p.affinitySeconds !== undefined)
      for (const ep of eps)
        out.push(
          line(
            `-A ${chain}`,
            arrow(ep),
            `-m recent --name ${p.sepOf(ep)} --rcheck --seconds ${p.affinitySeconds} --reap`,
            `-j ${p.sepOf(ep)}`,
          ),
        );
    eps.forEach((ep, i) => {
      // Rule i matches with probability 1/(n-i), so every endpoint is equally likely; the last always.
      const prob =
        i < eps.length - 1 &&
        `-m statistic --mode random --probability ${(1 / (eps.length - i)).toFixed(10)}`;
      out.push(line(`-A ${chain}`, arrow(ep), prob, `-j ${p.sepOf(ep)}`));
    });
  };
  if (p.clusterEps.length > 0) dispatch(ch.svc, p.clusterEps);
  if (p.localEps.length > 0) dispatch(ch.svl, p.localEps);
  for (const ep of p.reachable) {
    const sep = p.sepOf(ep);
    // Hairpin: an endpoint reaching itself through the service must be masqueraded.
    out.push(line(`-A ${sep}`, epComment(name), `-s ${ep.ip}`, masq));
    out.push(
      line(
        `-A ${sep}`,
        epComment(name),
        p.affinitySeconds !== undefined && `-m recent --name ${sep} --set`,
        `-m ${p.proto} -p ${p.proto}`,
        `-j DNAT --to-destination ${endpointString(ep.ip, ep.port)}`,
      ),
    );
  }
}
