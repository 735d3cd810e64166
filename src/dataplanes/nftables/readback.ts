/**
 * @module dataplanes/nftables/readback
 * Parses `nft -j list table` output. list() follows the kernel's own objects, never kpr's memory:
 * service-ips / service-nodeports elements → service, local or external chain → its `dnat to`
 * targets, following numgen-guarded or unconditional gotos (endpoint chains of ClientIP-affinity
 * Services, an external chain's hand-off to its policy chain). Frontends
 * that only exist in the no-endpoint maps are listed with no backends.
 */
import type { Protocol } from '../../model/types.ts';
import type { FrontendKind, LiveFrontend } from '../types.ts';
import type { KernelInventory } from './planner.ts';
import {
  CLUSTER_IPS,
  FIREWALL_IPS,
  NO_ENDPOINT_NODEPORTS,
  NO_ENDPOINT_SERVICES,
  SERVICE_IPS,
  SERVICE_NODEPORTS,
} from './skeleton.ts';
import { EXTERNAL_IP_COMMENT, LOADBALANCER_IP_COMMENT } from './service.ts';

type Json = Record<string, unknown>;
interface Backend {
  readonly ip: string;
  readonly port: number;
}
interface Element {
  readonly key: unknown[];
  readonly comment: string | undefined;
  readonly target: string | undefined;
}

const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

function objects(text: string): Json[] {
  const doc: unknown = JSON.parse(text);
  const list = isObj(doc) && Array.isArray(doc.nftables) ? doc.nftables : [];
  return list.filter(isObj);
}

/**
 * The chains and sets of `table` from `nft -j list chains ip` and `nft -j -t list sets ip` output
 * (any number of documents; objects of other tables are ignored). These listings carry no rules and
 * no elements: nft 1.0.6 needs minutes for `list table` at 50000 Services, and 0.4 s for these.
 */
export function parseInventory(table: string, ...texts: string[]): KernelInventory {
  const chains = new Set<string>();
  const sets = new Map<string, number | undefined>();
  for (const o of texts.flatMap(objects)) {
    if (isObj(o.chain) && o.chain.table === table && typeof o.chain.name === 'string')
      chains.add(o.chain.name);
    if (isObj(o.set) && o.set.table === table && typeof o.set.name === 'string')
      sets.set(o.set.name, typeof o.set.timeout === 'number' ? o.set.timeout : undefined);
  }
  return { chains, sets };
}

/** A key/verdict pair from a set or map `elem` list; keys may be wrapped with a comment. */
function element(raw: unknown): Element {
  const [k, v] = Array.isArray(raw) ? raw : [raw, undefined];
  let key: unknown = k;
  let comment: string | undefined;
  if (isObj(key) && isObj(key.elem)) {
    comment = typeof key.elem.comment === 'string' ? key.elem.comment : undefined;
    key = key.elem.val;
  }
  const parts = isObj(key) && Array.isArray(key.concat) ? key.concat : [key];
  const target =
    isObj(v) && isObj(v.goto) && typeof v.goto.target === 'string' ? v.goto.target : undefined;
  return { key: parts, comment, target };
}

function protocolOf(p: unknown): Protocol | undefined {
  return p === 'tcp' ? 'TCP' : p === 'udp' ? 'UDP' : p === 'sctp' ? 'SCTP' : undefined;
}

/** `ns/name:port` from a chain name `<prefix>-<hash>-ns/name/proto/port` (undefined if truncated). */
export function serviceFromChain(chain: string): string | undefined {
  const m = /^[a-z]+-[A-Z2-7]{8}-([^/]+)\/([^/]+)\/[a-z]+\/(.*)$/.exec(chain);
  if (!m || chain.endsWith('...')) return undefined;
  const port = m[3]!.split('__')[0]!;
  return port ? `${m[1]}/${m[2]}:${port}` : `${m[1]}/${m[2]}`;
}

