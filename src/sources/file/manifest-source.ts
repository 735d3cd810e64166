/**
 * @module sources/file/manifest-source
 * A `Source` that reads Services and EndpointSlices from a folder of manifests and follows its
 * changes: kpr without a cluster (demos, the lab, tests) and an escape hatch for static services.
 */
import { hash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { readFileSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { V1EndpointSlice, V1Service } from '@kubernetes/client-node';
import { InvalidObjectError, KprError, errorMessage } from '../../util/errors.ts';
import type { Logger } from '../../util/log.ts';
import type { Source, SourceHandler } from '../types.ts';
import { compileFile } from './compile.ts';
import { parseManifest, type ManifestProblem } from './parse.ts';
import { ObjectRegistry, type Entry } from './registry.ts';
import { folderExists, signature, statFile, statFileNow } from './stat.ts';
import { DirWatcher } from './watcher.ts';

export interface ManifestSourceOptions {
  /** The folder to read. */
  readonly dir: string;
  readonly log: Logger;
  /**
   * A changed file is read as soon as its first event arrives; this is only the quiet time before
   * a full rescan (after a `..data` swap) starts (default 3 ms).
   */
  readonly debounceMs?: number;
  /**
   * How long a file must stay missing, or empty, before its objects are deleted (default 25 ms).
   * Editors that save by renaming the old file away and writing a new one leave a short gap, and
   * an in-place write truncates before it writes; without this, such saves would delete and re-add
   * the file's Services.
   */
  readonly deleteGraceMs?: number;
  /** Full rescan period, the safety net for lost events (default 30 s; 0 disables). */
  readonly rescanIntervalMs?: number;
  /** Files larger than this are refused, keeping what they defined before (default 16 MiB). */
  readonly maxFileBytes?: number;
}

/** `*.yaml`, `*.yml` and `*.json`; hidden files (editor swap files, `..data`) are skipped. */
export function isManifestName(name: string): boolean {
  return !name.startsWith('.') && /\.(ya?ml|json)$/i.test(name);
}

interface FileState {
  /** inode, size and mtime when last read: a rescan skips files whose signature is unchanged. */
  sig: string;
  /**
   * SHA-256 of the text last parsed, so that a rewrite with the same content is dropped early.
   * Not the text itself: at 100000 files that would be ~100 MiB kept for a comparison.
   */
  textHash: string | undefined;
  /** The last read error reported, so that rescans do not repeat it. */
  readError: string | undefined;
}

const MAX_TORN_READS = 5;
/** Files up to this size are stat'ed and read synchronously (see #processFile). */
const SYNC_READ_MAX_BYTES = 256 * 1024;

/**
 * Reads every `*.yaml`, `*.yml` and `*.json` file directly inside `dir` (subfolders are not
 * read) and watches the folder. A file may hold several YAML documents and `kind: List` objects;
 * kinds read are Service (v1) and EndpointSlice (discovery.k8s.io/v1). `metadata.namespace`
 * defaults to `default`, as with kubectl. After the initial scan `onSynced()` is called; from then
 * on a changed file is re-read on its own and only the objects whose content changed are emitted.
 *
 * Policy for bad input (each problem is reported once, as an InvalidObjectError naming the file,
 * the line and the object, every time the file is read; everything else keeps flowing):
 * - An object that becomes invalid keeps its last valid version in effect: a typo must not drop
 *   traffic. A new object that is invalid is simply not added.
 * - A file with a document that cannot be read (YAML syntax error, no kind, no name) adds and
 *   updates what its readable documents hold, but deletes nothing it defined before, since the
 *   unreadable document may be where those objects now live. Once it parses, deletions apply.
 * - A file that cannot be read at all (permissions, too large) keeps everything it defined.
 * - A deleted file deletes its objects (after `deleteGraceMs`, to ride out editor saves).
 * - The same object defined twice (in one file or in two): the definition read first stays in
 *   effect until it is removed, then the other takes over. The initial scan reads files in name
 *   order, and documents in file order.
 * - If the folder itself disappears, nothing is deleted; it is retried every rescan.
 */
export class ManifestSource implements Source {
  readonly #dir: string;
  readonly #log: Logger;
  readonly #debounceMs: number;
  readonly #deleteGraceMs: number;
  readonly #rescanIntervalMs: number;
  readonly #maxFileBytes: number;
  readonly #files = new Map<string, FileState>();
  readonly #registry = new ObjectRegistry();
  #handler: SourceHandler | undefined;
  #watcher: DirWatcher | undefined;
  #dirError: string | undefined;

  constructor(opts: ManifestSourceOptions) {
    this.#dir = opts.dir;
    this.#log = opts.log.child({ source: 'manifests', dir: opts.dir });
    this.#debounceMs = opts.debounceMs ?? 3;
    this.#deleteGraceMs = opts.deleteGraceMs ?? 25;
    this.#rescanIntervalMs = opts.rescanIntervalMs ?? 30_000;
    this.#maxFileBytes = opts.maxFileBytes ?? 16 * 1024 * 1024;
  }

  /** Scans the folder, calls `onSynced`, then keeps watching. Rejects only if `dir` cannot be listed. */
  async start(handler: SourceHandler): Promise<void> {
    if (this.#handler)
      throw new KprError('KPR_ERR_SOURCE_STARTED', 'this ManifestSource was already started');
    let names: string[];
    try {
      names = await readdir(this.#dir);
    } catch (e) {
      throw new KprError(
        'KPR_ERR_MANIFEST_DIR',
        `cannot read the manifest folder ${this.#dir}: ${errorMessage(e)}; create it or point kpr at an existing folder`,
        { cause: e },
      );
    }
    this.#handler = handler;
    this.#watcher = new DirWatcher({
      dir: this.#dir,
      log: this.#log,
      debounceMs: this.#debounceMs,
      rescanIntervalMs: this.#rescanIntervalMs,
      isManifest: isManifestName,
      onFile: (name) => this.#processFile(name),
      onRescan: () => this.#rescan(),
    });
    // Watch before scanning, so that nothing written during the scan is missed.
    this.#watcher.start();
    for (const name of names.filter(isManifestName).sort()) await this.#watcher.file(name);
    this.#call('onSynced', () => handler.onSynced());
    this.#log.info('manifest folder read', { files: this.#files.size });
  }

  async stop(): Promise<void> {
    await this.#watcher?.stop();
    this.#watcher = undefined;
  }

  async #rescan(): Promise<void> {
    let names: string[];
    try {
      names = await readdir(this.#dir);
      this.#dirError = undefined;
    } catch (e) {
      const msg = errorMessage(e);
      if (msg !== this.#dirError) {
        this.#log.error('cannot read the manifest folder; keeping every object read so far', {
          err: msg,
        });
        this.#dirError = msg;
      }
      return;
    }
    const all = new Set([
      ...names.filter(isManifestName),
      ...this.#files.keys(),
      ...this.#registry.files(),
    ]);
    for (const name of [...all].sort()) await this.#watcher?.file(name);
  }

  async #processFile(name: string): Promise<void> {
    const path = join(this.#dir, name);
    let emptyWaited = false;
    for (let attempt = 1; ; attempt++) {
      let st: Stats | undefined;
      let text: string;
      try {
        // Synchronous: one stat syscall costs microseconds, a thread-pool round trip far more.
        st = statFileNow(path);
        if (!st && this.#known(name) && this.#deleteGraceMs > 0) {
          await sleep(this.#deleteGraceMs);
          st = await statFile(path);
        }
        if (!st) {
          // A vanished folder is not a request to delete everything (see the class comment).
          if (this.#known(name) && (await folderExists(this.#dir))) this.#removeFile(name);
          return;
        }
      } catch (e) {
        this.#readFailed(name, 'stat-error', `cannot be read: ${errorMessage(e)}`);
        return;
      }
      const sig = signature(st);
      const prev = this.#files.get(name);
      if (prev?.sig === sig) return;
      // Reading starts at a file's first event, so an empty file that had objects is most likely
      // a writer between truncate (or create) and write: like a missing file, it must stay so for
      // the delete grace before its objects are deleted.
      if (st.size === 0 && this.#known(name) && this.#deleteGraceMs > 0 && !emptyWaited) {
        emptyWaited = true;
        await sleep(this.#deleteGraceMs);
        continue;
      }
      if (st.size > this.#maxFileBytes) {
        const why = `is ${st.size} bytes, more than the ${this.#maxFileBytes}-byte limit; split it into smaller files`;
        this.#readFailed(name, sig, why);
        return;
      }
      // Small files (every usual manifest) are read synchronously: tens of microseconds of
      // syscalls, against several thread-pool round trips that dominate an update's latency.
      const small = st.size <= SYNC_READ_MAX_BYTES;
      try {
        text = small ? readFileSync(path, 'utf8') : await readFile(path, 'utf8');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT' && attempt < MAX_TORN_READS) continue;
        this.#readFailed(name, sig, `cannot be read: ${errorMessage(e)}`);
        return;
      }
      // A writer still at work changes the signature under us: read again rather than act on half a file.
      let after: Stats | undefined;
      try {
        after = small ? statFileNow(path) : await statFile(path);
      } catch {
        after = undefined;
      }
      if (after && signature(after) !== sig && attempt < MAX_TORN_READS) continue;
      const textHash = hash('sha256', text, 'base64');
      if (prev?.textHash === textHash) {
        prev.sig = sig;
        prev.readError = undefined;
        return;
      }
      this.#files.set(name, { sig, textHash, readError: undefined });
      const compiled = compileFile(parseManifest(text), this.#registry.entriesOf(name));
      this.#apply(name, compiled.entries, compiled.problems);
      return;
    }
  }

  #known(name: string): boolean {
    return this.#files.has(name) || this.#registry.entriesOf(name).size > 0;
  }

  #removeFile(name: string): void {
    this.#files.delete(name);
    const count = this.#registry.entriesOf(name).size;
    this.#apply(name, new Map(), []);
    this.#log.info('manifest file removed', { file: name, objects: count });
  }

  #readFailed(name: string, sig: string, why: string): void {
    const prev = this.#files.get(name);
    this.#files.set(name, { sig, textHash: prev?.textHash, readError: why });
    if (prev?.readError === why) return;
    const kept = this.#registry.entriesOf(name).size;
    const note = kept > 0 ? `; kpr keeps the ${kept} object(s) it read from it before` : '';
    this.#report(new InvalidObjectError(join(this.#dir, name), 'file', `${why}${note}`));
  }

  #apply(name: string, entries: Map<string, Entry>, problems: ManifestProblem[]): void {
    const path = join(this.#dir, name);
    const { changes, shadowed } = this.#registry.replaceFile(name, entries);
    const h = this.#handler;
    if (!h) return;
    for (const c of changes) {
      this.#log.debug(c.value ? 'object set' : 'object deleted', {
        kind: c.kind,
        ns: c.namespace,
        name: c.name,
        file: c.file,
      });
      if (c.kind === 'Service')
        this.#call('onService', () =>
          h.onService(c.namespace, c.name, c.value as V1Service | undefined),
        );
      else
        this.#call('onEndpointSlice', () =>
          h.onEndpointSlice(c.namespace, c.name, c.value as V1EndpointSlice | undefined),
        );
    }
    for (const p of problems)
      this.#report(new InvalidObjectError(`${path}:${p.line}`, p.label, p.problem));
    for (const s of shadowed) {
      const winner = `${join(this.#dir, s.winner.file)}:${s.winner.entry.line}`;
      const problem = `also defined in ${winner}, which was read first and stays in effect; this copy is ignored until that one is removed`;
      this.#report(new InvalidObjectError(`${path}:${s.entry.line}`, s.entry.label, problem));
    }
  }

  #report(err: InvalidObjectError): void {
    this.#log.warn('manifest object refused', { err: err.message });
    const h = this.#handler;
    if (h) this.#call('onInvalid', () => h.onInvalid(err));
  }

  /** Handler bugs must not stop the source: log them and carry on. */
  #call(what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.#log.error(`source handler ${what} threw`, { err });
    }
  }
}
