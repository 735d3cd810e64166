/**
 * @module agent/config
 * The agent's effective configuration: built-in defaults, then a KubeProxyConfiguration file
 * (`--config`), then command-line flags, each overriding the one before. Also decides where
 * Services come from (a manifest folder, a kubeconfig, or in-cluster credentials).
 */
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import type { DataplaneName, DataplaneOptions } from '../dataplanes/types.ts';
import { DATAPLANE_NAMES } from '../dataplanes/types.ts';
import { KprError, errorMessage } from '../util/errors.ts';
import {
  cidrProblem,
  parseConfigText,
  type ConntrackConfig,
  type FileConfig,
} from './config-file.ts';
import { tryParseGoDuration } from './duration.ts';
import { parseBindAddress } from './health.ts';

export const DEFAULT_PIN_DIR = '/sys/fs/bpf/kpr';
export const DEFAULT_NFT_TABLE = 'kpr';
export const DEFAULT_HEALTHZ_BIND = '0.0.0.0:10256';
export const DEFAULT_METRICS_BIND = '127.0.0.1:10249';
/** kpr's default dataplane when neither the file (`mode: ""`) nor a flag chooses one. */
export const DEFAULT_MODE: DataplaneName = 'ebpf';

/** `kpr agent` flags as commander hands them over: unset flags are undefined, never defaulted. */
export interface AgentFlags {
  config?: string;
  kubeconfig?: string;
  manifests?: string;
  dataplane?: string;
  nodeName?: string;
  hostnameOverride?: string;
  nodeZone?: string;
  bpfPinDir?: string;
  cgroup?: string;
  nftTable?: string;
  iptablesBackend?: string;
  clusterCidr?: string;
  masqueradeAll?: boolean;
  minSyncPeriod?: string;
  syncPeriod?: string;
  fullSyncPeriod?: string;
  healthzBindAddress?: string;
  metricsBindAddress?: string;
  cleanupOthers?: boolean;
  logFormat?: string;
}

export type SourceConfig =
  | { readonly kind: 'manifests'; readonly dir: string }
  | { readonly kind: 'kubeconfig'; readonly path: string }
  | { readonly kind: 'in-cluster' };

export interface AgentConfig {
  readonly mode: DataplaneName;
  readonly source: SourceConfig;
  readonly dataplane: DataplaneOptions;
  /** Static zone from --node-zone; the Node's label overrides it when the source reports Nodes. */
  readonly nodeZone: string | undefined;
  readonly minSyncPeriodMs: number;
  readonly syncPeriodMs: number;
  readonly fullSyncPeriodMs: number;
  /** '' disables the server. */
  readonly healthzBindAddress: string;
  readonly metricsBindAddress: string;
  readonly conntrack: ConntrackConfig;
  readonly nodePortAddresses: readonly string[];
  readonly cleanupOthers: boolean;
  readonly logFormat: 'json' | 'text';
  /** File fields that kpr accepted but does not use, for one startup warning. */
  readonly ignoredFields: readonly string[];
}

const EMPTY_FILE: FileConfig = {
  iptables: {},
  nftables: {},
  conntrack: {},
  kpr: {},
  ignored: [],
};

/** Reads and validates a configuration file; errors name the file and the field. */
export async function loadConfigFile(path: string): Promise<FileConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new KprError('KPR_ERR_CONFIG', `cannot read --config ${path}: ${errorMessage(e)}`, {
      cause: e,
    });
  }
  return parseConfigText(text, path);
}

/** A flag's Go duration in milliseconds, or undefined when the flag is unset. */
export function flagDuration(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = tryParseGoDuration(value);
  if (ms === undefined)
    throw new KprError(
      'KPR_ERR_CONFIG',
      `--${name} "${value}" is not a duration; use e.g. 500ms, 1s, 1m30s`,
    );
  return ms;
}

function chooseSource(f: AgentFlags, env: NodeJS.ProcessEnv): SourceConfig {
  if (f.manifests !== undefined && f.kubeconfig !== undefined)
    throw new KprError(
      'KPR_ERR_CONFIG',
      'pass either --manifests DIR or --kubeconfig FILE, not both: kpr follows exactly one source',
    );
  if (f.manifests !== undefined) return { kind: 'manifests', dir: f.manifests };
  if (f.kubeconfig !== undefined) return { kind: 'kubeconfig', path: f.kubeconfig };
  if (env.KUBERNETES_SERVICE_HOST) return { kind: 'in-cluster' };
  throw new KprError(
    'KPR_ERR_CONFIG',
    'no source: pass --kubeconfig FILE (a Kubernetes API server), --manifests DIR (a folder of Service and EndpointSlice YAML files), or run in a pod (in-cluster credentials)',
  );
}

