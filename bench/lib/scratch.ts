/**
 * @module bench/lib/scratch
 * Moved to src/bench/scratch.ts (shared with `kpr bench`); re-exported here for the bench/ scripts.
 */
export * from '../../src/bench/scratch.ts';
