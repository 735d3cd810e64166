/**
 * @module agent/source-tap
 * Sits between a Source and the agent and watches what flows through, for what the change tracker
 * does not see: this node's own Node (zone label for topology hints, eligibility for /healthz),
 * the EndpointSlice `last-change-trigger-time` annotation behind kube-proxy's
 * network_programming_duration_seconds, and the pending-change gauges.
 */
import type { V1EndpointSlice, V1Node } from '@kubernetes/client-node';
import type { Source, SourceHandler } from '../sources/types.ts';
import type { Logger } from '../util/log.ts';
import { nodeEligible, type HealthState } from './health.ts';
import type { AgentMetrics } from './metrics.ts';

export const TRIGGER_TIME_ANNOTATION = 'endpoints.kubernetes.io/last-change-trigger-time';
export const ZONE_LABEL = 'topology.kubernetes.io/zone';

export interface SourceTapOptions {
  readonly log: Logger;
  readonly metrics?: AgentMetrics | undefined;
  readonly health?: HealthState | undefined;
  /** The Node's zone label changed (undefined = no label, or no Node). */
  readonly onZone?: ((zone: string | undefined) => void) | undefined;
  /** Wall clock in ms; tests replace it. */
  readonly now?: () => number;
}

interface Pending {
  readonly receivedAt: number;
  /** Trigger time (ms since epoch) from the annotation, when it is new and after startup. */
  readonly triggerAt: number | undefined;
}

const FAMILY = { ip_family: 'IPv4' };

export class SourceTap implements Source {
  readonly #inner: Source;
  readonly #o: SourceTapOptions;
  readonly #now: () => number;
  readonly #startedAt: number;
  /** Changes received since the last successful sync, keyed `svc/ns/name` or `eps/ns/name`. */
  readonly #pending = new Map<string, Pending[]>();
  /** The last trigger time recorded per slice, so resyncs of an unchanged slice count once. */
  readonly #lastTrigger = new Map<string, string>();
  #zone: string | undefined;
  #eligible: boolean | undefined;

  constructor(inner: Source, o: SourceTapOptions) {
    this.#inner = inner;
    this.#o = o;
    this.#now = o.now ?? Date.now;
    this.#startedAt = this.#now();
  }

  start(handler: SourceHandler): Promise<void> {
    return this.#inner.start({
      ...handler,
      onService: (ns, name, svc) => {
        handler.onService(ns, name, svc);
        this.#note(`svc/${ns}/${name}`, undefined);
      },
      onEndpointSlice: (ns, name, slice) => {
        handler.onEndpointSlice(ns, name, slice);
        this.#note(`eps/${ns}/${name}`, this.#triggerTime(`${ns}/${name}`, slice));
      },
      onNode: (node) => {
        handler.onNode?.(node);
        this.#node(node);
      },
    });
  }

  stop(): Promise<void> {
    return this.#inner.stop();
  }

  /**
   * A sync that took `durationMs` has just succeeded: every change received before it began is
   * programmed. Observes their trigger-to-now latency and lowers the pending gauges.
   */
  programmed(durationMs: number): void {
    const now = this.#now();
    const began = now - durationMs;
    for (const [key, list] of this.#pending) {
      const rest = list.filter((p) => p.receivedAt > began);
      for (const p of list) {
        if (p.receivedAt > began || p.triggerAt === undefined) continue;
        this.#o.metrics?.networkProgrammingDuration.observe(FAMILY, (now - p.triggerAt) / 1000);
      }
      if (rest.length) this.#pending.set(key, rest);
      else this.#pending.delete(key);
    }
    this.#gauges();
  }

  #note(key: string, triggerAt: number | undefined): void {
    const list = this.#pending.get(key) ?? [];
    list.push({ receivedAt: this.#now(), triggerAt });
    this.#pending.set(key, list);
    this.#gauges();
  }

  #gauges(): void {
    const m = this.#o.metrics;
    if (!m) return;
    let svc = 0;
    let eps = 0;
    for (const key of this.#pending.keys()) {
      if (key.startsWith('svc/')) svc++;
      else eps++;
    }
    m.serviceChangesPending.set(FAMILY, svc);
    m.endpointChangesPending.set(FAMILY, eps);
  }

  /**
   * kube-proxy counts a trigger time only once and only if it is after the proxy started: slices
   * listed at startup carry times from long ago, which say nothing about this agent's latency.
   */
  #triggerTime(id: string, slice: V1EndpointSlice | undefined): number | undefined {
    if (!slice) {
      this.#lastTrigger.delete(id);
      return undefined;
    }
    const raw = slice.metadata?.annotations?.[TRIGGER_TIME_ANNOTATION];
    if (!raw || this.#lastTrigger.get(id) === raw) return undefined;
    this.#lastTrigger.set(id, raw);
    const t = Date.parse(raw);
    return Number.isFinite(t) && t >= this.#startedAt ? t : undefined;
  }

  #node(node: V1Node | undefined): void {
    const eligible = nodeEligible(node);
    if (this.#o.health) this.#o.health.nodeEligible = eligible;
    if (eligible !== this.#eligible) {
      this.#eligible = eligible;
      const level = eligible ? 'info' : 'warn';
      this.#o.log[level](
        eligible
          ? 'node is eligible for load-balancer traffic'
          : 'node is being deleted or drained by the cluster autoscaler; /healthz now answers 503',
        { node: node?.metadata?.name, exists: node !== undefined },
      );
    }
    const zone = node?.metadata?.labels?.[ZONE_LABEL] || undefined;
    if (zone !== this.#zone) {
      this.#zone = zone;
      this.#o.onZone?.(zone);
    }
  }
}
