/**
 * @module sources/kubernetes/events
 * Kubernetes Events for objects kpr refuses, so that `kubectl describe service` tells the owner
 * why their Service is not programmed. An invalid object that is rewritten in a hot loop must not
 * flood the API server, so the recorder works like client-go's event correlator: a repeat of the
 * same warning (same object, reason and message) only bumps `count` on the existing Event, at most
 * once per `aggregateMs`; each involved object has a token bucket for new Events; posts are made
 * one at a time from a bounded queue, and anything beyond is dropped (and counted in a log line).
 * Posting never throws into the caller.
 */
import { CoreV1Api, type CoreV1Event, type KubeConfig } from '@kubernetes/client-node';
import { errorMessage } from '../../util/errors.ts';
import type { Logger } from '../../util/log.ts';

export interface InvolvedObject {
  readonly kind: string;
  readonly apiVersion: string;
  /** '' for a cluster-scoped object. */
  readonly namespace: string;
  readonly name: string;
  readonly uid?: string | undefined;
  readonly resourceVersion?: string | undefined;
}

export interface WarningEvent {
  readonly involved: InvolvedObject;
  /** UpperCamelCase, e.g. FailedToProgramService. */
  readonly reason: string;
  readonly message: string;
}

export interface EventRecorder {
  warn(e: WarningEvent): void;
  /** Stops posting; pending repeats are dropped. */
  close(): Promise<void>;
}

export interface ApiEventRecorderOptions {
  readonly kubeConfig: KubeConfig;
  /** Reported as source.host and reportingInstance. */
  readonly nodeName: string;
  readonly log: Logger;
  /** New Events per involved object before throttling (default 10). */
  readonly burst?: number;
  /** One more new Event per involved object is allowed every this often (default 60 s). */
  readonly refillMs?: number;
  /** Repeats of one warning are folded into one count update per this period (default 10 s). */
  readonly aggregateMs?: number;
  /** Posts waiting beyond this are dropped (default 256). */
  readonly maxQueue?: number;
}

const COMPONENT = 'kpr';
/** Warnings remembered for de-duplication; older ones are forgotten first. */
const MAX_KEYS = 4096;
/** Kubernetes caps Event messages at 1 KiB in practice (kubectl truncates); keep them readable. */
const MAX_MESSAGE = 1024;

interface Series {
  readonly namespace: string;
  name: string | undefined;
  count: number;
  /** Count last written to the API server. */
  posted: number;
  lastPostAt: number;
  timer: NodeJS.Timeout | undefined;
}

interface Bucket {
  tokens: number;
  at: number;
}

type Job = () => Promise<void>;

export class ApiEventRecorder implements EventRecorder {
  readonly #api: CoreV1Api;
  readonly #o: ApiEventRecorderOptions;
  readonly #log: Logger;
  readonly #burst: number;
  readonly #refillMs: number;
  readonly #aggregateMs: number;
  readonly #maxQueue: number;
  readonly #series = new Map<string, Series>();
  readonly #buckets = new Map<string, Bucket>();
  readonly #queue: Job[] = [];
  #running: Promise<void> | undefined;
  #closed = false;
  #dropped = 0;
  #lastFailure = '';

  constructor(o: ApiEventRecorderOptions) {
    this.#o = o;
    this.#api = o.kubeConfig.makeApiClient(CoreV1Api);
    this.#log = o.log.child({ component: 'events' });
    this.#burst = o.burst ?? 10;
    this.#refillMs = o.refillMs ?? 60_000;
    this.#aggregateMs = o.aggregateMs ?? 10_000;
    this.#maxQueue = o.maxQueue ?? 256;
  }

