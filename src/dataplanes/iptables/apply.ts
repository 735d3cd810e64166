/**
 * @module dataplanes/iptables/apply
 * The commands that touch the kernel, all through the CommandRunner seam: one
 * `iptables-restore --noflush` transaction per sync, `iptables-save` to read back, and the
 * `-C`/`-I` jump rules from the built-in chains that kube-proxy ensures on full syncs.
 */
import type { CommandRunner } from '../../util/exec.ts';
import { FILTER_CHAINS, NAT_CHAINS, SERVICE_CHAIN_RE } from './names.ts';
import { option, parseSave } from './parse.ts';
import type { SavedRule, SavedTable } from './parse.ts';

export interface Tools {
  readonly restore: string;
  readonly save: string;
  readonly iptables: string;
}

/** The binaries of a backend: undefined = whatever the system's alternatives point at. */
export function toolsFor(backend: 'nft' | 'legacy' | undefined): Tools {
  const suffix = backend ? `-${backend}` : '';
  return {
    restore: `iptables${suffix}-restore`,
    save: `iptables${suffix}-save`,
    iptables: `iptables${suffix}`,
  };
}

/** Wait up to 5 s for the xtables lock (legacy) instead of failing at once. */
const WAIT = ['-w', '5'];

export interface JumpRule {
  readonly table: 'filter' | 'nat';
  readonly from: string;
  readonly to: string;
  readonly args: readonly string[];
}

const NEW = ['-m', 'conntrack', '--ctstate', 'NEW'];
const jump = (
  table: JumpRule['table'],
  from: string,
  to: string,
  text: string,
  extra: string[] = [],
): JumpRule => ({
  table,
  from,
  to,
  args: [...extra, '-m', 'comment', '--comment', text, '-j', to],
});

/** kube-proxy's jump rules from the built-in chains, in the order it ensures them. */
export const JUMP_RULES: readonly JumpRule[] = [
  jump(
    'filter',
    'INPUT',
    'KUBE-EXTERNAL-SERVICES',
    'kubernetes externally-visible service portals',
    NEW,
  ),
  jump(
    'filter',
    'FORWARD',
    'KUBE-EXTERNAL-SERVICES',
    'kubernetes externally-visible service portals',
    NEW,
  ),
  jump('filter', 'INPUT', 'KUBE-NODEPORTS', 'kubernetes health check service ports'),
  jump('filter', 'FORWARD', 'KUBE-SERVICES', 'kubernetes service portals', NEW),
  jump('filter', 'OUTPUT', 'KUBE-SERVICES', 'kubernetes service portals', NEW),
  jump('filter', 'FORWARD', 'KUBE-FORWARD', 'kubernetes forwarding rules'),
  jump('filter', 'INPUT', 'KUBE-PROXY-FIREWALL', 'kubernetes load balancer firewall', NEW),
  jump('filter', 'OUTPUT', 'KUBE-PROXY-FIREWALL', 'kubernetes load balancer firewall', NEW),
  jump('filter', 'FORWARD', 'KUBE-PROXY-FIREWALL', 'kubernetes load balancer firewall', NEW),
  jump('nat', 'OUTPUT', 'KUBE-SERVICES', 'kubernetes service portals'),
  jump('nat', 'PREROUTING', 'KUBE-SERVICES', 'kubernetes service portals'),
  jump('nat', 'POSTROUTING', 'KUBE-POSTROUTING', 'kubernetes postrouting rules'),
];

/** Applies a restore input atomically; chains it does not name are left alone. */
export async function restore(run: CommandRunner, tools: Tools, text: string): Promise<void> {
  await run(tools.restore, [...WAIT, '--noflush', '--counters'], { input: text });
}

/**
 * Which kernel interface a restore binary drives. With no explicit backend, the system's
 * `iptables-restore` says so in its version string ("(nf_tables)" or "(legacy)").
 */
export async function backendOf(
  run: CommandRunner,
  tools: Tools,
  configured: 'nft' | 'legacy' | undefined,
): Promise<'nft' | 'legacy'> {
  if (configured) return configured;
  const res = await run(tools.restore, ['--version'], { allowFailure: true });
  return /nf_tables/.test(res.stdout + res.stderr) ? 'nft' : 'legacy';
}

