/**
 * @module bench/lib/services
 * Moved to src/bench/services.ts (shared with `kpr bench`); re-exported here for the bench/ scripts.
 */
export * from '../../src/bench/services.ts';
