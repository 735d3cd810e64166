/**
 * @module dataplanes/iptables/fragments
 * The render cache: what each service port contributed to the last ruleset, so that a partial sync
 * re-plans and re-hashes only the ports that changed, and the rules last written into each
 * top-level chain, so that a partial sync can leave unchanged ones out.
 */
import type { ServicePortState } from '../../model/types.ts';
import { renderServicePort } from './service.ts';
import type { RuleSink, ServiceContext } from './service.ts';

/**
 * What one service port contributes to the top-level chains, remembered between syncs: a partial
 * sync re-renders only the ports whose state object changed (the change tracker keeps unchanged
 * ServicePortStates as the same objects), so its cost is the concatenation, not the planning and
 * hashing of every endpoint. Own-chain rules are not kept: they are written only when a port changed.
 */
interface Fragment {
  readonly st: ServicePortState;
  readonly ctx: string;
  readonly lines: Pick<
    RuleSink,
    | 'filterServices'
    | 'filterExternalServices'
    | 'filterNodePorts'
    | 'filterFirewall'
    | 'natServices'
    | 'natNodePorts'
  >;
  readonly own: readonly string[];
  readonly warnings: readonly string[];
}

/** A per-dataplane memo of rendered service ports; pass the same one to every renderRuleset call. */
export interface RenderCache {
  readonly fragments: Map<string, Fragment>;
  /** The rules last rendered into each top-level chain (`table/chain`). */
  readonly top: Map<string, string>;
}

export function createRenderCache(): RenderCache {
  return { fragments: new Map(), top: new Map() };
}

export interface ServiceBlock {
  readonly chains: readonly string[];
  readonly rules: readonly string[];
}

export const emptySink = (): RuleSink => ({
  filterServices: [],
  filterExternalServices: [],
  filterNodePorts: [],
  filterFirewall: [],
  natServices: [],
  natNodePorts: [],
  chains: [],
  chainRules: [],
  active: new Set(),
  warnings: [],
});

/** Appends without spreading (a spread of a huge array can overflow the call stack). */
export function append(to: string[], from: readonly string[]): void {
  for (const x of from) to.push(x);
}

const TOP_LEVEL = [
  'filterServices',
  'filterExternalServices',
  'filterNodePorts',
  'filterFirewall',
  'natServices',
  'natNodePorts',
] as const;

/** Renders one service port into `sink`, through the cache when its state object is unchanged. */
export function renderPort(
  key: string,
  st: ServicePortState,
  ctx: ServiceContext,
  ctxKey: string,
  sink: RuleSink,
  writeChains: boolean,
  cache: RenderCache | undefined,
  blocks: ServiceBlock[],
): void {
  const hit = cache?.fragments.get(key);
  if (!writeChains && hit && hit.st === st && hit.ctx === ctxKey) {
    for (const k of TOP_LEVEL) append(sink[k], hit.lines[k]);
    for (const c of hit.own) sink.active.add(c);
    append(sink.warnings, hit.warnings);
    return;
  }
  const one = emptySink();
  renderServicePort(st, ctx, one, writeChains);
  for (const k of TOP_LEVEL) append(sink[k], one[k]);
  for (const c of one.active) sink.active.add(c);
  append(sink.warnings, one.warnings);
  if (one.chains.length > 0) {
    append(sink.chains, one.chains);
    append(sink.chainRules, one.chainRules);
    blocks.push({ chains: one.chains, rules: one.chainRules });
  }
  cache?.fragments.set(key, {
    st,
    ctx: ctxKey,
    lines: one,
    own: [...one.active],
    warnings: one.warnings,
  });
}