/**
 * iptables-nft-restore (1.8.x) keeps, while it parses a --noflush input, a sorted linked list of
 * every chain a line names (declared, appended to or jumped to) and inserts into it with a linear
 * scan, so one input with C chains costs O(C²) string comparisons: 12 000 chains take seconds,
 * 120 000 take many minutes. A full sync is therefore applied as several transactions, each with
 * at most `maxChains` per-service chains (a port's chains always together, so each port switches
 * atomically), and then the top-level chains and stale-chain deletions, which is what makes the
 * new chains reachable and the old ones unreferenced. The legacy backend rewrites the whole table
 * per transaction and must not be split.
 */
export function chunkedRestoreInputs(
  blocks: readonly { readonly chains: readonly string[]; readonly rules: readonly string[] }[],
  top: string,
  maxChains: number,
  missingTopChains: readonly string[] = [],
): string[] {
  const out: string[] = [];
  // Service chains jump to KUBE-MARK-MASQ: the first batch creates top-level chains that do not
  // exist yet (only missing ones: declaring an existing chain would flush it until `top`).
  let decls: string[] = missingTopChains.map((c) => `:${c} - [0:0]`);
  let rules: string[] = [];
  const flush = () => {
    if (rules.length === 0) return;
    out.push(['*nat', ...decls, ...rules, 'COMMIT', ''].join('\n'));
    decls = [];
    rules = [];
  };
  for (const b of blocks) {
    if (rules.length > 0 && decls.length + b.chains.length > maxChains) flush();
    for (const c of b.chains) decls.push(`:${c} - [0:0]`);
    for (const r of b.rules) rules.push(r);
  }
  flush();
  out.push(top);
  return out;
}

/** iptables-save output of one table, unparsed. */
export async function saveText(
  run: CommandRunner,
  tools: Tools,
  table: 'filter' | 'nat',
): Promise<string> {
  return (await run(tools.save, ['-t', table])).stdout;
}

export async function save(
  run: CommandRunner,
  tools: Tools,
  table?: 'filter' | 'nat',
): Promise<Map<string, SavedTable>> {
  const res = await run(tools.save, table ? ['-t', table] : []);
  return parseSave(res.stdout);
}

/**
 * Creates whichever top-level chains are missing, without flushing the ones that exist (a
 * restore only flushes chains it declares), so that adopting a running ruleset drops nothing.
 */
export async function ensureTopLevelChains(run: CommandRunner, tools: Tools): Promise<number> {
  const saved = await save(run, tools);
  const missing = (table: string, chains: readonly string[]) => {
    const have = new Set(saved.get(table)?.chains ?? []);
    return chains.filter((c) => !have.has(c)).map((c) => `:${c} - [0:0]`);
  };
  const filter = missing('filter', FILTER_CHAINS);
  const nat = missing('nat', NAT_CHAINS);
  if (filter.length + nat.length === 0) return 0;
  await restore(
    run,
    tools,
    ['*filter', ...filter, 'COMMIT', '*nat', ...nat, 'COMMIT', ''].join('\n'),
  );
  return filter.length + nat.length;
}

/** Inserts each missing jump rule at the top of its built-in chain; returns how many it added. */
export async function ensureJumps(run: CommandRunner, tools: Tools): Promise<number> {
  let added = 0;
  for (const j of JUMP_RULES) {
    const check = await run(tools.iptables, [...WAIT, '-t', j.table, '-C', j.from, ...j.args], {
      allowFailure: true,
    });
    if (check.code === 0) continue;
    await run(tools.iptables, [...WAIT, '-t', j.table, '-I', j.from, ...j.args]);
    added++;
  }
  return added;
}

/**
 * The restore input that removes everything kpr owns: every rule elsewhere that jumps to one of
 * its chains (the built-in chain jumps), then the chains themselves (flushed, then deleted).
 * Chains that are not kpr's, such as kubelet's KUBE-FIREWALL, are never touched. Empty when there
 * is nothing left to remove.
 */