function checkBind(flag: string, v: string): string {
  if (v === '') return v;
  try {
    parseBindAddress(v);
  } catch (e) {
    throw new KprError('KPR_ERR_CONFIG', `--${flag}: ${errorMessage(e)}`);
  }
  return v;
}

/**
 * Merges defaults, the file and the flags. `env` decides the in-cluster source and the default
 * log format (JSON in a pod, text on a terminal); `KPR_LOG_FORMAT` overrides that default.
 */
export function resolveAgentConfig(
  file: FileConfig | undefined,
  f: AgentFlags,
  env: NodeJS.ProcessEnv = process.env,
): AgentConfig {
  const fc = file ?? EMPTY_FILE;
  const source = chooseSource(f, env);
  const mode = f.dataplane !== undefined ? parseMode(f.dataplane) : (fc.mode ?? DEFAULT_MODE);
  // kube-proxy reads the periods of the section that matches its mode; kpr's own section holds
  // the eBPF dataplane's, whose minimum period defaults to 0 (map updates are cheap).
  const section = mode === 'iptables' ? fc.iptables : mode === 'nftables' ? fc.nftables : fc.kpr;
  const minSyncPeriodMs =
    flagDuration('min-sync-period', f.minSyncPeriod) ??
    section.minSyncPeriodMs ??
    (mode === 'ebpf' ? 0 : 1000);
  const syncPeriodMs = flagDuration('sync-period', f.syncPeriod) ?? section.syncPeriodMs ?? 30_000;
  if (syncPeriodMs <= 0)
    throw new KprError('KPR_ERR_CONFIG', '--sync-period must be greater than 0');
  const fullSyncPeriodMs =
    flagDuration('full-sync-period', f.fullSyncPeriod) ?? fc.kpr.fullSyncPeriodMs ?? 3_600_000;

  const backend = f.iptablesBackend ?? fc.kpr.iptablesBackend;
  if (backend !== undefined && backend !== 'nft' && backend !== 'legacy')
    throw new KprError(
      'KPR_ERR_CONFIG',
      `--iptables-backend must be nft or legacy, not "${backend}"`,
    );
  const clusterCIDR = f.clusterCidr ?? fc.clusterCIDR;
  const cidrs = clusterCIDR ? clusterCIDR.split(',').map((s) => s.trim()) : [];
  for (const c of cidrs) {
    const why = cidrProblem(c);
    if (why) throw new KprError('KPR_ERR_CONFIG', `--cluster-cidr: ${why}`);
  }
  // kpr programs IPv4 only; of a dual-stack pair, the IPv4 CIDR drives the local-traffic detector.
  const v4 = cidrs.find((c) => !c.includes(':'));

  const nodeName = (f.nodeName || f.hostnameOverride || fc.hostnameOverride || hostname())
    .trim()
    .toLowerCase();
  const logFormat =
    f.logFormat ?? env.KPR_LOG_FORMAT ?? (env.KUBERNETES_SERVICE_HOST ? 'json' : 'text');
  if (logFormat !== 'json' && logFormat !== 'text')
    throw new KprError('KPR_ERR_CONFIG', `--log-format must be json or text, not "${logFormat}"`);

  return {
    mode,
    source,
    dataplane: {
      nodeName,
      bpfPinDir: f.bpfPinDir ?? fc.kpr.bpfPinDir ?? DEFAULT_PIN_DIR,
      cgroupPath: f.cgroup ?? fc.kpr.cgroupPath,
      iptablesBackend: backend,
      nftTable: f.nftTable ?? fc.nftables.tableName ?? DEFAULT_NFT_TABLE,
      masqueradeAll: f.masqueradeAll ?? section.masqueradeAll ?? false,
      clusterCIDR: v4,
    },
    nodeZone: f.nodeZone,
    minSyncPeriodMs,
    syncPeriodMs,
    fullSyncPeriodMs: fullSyncPeriodMs === 0 ? Infinity : fullSyncPeriodMs,
    healthzBindAddress: checkBind(
      'healthz-bind-address',
      f.healthzBindAddress ?? fc.healthzBindAddress ?? DEFAULT_HEALTHZ_BIND,
    ),
    metricsBindAddress: checkBind(
      'metrics-bind-address',
      f.metricsBindAddress ?? fc.metricsBindAddress ?? DEFAULT_METRICS_BIND,
    ),
    conntrack: fc.conntrack,
    nodePortAddresses: fc.nodePortAddresses ?? [],
    cleanupOthers: f.cleanupOthers ?? true,
    logFormat,
    ignoredFields: fc.ignored,
  };
}

function parseMode(s: string): DataplaneName {
  if ((DATAPLANE_NAMES as readonly string[]).includes(s)) return s as DataplaneName;
  throw new KprError(
    'KPR_ERR_CONFIG',
    `--dataplane "${s}" is not a dataplane: choose one of ${DATAPLANE_NAMES.join(', ')}`,
  );
}
