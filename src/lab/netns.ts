/**
 * @module lab/netns
 * Builds and removes the lab's network: one node namespace, one namespace per pod, a veth pair per
 * pod created directly across the two namespaces (so nothing ever appears in the root namespace,
 * and veth names cannot collide between labs). Commands go through `ip -batch`, one process per
 * namespace, because spawning ~8 `ip` processes per pod makes big labs slow to start.
 *
 * Routing: the node holds its address on its loopback (not a dummy interface: kernels built without
 * CONFIG_DUMMY exist, and lo answers ARP on every veth all the same) and a /32 host route per pod; pods have
 * their /32 address, a link route to the node and 198.18.0.0/15 via the node. No default route
 * exists anywhere, so lab traffic cannot leave the machine.
 *
 * An "upstream" namespace plays the network beyond the node: the node routes the rest of the lab
 * range (the Service VIPs) to it, as a real node's default route would, and it answers with ICMP
 * host-unreachable. This matters for fidelity: a packet to a VIP with no endpoints must reach the
 * node's forward path, where iptables and nftables REJECT it (connection refused), instead of
 * failing the node's route lookup first; and a VIP nobody owns fails fast rather than hanging.
 */
import { readdir } from 'node:fs/promises';
import { run } from '../util/exec.ts';
import { KprError } from '../util/errors.ts';
import { LAB_CIDR } from './topology.ts';
import type { LabLayout, LabPod } from './topology.ts';

const POD_IFACE = 'eth0';
const UPSTREAM_VETH = 'upstream0';
/** The last address of the lab range, which no pod or Service ever gets. */
const UPSTREAM_IP = '198.19.255.255';
/** Pods live below 198.18.16.0 (see topology.ts). */
const POD_CIDR = '198.18.0.0/20';

/** The namespace standing in for the network beyond the node. */
export function upstreamNetns(layout: LabLayout): string {
  return `${layout.nodeNetns.slice(0, -'node'.length)}upstream`;
}

export function netnsPath(name: string): string {
  return `/run/netns/${name}`;
}

async function ipBatch(
  netns: string | undefined,
  lines: readonly string[],
  force = false,
): Promise<void> {
  const args = [...(netns ? ['-n', netns] : []), ...(force ? ['-force'] : []), '-batch', '-'];
  await run('ip', args, { input: lines.join('\n') + '\n', allowFailure: force });
}

/** Runs `fn` over `items` with at most `limit` in flight (the machine has few cores). */
export async function inPool<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

function podLines(layout: LabLayout, pod: LabPod): string[] {
  return [
    'link set lo up',
    `addr add ${pod.ip}/32 dev ${POD_IFACE}`,
    `link set ${POD_IFACE} up`,
    `route add ${layout.nodeIP}/32 dev ${POD_IFACE} scope link`,
    `route add ${LAB_CIDR} via ${layout.nodeIP} dev ${POD_IFACE}`,
  ];
}

/**
 * Creates the namespaces and wires them. Throws (leaving what exists for `down` to remove) when
 * any namespace already exists.
 */
export async function createNetwork(
  layout: LabLayout,
  onPod?: (done: number, total: number) => void,
): Promise<void> {
  const existing = new Set(await readdir('/run/netns').catch(() => [] as string[]));
  const all = [layout.nodeNetns, ...layout.pods.map((p) => p.netns)];
  const clash = all.find((n) => existing.has(n));
  if (clash) {
    throw new KprError(
      'KPR_ERR_LAB_EXISTS',
      `network namespace ${clash} already exists; remove the old lab with \`kpr lab down --name ${layout.name}\``,
    );
  }
  const upstream = upstreamNetns(layout);
  await ipBatch(
    undefined,
    [...all, upstream].map((n) => `netns add ${n}`),
  );

  await ipBatch(layout.nodeNetns, [
    'link set lo up',
    `addr add ${layout.nodeIP}/32 dev lo`,
    ...layout.pods.map(
      (p) => `link add ${p.hostVeth} type veth peer name ${POD_IFACE} netns ${p.netns}`,
    ),
    ...layout.pods.map((p) => `link set ${p.hostVeth} up`),
    ...layout.pods.map((p) => `route add ${p.ip}/32 dev ${p.hostVeth} src ${layout.nodeIP}`),
    `link add ${UPSTREAM_VETH} type veth peer name ${POD_IFACE} netns ${upstream}`,
    `link set ${UPSTREAM_VETH} up`,
    `route add ${UPSTREAM_IP}/32 dev ${UPSTREAM_VETH} src ${layout.nodeIP}`,
    `route add ${LAB_CIDR} via ${UPSTREAM_IP} dev ${UPSTREAM_VETH}`,
  ]);
  await ipBatch(upstream, [
    'link set lo up',
    `addr add ${UPSTREAM_IP}/32 dev ${POD_IFACE}`,
    `link set ${POD_IFACE} up`,
    `route add ${layout.nodeIP}/32 dev ${POD_IFACE} scope link`,
    `route add ${POD_CIDR} via ${layout.nodeIP} dev ${POD_IFACE}`,
    `route add unreachable ${LAB_CIDR}`,
  ]);
  await run('sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1', 'net.ipv4.conf.all.rp_filter=0'], {
    netns: netnsPath(upstream),
  });
  // Forwarding between pods is the node's job; rp_filter stays off because ClusterIP replies
  // come back over a different veth than the one a rewritten packet left through.
  await run(
    'sysctl',
    [
      '-q',
      '-w',
      'net.ipv4.ip_forward=1',
      'net.ipv4.conf.all.rp_filter=0',
      'net.ipv4.conf.default.rp_filter=0',
    ],
    {
      netns: netnsPath(layout.nodeNetns),
    },
  );

  let done = 0;
  await inPool(layout.pods, 4, async (pod) => {
    await ipBatch(pod.netns, podLines(layout, pod));
    onPod?.(++done, layout.pods.length);
  });
}

/** Names of the existing namespaces starting with `prefix` (a lab's `kpr-lab-<name>_`). */
export async function listNetnsWithPrefix(prefix: string): Promise<string[]> {
  const entries = await readdir('/run/netns').catch(() => [] as string[]);
  return entries.filter((e) => e.startsWith(prefix));
}

/**
 * Deletes the given namespaces. Deleting a namespace removes its veths, routes, iptables chains
 * and nft tables with it; processes still inside keep it alive, so callers kill them first.
 */
export async function deleteNetns(names: readonly string[]): Promise<void> {
  if (names.length === 0) return;
  await ipBatch(
    undefined,
    names.map((n) => `netns del ${n}`),
    true,
  );
  const left = new Set(await listNetnsWithPrefix(''));
  const stuck = names.filter((n) => left.has(n));
  if (stuck.length) {
    throw new KprError(
      'KPR_ERR_LAB_NETNS',
      `could not delete network namespaces ${stuck.join(', ')}; try \`ip netns del NAME\``,
    );
  }
}
