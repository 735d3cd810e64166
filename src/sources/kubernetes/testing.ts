/**
 * @module sources/kubernetes/testing
 * Test and benchmark helpers for the Kubernetes source: a Dataplane that records what the agent
 * asks it to program (no kernel involved), so that API changes can be followed to `sync`.
 */
import type { Dataplane, LiveFrontend, SyncRequest, SyncResult } from '../../dataplanes/types.ts';

export class RecordingDataplane implements Dataplane {
  readonly name = 'nftables';
  /** Every sync request, oldest first (the requests share the agent's state objects). */
  readonly syncs: SyncRequest[] = [];
  /** Called after each recorded sync, with performance.now() at its start. */
  onSync: ((req: SyncRequest, at: number) => void) | undefined;
  /** Keep only the last request (benchmarks at 100000 Services). */
  keepLastOnly = false;
  started = false;
  closed = false;

  start(): Promise<void> {
    this.started = true;
    return Promise.resolve();
  }

  sync(request: SyncRequest): Promise<SyncResult> {
    const at = performance.now();
    // The agent reuses its `changed` set after the sync returns: keep a copy.
    const req = { ...request, changed: new Set(request.changed) };
    if (this.keepLastOnly) this.syncs.length = 0;
    this.syncs.push(req);
    this.onSync?.(req, at);
    return Promise.resolve({ written: req.full ? req.state.size : req.changed.size, deleted: 0 });
  }

  list(): Promise<LiveFrontend[]> {
    return Promise.resolve([]);
  }

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }

  cleanup(): Promise<void> {
    return Promise.resolve();
  }

  get last(): SyncRequest | undefined {
    return this.syncs.at(-1);
  }
}