export function parseLiveFrontends(text: string): LiveFrontend[] {
  const rules = new Map<string, unknown[][]>();
  const containers = new Map<string, Element[]>();
  for (const o of objects(text)) {
    const c = isObj(o.set) ? o.set : isObj(o.map) ? o.map : undefined;
    if (c && typeof c.name === 'string')
      containers.set(c.name, (Array.isArray(c.elem) ? c.elem : []).map(element));
    if (isObj(o.rule) && typeof o.rule.chain === 'string' && Array.isArray(o.rule.expr)) {
      const list = rules.get(o.rule.chain) ?? [];
      list.push(o.rule.expr);
      rules.set(o.rule.chain, list);
    }
  }
  const backendsOf = (chain: string, seen: Set<string>): Backend[] => {
    if (seen.has(chain)) return [];
    seen.add(chain);
    const out: Backend[] = [];
    for (const expr of rules.get(chain) ?? []) {
      let onlyNumgen = true;
      for (const e of expr) {
        if (!isObj(e)) continue;
        if (isObj(e.dnat) && typeof e.dnat.addr === 'string' && typeof e.dnat.port === 'number')
          out.push({ ip: e.dnat.addr, port: e.dnat.port });
        // kube-proxy's inline choice, `numgen random mod N vmap { i : goto endpoint-... }`
        // (kpr writes one rule per endpoint instead, but reads both).
        if (isObj(e.vmap) && isObj(e.vmap.key) && isObj(e.vmap.key.numgen) && isObj(e.vmap.data)) {
          const arms = Array.isArray(e.vmap.data.set) ? e.vmap.data.set : [];
          for (const arm of arms) {
            const t = element(arm).target;
            if (t) out.push(...backendsOf(t, seen));
          }
        }
        const numgenMatch = isObj(e.match) && isObj(e.match.left) && isObj(e.match.left.numgen);
        if (isObj(e.match) && !numgenMatch) onlyNumgen = false;
        // A goto that only a numgen draw guards is an endpoint arm (`numgen random mod k == 0
        // goto endpoint-...`); an unconditional one is an external chain's hand-off to its policy
        // chain. Gotos behind other matches (short-circuits, affinity) lead to the same endpoints
        // or to another policy's, so they are not followed.
        if (onlyNumgen && isObj(e.goto) && typeof e.goto.target === 'string')
          out.push(...backendsOf(e.goto.target, seen));
      }
    }
    return out;
  };
  const clusterIPs = new Set((containers.get(CLUSTER_IPS) ?? []).map((e) => String(e.key[0])));
  const firewalled = new Set((containers.get(FIREWALL_IPS) ?? []).map((e) => String(e.key[0])));
  const kindOf = (ip: string, comment: string | undefined): FrontendKind =>
    clusterIPs.has(ip)
      ? 'ClusterIP'
      : comment === LOADBALANCER_IP_COMMENT ||
          (comment !== EXTERNAL_IP_COMMENT && firewalled.has(ip))
        ? 'LoadBalancer'
        : 'ExternalIP';

  const out: LiveFrontend[] = [];
  const add = (
    ip: string,
    kind: FrontendKind,
    p: unknown,
    port: unknown,
    el: Element,
    withBackends: boolean,
  ) => {
    const protocol = protocolOf(p);
    if (!protocol || typeof port !== 'number') return;
    const service = el.target ? serviceFromChain(el.target) : el.comment;
    const backends = withBackends && el.target ? backendsOf(el.target, new Set()) : [];
    out.push({ kind, ip, port, protocol, service, backends });
  };
  for (const el of containers.get(SERVICE_IPS) ?? []) {
    const [ip, p, port] = el.key;
    add(String(ip), kindOf(String(ip), el.comment), p, port, el, true);
  }
  for (const el of containers.get(SERVICE_NODEPORTS) ?? [])
    add('0.0.0.0', 'NodePort', el.key[0], el.key[1], el, true);
  for (const el of containers.get(NO_ENDPOINT_SERVICES) ?? []) {
    const [ip, p, port] = el.key;
    add(String(ip), kindOf(String(ip), undefined), p, port, { ...el, target: undefined }, false);
  }
  for (const el of containers.get(NO_ENDPOINT_NODEPORTS) ?? [])
    add('0.0.0.0', 'NodePort', el.key[0], el.key[1], { ...el, target: undefined }, false);
  const key = (f: LiveFrontend): string =>
    `${f.kind} ${f.ip} ${f.protocol} ${String(f.port).padStart(5, '0')}`;
  return out.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}
