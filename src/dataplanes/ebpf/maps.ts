/**
 * @module dataplanes/ebpf/maps
 * Moving entries between planned steps and the kernel maps: applying a plan (batched for full
 * syncs, per key for incremental ones) and dumping whole maps with batched lookups (for
 * adoption, list() and stats()).
 */
import type { LibbpfBinding } from './libbpf.ts';
import { EbpfCallError } from './libbpf.ts';
import type { Plan, Step } from './plan.ts';

/** The kpr map fds the dataplane writes or reads. */
export interface LbMapFds {
  readonly services: number;
  readonly revnat: number;
}

/**
 * Entries per bpf(2) batch call. The kernel copies and inserts entry by entry (with
 * cond_resched between entries), so bigger batches only save syscall round trips; 64k bounds a
 * single call to a few tens of milliseconds.
 */
const BATCH = 65536;
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

/** Applies the steps to kpr_services in order; `batched` uses the *_batch calls (full syncs). */
export function applyPlan(
  b: LibbpfBinding,
  servicesFd: number,
  plan: Plan,
  batched: boolean,
): void {
  for (const s of plan.steps) {
    if (batched && s.count > 1) applyStepBatched(b, servicesFd, s);
    else applyStepSingly(b, servicesFd, s);
  }
}

/** Reads every entry of a hash map; calls `each(keys, values, i)` for entry i of each chunk. */
export function dumpMap(
  b: LibbpfBinding,
  fd: number,
  keySize: number,
  valueSize: number,
  each: (keys: Buffer, values: Buffer, i: number) => void,
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
    for (let i = 0; i < r.count; i++) each(keys, values, i);
    total += r.count;
    if (r.done) return total;
    const next: Buffer = inBatch ?? Buffer.alloc(outBatch.length);
    inBatch = outBatch;
    outBatch = next;
  }
}
