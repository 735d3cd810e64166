/**
 * @module bench/lib/stats
 * Moved to src/bench/stats.ts (shared with `kpr bench`); re-exported here for the bench/ scripts.
 */
export * from '../../src/bench/stats.ts';
