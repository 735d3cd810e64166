/**
 * @module dataplanes/iptables/render
 * The pure renderer: desired state in, one iptables-restore input (`*filter` then `*nat`) out.
 * The layout is kube-proxy's (see README.md): top-level chains are rewritten on every sync, each
 * service port's KUBE-SVC/SVL/EXT/FW/SEP chains only when it changed, and per-service chains that
 * exist in the kernel but are no longer used are flushed and deleted in the same transaction.
 */
import type { ProxyState } from '../../model/types.ts';
import {
  KUBE_EXTERNAL_SERVICES,
  KUBE_FORWARD,
  KUBE_MARK_MASQ,
  KUBE_NODEPORTS,
  KUBE_POSTROUTING,
  KUBE_SERVICES,
  KUBE_PROXY_FIREWALL,
  MASQ_MARK,
  SERVICE_CHAIN_RE,
} from './names.ts';
import { createRenderCache, emptySink, renderPort } from './fragments.ts';
import type { RenderCache, ServiceBlock } from './fragments.ts';
import type { RuleSink } from './service.ts';

export { createRenderCache };
export type { RenderCache, ServiceBlock };
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
  /**
   * Order the nat KUBE-SERVICES / KUBE-NODEPORTS dispatch rules by jump target, descending,
   * instead of by service port key. Their matches are disjoint (kube-proxy writes them in map
   * order), so only the restore cost changes: iptables-nft-restore pays a linear scan per chain
   * name it has not seen yet unless names arrive in descending order (see apply.ts).
   */
  readonly dispatchByTarget?: boolean;
}

/** The jump target of a complete rule line (`… -j TARGET`). */
function targetOf(rule: string): string {
  const i = rule.lastIndexOf(' -j ');
  return i < 0 ? '' : rule.slice(i + 4).split(' ', 1)[0]!;
}

/** A stable sort by jump target, descending. */
function byTargetDescending(rules: readonly string[]): string[] {
  return rules
    .map((r, i) => ({ r, i, t: targetOf(r) }))
    .sort((a, b) => (a.t < b.t ? 1 : a.t > b.t ? -1 : a.i - b.i))
    .map((x) => x.r);
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
  /**
   * The per-service chains of `text`, one block per written service port (declarations and
   * rules), for backends that apply them in several transactions; `top` is `text` without them.
   */
  readonly blocks: readonly ServiceBlock[];
  readonly top: string;
}

const decl = (chain: string) => `:${chain} - [0:0]`;