  warn(e: WarningEvent): void {
    if (this.#closed) return;
    const message =
      e.message.length > MAX_MESSAGE ? e.message.slice(0, MAX_MESSAGE - 3) + '...' : e.message;
    const obj = `${e.involved.kind}/${e.involved.namespace}/${e.involved.name}`;
    const key = `${obj}\n${e.reason}\n${message}`;
    const known = this.#series.get(key);
    if (known) {
      // Map order is insertion order: re-inserting keeps recently used series last.
      this.#series.delete(key);
      this.#series.set(key, known);
      known.count++;
      this.#scheduleCount(known);
      return;
    }
    if (!this.#take(obj)) {
      this.#log.debug('event throttled', { object: obj, reason: e.reason });
      return;
    }
    const series: Series = {
      namespace: e.involved.namespace || 'default',
      name: undefined,
      count: 1,
      posted: 0,
      lastPostAt: Date.now(),
      timer: undefined,
    };
    this.#series.set(key, series);
    for (const [k, s] of this.#series) {
      if (this.#series.size <= MAX_KEYS) break;
      clearTimeout(s.timer);
      this.#series.delete(k);
    }
    this.#enqueue(() => this.#create(key, series, e, message));
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const s of this.#series.values()) clearTimeout(s.timer);
    this.#queue.length = 0;
    await this.#running;
  }

  /** Token bucket per involved object. */
  #take(obj: string): boolean {
    const now = Date.now();
    const b = this.#buckets.get(obj) ?? { tokens: this.#burst, at: now };
    b.tokens = Math.min(this.#burst, b.tokens + (now - b.at) / this.#refillMs);
    b.at = now;
    this.#buckets.delete(obj);
    this.#buckets.set(obj, b);
    if (this.#buckets.size > MAX_KEYS) this.#buckets.delete(this.#buckets.keys().next().value!);
    if (b.tokens < 1) return false;
    b.tokens--;
    return true;
  }

  #scheduleCount(s: Series): void {
    if (s.timer || s.name === undefined) return; // the create in flight will carry the count
    const wait = Math.max(0, s.lastPostAt + this.#aggregateMs - Date.now());
    s.timer = setTimeout(() => {
      s.timer = undefined;
      this.#enqueue(() => this.#patch(s));
    }, wait);
    s.timer.unref();
  }

  #enqueue(job: Job): void {
    if (this.#queue.length >= this.#maxQueue) {
      if (this.#dropped++ % 100 === 0)
        this.#log.warn('too many Kubernetes Events queued; dropping some', {
          dropped: this.#dropped,
        });
      return;
    }
    this.#queue.push(job);
    this.#running ??= this.#drain();
  }

  async #drain(): Promise<void> {
    for (let job = this.#queue.shift(); job; job = this.#queue.shift()) {
      if (this.#closed) break;
      await job();
    }
    this.#running = undefined;
  }

  async #create(key: string, s: Series, e: WarningEvent, message: string): Promise<void> {
    const now = new Date();
    // client-go's naming: the object's name and a nanosecond-ish timestamp, unique per node.
    const name = `${e.involved.name}.${(BigInt(now.getTime()) * 1_000_000n + BigInt(this.#series.size)).toString(16)}`;
    const body: CoreV1Event = {
      metadata: { name, namespace: s.namespace },
      involvedObject: {
        kind: e.involved.kind,
        apiVersion: e.involved.apiVersion,
        namespace: e.involved.namespace || undefined,
        name: e.involved.name,
        uid: e.involved.uid,
        resourceVersion: e.involved.resourceVersion,
      },
      reason: e.reason,
      message,
      type: 'Warning',
      count: s.count,
      firstTimestamp: now,
      lastTimestamp: now,
      source: { component: COMPONENT, host: this.#o.nodeName },
      reportingComponent: COMPONENT,
      reportingInstance: this.#o.nodeName,
    };
    try {
      await this.#api.createNamespacedEvent({ namespace: s.namespace, body });
      s.name = name;
      s.posted = body.count!;
      s.lastPostAt = Date.now();
      if (s.count > s.posted) this.#scheduleCount(s);
    } catch (err) {
      // Forget it, so that a later occurrence tries again (subject to the bucket).
      this.#series.delete(key);
      this.#failed('create', err);
    }
  }

  async #patch(s: Series): Promise<void> {
    if (s.name === undefined || s.count === s.posted) return;
    const count = s.count;
    const body = [
      { op: 'replace', path: '/count', value: count },
      { op: 'replace', path: '/lastTimestamp', value: new Date().toISOString() },
    ];
    try {
      await this.#api.patchNamespacedEvent({ name: s.name, namespace: s.namespace, body });
      s.posted = count;
      s.lastPostAt = Date.now();
      if (s.count > s.posted) this.#scheduleCount(s);
    } catch (err) {
      // Typically 404: the API server expired the Event (1 h TTL). The next repeat creates anew.
      for (const [k, v] of this.#series) if (v === s) this.#series.delete(k);
      this.#failed('update', err);
    }
  }

  #failed(op: string, err: unknown): void {
    const msg = errorMessage(err);
    const code = (err as { code?: unknown }).code;
    const hint =
      code === 403
        ? '; grant kpr create and patch on events (core/v1) to see its warnings in kubectl describe'
        : '';
    // One line per distinct failure, not per Event.
    if (msg === this.#lastFailure) return;
    this.#lastFailure = msg;
    this.#log.warn(`cannot ${op} a Kubernetes Event${hint}`, { error: msg, code });
  }
}
