/**
 * @module sources/file/parse
 * Manifest text → the Service and EndpointSlice objects it holds, each with its line number, plus
 * the documents that could not be used. Pure: no I/O, no validation of field values (that is
 * model/validate's job); this step only finds out *what* each document is. YAML streams with
 * several `---` documents, JSON (a YAML subset) and `kind: List` wrappers are understood.
 */
import { LineCounter, parseAllDocuments, type Document } from 'yaml';
import { CORE_SCHEMA, load as fastLoad } from 'js-yaml';
import { isObj } from '../../model/validate-fields.ts';

export type ManifestKind = 'Service' | 'EndpointSlice';

const API_VERSION: Record<ManifestKind, string> = {
  Service: 'v1',
  EndpointSlice: 'discovery.k8s.io/v1',
};

/** A document that names a Service or EndpointSlice. */
export interface ManifestObject {
  readonly kind: ManifestKind;
  readonly namespace: string;
  readonly name: string;
  /** Identity across files: `Service/ns/name`. */
  readonly key: string;
  /** For messages: `Service ns/name`. */
  readonly label: string;
  /** 1-based line where the object starts. */
  readonly line: number;
  /** The object, with metadata.namespace defaulted to `default` as kubectl does. */
  readonly object: Record<string, unknown>;
}

/** A document (or List item) that cannot be used. */
export interface ManifestProblem {
  readonly line: number;
  /** What the document is, as far as it can be told: `Service default/foo` or `document 2`. */
  readonly label: string;
  readonly problem: string;
  /** The identity (`Service/ns/name`) when it is known, so that its last good version can be kept. */
  readonly key: string | undefined;
  /**
   * The document could not be read far enough to tell which objects it holds (a syntax error, a
   * missing kind or name). Its objects may be ones this file defined before, so the caller must
   * not treat their absence as a deletion.
   */
  readonly opaque: boolean;
}

export interface ParsedManifest {
  readonly objects: ManifestObject[];
  readonly problems: ManifestProblem[];
}

export function objectKey(kind: string, namespace: string, name: string): string {
  return `${kind}/${namespace}/${name}`;
}

export function objectLabel(kind: string, namespace: string, name: string): string {
  return `${kind} ${namespace}/${name}`;
}

/** yaml's messages end with ` at line L, column C:` and a code frame; we report positions ourselves. */
function firstLine(message: string): string {
  return (message.split('\n')[0] ?? message).replace(/ at line \d+, column \d+:?$/, '');
}

/** Best-effort `Kind ns/name` of a document, even one yaml could only partly parse. */
function describe(js: unknown, fallback: string): string {
  if (!isObj(js) || typeof js.kind !== 'string') return fallback;
  const meta = isObj(js.metadata) ? js.metadata : {};
  const ns = typeof meta.namespace === 'string' && meta.namespace ? meta.namespace : 'default';
  const name = typeof meta.name === 'string' && meta.name ? meta.name : '<unnamed>';
  return `${objectLabel(js.kind, ns, name)} (${fallback})`;
}

function safeToJS(doc: Document.Parsed): { js: unknown } | { error: string } {
  try {
    // maxAliasCount bounds "billion laughs" alias expansion in untrusted input.
    return { js: doc.toJS({ maxAliasCount: 100 }) };
  } catch (e) {
    return { error: e instanceof Error ? e.message : String(e) };
  }
}

/** A `---` marker at column 0 always starts a document (block scalars must be indented). */
const DOC_START = /^---(?:[ \t].*)?$/;
/** Anchors, aliases and tags take the careful path (alias-expansion bounds, exact tag handling). */
const NEEDS_CAREFUL_PARSER = /[&*!]/;

/**
 * Splits manifest text into usable objects and problems; never throws.
 *
 * Two parsers: each `---` document is first read with js-yaml (core schema, so no timestamps or
 * merge keys), which is about five times faster than `yaml` and matters when a folder holds
 * 100000 Services; a document that js-yaml rejects, or that uses anchors, aliases or tags, is
 * re-read with `yaml`, whose errors carry exact positions and which bounds alias expansion.
 */
export function parseManifest(text: string): ParsedManifest {
  const out: ParsedManifest = { objects: [], problems: [] };
  const lines = text.split('\n');
  let start = 0;
  let docIndex = 0;
  const flush = (end: number): void => {
    if (end <= start) return;
    const chunk = lines.slice(start, end).join('\n');
    docIndex = parseChunk(out, chunk, start, docIndex);
  };
  for (let i = 0; i < lines.length; i++) {
    if (i > start && DOC_START.test(lines[i]!)) {
      flush(i);
      start = i;
    }
  }
  flush(lines.length);
  return out;
}