export function renderRuleset(
  req: RenderRequest,
  opts: RenderOptions,
  cache?: RenderCache,
): Ruleset {
  let total = 0;
  for (const st of req.state.values()) total += st.endpoints.length;
  const largeClusterMode = total > (opts.largeClusterThreshold ?? LARGE_CLUSTER_ENDPOINTS);
  const ctx = {
    masqueradeAll: opts.masqueradeAll,
    localCIDR: opts.localCIDR,
    nodeIPs: opts.nodeIPs,
    largeClusterMode,
  };
  // Everything besides the port's own state that its rules depend on.
  const ctxKey = JSON.stringify([
    opts.masqueradeAll,
    opts.localCIDR?.text,
    opts.nodeIPs,
    largeClusterMode,
  ]);
  const blocks: ServiceBlock[] = [];
  const sink: RuleSink = emptySink();
  // Sorted keys make the output deterministic (kube-proxy iterates a map; its tests sort).
  for (const key of [...req.state.keys()].sort()) {
    const writeChains = req.changed === undefined || req.changed.has(key);
    renderPort(key, req.state.get(key)!, ctx, ctxKey, sink, writeChains, cache, blocks);
  }
  if (cache)
    for (const key of cache.fragments.keys()) if (!req.state.has(key)) cache.fragments.delete(key);
  const stale = [...req.existingChains]
    .filter((c) => !sink.active.has(c) && SERVICE_CHAIN_RE.test(c))
    .sort();

  const dispatch = opts.dispatchByTarget ? byTargetDescending : (r: string[]) => r;
  // Top-level chains, each in rule order; tables list them in kube-proxy's declaration order.
  const filterChains: [string, string[]][] = [
    [KUBE_SERVICES, sink.filterServices],
    [KUBE_EXTERNAL_SERVICES, sink.filterExternalServices],
    [
      KUBE_FORWARD,
      [
        ...(opts.dropInvalid ? [`-A ${KUBE_FORWARD} -m conntrack --ctstate INVALID -j DROP`] : []),
        `-A ${KUBE_FORWARD} ${comment('kubernetes forwarding rules')} -m mark --mark ${MASQ_MARK}/${MASQ_MARK} -j ACCEPT`,
        `-A ${KUBE_FORWARD} ${comment('kubernetes forwarding conntrack rule')} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
      ],
    ],
    [KUBE_NODEPORTS, sink.filterNodePorts],
    [KUBE_PROXY_FIREWALL, sink.filterFirewall],
  ];
  const natChains: [string, string[]][] = [
    [
      KUBE_SERVICES,
      [
        ...dispatch(sink.natServices),
        // Localhost NodePorts are off (they need route_localnet, CVE-2020-8558).
        `-A ${KUBE_SERVICES} ${comment('kubernetes service nodeports; NOTE: this must be the last rule in this chain')} -m addrtype --dst-type LOCAL ! -d 127.0.0.0/8 -j ${KUBE_NODEPORTS}`,
      ],
    ],
    [KUBE_NODEPORTS, dispatch(sink.natNodePorts)],
    [
      KUBE_POSTROUTING,
      [
        `-A ${KUBE_POSTROUTING} -m mark ! --mark ${MASQ_MARK}/${MASQ_MARK} -j RETURN`,
        // Clear the mark so a packet that traverses POSTROUTING again (e.g. VXLAN) is not NATed twice.
        `-A ${KUBE_POSTROUTING} -j MARK --xor-mark ${MASQ_MARK}`,
        `-A ${KUBE_POSTROUTING} ${comment('kubernetes service traffic requiring SNAT')} -j MASQUERADE --random-fully`,
      ],
    ],
    [KUBE_MARK_MASQ, [`-A ${KUBE_MARK_MASQ} -j MARK --or-mark ${MASQ_MARK}`]],
  ];
  // A partial sync leaves out top-level chains whose rules are exactly what the previous sync
  // wrote (with --noflush, iptables-restore leaves unnamed chains alone): the kernel ends up with
  // the same rules, and a one-endpoint change no longer resends every Service's dispatch rule.
  // Any failure makes the next sync full, and full syncs always write every chain.
  const keep = (table: string, list: [string, string[]][]) =>
    list.filter(([chain, rules]) => {
      if (!cache) return true;
      const id = `${table}/${chain}`;
      const joined = rules.join('\n');
      const same = cache.top.get(id) === joined;
      cache.top.set(id, joined);
      return req.changed === undefined || !same;
    });
  const fChains = keep('filter', filterChains);
  const nChains = keep('nat', natChains);
  const filter = [
    '*filter',
    ...fChains.map(([c]) => decl(c)),
    // KUBE-FORWARD's rules come first, as kube-proxy writes them.
    ...fChains.filter(([c]) => c === KUBE_FORWARD).flatMap(([, r]) => r),
    ...fChains.filter(([c]) => c !== KUBE_FORWARD).flatMap(([, r]) => r),
    'COMMIT',
  ];
  const natHead = [
    '*nat',
    ...nChains.map(([c]) => decl(c)),
    // Stale chains are flushed first so that -X finds them empty.
    ...stale.map(decl),
  ];
  const natTop = nChains.flatMap(([, r]) => r);
  const natTail = [...stale.map((c) => `-X ${c}`), 'COMMIT'];
  const join = (...parts: (readonly string[])[]) =>
    parts.map((p) => (p.length ? p.join('\n') + '\n' : '')).join('');
  // The per-service declarations come right after the top-level ones, as kube-proxy writes them.
  const filterText = join(filter);
  const nHead = nChains.length + 1;
  const declText = join(sink.chains.map(decl));
  const text =
    filterText +
    join(natHead.slice(0, nHead)) +
    declText +
    join(natHead.slice(nHead), natTop, sink.chainRules, natTail);
  const topRules = [...filter, ...natTop].filter((l) => l.startsWith('-A ')).length;
  return {
    text,
    top: filterText + join(natHead, natTop, natTail),
    blocks,
    rules: topRules + sink.chainRules.length,
    writtenChains: sink.chains,
    deletedChains: stale,
    activeChains: sink.active,
    largeClusterMode,
    warnings: sink.warnings,
  };
}
