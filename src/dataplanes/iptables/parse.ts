/**
 * @module dataplanes/iptables/parse
 * Reading iptables-save output: the chains and rules of each table, the per-service chains that
 * exist, and the live frontends (ClusterIP / external IP / LB IP / NodePort → KUBE-SVC/SVL →
 * KUBE-SEP DNAT) that `kpr` shows operators. Everything comes from the kernel's text, never from
 * memory, so it also reads rules written by a previous kpr (or by kube-proxy itself).
 */
import type { Protocol } from '../../model/types.ts';
import type { FrontendKind, LiveFrontend } from '../types.ts';
import {
  KUBE_EXTERNAL_SERVICES,
  KUBE_NODEPORTS,
  KUBE_SERVICES,
  SERVICE_CHAIN_RE,
} from './names.ts';
import { tokenize } from './syntax.ts';

export interface SavedRule {
  readonly chain: string;
  /** The rule's tokens after `-A CHAIN`, quotes removed. */
  readonly args: readonly string[];
  /** The rule as iptables-save printed it, after `-A `; usable verbatim as a `-D` spec. */
  readonly spec: string;
}

export interface SavedTable {
  readonly chains: readonly string[];
  readonly rules: readonly SavedRule[];
}

/** Splits iptables-save output by table (`*nat` … `COMMIT`). */
export function parseSave(text: string): Map<string, SavedTable> {
  const tables = new Map<string, { chains: string[]; rules: SavedRule[] }>();
  let cur: { chains: string[]; rules: SavedRule[] } | undefined;
  for (const raw of text.split('\n')) {
    const l = raw.trim();
    if (l.startsWith('*')) {
      cur = { chains: [], rules: [] };
      tables.set(l.slice(1), cur);
    } else if (!cur || l === '' || l.startsWith('#')) {
      continue;
    } else if (l.startsWith(':')) {
      cur.chains.push(l.slice(1).split(/\s+/)[0]!);
    } else if (l.startsWith('-A ')) {
      // Most lines have nothing to unquote; the full tokenizer is for those that do.
      const tok = /["'\\]/.test(l) ? tokenize(l) : l.split(/\s+/);
      cur.rules.push({ chain: tok[1]!, args: tok.slice(2), spec: l.slice(3) });
    }
  }
  return tables;
}

/**
 * The chains of one table of iptables-save output, without parsing a single rule: all a full sync
 * needs, and far cheaper than parseSave for a table of hundreds of thousands of rules.
 */
export function chainNamesIn(text: string, table: string): Set<string> {
  const out = new Set<string>();
  const start = text.indexOf(`\n*${table}\n`);
  const from = text.startsWith(`*${table}\n`) ? 0 : start;
  if (from < 0) return out;
  const end = text.indexOf('\nCOMMIT', from + 1);
  for (const l of text.slice(from, end < 0 ? undefined : end).split('\n')) {
    if (l.startsWith(':')) out.add(l.slice(1, l.indexOf(' ') < 0 ? undefined : l.indexOf(' ')));
  }
  return out;
}

/** The KUBE-SVC/SVL/EXT/FW/SEP chains present in a table. */
export function serviceChainsIn(table: SavedTable | undefined): Set<string> {
  return new Set((table?.chains ?? []).filter((c) => SERVICE_CHAIN_RE.test(c)));
}

/** The value of `flag` in a rule, unless negated with `!`. */
export function option(args: readonly string[], flag: string): string | undefined {
  for (let i = 0; i < args.length - 1; i++) {
    if (args[i] === flag && args[i - 1] !== '!') return args[i + 1];
  }
  return undefined;
}

function target(args: readonly string[]): string | undefined {
  return option(args, '-j') ?? option(args, '-g');
}

const KIND_SUFFIX: readonly [string, FrontendKind][] = [
  [' cluster IP', 'ClusterIP'],
  [' external IP', 'ExternalIP'],
  [' loadbalancer IP', 'LoadBalancer'],
];

const PROTOCOLS: Record<string, Protocol> = { tcp: 'TCP', udp: 'UDP', sctp: 'SCTP' };

type Backend = { ip: string; port: number };

/** Follows a dispatch chain down to DNAT targets, the way a packet would. */
function resolver(table: SavedTable): (chain: string) => Backend[] {
  const byChain = new Map<string, SavedRule[]>();
  for (const r of table.rules) {
    const list = byChain.get(r.chain) ?? [];
    list.push(r);
    byChain.set(r.chain, list);
  }
  const resolve = (chain: string, depth: number): Backend[] => {
    const rules = byChain.get(chain) ?? [];
    if (depth > 4) return [];
    if (chain.startsWith('KUBE-SEP-')) {
      const dest = rules
        .map((r) => option(r.args, '--to-destination'))
        .find((d) => d !== undefined);
      const m = dest ? /^(\d+\.\d+\.\d+\.\d+):(\d+)$/.exec(dest) : null;
      return m ? [{ ip: m[1]!, port: Number(m[2]) }] : [];
    }
    if (chain.startsWith('KUBE-SVC-') || chain.startsWith('KUBE-SVL-')) {
      const seen = new Map<string, Backend>();
      for (const r of rules) {
        const t = target(r.args);
        if (t?.startsWith('KUBE-SEP-'))
          for (const b of resolve(t, depth + 1)) seen.set(`${b.ip}:${b.port}`, b);
      }
      return [...seen.values()];
    }
    if (chain.startsWith('KUBE-EXT-')) {
      // The policy chain is the final unconditional jump; the earlier ones are short-circuits for
      // pod and host clients. Without it (Local policy, no local endpoints) nothing is reachable.
      const last = rules.at(-1);
      const t = last && target(last.args);
      const plain = last && last.args.length === 2;
      return t && plain && /^KUBE-SV[CL]-/.test(t) ? resolve(t, depth + 1) : [];
    }
    if (chain.startsWith('KUBE-FW-')) {
      const t = rules.map((r) => target(r.args)).find((x) => x?.startsWith('KUBE-EXT-'));
      return t ? resolve(t, depth + 1) : [];
    }
    return [];
  };
  return (chain) => resolve(chain, 0);
}

function frontendOf(
  rule: SavedRule,
  nodePort: boolean,
): Omit<LiveFrontend, 'backends'> | undefined {
  const proto = PROTOCOLS[option(rule.args, '-p') ?? ''];
  const port = Number(option(rule.args, '--dport'));
  if (!proto || !Number.isInteger(port) || port <= 0) return undefined;
  const text = option(rule.args, '--comment');
  if (nodePort) return { kind: 'NodePort', ip: '0.0.0.0', port, protocol: proto, service: text };
  const ip = option(rule.args, '-d')?.replace(/\/32$/, '');
  if (!ip) return undefined;
  const suffix = KIND_SUFFIX.find(([s]) => text?.endsWith(s));
  const t = target(rule.args) ?? '';
  const kind: FrontendKind =
    suffix?.[1] ??
    (t.startsWith('KUBE-FW-')
      ? 'LoadBalancer'
      : t.startsWith('KUBE-EXT-')
        ? 'ExternalIP'
        : 'ClusterIP');
  const service = suffix && text ? text.slice(0, -suffix[0].length) : text;
  return { kind, ip, port, protocol: proto, service };
}

/** kube-proxy's comments on the filter rules of frontends with nothing to DNAT to. */
const NO_ENDPOINTS = [' has no endpoints', ' has no local endpoints'];

/**
 * Frontends that the filter table REJECTs or DROPs because they have no (local) endpoints: they
 * have no nat rule at all, yet they are programmed and must be listed, with no backends.
 * KUBE-SERVICES holds ClusterIPs; KUBE-EXTERNAL-SERVICES holds NodePorts (matched on
 * `--dst-type LOCAL`) and external or load-balancer IPs, which its rules do not tell apart:
 * those are reported as ExternalIP.
 */
function unservedFrontends(filter: SavedTable): LiveFrontend[] {
  const out: LiveFrontend[] = [];
  for (const r of filter.rules) {
    if (r.chain !== KUBE_SERVICES && r.chain !== KUBE_EXTERNAL_SERVICES) continue;
    const t = target(r.args);
    if (t !== 'REJECT' && t !== 'DROP') continue;
    const text = option(r.args, '--comment');
    const suffix = NO_ENDPOINTS.find((x) => text?.endsWith(x));
    if (!text || !suffix) continue;
    const nodePort = r.chain === KUBE_EXTERNAL_SERVICES && option(r.args, '--dst-type') === 'LOCAL';
    const fe = frontendOf(r, nodePort);
    if (!fe) continue;
    const kind: FrontendKind = nodePort
      ? 'NodePort'
      : r.chain === KUBE_SERVICES
        ? 'ClusterIP'
        : 'ExternalIP';
    out.push({ ...fe, kind, service: text.slice(0, -suffix.length), backends: [] });
  }
  return out;
}

/**
 * Live frontends: the nat table's in rule order (KUBE-SERVICES, then KUBE-NODEPORTS), then the
 * filter table's frontends that have no endpoints to DNAT to.
 */
export function liveFrontends(nat: SavedTable | undefined, filter?: SavedTable): LiveFrontend[] {
  const out: LiveFrontend[] = nat ? servedFrontends(nat) : [];
  const seen = new Set(out.map((f) => `${f.ip}/${f.protocol}/${f.port}`));
  for (const fe of filter ? unservedFrontends(filter) : []) {
    const id = `${fe.ip}/${fe.protocol}/${fe.port}`;
    if (!seen.has(id)) out.push(fe);
    seen.add(id);
  }
  return out;
}

function servedFrontends(nat: SavedTable): LiveFrontend[] {
  const resolve = resolver(nat);
  const out: LiveFrontend[] = [];
  // iptables-save sorts chains by name; report KUBE-SERVICES first regardless.
  const rules = [KUBE_SERVICES, KUBE_NODEPORTS].flatMap((c) =>
    nat.rules.filter((r) => r.chain === c),
  );
  for (const r of rules) {
    const t = target(r.args);
    if (!t || !SERVICE_CHAIN_RE.test(t)) continue;
    const fe = frontendOf(r, r.chain === KUBE_NODEPORTS);
    if (fe) out.push({ ...fe, backends: resolve(t) });
  }
  return out;
}
