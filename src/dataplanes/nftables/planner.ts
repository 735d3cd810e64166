/**
 * @module dataplanes/nftables/planner
 * Decides what one sync writes. It remembers, per service port, the chains (with their rules) and
 * affinity sets the kernel accepted, plus every shared element (ElementStore), so that:
 *  - a full sync rewrites everything and deletes whatever the kernel inventory holds that is no
 *    longer wanted (the table is never deleted, so traffic never sees it missing);
 *  - an incremental sync touches only the changed ports: their element diffs, their chains whose
 *    rules differ (flush + re-add), and deletions of their chains and sets that are gone.
 * Plans are pure; `commit()` adopts a plan's result once nft has accepted it.
 */
import type { ProxyState } from '../../model/types.ts';
import { ElementStore } from './elements.ts';
import {
  EMPTY_RENDER,
  renderServicePort,
  type RenderOptions,
  type ServiceRender,
} from './service.ts';
import { SKELETON_CHAIN_NAMES, type ChainDef } from './skeleton.ts';
import { renderTransaction, type TransactionPlan } from './transaction.ts';

/** The objects of kpr's table as the kernel lists them, read before a full sync. */
export interface KernelInventory {
  readonly chains: ReadonlySet<string>;
  /** Named sets (not maps) with their timeout in seconds, when they have one. */
  readonly sets: ReadonlyMap<string, number | undefined>;
}

export const EMPTY_INVENTORY: KernelInventory = { chains: new Set(), sets: new Map() };

interface OwnerRecord {
  readonly chains: ReadonlyMap<string, readonly string[]>;
  readonly sets: ReadonlyMap<string, number>;
}

export interface Plan {
  readonly text: string;
  readonly written: number;
  readonly deleted: number;
  readonly conflicts: readonly string[];
  commit(): void;
}

const sameRules = (a: readonly string[] | undefined, b: readonly string[]): boolean =>
  a !== undefined && a.length === b.length && a.every((r, i) => r === b[i]);

function record(r: ServiceRender): OwnerRecord {
  return {
    chains: new Map(r.chains.map((c) => [c.name, c.rules])),
    sets: new Map(r.sets.map((s) => [s.name, s.timeoutSeconds])),
  };
}

export class NftPlanner {
  private readonly table: string;
  private readonly opts: RenderOptions;
  private owners = new Map<string, OwnerRecord>();
  private elements = new ElementStore();

  constructor(table: string, opts: RenderOptions) {
    this.table = table;
    this.opts = opts;
  }

  /** Rewrites the whole table, removing every chain and set of `inventory` that is not wanted. */
  full(state: ProxyState, inventory: KernelInventory): Plan {
    const keys = [...state.keys()].sort();
    const renders = new Map(keys.map((k) => [k, renderServicePort(state.get(k)!, this.opts)]));
    const wanted = new Set<string>(SKELETON_CHAIN_NAMES);
    const wantedSets = new Map<string, number>();
    const writeChains: ChainDef[] = [];
    for (const r of renders.values()) {
      for (const c of r.chains) {
        wanted.add(c.name);
        writeChains.push(c);
      }
      for (const s of r.sets) wantedSets.set(s.name, s.timeoutSeconds);
    }
    const existing = [...inventory.chains].filter((c) => !SKELETON_CHAIN_NAMES.has(c)).sort();
    const stale = existing.filter((c) => !wanted.has(c));
    // Affinity sets keep their client entries across syncs unless their timeout changed.
    const deleteSets = [...inventory.sets]
      .filter(([n, timeout]) => n.startsWith('affinity-') && wantedSets.get(n) !== timeout)
      .map(([n]) => n)
      .sort();
    const addSets = [...wantedSets]
      .filter(([n, timeout]) => inventory.sets.get(n) !== timeout)
      .map(([name, timeoutSeconds]) => ({ name, timeoutSeconds }));
    const store = new ElementStore();
    const diff = store.stage(new Map([...renders].map(([k, r]) => [k, r.elements])));
    const plan: TransactionPlan = {
      table: this.table,
      skeleton: true,
      flushChains: existing,
      deleteElements: [],
      deleteChains: stale,
      deleteSets,
      addSets,
      newChains: writeChains.map((c) => c.name).filter((c) => !inventory.chains.has(c)),
      writeChains,
      addElements: diff.adds,
    };
    const tx = renderTransaction(plan);
    return {
      text: tx.text,
      written: tx.rules + diff.adds.length,
      deleted: stale.length + deleteSets.length,
      conflicts: diff.conflicts,
      commit: () => {
        diff.commit();
        this.elements = store;
        this.owners = new Map([...renders].map(([k, r]) => [k, record(r)]));
      },
    };
  }

  /** Writes only what changed for the `changed` service port keys (present or removed in `state`). */
  incremental(state: ProxyState, changed: ReadonlySet<string>): Plan {
    const flushChains: string[] = [];
    const deleteChains: string[] = [];
    const deleteSets: string[] = [];
    const addSets: { name: string; timeoutSeconds: number }[] = [];
    const newChains: string[] = [];
    const writeChains: ChainDef[] = [];
    const updates = new Map<string, ServiceRender['elements']>();
    const records = new Map<string, OwnerRecord>();
    for (const key of [...changed].sort()) {
      const sp = state.get(key);
      const r = sp ? renderServicePort(sp, this.opts) : EMPTY_RENDER;
      const old = this.owners.get(key) ?? record(EMPTY_RENDER);
      const next = record(r);
      records.set(key, next);
      updates.set(key, r.elements);
      // A set whose timeout changes is recreated; rules naming it must be flushed first.
      let recreated = false;
      for (const s of r.sets) {
        const prev = old.sets.get(s.name);
        if (prev === s.timeoutSeconds) continue;
        if (prev !== undefined) {
          deleteSets.push(s.name);
          recreated = true;
        }
        addSets.push(s);
      }
      for (const [name] of old.sets) if (!next.sets.has(name)) deleteSets.push(name);
      for (const c of r.chains) {
        const prev = old.chains.get(c.name);
        if (prev === undefined) newChains.push(c.name);
        else if (!recreated && sameRules(prev, c.rules)) continue;
        else flushChains.push(c.name);
        writeChains.push(c);
      }
      for (const [name] of old.chains) {
        if (next.chains.has(name)) continue;
        flushChains.push(name);
        deleteChains.push(name);
      }
    }
    const diff = this.elements.stage(updates);
    const tx = renderTransaction({
      table: this.table,
      skeleton: false,
      flushChains,
      deleteElements: diff.deletes,
      deleteChains,
      deleteSets,
      addSets,
      newChains,
      writeChains,
      addElements: diff.adds,
    });
    return {
      text: tx.text,
      written: tx.rules + diff.adds.length,
      deleted: diff.deletes.length + deleteChains.length + deleteSets.length,
      conflicts: diff.conflicts,
      commit: () => {
        diff.commit();
        for (const [k, rec] of records) {
          if (rec.chains.size > 0 || rec.sets.size > 0) this.owners.set(k, rec);
          else this.owners.delete(k);
        }
      },
    };
  }

  /** Forgets everything applied (after cleanup); the next sync must be full. */
  reset(): void {
    this.owners = new Map();
    this.elements = new ElementStore();
  }
}
