/**
 * @module model/intern
 * A bounded string interner. Node and zone names repeat on every endpoint (a million times in a
 * large cluster), and each parsed copy is its own heap string; storing one canonical copy saves
 * tens of MiB. The table is cleared when full, which costs only sharing, never correctness.
 */
export class Interner {
  readonly #table = new Map<string, string>();
  readonly #max: number;

  constructor(max = 65536) {
    this.#max = max;
  }

  readonly intern = (s: string): string => {
    const have = this.#table.get(s);
    if (have !== undefined) return have;
    if (this.#table.size >= this.#max) this.#table.clear();
    this.#table.set(s, s);
    return s;
  };

  get size(): number {
    return this.#table.size;
  }
}