/** Parses one `---` document (starting at 0-based line `first`); returns the next document index. */
function parseChunk(out: ParsedManifest, chunk: string, first: number, docIndex: number): number {
  if (!NEEDS_CAREFUL_PARSER.test(chunk)) {
    let js: unknown;
    let ok = true;
    try {
      js = fastLoad(chunk, { schema: CORE_SCHEMA });
    } catch {
      ok = false;
    }
    if (ok) {
      if (js === null || js === undefined) return docIndex + 1;
      if (!(isObj(js) && js.kind === 'List')) {
        const body = chunk
          .split('\n')
          .findIndex(
            (l) => l.trim() !== '' && !DOC_START.test(l) && !l.trimStart().startsWith('#'),
          );
        classify(out, js, first + 1 + Math.max(0, body), `document ${docIndex + 1}`);
        return docIndex + 1;
      }
    }
  }
  return parseCarefully(out, chunk, first, docIndex);
}

function parseCarefully(
  out: ParsedManifest,
  text: string,
  lineOffset: number,
  docOffset: number,
): number {
  const lc = new LineCounter();
  const lineAt = (offset: number | undefined): number => lc.linePos(offset ?? 0).line + lineOffset;
  let docs: Document.Parsed[];
  try {
    docs = parseAllDocuments(text, { lineCounter: lc, uniqueKeys: true }) as Document.Parsed[];
  } catch (e) {
    const problem = `cannot parse: ${e instanceof Error ? e.message : String(e)}`;
    out.problems.push({
      line: lineOffset + 1,
      label: 'file',
      problem,
      key: undefined,
      opaque: true,
    });
    return docOffset + 1;
  }
  docs.forEach((doc, i) => {
    const docName = `document ${docOffset + i + 1}`;
    const err = doc.errors[0];
    if (err) {
      const partial = safeToJS(doc);
      const label = describe('js' in partial ? partial.js : undefined, docName);
      out.problems.push({
        line: err.linePos ? err.linePos[0].line + lineOffset : lineAt(doc.range[0]),
        label,
        problem: `YAML syntax error: ${firstLine(err.message)}`,
        key: undefined,
        opaque: true,
      });
      return;
    }
    const line = lineAt(doc.contents?.range[0] ?? doc.range[0]);
    const res = safeToJS(doc);
    if ('error' in res) {
      out.problems.push({
        line,
        label: docName,
        problem: `cannot read: ${res.error}`,
        key: undefined,
        opaque: true,
      });
      return;
    }
    if (res.js === null || res.js === undefined) return; // an empty document, e.g. a trailing `---`
    if (isObj(res.js) && res.js.kind === 'List') {
      const items = res.js.items;
      if (!Array.isArray(items)) {
        const problem = 'a List needs an `items` list';
        out.problems.push({
          line,
          label: `List (${docName})`,
          problem,
          key: undefined,
          opaque: true,
        });
        return;
      }
      const node = doc.get('items', true) as
        { items?: { range?: [number, number, number] }[] } | undefined;
      items.forEach((item, j) =>
        classify(out, item, lineAt(node?.items?.[j]?.range?.[0]), `${docName}, List item ${j + 1}`),
      );
      return;
    }
    classify(out, res.js, line, docName);
  });
  return docOffset + Math.max(1, docs.length);
}

function classify(out: ParsedManifest, js: unknown, line: number, where: string): void {
  const fail = (label: string, problem: string, key: string | undefined, opaque: boolean): void => {
    out.problems.push({ line, label, problem, key, opaque });
  };
  if (!isObj(js)) {
    fail(
      where,
      'is not a map; expected a Kubernetes object with apiVersion, kind and metadata',
      undefined,
      true,
    );
    return;
  }
  const kind = js.kind;
  if (typeof kind !== 'string' || kind === '') {
    fail(describe(js, where), 'kind: is required (Service or EndpointSlice)', undefined, true);
    return;
  }
  const meta = isObj(js.metadata) ? js.metadata : {};
  const ns = meta.namespace ?? 'default';
  const name = meta.name;
  if (kind !== 'Service' && kind !== 'EndpointSlice') {
    const problem = `kind ${JSON.stringify(kind)} (apiVersion ${JSON.stringify(js.apiVersion)}) is not supported; kpr reads Service (v1) and EndpointSlice (discovery.k8s.io/v1)`;
    fail(describe(js, where), problem, undefined, false);
    return;
  }
  if (typeof name !== 'string' || name === '') {
    fail(describe(js, where), 'metadata.name: is required', undefined, true);
    return;
  }
  if (typeof ns !== 'string' || ns === '') {
    fail(
      describe(js, where),
      `metadata.namespace: ${JSON.stringify(ns)} is not a namespace name`,
      undefined,
      true,
    );
    return;
  }
  const key = objectKey(kind, ns, name);
  const label = objectLabel(kind, ns, name);
  if (js.apiVersion !== API_VERSION[kind]) {
    const problem = `apiVersion: ${JSON.stringify(js.apiVersion)} is not supported for ${kind}; use ${API_VERSION[kind]}`;
    fail(label, problem, key, false);
    return;
  }
  const object = { ...js, metadata: { ...meta, namespace: ns } };
  out.objects.push({ kind, namespace: ns, name, key, label, line, object });
}
