/**
 * @module bench/sync-worker
 * Moved to src/bench/sync-worker.ts (shared with `kpr bench`). bench/sync.ts still spawns this
 * file as its child: `node bench/sync-worker.ts '<job json>'` prints one JSON result line.
 */
import { workerMain } from '../src/bench/sync-worker.ts';

export type { WorkerJob, WorkerResult } from '../src/bench/sync-worker.ts';
export { runJob } from '../src/bench/sync-worker.ts';

if (import.meta.main) workerMain();
