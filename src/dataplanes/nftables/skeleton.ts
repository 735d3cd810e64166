/**
 * @module dataplanes/nftables/skeleton
 * The fixed part of kpr's nftables table, laid out as kube-proxy's nftables mode (1.36 masquerading):
 * base chains with kube-proxy's hooks and priorities, the dispatch/check helper chains, and the
 * sets and verdict maps that per-service elements are added to. Nothing here depends on Services.
 */

/** A chain kpr defines; `spec` is set only for base chains (hook, type, priority). */
export interface ChainDef {
  readonly name: string;
  readonly spec?: string;
  readonly rules: readonly string[];
}

/** A named set or map with its declaration (the part between the braces). */
export interface ContainerDef {
  readonly kind: 'set' | 'map';
  readonly name: string;
  readonly spec: string;
}

export const MASQ_MARK = '0x4000';
/**
 * Marks a packet for masquerading in postrouting. Written inline where kube-proxy ≤ 1.35 jumped to a
 * shared `mark-for-masquerade` chain: thousands of jumps to one chain make the kernel's loop
 * validation slow (kube-proxy #135639, fixed the same way in 1.36).
 */
export const MARK_MASQ = `mark set mark or ${MASQ_MARK}`;
export const REJECT_CHAIN = 'reject-chain';

export const CLUSTER_IPS = 'cluster-ips';
export const SERVICE_IPS = 'service-ips';
export const SERVICE_NODEPORTS = 'service-nodeports';
export const NO_ENDPOINT_SERVICES = 'no-endpoint-services';
export const NO_ENDPOINT_NODEPORTS = 'no-endpoint-nodeports';
export const FIREWALL_IPS = 'firewall-ips';
export const HAIRPIN = 'hairpin-connections';

const ADDR_PROTO_PORT = 'ipv4_addr . inet_proto . inet_service';
const PROTO_PORT = 'inet_proto . inet_service';

export const CONTAINERS: readonly ContainerDef[] = [
  { kind: 'set', name: CLUSTER_IPS, spec: 'type ipv4_addr ; comment "Active ClusterIPs" ;' },
  {
    kind: 'map',
    name: SERVICE_IPS,
    spec: `type ${ADDR_PROTO_PORT} : verdict ; comment "ClusterIP, ExternalIP and LoadBalancer IP traffic" ;`,
  },
  {
    kind: 'map',
    name: SERVICE_NODEPORTS,
    spec: `type ${PROTO_PORT} : verdict ; comment "NodePort traffic" ;`,
  },
  {
    kind: 'map',
    name: NO_ENDPOINT_SERVICES,
    spec: `type ${ADDR_PROTO_PORT} : verdict ; comment "reject or drop traffic to services with no usable endpoints" ;`,
  },
  {
    kind: 'map',
    name: NO_ENDPOINT_NODEPORTS,
    spec: `type ${PROTO_PORT} : verdict ; comment "reject or drop traffic to NodePorts with no usable endpoints" ;`,
  },
  {
    kind: 'map',
    name: FIREWALL_IPS,
    spec: `type ${ADDR_PROTO_PORT} : verdict ; comment "LoadBalancer IPs subject to loadBalancerSourceRanges" ;`,
  },
  {
    kind: 'set',
    name: HAIRPIN,
    spec: `type ipv4_addr . ${ADDR_PROTO_PORT} ; comment "endpoint . endpoint . protocol . port: a pod reaching itself through a Service" ;`,
  },
];

const NEW = 'ct state new';
const VMAP_KEY = 'ip daddr . meta l4proto . th dport';

/**
 * Base chains, with numeric priorities (dstnat = -100, srcnat = 100) because older nft only accepts
 * the symbolic names on some hooks. Filter chains sit at dstnat - 10 so that the no-endpoint and firewall checks see
 * the original destination before DNAT in prerouting/output; filter-output-post-dnat (dstnat + 10)
 * sees it after DNAT, when only traffic to an undefined ClusterIP port still targets a ClusterIP.
 * Rejects live in input/forward/output because kernels before 5.9 refuse `reject` in prerouting.
 */
export const BASE_CHAINS: readonly ChainDef[] = [
  {
    name: 'filter-prerouting',
    spec: 'type filter hook prerouting priority -110 ;',
    rules: [`${NEW} jump firewall-check`],
  },
  {
    name: 'filter-input',
    spec: 'type filter hook input priority -110 ;',
    rules: [`${NEW} jump nodeport-endpoints-check`, `${NEW} jump service-endpoints-check`],
  },
  {
    name: 'filter-forward',
    spec: 'type filter hook forward priority -110 ;',
    rules: [`${NEW} jump service-endpoints-check`, `${NEW} jump cluster-ips-check`],
  },
  {
    name: 'filter-output',
    spec: 'type filter hook output priority -110 ;',
    rules: [`${NEW} jump service-endpoints-check`, `${NEW} jump firewall-check`],
  },
  {
    name: 'filter-output-post-dnat',
    spec: 'type filter hook output priority -90 ;',
    rules: [`${NEW} jump cluster-ips-check`],
  },
  {
    name: 'nat-prerouting',
    spec: 'type nat hook prerouting priority -100 ;',
    rules: ['jump services'],
  },
  { name: 'nat-output', spec: 'type nat hook output priority -100 ;', rules: ['jump services'] },
  {
    name: 'nat-postrouting',
    spec: 'type nat hook postrouting priority 100 ;',
    rules: ['jump masquerading'],
  },
];

/** Regular chains shared by every Service. */
export const HELPER_CHAINS: readonly ChainDef[] = [
  {
    name: 'masquerading',
    rules: [
      // Clearing the mark before masquerading keeps a packet that re-traverses the stack (e.g.
      // after VXLAN encapsulation) from being NATed twice.
      `mark and ${MASQ_MARK} != 0 mark set mark xor ${MASQ_MARK} masquerade fully-random`,
      // Hairpin: a DNATed connection whose source is its own endpoint must be masqueraded, or the
      // pod would answer itself directly. One set lookup replaces a rule per endpoint chain.
      `ct status dnat ip saddr . ip daddr . meta l4proto . th dport @${HAIRPIN} masquerade fully-random`,
    ],
  },
  {
    name: 'services',
    rules: [
      `${VMAP_KEY} vmap @${SERVICE_IPS}`,
      // No nodePortAddresses option yet: every local address except loopback accepts NodePorts.
      `fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @${SERVICE_NODEPORTS}`,
    ],
  },
  { name: 'service-endpoints-check', rules: [`${VMAP_KEY} vmap @${NO_ENDPOINT_SERVICES}`] },
  {
    name: 'nodeport-endpoints-check',
    rules: [`ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @${NO_ENDPOINT_NODEPORTS}`],
  },
  { name: 'firewall-check', rules: [`${VMAP_KEY} vmap @${FIREWALL_IPS}`] },
  {
    name: 'cluster-ips-check',
    rules: [
      `ip daddr @${CLUSTER_IPS} reject comment "reject traffic to undefined ports of ClusterIPs"`,
    ],
  },
  // `reject` cannot be a verdict-map value, so no-endpoint elements `goto` this chain instead.
  { name: REJECT_CHAIN, rules: ['reject'] },
];

export const SKELETON_CHAINS: readonly ChainDef[] = [...BASE_CHAINS, ...HELPER_CHAINS];
export const SKELETON_CHAIN_NAMES: ReadonlySet<string> = new Set(
  SKELETON_CHAINS.map((c) => c.name),
);
