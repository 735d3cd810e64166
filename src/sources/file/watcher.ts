/**
 * @module sources/file/watcher
 * Turns folder activity into "re-read file X" calls: fs.watch (inotify) on the folder,
 * one-at-a-time processing per file, and a periodic rescan as the safety net for events the kernel
 * drops (inotify queue overflow) or never sends (network filesystems).
 *
 * A manifest's first event starts its read at once (no fixed delay: the usual save is one rename
 * or one write, and a delay would be most of the latency budget); events arriving while it is
 * being read coalesce into one more read right after, so a save that produces several events is
 * still read a bounded number of times and the last read sees the final content. The reader
 * guards against catching a writer mid-way (see ManifestSource).
 *
 * Other names are sorted cheaply, because the commonest are temp files written next to the target
 * before a rename, and a full rescan of 100000 files for each of those would be far too slow:
 * - `..*` (kubelet's ConfigMap/Secret volumes swap the `..data` symlink, which changes every file
 *   behind it) and events without a name: a debounced full rescan;
 * - other hidden names (`.x.yaml.tmp`, editor swap files): ignored;
 * - other names: a rescan only if the entry is (or was: it is gone) a directory or symlink that
 *   manifests may point through; a plain file such as `x.yaml~` is ignored.
 */
import { statSync, watch, type FSWatcher } from 'node:fs';
import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../../util/log.ts';

export interface DirWatcherOptions {
  readonly dir: string;
  readonly log: Logger;
  /** Quiet time after the last event that asks for a full rescan before it starts. */
  readonly debounceMs: number;
  /** Full rescan period; 0 disables it. */
  readonly rescanIntervalMs: number;
  /** Whether a folder entry is a manifest this source reads. */
  readonly isManifest: (name: string) => boolean;
  /** Re-reads one file (never rejects; errors are the callee's to report). */
  readonly onFile: (name: string) => Promise<void>;
  /** Lists the folder and enqueues every manifest and every file known before. */
  readonly onRescan: () => Promise<void>;
}

interface Slot {
  timer: NodeJS.Timeout | undefined;
  running: Promise<void> | undefined;
  again: boolean;
}

/** Serialized, debounced runs keyed by name. */
export class KeyedQueue {
  readonly #slots = new Map<string, Slot>();
  readonly #run: (key: string) => Promise<void>;
  #stopped = false;

  constructor(run: (key: string) => Promise<void>) {
    this.#run = run;
  }

  /** Runs `key` after `delayMs` of quiet; further calls within the window push it back. */
  schedule(key: string, delayMs: number): void {
    if (this.#stopped) return;
    const slot = this.#slot(key);
    if (slot.timer) clearTimeout(slot.timer);
    slot.timer = setTimeout(() => {
      slot.timer = undefined;
      void this.now(key);
    }, delayMs);
  }

  /** Runs `key` now, or once more right after its current run; resolves when that run ends. */
  now(key: string): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    const slot = this.#slot(key);
    if (slot.running) {
      slot.again = true;
      return slot.running;
    }
    const loop = async (): Promise<void> => {
      try {
        do {
          slot.again = false;
          await this.#run(key);
        } while (slot.again && !this.#stopped);
      } finally {
        // Synchronous with the last `again` check, so no request can slip in between.
        slot.running = undefined;
        if (!slot.timer) this.#slots.delete(key);
      }
    };
    slot.running = loop();
    return slot.running;
  }

  /** Cancels pending timers and waits for runs in progress. */
  async stop(): Promise<void> {
    this.#stopped = true;
    const running: Promise<void>[] = [];
    for (const slot of this.#slots.values()) {
      if (slot.timer) clearTimeout(slot.timer);
      slot.timer = undefined;
      if (slot.running) running.push(slot.running);
    }
    await Promise.allSettled(running);
  }

  #slot(key: string): Slot {
    let slot = this.#slots.get(key);
    if (!slot) {
      slot = { timer: undefined, running: undefined, again: false };
      this.#slots.set(key, slot);
    }
    return slot;
  }
}

/** The key under which full rescans run; no file name can be empty. */
const RESCAN = '';

export class DirWatcher {
  readonly #o: DirWatcherOptions;
  readonly queue: KeyedQueue;
  #fsw: FSWatcher | undefined;
  #watchedIno: number | undefined;
  #interval: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(opts: DirWatcherOptions) {
    this.#o = opts;
    this.queue = new KeyedQueue(async (key) => {
      try {
        await (key === RESCAN ? this.#o.onRescan() : this.#o.onFile(key));
      } catch (err) {
        // The callbacks report their own errors; this is a last line of defence for bugs.
        this.#o.log.error('manifest processing failed unexpectedly', {
          file: key || '(rescan)',
          err,
        });
      }
    });
  }

  /** Starts watching; events that arrive before the caller's initial scan ends are queued behind it. */
  start(): void {
    this.#watch();
    if (this.#o.rescanIntervalMs > 0) {
      this.#interval = setInterval(() => {
        // A folder that was removed and created again is a new inode the old watch never sees.
        let ino: number | undefined;
        try {
          ino = statSync(this.#o.dir).ino;
        } catch {
          ino = undefined;
        }
        if (ino !== undefined && ino !== this.#watchedIno) {
          this.#fsw?.close();
          this.#fsw = undefined;
        }
        if (!this.#fsw) this.#watch();
        void this.queue.now(RESCAN);
      }, this.#o.rescanIntervalMs);
      this.#interval.unref();
    }
  }

  /** Enqueues one file now (initial scan, rescans). */
  file(name: string): Promise<void> {
    return this.queue.now(name);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#interval) clearInterval(this.#interval);
    this.#fsw?.close();
    this.#fsw = undefined;
    await this.queue.stop();
  }

  #watch(): void {
    if (this.#stopped) return;
    try {
      const fsw = watch(this.#o.dir, { persistent: false }, (_event, filename) =>
        this.#onEvent(filename),
      );
      fsw.on('error', (err) => {
        this.#o.log.error('manifest folder watch failed; retrying at the next rescan', {
          dir: this.#o.dir,
          err,
        });
        fsw.close();
        if (this.#fsw === fsw) this.#fsw = undefined;
      });
      this.#fsw = fsw;
      this.#watchedIno = statSync(this.#o.dir).ino;
    } catch (err) {
      this.#o.log.error('cannot watch the manifest folder; retrying at the next rescan', {
        dir: this.#o.dir,
        err,
      });
    }
  }

  #onEvent(filename: string | Buffer | null): void {
    const name = filename === null ? undefined : filename.toString();
    if (this.#stopped) return;
    if (name && this.#o.isManifest(name)) {
      void this.queue.now(name);
    } else if (!name || name.startsWith('..')) {
      // No name (the kernel may omit it), or a ConfigMap volume's `..data` swap: compare everything.
      this.queue.schedule(RESCAN, this.#o.debounceMs);
    } else if (!name.startsWith('.')) {
      void this.#maybeRescan(name);
    }
  }

  /** Rescans when `name` is, or was, something manifests may point through. */
  async #maybeRescan(name: string): Promise<void> {
    try {
      const st = await lstat(join(this.#o.dir, name));
      if (!st.isDirectory() && !st.isSymbolicLink()) return;
    } catch {
      // Gone (or unreadable): it may have been a directory or symlink in use.
    }
    this.queue.schedule(RESCAN, this.#o.debounceMs);
  }
}
