/**
 * @module dataplanes/iptables/apply
 * The commands that touch the kernel, all through the CommandRunner seam: one
 * `iptables-restore --noflush` transaction per sync, `iptables-save` to read back, and the
 * `-C`/`-I` jump rules from the built-in chains that kube-proxy ensures on full syncs.
 */
import type { CommandRunner } from '../../util/exec.ts';
import { FILTER_CHAINS, NAT_CHAINS, SERVICE_CHAIN_RE } from './names.ts';
import { option, parseSave } from './parse.ts';
import type { SavedTable } from './parse.ts';

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
export function cleanupText(saved: ReadonlyMap<string, SavedTable>): string {
  const own = (table: string, c: string) =>
    (table === 'filter' ? FILTER_CHAINS : NAT_CHAINS).includes(c) ||
    (table === 'nat' && SERVICE_CHAIN_RE.test(c));
  const out: string[] = [];
  for (const table of ['filter', 'nat']) {
    const t = saved.get(table);
    if (!t) continue;
    const chains = t.chains.filter((c) => own(table, c));
    if (chains.length === 0) continue;
    const ours = new Set(chains);
    const refs = t.rules.filter((r) => {
      const to = option(r.args, '-j') ?? option(r.args, '-g');
      return !ours.has(r.chain) && to !== undefined && ours.has(to);
    });
    out.push(
      `*${table}`,
      ...chains.map((c) => `:${c} - [0:0]`),
      ...refs.map((r) => `-D ${r.spec}`),
      ...chains.map((c) => `-X ${c}`),
      'COMMIT',
    );
  }
  return out.length ? out.join('\n') + '\n' : '';
}
