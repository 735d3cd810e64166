/**
 * @module agent/runner
 * A bounded-frequency runner like kube-proxy's: `run()` requests a sync and never blocks; requests
 * that arrive while a sync is running or inside `minIntervalMs` of the previous one are coalesced
 * into one; a failed sync is retried after `retryIntervalMs` even if nothing else asks; and a sync
 * runs at least every `maxIntervalMs`. The interval is measured from the end of one sync to the
 * start of the next, so a slow dataplane cannot be driven back to back.
 */

export interface RunnerOptions {
  readonly minIntervalMs: number;
  readonly retryIntervalMs: number;
  readonly maxIntervalMs: number;
  readonly now?: () => number;
}

export class BoundedFrequencyRunner {
  readonly #fn: () => Promise<void>;
  readonly #opts: RunnerOptions;
  readonly #now: () => number;
  #running = false;
  #pending = false;
  #lastEnd = -Infinity;
  /** A setTimeout handle, or a setImmediate one for a sync due now. */
  #timer: NodeJS.Timeout | NodeJS.Immediate | undefined;
  #timerAt = Infinity;
  #maxTimer: NodeJS.Timeout | undefined;
  #stopped = true;
  #idle: (() => void)[] = [];

  constructor(fn: () => Promise<void>, opts: RunnerOptions) {
    this.#fn = fn;
    this.#opts = opts;
    this.#now = opts.now ?? (() => performance.now());
  }

  start(): void {
    this.#stopped = false;
    this.#armMax();
  }

  stop(): void {
    this.#stopped = true;
    this.#cancelTimer();
    if (this.#maxTimer) clearTimeout(this.#maxTimer);
    this.#timer = this.#maxTimer = undefined;
    this.#timerAt = Infinity;
  }

  /** Requests a sync as soon as the minimum interval allows. */
  run(): void {
    this.#pending = true;
    this.#schedule(Math.max(0, this.#lastEnd + this.#opts.minIntervalMs - this.#now()));
  }

  /** Resolves once no sync is running or pending (for tests and orderly shutdown). */
  idle(): Promise<void> {
    if (!this.#running && !this.#pending) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  #schedule(delayMs: number): void {
    if (this.#stopped || this.#running) return;
    const at = this.#now() + delayMs;
    if (this.#timer && this.#timerAt <= at) return;
    this.#cancelTimer();
    this.#timerAt = at;
    // setTimeout(0) waits at least 1 ms, a fifth of an endpoint change's latency budget.
    this.#timer =
      delayMs <= 0
        ? setImmediate(() => void this.#fire())
        : setTimeout(() => void this.#fire(), delayMs);
  }

  #cancelTimer(): void {
    const t = this.#timer;
    if (t === undefined) return;
    if ('refresh' in t) clearTimeout(t);
    else clearImmediate(t);
  }

  #armMax(): void {
    if (this.#maxTimer) clearTimeout(this.#maxTimer);
    if (this.#stopped || !Number.isFinite(this.#opts.maxIntervalMs)) return;
    this.#maxTimer = setTimeout(() => this.run(), this.#opts.maxIntervalMs);
    this.#maxTimer.unref();
  }

  async #fire(): Promise<void> {
    this.#timer = undefined;
    this.#timerAt = Infinity;
    if (this.#stopped || this.#running) return;
    this.#running = true;
    this.#pending = false;
    let failed = false;
    try {
      await this.#fn();
    } catch {
      // The sync function reports its own errors; the runner only schedules the retry.
      failed = true;
    } finally {
      this.#running = false;
      this.#lastEnd = this.#now();
      this.#armMax();
    }
    if (failed) {
      this.#pending = true;
      this.#schedule(this.#opts.retryIntervalMs);
    } else if (this.#pending) {
      this.#schedule(Math.max(0, this.#opts.minIntervalMs));
    } else {
      for (const resolve of this.#idle.splice(0)) resolve();
    }
  }
}
