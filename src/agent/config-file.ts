/**
 * @module agent/config-file
 * Reads a KubeProxyConfiguration (`kubeproxy.config.k8s.io/v1alpha1`, YAML or JSON) into the
 * fields kpr honours. Three kinds of field:
 * - fields kpr implements (mode, periods, bind addresses, conntrack, …) are validated strictly;
 * - kube-proxy fields that have no meaning for kpr (clientConnection, ipvs, winkernel, …) are
 *   accepted so an existing kube-proxy ConfigMap can be reused, and reported back as ignored;
 * - anything else is a typo and a startup error naming the field path and what is allowed.
 * Every problem in the file is reported at once, one per line.
 */
import { isIP } from 'node:net';
import { parse as parseYaml } from 'yaml';
import type { DataplaneName } from '../dataplanes/types.ts';
import { KprError, errorMessage } from '../util/errors.ts';
import { tryParseGoDuration } from './duration.ts';
import { parseBindAddress } from './health.ts';

export const CONFIG_API_VERSION = 'kubeproxy.config.k8s.io/v1alpha1';
export const CONFIG_KIND = 'KubeProxyConfiguration';

export interface ConntrackConfig {
  readonly maxPerCore?: number;
  readonly min?: number;
  readonly tcpEstablishedTimeoutMs?: number;
  readonly tcpCloseWaitTimeoutMs?: number;
  readonly tcpBeLiberal?: boolean;
  readonly udpTimeoutMs?: number;
  readonly udpStreamTimeoutMs?: number;
}

export interface PeriodsConfig {
  readonly minSyncPeriodMs?: number;
  readonly syncPeriodMs?: number;
  readonly masqueradeAll?: boolean;
}

/** What a configuration file sets; every field is optional (unset = flag or default). */
export interface FileConfig {
  readonly mode?: DataplaneName;
  readonly clusterCIDR?: string;
  readonly hostnameOverride?: string;
  readonly bindAddress?: string;
  readonly healthzBindAddress?: string;
  readonly metricsBindAddress?: string;
  readonly nodePortAddresses?: readonly string[];
  readonly iptables: PeriodsConfig;
  readonly nftables: PeriodsConfig & { readonly tableName?: string };
  readonly conntrack: ConntrackConfig;
  /** kpr's own section: settings kube-proxy has no field for. */
  readonly kpr: PeriodsConfig & {
    readonly bpfPinDir?: string;
    readonly cgroupPath?: string;
    readonly iptablesBackend?: 'nft' | 'legacy';
    readonly fullSyncPeriodMs?: number;
  };
  /** Paths of kube-proxy fields that were set but mean nothing to kpr (log them). */
  readonly ignored: readonly string[];
}

/** kube-proxy fields kpr accepts and ignores, per object path. */
const IGNORED: Record<string, readonly string[]> = {
  '': [
    'bindAddressHardFail',
    'clientConnection',
    'configSyncPeriod',
    'enableProfiling',
    'featureGates',
    'ipvs',
    'logging',
    'oomScoreAdj',
    'portRange',
    'showHiddenMetricsForVersion',
    'winkernel',
    'detectLocal',
    'windowsRunAsService',
  ],
  iptables: ['localhostNodePorts'],
  nftables: ['masqueradeBit'],
  conntrack: [],
  kpr: [],
};

/** Walks one mapping, recording problems against its path; unknown keys are problems. */
class Reader {
  readonly #obj: Record<string, unknown>;
  readonly #path: string;
  readonly #problems: string[];

  constructor(
    obj: Record<string, unknown>,
    path: string,
    known: readonly string[],
    problems: string[],
    ignored: string[],
  ) {
    this.#obj = obj;
    this.#path = path;
    this.#problems = problems;
    const skip = IGNORED[path] ?? [];
    for (const key of Object.keys(obj)) {
      if (known.includes(key)) continue;
      if (skip.includes(key)) {
        if (obj[key] !== null && obj[key] !== undefined) ignored.push(this.at(key));
        continue;
      }
      problems.push(`${this.at(key)}: unknown field; allowed here: ${known.join(', ')}`);
    }
  }

  at(key: string): string {
    return this.#path ? `${this.#path}.${key}` : key;
  }

  has(key: string): boolean {
    return this.#get(key) !== undefined;
  }

