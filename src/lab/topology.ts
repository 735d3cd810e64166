/**
 * @module lab/topology
 * The lab's layout, computed purely from its options: names of namespaces, veths, cgroups and pins,
 * pod and ClusterIP addresses, and which pods back which Service. Everything else (netns setup,
 * manifests, status) derives from this, so a lab can be rebuilt or torn down from its options
 * alone, and state.json stays small even for 100000 services.
 *
 * Addressing, all inside 198.18.0.0/15 (RFC 2544 benchmarking space, never routed outside):
 *   198.18.0.1                  node
 *   198.18.0.2                  client pod
 *   198.18.0.3 ... 198.18.15.255 backend pods (up to 4093)
 *   198.18.16.1 ... 198.19.255.254 ClusterIPs, one per service (up to 126974)
 */
import { KprError } from '../util/errors.ts';
import type { DataplaneName } from '../dataplanes/types.ts';
import type { Protocol } from '../model/types.ts';

export const LAB_CIDR = '198.18.0.0/15';
const BASE = (198 << 24) | (18 << 16); // 198.18.0.0 as an unsigned 32-bit value (positive in JS)
const NODE_OFFSET = 1;
const CLIENT_OFFSET = 2;
const FIRST_BACKEND_OFFSET = 3;
const POD_RANGE_END = 0x1000; // pods stay below 198.18.16.0
const FIRST_SERVICE_OFFSET = 0x1001; // 198.18.16.1
const LAST_SERVICE_OFFSET = 0x1fffe; // 198.19.255.254

export const MAX_BACKEND_PODS = POD_RANGE_END - FIRST_BACKEND_OFFSET;
export const MAX_SERVICES = LAST_SERVICE_OFFSET - FIRST_SERVICE_OFFSET + 1;
export const LAB_NAMESPACE = 'default';
/** Every lab object name starts with this, so nothing outside a lab can be mistaken for one. */
export const LAB_PREFIX = 'kpr-lab-';
export const TCP_PORT = 80;
export const TCP_TARGET_PORT = 8080;
export const UDP_PORT = 53;
export const UDP_TARGET_PORT = 5353;
/** Services per manifest file: big enough to keep file counts low, small enough to rewrite one fast. */
export const SERVICES_PER_FILE = 1000;

/** Lab names: DNS-label-like and short; no '_', which separates the lab name from the pod name. */
const NAME_RE = /^[a-z0-9]([a-z0-9-]{0,22}[a-z0-9])?$/;

export interface LabOptions {
  readonly name: string;
  readonly dataplane: DataplaneName;
  /** Number of Services (N). */
  readonly services: number;
  /** Backend pods per Service (M). */
  readonly endpoints: number;
  /** Backend pods (P); default max(M, 3). */
  readonly pods?: number | undefined;
  /** How many of the N services are UDP (port 53 -> 5353); default about 1%, at least 1 when N >= 2. */
  readonly udpServices?: number | undefined;
}

export type PodRole = 'client' | 'backend';

export interface LabPod {
  readonly name: string;
  readonly ip: string;
  readonly netns: string;
  readonly role: PodRole;
  /** The node-side end of the pod's veth pair (lives in the node netns only). */
  readonly hostVeth: string;
}

export interface LabLayout {
  readonly name: string;
  readonly dataplane: DataplaneName;
  readonly nodeName: string;
  readonly nodeNetns: string;
  readonly nodeIP: string;
  /** Cgroup directory relative to the cgroup2 root; pods get one child each. */
  readonly cgroupRel: string;
  readonly pinDir: string;
  readonly nftTable: string;
  readonly services: number;
  readonly endpoints: number;
  readonly udpServices: number;
  /** The client pod first, then the backends in index order. */
  readonly pods: readonly LabPod[];
}

export interface LabService {
  readonly index: number;
  readonly namespace: string;
  readonly name: string;
  readonly clusterIP: string;
  readonly port: number;
  readonly targetPort: number;
  readonly protocol: Protocol;
}

export function intToIPv4(n: number): string {
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

export function validateLabName(name: string): void {
  if (!NAME_RE.test(name)) {
    throw new KprError(
      'KPR_ERR_LAB_NAME',
      `invalid lab name ${JSON.stringify(name)}: use 1-24 characters from a-z, 0-9 and '-', starting and ending with a letter or digit`,
    );
  }
}

function checkCount(what: string, n: number, min: number, max: number): void {
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new KprError(
      'KPR_ERR_LAB_OPTIONS',
      `${what} must be an integer between ${min} and ${max}, got ${n}`,
    );
  }
}