/** Rules outside `chains` that jump or go to one of them (they must go before the chains can). */
function jumpsInto(t: SavedTable, chains: ReadonlySet<string>): SavedRule[] {
  return t.rules.filter((r) => {
    const to = option(r.args, '-j') ?? option(r.args, '-g');
    return !chains.has(r.chain) && to !== undefined && chains.has(to);
  });
}

/**
 * An iptables-restore input removing, from each of `tables`, the chains `owns` claims: flush them,
 * delete the rules elsewhere that jump to them, delete them. '' when there is nothing to remove.
 */
export function removeChainsText(
  saved: ReadonlyMap<string, SavedTable>,
  tables: readonly string[],
  owns: (table: string, chain: string) => boolean,
): string {
  const out: string[] = [];
  for (const table of tables) {
    const t = saved.get(table);
    if (!t) continue;
    const chains = t.chains.filter((c) => owns(table, c));
    if (chains.length === 0) continue;
    out.push(
      `*${table}`,
      ...chains.map((c) => `:${c} - [0:0]`),
      ...jumpsInto(t, new Set(chains)).map((r) => `-D ${r.spec}`),
      ...chains.map((c) => `-X ${c}`),
      'COMMIT',
    );
  }
  return out.length ? out.join('\n') + '\n' : '';
}

export function cleanupText(saved: ReadonlyMap<string, SavedTable>): string {
  return removeChainsText(
    saved,
    ['filter', 'nat'],
    (table, c) =>
      (table === 'filter' ? FILTER_CHAINS : NAT_CHAINS).includes(c) ||
      (table === 'nat' && SERVICE_CHAIN_RE.test(c)),
  );
}

/** Per-service chain kinds in the order nothing later jumps back to: FW → EXT → SVL/SVC → SEP. */
const KIND_ORDER = ['FW', 'EXT', 'SVL', 'SVC', 'SEP'];
const kindRank = (c: string) => KIND_ORDER.indexOf(c.slice(5, c.indexOf('-', 5)));

/**
 * cleanupText, split for iptables-nft-restore when there are more than `maxChains` per-service
 * chains (see chunkedRestoreInputs): first the jumps into kpr's chains and the top-level chains'
 * rules go, which makes every per-service chain unreachable; then the per-service chains are
 * flushed and deleted in batches ordered so that a chain's referrers are always flushed in the
 * same or an earlier batch; last the (now unreferenced) top-level nat chains are deleted.
 */
export function cleanupInputs(saved: ReadonlyMap<string, SavedTable>, maxChains: number): string[] {
  const nat = saved.get('nat');
  const services = (nat?.chains ?? []).filter((c) => SERVICE_CHAIN_RE.test(c));
  if (!nat || services.length <= maxChains) {
    const text = cleanupText(saved);
    return text === '' ? [] : [text];
  }
  const ownTop = nat.chains.filter((c) => NAT_CHAINS.includes(c));
  const others = new Map(saved);
  // Everything but the per-service chains and the deletion of the top-level nat chains.
  const all = new Set([...ownTop, ...services]);
  const first = cleanupText(new Map([...others].filter(([t]) => t !== 'nat')));
  const refs = jumpsInto(nat, all);
  const head = ['*nat', ...ownTop.map((c) => `:${c} - [0:0]`), ...refs.map((r) => `-D ${r.spec}`)];
  const out = [first + [...head, 'COMMIT', ''].join('\n')];
  const ordered = [...services].sort((a, b) => kindRank(a) - kindRank(b) || (a < b ? 1 : -1));
  for (let i = 0; i < ordered.length; i += maxChains) {
    const batch = ordered.slice(i, i + maxChains);
    out.push(
      [
        '*nat',
        ...batch.map((c) => `:${c} - [0:0]`),
        ...batch.map((c) => `-X ${c}`),
        'COMMIT',
        '',
      ].join('\n'),
    );
  }
  if (ownTop.length) out.push(['*nat', ...ownTop.map((c) => `-X ${c}`), 'COMMIT', ''].join('\n'));
  return out;
}
