/**
 * @module dataplanes/ebpf/maps
 * Moving entries between planned steps / TypeScript values and the kernel maps: applying a plan
 * (batched for full syncs, per key for incremental ones) and dumping whole maps with batched
 * lookups (for adoption, list() and stats()).
 */
import type { LibbpfBinding } from './libbpf.ts';
import { EbpfCallError } from './libbpf.ts';
import type { LbMapName, Plan, Step } from './plan.ts';

export type LbMapFds = Readonly<Record<LbMapName, number>>;

/** Entries per bpf(2) batch call: bounds one call's latency and the kernel's copy buffers. */
const BATCH = 16384;
const ENOENT = 2;

function applyStepBatched(b: LibbpfBinding, fd: number, s: Step): void {
  for (let i = 0; i < s.count; i += BATCH) {
    const n = Math.min(BATCH, s.count - i);
    const keys = s.keys.subarray(i * s.keySize, (i + n) * s.keySize);
    if (s.kind === 'update') {
      b.mapUpdateBatch(fd, keys, s.values.subarray(i * s.valueSize, (i + n) * s.valueSize), n);
      continue;
    }
    try {
      b.mapDeleteBatch(fd, keys, n);
    } catch (e) {
      // The batch stops at the first missing key; the rest is deleted one by one, ignoring misses.
      if (!(e instanceof EbpfCallError && e.errno === ENOENT)) throw e;
      for (let j = i; j < i + n; j++) b.mapDelete(fd, s.key(j));
    }
  }
}

function applyStepSingly(b: LibbpfBinding, fd: number, s: Step): void {
  for (let i = 0; i < s.count; i++) {
    if (s.kind === 'update') b.mapUpdate(fd, s.key(i), s.value(i));
    else b.mapDelete(fd, s.key(i));
  }
}

/** Applies the steps in order; `batched` uses the *_batch calls (full syncs). */
export function applyPlan(b: LibbpfBinding, fds: LbMapFds, plan: Plan, batched: boolean): void {
  for (const s of plan.steps) {
    if (batched && s.count > 1) applyStepBatched(b, fds[s.map], s);
    else applyStepSingly(b, fds[s.map], s);
  }
}

/** Reads every entry of a hash map; calls `each(key, value)` with views valid during the call. */
export function dumpMap(
  b: LibbpfBinding,
  fd: number,
  keySize: number,
  valueSize: number,
  each: (key: Buffer, value: Buffer) => void,
): number {
  const chunk = 8192;
  const keys = Buffer.alloc(keySize * chunk);
  const values = Buffer.alloc(valueSize * chunk);
  // Hash maps use a bucket index as the batch cursor; 8 bytes covers every map type.
  let inBatch: Buffer | null = null;
  let outBatch: Buffer = Buffer.alloc(Math.max(8, keySize));
  let total = 0;
  for (;;) {
    const r = b.mapLookupBatch(fd, inBatch, outBatch, keys, values, chunk);
    for (let i = 0; i < r.count; i++) {
      each(
        keys.subarray(i * keySize, (i + 1) * keySize),
        values.subarray(i * valueSize, (i + 1) * valueSize),
      );
    }
    total += r.count;
    if (r.done) return total;
    const next: Buffer = inBatch ?? Buffer.alloc(outBatch.length);
    inBatch = outBatch;
    outBatch = next;
  }
}
