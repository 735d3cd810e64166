/**
 * @module sources/file/registry
 * Which file defines which object, and which definition is in effect. Each file contributes a set
 * of objects; the same object (kind/namespace/name) may be claimed by several files, in which case
 * the claim made first stays in effect until its file stops defining it, then the next claim takes
 * over. Replacing a file's set returns only the objects whose effective value changed, so callers
 * emit exactly the adds, updates and deletes that matter.
 *
 * Memory: a value is compared by a fingerprint (SHA-256 of its JSON), and the registry lets go of
 * a value once it is in effect and has been handed out: the consumer keeps what it needs, and at
 * 100000 Services a second full copy of every object would be hundreds of MiB. Values of claims
 * that are not in effect (shadowed by another file) are kept, since they are emitted when they
 * take over.
 */
import { hash } from 'node:crypto';
import type { ManifestKind } from './parse.ts';

/** One object as one file defines it. */
export interface Entry {
  readonly key: string;
  readonly kind: ManifestKind;
  readonly namespace: string;
  readonly name: string;
  readonly label: string;
  readonly line: number;
  /**
   * The validated object, until the registry has emitted it as the one in effect; undefined after
   * that (the fingerprint stands for it).
   */
  value: object | undefined;
  /** Fingerprint of `value`; the registry fills it in when the entry arrives. */
  fingerprint?: string;
}

/** A fingerprint of a value: equal JSON, equal fingerprint (key order counts, which is harmless). */
export function fingerprintOf(value: object): string {
  return hash('sha256', JSON.stringify(value), 'base64');
}

export interface Claim {
  readonly file: string;
  entry: Entry;
}

/** An effective change: `value` undefined means the object is gone. */
export interface Change {
  readonly kind: ManifestKind;
  readonly namespace: string;
  readonly name: string;
  readonly value: object | undefined;
  /** The file whose definition is now in effect (for logs). */
  readonly file: string | undefined;
}

/** A file's definition that lost to an earlier claim in another file. */
export interface Shadowed {
  readonly entry: Entry;
  readonly winner: Claim;
}

export class ObjectRegistry {
  /** key → claims in the order they were made; claims[0] is in effect. */
  readonly #claims = new Map<string, Claim[]>();
  /** file → key → entry. */
  readonly #files = new Map<string, Map<string, Entry>>();

  /** What `file` currently contributes (including last-known-good versions kept by the caller). */
  entriesOf(file: string): ReadonlyMap<string, Entry> {
    return this.#files.get(file) ?? new Map();
  }

  files(): string[] {
    return [...this.#files.keys()];
  }

  effective(key: string): Claim | undefined {
    return this.#claims.get(key)?.[0];
  }

  /**
   * Makes `entries` the complete set of objects `file` defines (an empty map removes the file).
   * Returns the effective changes, sorted Services first, and this file's definitions that are
   * shadowed by another file's earlier claim.
   */
  replaceFile(
    file: string,
    entries: ReadonlyMap<string, Entry>,
  ): { changes: Change[]; shadowed: Shadowed[] } {
    const old = this.#files.get(file) ?? new Map<string, Entry>();
    for (const e of entries.values()) {
      if (e.fingerprint === undefined) {
        // An entry without a fingerprint is new, so its value is still there.
        if (e.value === undefined)
          throw new Error(`internal error (a kpr bug): ${e.key} has no value`);
        e.fingerprint = fingerprintOf(e.value);
      }
    }
    const touched = new Set([...old.keys(), ...entries.keys()]);
    // Snapshots, not the claims themselves: claims are updated in place below.
    const before = new Map<string, Claim | undefined>();
    for (const key of touched) {
      const c = this.effective(key);
      before.set(key, c && { file: c.file, entry: c.entry });
    }

    for (const key of old.keys()) {
      if (entries.has(key)) continue;
      const claims = (this.#claims.get(key) ?? []).filter((c) => c.file !== file);
      if (claims.length > 0) this.#claims.set(key, claims);
      else this.#claims.delete(key);
    }
    for (const [key, entry] of entries) {
      const claims = this.#claims.get(key) ?? [];
      const mine = claims.find((c) => c.file === file);
      // Updating in place keeps this file's position in the claim order.
      if (mine) mine.entry = entry;
      else claims.push({ file, entry });
      this.#claims.set(key, claims);
    }
    if (entries.size > 0) this.#files.set(file, new Map(entries));
    else this.#files.delete(file);

    const changes: Change[] = [];
    const shadowed: Shadowed[] = [];
    for (const key of [...touched].sort(byKindThenKey)) {
      const prev = before.get(key);
      const next = this.effective(key);
      const entry = next?.entry ?? prev!.entry;
      if (next && next.file !== file && entries.has(key))
        shadowed.push({ entry: entries.get(key)!, winner: next });
      if (prev === undefined && next === undefined) continue;
      if (prev && next && prev.entry.fingerprint === next.entry.fingerprint) {
        // The consumer already holds this value (it was in effect before).
        next.entry.value = undefined;
        continue;
      }
      // Never happens: a released value belongs to a claim that was already in effect, hence `prev`.
      if (next && next.entry.value === undefined)
        throw new Error(`internal error (a kpr bug): the value of ${key} was released too early`);
      changes.push({
        kind: entry.kind,
        namespace: entry.namespace,
        name: entry.name,
        value: next?.entry.value,
        file: next?.file,
      });
      // Handed out and in effect: the consumer holds it now.
      if (next) next.entry.value = undefined;
    }
    return { changes, shadowed };
  }
}

/** Services before EndpointSlices, so a consumer sees a Service before the slices that feed it. */
function byKindThenKey(a: string, b: string): number {
  const ka = a.startsWith('Service/') ? 0 : 1;
  const kb = b.startsWith('Service/') ? 0 : 1;
  return ka - kb || (a < b ? -1 : a > b ? 1 : 0);
}
