/**
 * @module dataplanes/iptables/render
 * The pure renderer: desired state in, one iptables-restore input (`*filter` then `*nat`) out.
 * The layout is kube-proxy's (see README.md): top-level chains are rewritten on every sync, each
 * service port's KUBE-SVC/SVL/EXT/FW/SEP chains only when it changed, and per-service chains that
 * exist in the kernel but are no longer used are flushed and deleted in the same transaction.
 */
import type { ProxyState } from '../../model/types.ts';
import {
  FILTER_CHAINS,
  KUBE_FORWARD,
  KUBE_MARK_MASQ,
  KUBE_NODEPORTS,
  KUBE_POSTROUTING,
  KUBE_SERVICES,
  MASQ_MARK,
  NAT_CHAINS,
  SERVICE_CHAIN_RE,
} from './names.ts';
import { renderServicePort } from './service.ts';
import type { RuleSink } from './service.ts';
import { comment } from './syntax.ts';
import type { CIDR4 } from './syntax.ts';

/** kube-proxy's largeClusterEndpointsThreshold. */
export const LARGE_CLUSTER_ENDPOINTS = 1000;

export interface RenderOptions {
  readonly masqueradeAll: boolean;
  readonly localCIDR: CIDR4 | undefined;
  readonly nodeIPs: readonly string[];
  /** Drop ctstate INVALID in KUBE-FORWARD (kube-proxy omits it when nf_conntrack_tcp_be_liberal is set). */
  readonly dropInvalid: boolean;
  readonly largeClusterThreshold?: number;
}

export interface RenderRequest {
  readonly state: ProxyState;
  /** Service port keys whose own chains are rewritten; undefined = every one (full sync). */
  readonly changed: ReadonlySet<string> | undefined;
  /** Per-service nat chains present in the kernel; those the state no longer uses are deleted. */
  readonly existingChains: ReadonlySet<string>;
}

export interface Ruleset {
  /** The iptables-restore input. */
  readonly text: string;
  /** `-A` lines in `text`. */
  readonly rules: number;
  /** Per-service chains declared (rewritten) in `text`. */
  readonly writtenChains: readonly string[];
  /** Stale per-service chains deleted by `text`. */
  readonly deletedChains: readonly string[];
  /** Every per-service chain the state uses. */
  readonly activeChains: ReadonlySet<string>;
  readonly largeClusterMode: boolean;
  /** Entries that could not be programmed (invalid addresses, ports, ...), one sentence each. */
  readonly warnings: readonly string[];
}

const decl = (chain: string) => `:${chain} - [0:0]`;

export function renderRuleset(req: RenderRequest, opts: RenderOptions): Ruleset {
  let total = 0;
  for (const st of req.state.values()) total += st.endpoints.length;
  const largeClusterMode = total > (opts.largeClusterThreshold ?? LARGE_CLUSTER_ENDPOINTS);
  const ctx = {
    masqueradeAll: opts.masqueradeAll,
    localCIDR: opts.localCIDR,
    nodeIPs: opts.nodeIPs,
    largeClusterMode,
  };
  const sink: RuleSink = {
    filterServices: [],
    filterExternalServices: [],
    filterNodePorts: [],
    filterFirewall: [],
    natServices: [],
    natNodePorts: [],
    chains: [],
    chainRules: [],
    active: new Set(),
    warnings: [],
  };
  // Sorted keys make the output deterministic (kube-proxy iterates a map; its tests sort).
  for (const key of [...req.state.keys()].sort()) {
    const writeChains = req.changed === undefined || req.changed.has(key);
    renderServicePort(req.state.get(key)!, ctx, sink, writeChains);
  }
  const stale = [...req.existingChains]
    .filter((c) => SERVICE_CHAIN_RE.test(c) && !sink.active.has(c))
    .sort();

  const filter = [
    '*filter',
    ...FILTER_CHAINS.map(decl),
    ...(opts.dropInvalid ? [`-A ${KUBE_FORWARD} -m conntrack --ctstate INVALID -j DROP`] : []),
    `-A ${KUBE_FORWARD} ${comment('kubernetes forwarding rules')} -m mark --mark ${MASQ_MARK}/${MASQ_MARK} -j ACCEPT`,
    `-A ${KUBE_FORWARD} ${comment('kubernetes forwarding conntrack rule')} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
    ...sink.filterServices,
    ...sink.filterExternalServices,
    ...sink.filterNodePorts,
    ...sink.filterFirewall,
    'COMMIT',
  ];
  const nat = [
    '*nat',
    ...NAT_CHAINS.map(decl),
    ...sink.chains.map(decl),
    // Stale chains are flushed first so that -X finds them empty.
    ...stale.map(decl),
    ...sink.natServices,
    // Localhost NodePorts are off (they need route_localnet, CVE-2020-8558).
    `-A ${KUBE_SERVICES} ${comment('kubernetes service nodeports; NOTE: this must be the last rule in this chain')} -m addrtype --dst-type LOCAL ! -d 127.0.0.0/8 -j ${KUBE_NODEPORTS}`,
    ...sink.natNodePorts,
    `-A ${KUBE_POSTROUTING} -m mark ! --mark ${MASQ_MARK}/${MASQ_MARK} -j RETURN`,
    // Clear the mark so a packet that traverses POSTROUTING again (e.g. VXLAN) is not NATed twice.
    `-A ${KUBE_POSTROUTING} -j MARK --xor-mark ${MASQ_MARK}`,
    `-A ${KUBE_POSTROUTING} ${comment('kubernetes service traffic requiring SNAT')} -j MASQUERADE --random-fully`,
    `-A ${KUBE_MARK_MASQ} -j MARK --or-mark ${MASQ_MARK}`,
    ...sink.chainRules,
    ...stale.map((c) => `-X ${c}`),
    'COMMIT',
  ];
  const lines = [...filter, ...nat];
  return {
    text: lines.join('\n') + '\n',
    rules: lines.filter((l) => l.startsWith('-A ')).length,
    writtenChains: sink.chains,
    deletedChains: stale,
    activeChains: sink.active,
    largeClusterMode,
    warnings: sink.warnings,
  };
}
