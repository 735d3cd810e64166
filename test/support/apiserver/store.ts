/**
 * @module test/support/apiserver/store
 * The test API server's "etcd": objects per resource, one global resourceVersion counter, and a
 * bounded history of changes that watches resume from. Compacting the history (on demand, or when
 * it grows past its bound) makes resuming from an older resourceVersion fail with 410 Gone, as
 * etcd compaction does. The store outlives server restarts.
 */
import { randomUUID } from 'node:crypto';

export type Resource = 'services' | 'endpointslices' | 'nodes';
export const RESOURCES: readonly Resource[] = ['services', 'endpointslices', 'nodes'];

export interface StoredObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    resourceVersion?: string;
    uid?: string;
    labels?: Record<string, string>;
    creationTimestamp?: string;
    [k: string]: unknown;
  };
  [k: string]: unknown;
}

export interface Change {
  readonly rv: number;
  readonly resource: Resource;
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED';
  readonly object: StoredObject;
  /** The version before this change (MODIFIED and DELETED). */
  readonly previous: StoredObject | undefined;
}

const TYPE_META: Record<Resource, { apiVersion: string; kind: string }> = {
  services: { apiVersion: 'v1', kind: 'Service' },
  endpointslices: { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice' },
  nodes: { apiVersion: 'v1', kind: 'Node' },
};

export function typeMeta(resource: Resource): { apiVersion: string; kind: string } {
  return TYPE_META[resource];
}

export function objectKey(o: StoredObject): string {
  return `${o.metadata.namespace ?? ''}/${o.metadata.name}`;
}

export class Store {
  readonly #objects = new Map<Resource, Map<string, StoredObject>>(
    RESOURCES.map((r) => [r, new Map()]),
  );
  #history: Change[] = [];
  #rv = 100;
  /** Watches from a resourceVersion below this get 410 Gone. */
  #compacted = 100;
  readonly #maxHistory: number;
  readonly #listeners = new Set<(c: Change) => void>();

  constructor(maxHistory = 100_000) {
    this.#maxHistory = maxHistory;
  }

  get resourceVersion(): number {
    return this.#rv;
  }

  get compactedRevision(): number {
    return this.#compacted;
  }

  list(resource: Resource): StoredObject[] {
    return [...this.#objects.get(resource)!.values()];
  }

  get(resource: Resource, namespace: string, name: string): StoredObject | undefined {
    return this.#objects.get(resource)!.get(`${namespace}/${name}`);
  }

  /** Creates or replaces an object (a deep copy is stored); returns the stored version. */
  put(resource: Resource, obj: StoredObject): StoredObject {
    if (!obj.metadata?.name) throw new Error('metadata.name is required');
    const map = this.#objects.get(resource)!;
    const copy = structuredClone(obj);
    if (resource !== 'nodes') copy.metadata.namespace ||= 'default';
    else delete copy.metadata.namespace;
    const key = objectKey(copy);
    const previous = map.get(key);
    copy.metadata.uid = previous?.metadata.uid ?? randomUUID();
    copy.metadata.creationTimestamp =
      previous?.metadata.creationTimestamp ?? new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    copy.metadata.resourceVersion = String(++this.#rv);
    Object.assign(copy, TYPE_META[resource]);
    map.set(key, copy);
    this.#record({
      rv: this.#rv,
      resource,
      type: previous ? 'MODIFIED' : 'ADDED',
      object: copy,
      previous,
    });
    return copy;
  }

  /** Deletes an object; returns false when it did not exist. */
  delete(resource: Resource, namespace: string, name: string): boolean {
    const map = this.#objects.get(resource)!;
    const key = `${resource === 'nodes' ? '' : namespace}/${name}`;
    const previous = map.get(key);
    if (!previous) return false;
    map.delete(key);
    const object = structuredClone(previous);
    object.metadata.resourceVersion = String(++this.#rv);
    this.#record({ rv: this.#rv, resource, type: 'DELETED', object, previous });
    return true;
  }

  /** Forgets all history: resuming a watch from any earlier resourceVersion now gets 410. */
  compact(): void {
    this.#history = [];
    this.#compacted = this.#rv;
  }

  /** Changes after `rv`, or undefined when `rv` is older than the compacted revision (410). */
  since(rv: number): Change[] | undefined {
    if (rv < this.#compacted) return undefined;
    return this.#history.filter((c) => c.rv > rv);
  }

  subscribe(fn: (c: Change) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  #record(c: Change): void {
    this.#history.push(c);
    if (this.#history.length > this.#maxHistory) {
      const drop = this.#history.length - this.#maxHistory;
      this.#compacted = this.#history[drop - 1]!.rv;
      this.#history = this.#history.slice(drop);
    }
    for (const fn of this.#listeners) fn(c);
  }
}