  #get(key: string): unknown {
    const v = this.#obj[key];
    return v === null ? undefined : v;
  }

  problem(key: string, text: string): undefined {
    this.#problems.push(`${this.at(key)}: ${text}`);
    return undefined;
  }

  string(key: string, check?: (s: string) => string | undefined): string | undefined {
    const v = this.#get(key);
    if (v === undefined) return undefined;
    if (typeof v !== 'string')
      return this.problem(key, `must be a string, not ${JSON.stringify(v)}`);
    const why = v === '' ? undefined : check?.(v);
    return why ? this.problem(key, why) : v;
  }

  oneOf<T extends string>(key: string, allowed: readonly T[]): T | undefined {
    const v = this.#get(key);
    if (v === undefined) return undefined;
    if (typeof v === 'string' && (allowed as readonly string[]).includes(v)) return v as T;
    return this.problem(
      key,
      `${JSON.stringify(v)} is not allowed; use one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}`,
    );
  }

  bool(key: string): boolean | undefined {
    const v = this.#get(key);
    if (v === undefined || typeof v === 'boolean') return v;
    return this.problem(key, `must be true or false, not ${JSON.stringify(v)}`);
  }

  int(key: string, min: number, max: number): number | undefined {
    const v = this.#get(key);
    if (v === undefined) return undefined;
    if (typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max) return v;
    return this.problem(key, `must be an integer from ${min} to ${max}, not ${JSON.stringify(v)}`);
  }

  duration(key: string): number | undefined {
    const v = this.#get(key);
    if (v === undefined) return undefined;
    const ms = typeof v === 'string' ? tryParseGoDuration(v) : undefined;
    if (ms !== undefined) return ms;
    return this.problem(
      key,
      `${JSON.stringify(v)} is not a duration; use a Go duration string such as "1s", "1m30s" or "24h0m0s"`,
    );
  }

  stringList(key: string, check: (s: string) => string | undefined): string[] | undefined {
    const v = this.#get(key);
    if (v === undefined) return undefined;
    if (!Array.isArray(v) || v.some((s) => typeof s !== 'string'))
      return this.problem(key, 'must be a list of strings');
    const bad = (v as string[]).map((s) => check(s)).filter((w) => w !== undefined);
    if (bad.length) return this.problem(key, bad.join('; '));
    return v as string[];
  }

  /** A nested mapping; `{}` when absent. */
  object(key: string): Record<string, unknown> {
    const v = this.#get(key);
    if (v === undefined) return {};
    if (typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
    this.problem(key, 'must be a mapping');
    return {};
  }
}

/** Validates one CIDR (`198.18.0.0/15`, `fd00::/64`); returns the problem or undefined. */
export function cidrProblem(s: string): string | undefined {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(s.trim());
  const family = m ? isIP(m[1]!) : 0;
  if (!m || family === 0 || Number(m[2]) > (family === 4 ? 32 : 128))
    return `"${s}" is not a CIDR such as 198.18.0.0/15`;
  return undefined;
}

const durationFields = ['minSyncPeriod', 'syncPeriod'] as const;

function periods(r: Reader): PeriodsConfig {
  const [minSyncPeriodMs, syncPeriodMs] = durationFields.map((f) => r.duration(f));
  const masqueradeAll = r.bool('masqueradeAll');
  if (syncPeriodMs === 0) r.problem('syncPeriod', 'must be greater than 0');
  return { minSyncPeriodMs, syncPeriodMs, masqueradeAll };
}