export function defaultUdpServices(services: number): number {
  return services < 2 ? 0 : Math.max(1, Math.floor(services / 100));
}

/** The object names a lab owns, which only depend on its name (what `down` needs after a crash). */
export function labObjectNames(name: string): {
  netnsPrefix: string;
  nodeNetns: string;
  cgroupRel: string;
  pinDir: string;
  nftTable: string;
} {
  validateLabName(name);
  const base = `${LAB_PREFIX}${name}`;
  return {
    netnsPrefix: `${base}_`,
    nodeNetns: `${base}_node`,
    cgroupRel: base,
    pinDir: `/sys/fs/bpf/${base}`,
    nftTable: base,
  };
}

export function buildLayout(opts: LabOptions): LabLayout {
  const names = labObjectNames(opts.name);
  checkCount('--services', opts.services, 0, MAX_SERVICES);
  checkCount('--endpoints', opts.endpoints, 0, MAX_BACKEND_PODS);
  const podCount = opts.pods ?? Math.max(opts.endpoints, 3);
  checkCount('--pods', podCount, Math.max(opts.endpoints, 1), MAX_BACKEND_PODS);
  const udpServices = opts.udpServices ?? defaultUdpServices(opts.services);
  checkCount('udpServices', udpServices, 0, opts.services);

  const pod = (name: string, role: PodRole, offset: number, hostVeth: string): LabPod => ({
    name,
    role,
    ip: intToIPv4(BASE + offset),
    netns: `${names.netnsPrefix}${name}`,
    hostVeth,
  });
  const pods: LabPod[] = [pod('client', 'client', CLIENT_OFFSET, 'veth-c0')];
  for (let i = 0; i < podCount; i++)
    pods.push(pod(`backend-${i}`, 'backend', FIRST_BACKEND_OFFSET + i, `veth-b${i}`));

  return {
    name: opts.name,
    dataplane: opts.dataplane,
    nodeName: `${opts.name}-node`,
    nodeNetns: names.nodeNetns,
    nodeIP: intToIPv4(BASE + NODE_OFFSET),
    cgroupRel: names.cgroupRel,
    pinDir: names.pinDir,
    nftTable: names.nftTable,
    services: opts.services,
    endpoints: opts.endpoints,
    udpServices,
    pods,
  };
}

export function backendPods(layout: LabLayout): LabPod[] {
  return layout.pods.filter((p) => p.role === 'backend');
}

/** Service `index`: TCP ones first (svc-I), the last `udpServices` are UDP (dns-I). */
export function serviceAt(layout: LabLayout, index: number): LabService {
  const udp = index >= layout.services - layout.udpServices;
  return {
    index,
    namespace: LAB_NAMESPACE,
    name: `${udp ? 'dns' : 'svc'}-${index}`,
    clusterIP: intToIPv4(BASE + FIRST_SERVICE_OFFSET + index),
    port: udp ? UDP_PORT : TCP_PORT,
    targetPort: udp ? UDP_TARGET_PORT : TCP_TARGET_PORT,
    protocol: udp ? 'UDP' : 'TCP',
  };
}

/** Maps a service name back to its index, or undefined when the lab has no such service. */
export function serviceIndex(layout: LabLayout, name: string): number | undefined {
  const m = /^(svc|dns)-(0|[1-9][0-9]*)$/.exec(name);
  if (!m) return undefined;
  const index = Number(m[2]);
  if (index >= layout.services) return undefined;
  return serviceAt(layout, index).name === name ? index : undefined;
}

/**
 * The default backends of service `index`: M consecutive backend pods, each service starting M
 * pods after the previous one, so load spreads evenly over the pods (round-robin).
 */
export function defaultBackends(layout: LabLayout, index: number): LabPod[] {
  const backends = backendPods(layout);
  const out: LabPod[] = [];
  for (let j = 0; j < layout.endpoints; j++)
    out.push(backends[(index * layout.endpoints + j) % backends.length]!);
  return out;
}

export function manifestFileIndex(serviceIndex: number): number {
  return Math.floor(serviceIndex / SERVICES_PER_FILE);
}

export function manifestFileName(fileIndex: number): string {
  return `services-${String(fileIndex).padStart(3, '0')}.yaml`;
}
