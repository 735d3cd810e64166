/**
 * @module dataplanes/nftables/elements
 * An in-memory mirror of the elements kpr has put into its shared sets and verdict maps, with the
 * service port that owns each one (kube-proxy keeps a similar element store for partial syncs).
 * It turns "these service ports now own these elements" into the minimal element deletes and adds.
 *
 * An element key may be claimed by several owners: every port of a Service shares its ClusterIP in
 * `cluster-ips`, and two Services may (wrongly) claim the same externalIP:port. The owner with the
 * smallest key wins, so the result never depends on event order; conflicting claims are reported.
 */
import type { ElementDef } from './service.ts';

export interface ElementDiff {
  readonly deletes: readonly ElementDef[];
  readonly adds: readonly ElementDef[];
  /** Keys claimed by owners that disagree on the value (`container key`). */
  readonly conflicts: readonly string[];
  /** Makes the staged ownership and effective elements current; call after the kernel accepted them. */
  commit(): void;
}

const ck = (e: ElementDef): string => `${e.container}\u0000${e.key}`;
const same = (a: ElementDef | undefined, b: ElementDef | undefined): boolean =>
  a?.value === b?.value && a?.comment === b?.comment && (a === undefined) === (b === undefined);

export class ElementStore {
  private readonly byOwner = new Map<string, readonly ElementDef[]>();
  private readonly byKey = new Map<string, Map<string, ElementDef>>();
  /** What the kernel holds: the effective element per container+key. */
  private readonly applied = new Map<string, ElementDef>();

  /** Every element currently in the kernel, by container (for tests and diagnostics). */
  appliedElements(): ElementDef[] {
    return [...this.applied.values()];
  }

  /** Computes the element changes for replacing the elements of `updates`' owners; commits nothing. */
  stage(updates: ReadonlyMap<string, readonly ElementDef[]>): ElementDiff {
    const touched = new Map<string, Map<string, ElementDef>>();
    const ownersOf = (k: string): Map<string, ElementDef> => {
      let m = touched.get(k);
      if (!m) {
        m = new Map(this.byKey.get(k));
        touched.set(k, m);
      }
      return m;
    };
    for (const [owner, els] of updates) {
      for (const old of this.byOwner.get(owner) ?? []) ownersOf(ck(old)).delete(owner);
      for (const e of els) ownersOf(ck(e)).set(owner, e);
    }
    const deletes: ElementDef[] = [];
    const adds: ElementDef[] = [];
    const conflicts: string[] = [];
    const effective = new Map<string, ElementDef | undefined>();
    for (const [k, owners] of touched) {
      const sorted = [...owners.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      const winner = sorted[0]?.[1];
      if (sorted.some(([, e]) => e.value !== winner?.value))
        conflicts.push(k.replace('\u0000', ' '));
      effective.set(k, winner);
      const cur = this.applied.get(k);
      if (same(cur, winner)) continue;
      // A verdict-map element cannot be re-added with another value: delete it first.
      if (cur) deletes.push(cur);
      if (winner) adds.push(winner);
    }
    return {
      deletes,
      adds,
      conflicts,
      commit: () => {
        for (const [owner, els] of updates) {
          if (els.length > 0) this.byOwner.set(owner, els);
          else this.byOwner.delete(owner);
        }
        for (const [k, owners] of touched) {
          if (owners.size > 0) this.byKey.set(k, owners);
          else this.byKey.delete(k);
          const e = effective.get(k);
          if (e) this.applied.set(k, e);
          else this.applied.delete(k);
        }
      },
    };
  }
}
