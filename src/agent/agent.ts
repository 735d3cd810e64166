/**
 * @module agent/agent
 * The sync loop: a source feeds the change tracker; once the source has listed everything, the
 * bounded-frequency runner turns the tracker's pending changes into dataplane syncs. The first
 * sync, the sync after any failure, and the periodic resync are full; all others are partial and
 * name only the service ports that changed.
 */
import { EventEmitter } from 'node:events';
import { ChangeTracker } from '../model/tracker.ts';
import type { Dataplane } from '../dataplanes/types.ts';
import type { Source } from '../sources/types.ts';
import type { Logger } from '../util/log.ts';
import { errorMessage } from '../util/errors.ts';
import { BoundedFrequencyRunner } from './runner.ts';
import type { AgentMetrics } from './metrics.ts';
import type { HealthState } from './health.ts';

export interface AgentOptions {
  readonly nodeName: string;
  readonly zone?: string | undefined;
  readonly dataplane: Dataplane;
  readonly source: Source;
  readonly log: Logger;
  readonly minSyncPeriodMs: number;
  /** Retry delay after a failed sync (kube-proxy's syncPeriod). */
  readonly syncPeriodMs: number;
  /** Periodic full resync; Infinity disables it. */
  readonly fullSyncPeriodMs: number;
  readonly metrics?: AgentMetrics | undefined;
  readonly health?: HealthState | undefined;
}

export interface SyncEvent {
  readonly full: boolean;
  readonly changed: number;
  readonly durationMs: number;
  readonly written: number;
  readonly deleted: number;
  /** Wall-clock time (performance.now) the oldest change in this sync was received. */
  readonly firstChangeAt: number | undefined;
}

/** Emits 'sync' (SyncEvent) after every successful sync and 'syncError' (Error) after a failure. */
export class Agent extends EventEmitter {
  readonly tracker: ChangeTracker;
  readonly #o: AgentOptions;
  readonly #runner: BoundedFrequencyRunner;
  #synced = false;
  #needFull = true;
  #lastFull = 0;
  /** Changed keys committed from the tracker but not yet programmed successfully. */
  readonly #unsynced = new Set<string>();
  #firstChangeAt: number | undefined;

  constructor(o: AgentOptions) {
    super();
    this.#o = o;
    this.tracker = new ChangeTracker({
      nodeName: o.nodeName,
      zone: o.zone,
      onConflict: (key, fe, owner) => {
        o.metrics?.invalidObjects.inc();
        o.log.error('service port refused: its frontend belongs to another Service', {
          servicePort: key,
          frontend: fe,
          owner,
        });
      },
    });
    this.#runner = new BoundedFrequencyRunner(() => this.#sync(), {
      minIntervalMs: o.minSyncPeriodMs,
      retryIntervalMs: o.syncPeriodMs,
      maxIntervalMs: o.fullSyncPeriodMs,
    });
  }

  async start(): Promise<void> {
    await this.#o.dataplane.start();
    this.#runner.start();
    await this.#o.source.start({
      onService: (ns, name, svc) => {
        this.tracker.updateService(ns, name, svc);
        this.#o.metrics?.serviceChangesTotal.inc({ ip_family: 'IPv4' });
        this.#queued();
      },
      onEndpointSlice: (ns, name, slice) => {
        this.tracker.updateEndpointSlice(ns, name, slice);
        this.#o.metrics?.endpointChangesTotal.inc({ ip_family: 'IPv4' });
        this.#queued();
      },
      onSynced: () => {
        this.#synced = true;
        this.#o.log.info('source listed every object; programming the dataplane');
        this.#runner.run();
      },
      onInvalid: (err) => {
        this.#o.metrics?.invalidObjects.inc();
        this.#o.log.error(err.message, { code: err.code, object: err.object, source: err.source });
      },
    });
  }

  /**
   * This node's topology zone changed (its Node's label): every Service's endpoints are filtered
   * by their zone hints again, in a full sync, as kube-proxy does on a Node label change.
   */
  setNodeZone(zone: string | undefined): void {
    this.tracker.setNodeZone(zone);
    this.#needFull = true;
    this.#queued();
  }

  #queued(): void {
    this.#firstChangeAt ??= performance.now();
    this.#o.health?.queued();
    this.#o.metrics?.lastQueued.set({ ip_family: 'IPv4' }, Date.now() / 1000);
    if (this.#synced) this.#runner.run();
  }

  /** Resolves when no sync is running or pending. */
  idle(): Promise<void> {
    return this.#runner.idle();
  }

  async stop(): Promise<void> {
    this.#runner.stop();
    await this.#o.source.stop();
    await this.#o.dataplane.close();
  }

  async #sync(): Promise<void> {
    if (!this.#synced) return;
    const { state, changed } = this.tracker.commit();
    for (const k of changed) this.#unsynced.add(k);
    const periodic = performance.now() - this.#lastFull >= this.#o.fullSyncPeriodMs;
    const full = this.#needFull || periodic;
    if (!full && this.#unsynced.size === 0) {
      this.#o.health?.updated();
      this.#firstChangeAt = undefined;
      return;
    }
    const t0 = performance.now();
    const firstChangeAt = this.#firstChangeAt;
    try {
      const res = await this.#o.dataplane.sync({ state, changed: this.#unsynced, full });
      const durationMs = performance.now() - t0;
      const ev: SyncEvent = {
        full,
        changed: this.#unsynced.size,
        durationMs,
        written: res.written,
        deleted: res.deleted,
        firstChangeAt,
      };
      this.#unsynced.clear();
      this.#needFull = false;
      this.#firstChangeAt = undefined;
      if (full) this.#lastFull = performance.now();
      this.#record(ev);
      this.emit('sync', ev);
    } catch (e) {
      this.#needFull = true;
      this.#o.metrics?.syncErrors.inc({ dataplane: this.#o.dataplane.name });
      this.#o.log.error('dataplane sync failed; retrying with a full sync', {
        error: errorMessage(e),
        full,
      });
      this.emit('syncError', e);
      throw e;
    }
  }

  #record(ev: SyncEvent): void {
    const m = this.#o.metrics;
    this.#o.health?.updated();
    const level = ev.full ? 'info' : 'debug';
    this.#o.log[level]('synced', {
      full: ev.full,
      changed: ev.changed,
      written: ev.written,
      deleted: ev.deleted,
      ms: +ev.durationMs.toFixed(3),
    });
    if (!m) return;
    const fam = { ip_family: 'IPv4' };
    m.syncDuration.observe(fam, ev.durationMs / 1000);
    (ev.full ? m.syncFullDuration : m.syncPartialDuration).observe(fam, ev.durationMs / 1000);
    m.lastSync.set(fam, Date.now() / 1000);
    if (ev.firstChangeAt !== undefined)
      m.programmingDuration.observe(fam, (performance.now() - ev.firstChangeAt) / 1000);
    m.serviceChangesPending.set(fam, this.tracker.pending);
  }
}
