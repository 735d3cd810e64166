/**
 * @module dataplanes/types
 * The one interface that the eBPF, iptables and nftables dataplanes implement. The agent decides
 * *when* to sync; a dataplane only turns the model's desired state into kernel state and reads
 * that kernel state back.
 */
import type { Protocol, ProxyState } from '../model/types.ts';

export type DataplaneName = 'ebpf' | 'iptables' | 'nftables';
export const DATAPLANE_NAMES: readonly DataplaneName[] = ['ebpf', 'iptables', 'nftables'];

export interface SyncRequest {
  /** The whole desired state after this change. */
  readonly state: ProxyState;
  /** Service port keys added, updated or removed since the last successful sync (ignored when full). */
  readonly changed: ReadonlySet<string>;
  /** Rewrite everything (startup, after a failure, periodic resync). */
  readonly full: boolean;
}

export interface SyncResult {
  /** Kernel objects written (map entries, rules or elements); for metrics and benchmarks. */
  readonly written: number;
  /** Kernel objects deleted. */
  readonly deleted: number;
}

export type FrontendKind = 'ClusterIP' | 'ExternalIP' | 'LoadBalancer' | 'NodePort';

/** One frontend as read back from the kernel (maps, iptables-save or nft list), never from memory. */
export interface LiveFrontend {
  readonly kind: FrontendKind;
  /** Frontend address ('' or '0.0.0.0' for a NodePort on every node address). */
  readonly ip: string;
  readonly port: number;
  readonly protocol: Protocol;
  /** `ns/name:port` when the kernel state records it (rule comments, a name map). */
  readonly service: string | undefined;
  readonly backends: readonly { readonly ip: string; readonly port: number }[];
}

export interface Dataplane {
  readonly name: DataplaneName;
  /**
   * Prepares the kernel objects: loads or adopts what a previous run left pinned, and removes what
   * the other dataplanes left behind. Must not interrupt traffic that the adopted state serves.
   */
  start(): Promise<void>;
  /** Makes the kernel match `req.state`. Throws a DataplaneError when the kernel refuses. */
  sync(req: SyncRequest): Promise<SyncResult>;
  /** The live frontends and backends, read back from the kernel. */
  list(): Promise<LiveFrontend[]>;
  /** Releases this process's handles and leaves kernel state in place, so a restart can adopt it. */
  close(): Promise<void>;
  /** Removes every kernel object this dataplane owns. Idempotent. */
  cleanup(): Promise<void>;
}

/** Everything a dataplane needs to know about where it runs; built once from the agent's config. */
export interface DataplaneOptions {
  /** This node's name (endpoints with this nodeName are local). */
  readonly nodeName: string;
  /** eBPF: the bpffs directory that holds this agent's pinned programs, links and maps. */
  readonly bpfPinDir: string;
  /** eBPF: the cgroup v2 directory the socket hooks attach to; undefined = the cgroup2 root. */
  readonly cgroupPath: string | undefined;
  /** iptables: which iptables backend to drive; undefined = whatever the system's `iptables` is. */
  readonly iptablesBackend: 'nft' | 'legacy' | undefined;
  /** nftables: the name of kpr's table (family ip). */
  readonly nftTable: string;
  /** Only for the benchmark/lab: masquerade everything (kube-proxy's masqueradeAll). */
  readonly masqueradeAll: boolean;
  /** Cluster pod CIDR for kube-proxy's local-traffic detector; undefined = no detector. */
  readonly clusterCIDR: string | undefined;
}
