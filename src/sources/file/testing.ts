/**
 * @module sources/file/testing
 * Test helpers for sources: a SourceHandler that records what it receives and can wait for a
 * condition, and temp-folder helpers. Used by this folder's tests; the Kubernetes API source's
 * tests can reuse the recorder.
 */
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { V1EndpointSlice, V1Service } from '@kubernetes/client-node';
import type { InvalidObjectError } from '../../util/errors.ts';
import type { SourceHandler } from '../types.ts';

export interface RecordedEvent {
  readonly type: 'service' | 'slice';
  /** `ns/name` */
  readonly key: string;
  readonly value: V1Service | V1EndpointSlice | undefined;
  /** performance.now() when received. */
  readonly at: number;
}

export class RecordingHandler implements SourceHandler {
  readonly services = new Map<string, V1Service>();
  readonly slices = new Map<string, V1EndpointSlice>();
  readonly events: RecordedEvent[] = [];
  readonly invalid: InvalidObjectError[] = [];
  /** Number of events received when onSynced was called; undefined before. */
  syncedAfter: number | undefined;
  #waiters: (() => void)[] = [];

  onService(namespace: string, name: string, svc: V1Service | undefined): void {
    const key = `${namespace}/${name}`;
    if (svc) this.services.set(key, svc);
    else this.services.delete(key);
    this.#push({ type: 'service', key, value: svc, at: performance.now() });
  }

  onEndpointSlice(namespace: string, name: string, slice: V1EndpointSlice | undefined): void {
    const key = `${namespace}/${name}`;
    if (slice) this.slices.set(key, slice);
    else this.slices.delete(key);
    this.#push({ type: 'slice', key, value: slice, at: performance.now() });
  }

  onSynced(): void {
    this.syncedAfter = this.events.length;
    this.#notify();
  }

  onInvalid(err: InvalidObjectError): void {
    this.invalid.push(err);
    this.#notify();
  }

  /** Resolves once `pred` holds; rejects after `timeoutMs` with `what` in the message. */
  waitFor(what: string, pred: () => boolean, timeoutMs = 2000): Promise<void> {
    if (pred()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== check);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const check = (): void => {
        if (!pred()) return;
        clearTimeout(timer);
        this.#waiters = this.#waiters.filter((w) => w !== check);
        resolve();
      };
      this.#waiters.push(check);
    });
  }

  #push(e: RecordedEvent): void {
    this.events.push(e);
    this.#notify();
  }

  #notify(): void {
    for (const w of [...this.#waiters]) w();
  }
}

export async function makeTempDir(label: string): Promise<string> {
  const suffix = Math.random().toString(36).slice(2, 8);
  return mkdtemp(join(tmpdir(), `kpr-t-${label}-${suffix}-`));
}

export async function removeTempDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

/** Writes like an editor that saves atomically: a temp file renamed over the target. */
export async function writeAtomically(path: string, text: string): Promise<void> {
  const tmp = `${path}.kpr-tmp-${process.pid}`;
  await writeFile(tmp, text);
  await rename(tmp, path);
}

/** A minimal valid Service manifest. */
export function serviceYaml(name: string, ip: string, port = 80, namespace = 'default'): string {
  return [
    'apiVersion: v1',
    'kind: Service',
    'metadata:',
    `  name: ${name}`,
    `  namespace: ${namespace}`,
    'spec:',
    `  clusterIP: ${ip}`,
    '  ports:',
    `    - port: ${port}`,
    '',
  ].join('\n');
}
