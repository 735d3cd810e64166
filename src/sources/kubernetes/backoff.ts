/**
 * @module sources/kubernetes/backoff
 * Exponential backoff with jitter for reconnecting to the API server. Every agent in a cluster
 * loses the API server at the same moment when it restarts; the jitter spreads their reconnects so
 * that they do not all hit it again in the same instant.
 */

export interface BackoffOptions {
  /** First delay (default 500 ms). */
  readonly initialMs?: number;
  /** Upper bound of the delay before jitter (default 30 s). */
  readonly maxMs?: number;
  /** Each delay is multiplied by a random factor in [1 - jitter, 1 + jitter] (default 0.2). */
  readonly jitter?: number;
  /** For tests: a random source in [0, 1). */
  readonly random?: () => number;
}

export class Backoff {
  readonly #initialMs: number;
  readonly #maxMs: number;
  readonly #jitter: number;
  readonly #random: () => number;
  #attempt = 0;

  constructor(o: BackoffOptions = {}) {
    this.#initialMs = o.initialMs ?? 500;
    this.#maxMs = o.maxMs ?? 30_000;
    this.#jitter = o.jitter ?? 0.2;
    this.#random = o.random ?? Math.random;
  }

  /** Failures since the last reset. */
  get attempts(): number {
    return this.#attempt;
  }

  /** The delay before the next attempt; each call counts one more failure. */
  next(): number {
    const base = Math.min(this.#maxMs, this.#initialMs * 2 ** Math.min(this.#attempt, 30));
    this.#attempt++;
    const factor = 1 + this.#jitter * (2 * this.#random() - 1);
    return Math.max(0, Math.round(base * factor));
  }

  /** Called after a success: the next failure starts from the initial delay again. */
  reset(): void {
    this.#attempt = 0;
  }
}
