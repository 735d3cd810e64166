/**
 * @module dataplanes/nftables/transaction
 * Writes one `nft -f` transaction from a plan. The statement order is what makes a single atomic
 * transaction valid when it both removes and adds objects:
 *   1. declare the table (and, on a full sync, the skeleton chains, sets and maps), then flush them;
 *   2. flush the existing chains about to be rewritten or deleted, dropping their references;
 *   3. delete elements (a map element must go before the chain its verdict points at);
 *   4. delete chains and affinity sets that nothing references any more;
 *   5. declare new affinity sets and chains (before any rule or element names them);
 *   6. add rules, then elements.
 */
import type { AffinitySetDef, ElementDef } from './service.ts';
import { CONTAINERS, SKELETON_CHAINS, type ChainDef } from './skeleton.ts';

export interface TransactionPlan {
  readonly table: string;
  /** Declare, flush and refill the skeleton (full syncs). */
  readonly skeleton: boolean;
  readonly flushChains: readonly string[];
  readonly deleteElements: readonly ElementDef[];
  readonly deleteChains: readonly string[];
  readonly deleteSets: readonly string[];
  readonly addSets: readonly AffinitySetDef[];
  readonly newChains: readonly string[];
  readonly writeChains: readonly ChainDef[];
  readonly addElements: readonly ElementDef[];
}

export const TABLE_COMMENT = 'kpr: Kubernetes Service proxy rules (kube-proxy nftables layout)';

function elementText(e: ElementDef, withValue: boolean): string {
  let s = e.key;
  if (withValue && e.comment !== undefined) s += ` comment ${e.comment}`;
  if (withValue && e.value !== undefined) s += ` : ${e.value}`;
  return s;
}

/** The skeleton's declarations only: what start() creates without touching existing rules. */
export function skeletonDeclarations(table: string): string[] {
  const t = `ip ${table}`;
  const out = [`add table ${t} { comment "${TABLE_COMMENT}" ; }`];
  for (const c of CONTAINERS) out.push(`add ${c.kind} ${t} ${c.name} { ${c.spec} }`);
  for (const c of SKELETON_CHAINS)
    out.push(c.spec ? `add chain ${t} ${c.name} { ${c.spec} }` : `add chain ${t} ${c.name}`);
  return out;
}

export interface RenderedTransaction {
  readonly text: string;
  readonly rules: number;
}

export function renderTransaction(p: TransactionPlan): RenderedTransaction {
  const t = `ip ${p.table}`;
  const out: string[] = [];
  let rules = 0;
  if (p.skeleton) {
    out.push(...skeletonDeclarations(p.table));
    for (const c of CONTAINERS) out.push(`flush ${c.kind} ${t} ${c.name}`);
    for (const c of SKELETON_CHAINS) out.push(`flush chain ${t} ${c.name}`);
  }
  for (const c of p.flushChains) out.push(`flush chain ${t} ${c}`);
  for (const e of p.deleteElements)
    out.push(`delete element ${t} ${e.container} { ${elementText(e, false)} }`);
  for (const c of p.deleteChains) out.push(`delete chain ${t} ${c}`);
  for (const s of p.deleteSets) out.push(`delete set ${t} ${s}`);
  for (const s of p.addSets)
    out.push(
      `add set ${t} ${s.name} { type ipv4_addr ; flags dynamic,timeout ; timeout ${s.timeoutSeconds}s ; }`,
    );
  for (const c of p.newChains) out.push(`add chain ${t} ${c}`);
  const chains = p.skeleton ? [...SKELETON_CHAINS, ...p.writeChains] : p.writeChains;
  for (const c of chains) {
    for (const r of c.rules) out.push(`add rule ${t} ${c.name} ${r}`);
    rules += c.rules.length;
  }
  for (const e of p.addElements)
    out.push(`add element ${t} ${e.container} { ${elementText(e, true)} }`);
  return { text: out.length > 0 ? out.join('\n') + '\n' : '', rules };
}