/** Validates a parsed document; `source` names it in error messages. */
export function readConfigObject(doc: unknown, source: string): FileConfig {
  const problems: string[] = [];
  const ignored: string[] = [];
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc))
    throw new KprError('KPR_ERR_CONFIG', `${source}: expected a ${CONFIG_KIND} mapping`);
  const top = new Reader(
    doc as Record<string, unknown>,
    '',
    [
      'apiVersion',
      'kind',
      'mode',
      'clusterCIDR',
      'detectLocalMode',
      'hostnameOverride',
      'bindAddress',
      'healthzBindAddress',
      'metricsBindAddress',
      'nodePortAddresses',
      'iptables',
      'nftables',
      'conntrack',
      'kpr',
    ],
    problems,
    ignored,
  );
  for (const [key, value] of [
    ['apiVersion', CONFIG_API_VERSION],
    ['kind', CONFIG_KIND],
  ] as const) {
    if (top.has(key)) top.oneOf(key, [value]);
    else top.problem(key, `required: ${value}`);
  }
  const rawMode = top.oneOf('mode', ['', 'ebpf', 'iptables', 'nftables']);
  const mode = rawMode === '' ? undefined : rawMode;
  top.oneOf('detectLocalMode', ['', 'ClusterCIDR']);
  const clusterCIDR = top.string('clusterCIDR', (s) =>
    s
      .split(',')
      .map(cidrProblem)
      .find((p) => p),
  );
  const bindAddress = top.string('bindAddress', (s) =>
    isIP(s) ? undefined : `"${s}" is not an IP address`,
  );
  const bind = (key: string) =>
    top.string(key, (s) => {
      try {
        parseBindAddress(s);
        return undefined;
      } catch (e) {
        return errorMessage(e);
      }
    });
  const healthzBindAddress = bind('healthzBindAddress');
  const metricsBindAddress = bind('metricsBindAddress');
  const nodePortAddresses = top.stringList('nodePortAddresses', (s) =>
    s === 'primary' ? undefined : cidrProblem(s),
  );
  const sub = (key: string, known: readonly string[]) =>
    new Reader(top.object(key), key, known, problems, ignored);

  const ipt = sub('iptables', ['minSyncPeriod', 'syncPeriod', 'masqueradeAll', 'masqueradeBit']);
  // kpr's iptables and nftables rules use kube-proxy's mark bit 14 and nothing else.
  const bit = ipt.int('masqueradeBit', 0, 31);
  if (bit !== undefined && bit !== 14)
    ipt.problem('masqueradeBit', `kpr uses mark bit 14 (0x4000) only; remove the field or set 14`);
  const nft = sub('nftables', ['minSyncPeriod', 'syncPeriod', 'masqueradeAll', 'tableName']);
  const ct = sub('conntrack', [
    'maxPerCore',
    'min',
    'tcpEstablishedTimeout',
    'tcpCloseWaitTimeout',
    'tcpBeLiberal',
    'udpTimeout',
    'udpStreamTimeout',
  ]);
  const kpr = sub('kpr', [
    'minSyncPeriod',
    'syncPeriod',
    'fullSyncPeriod',
    'bpfPinDir',
    'cgroupPath',
    'iptablesBackend',
  ]);
  const absolute = (s: string) =>
    s.startsWith('/') ? undefined : `"${s}" must be an absolute path`;
  const cfg: FileConfig = {
    mode,
    clusterCIDR,
    hostnameOverride: top.string('hostnameOverride'),
    bindAddress,
    healthzBindAddress,
    metricsBindAddress,
    nodePortAddresses,
    iptables: periods(ipt),
    nftables: {
      ...periods(nft),
      tableName: nft.string('tableName', (s) =>
        /^[A-Za-z][A-Za-z0-9_-]{0,63}$/.test(s)
          ? undefined
          : `"${s}" is not an nftables table name`,
      ),
    },
    conntrack: {
      maxPerCore: ct.int('maxPerCore', 0, 2 ** 31 - 1),
      min: ct.int('min', 0, 2 ** 31 - 1),
      tcpEstablishedTimeoutMs: ct.duration('tcpEstablishedTimeout'),
      tcpCloseWaitTimeoutMs: ct.duration('tcpCloseWaitTimeout'),
      tcpBeLiberal: ct.bool('tcpBeLiberal'),
      udpTimeoutMs: ct.duration('udpTimeout'),
      udpStreamTimeoutMs: ct.duration('udpStreamTimeout'),
    },
    kpr: {
      ...periods(kpr),
      fullSyncPeriodMs: kpr.duration('fullSyncPeriod'),
      bpfPinDir: kpr.string('bpfPinDir', absolute),
      cgroupPath: kpr.string('cgroupPath', absolute),
      iptablesBackend: kpr.oneOf('iptablesBackend', ['nft', 'legacy']),
    },
    ignored,
  };
  if (problems.length) {
    throw new KprError(
      'KPR_ERR_CONFIG',
      `${source}: invalid ${CONFIG_KIND}:\n  ${problems.join('\n  ')}`,
    );
  }
  return cfg;
}

/** Parses YAML or JSON text (JSON is YAML) into a FileConfig. */
export function parseConfigText(text: string, source: string): FileConfig {
  let doc: unknown;
  try {
    doc = parseYaml(text, { uniqueKeys: true, strict: true });
  } catch (e) {
    throw new KprError('KPR_ERR_CONFIG', `${source}: not valid YAML or JSON: ${errorMessage(e)}`, {
      cause: e,
    });
  }
  return readConfigObject(doc, source);
}
