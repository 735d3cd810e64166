/**
 * @module sources/file/compile
 * One file's parse result → the set of validated objects the file now contributes, applying the
 * last-known-good policy (see ManifestSource): an object whose new version is invalid keeps its
 * previous valid version, and while any document of the file is unreadable nothing the file
 * defined before is dropped. Pure: the caller supplies what the file contributed before.
 */
import { validateEndpointSlice, validateService } from '../../model/validate.ts';
import { objectKey, objectLabel, type ManifestProblem, type ParsedManifest } from './parse.ts';
import type { Entry } from './registry.ts';

export interface CompiledFile {
  readonly entries: Map<string, Entry>;
  readonly problems: ManifestProblem[];
}

const KEPT = 'the last valid version stays in effect until this is fixed';

export function compileFile(
  parsed: ParsedManifest,
  previous: ReadonlyMap<string, Entry>,
): CompiledFile {
  const entries = new Map<string, Entry>();
  const problems: ManifestProblem[] = [];
  /** First line at which each identity appears in this file, valid or not. */
  const seen = new Map<string, number>();

  for (const o of parsed.objects) {
    const first = seen.get(o.key);
    if (first !== undefined) {
      const problem = `defined twice in this file (first at line ${first}); this copy is ignored`;
      problems.push({ line: o.line, label: o.label, problem, key: undefined, opaque: false });
      continue;
    }
    seen.set(o.key, o.line);
    const res = o.kind === 'Service' ? validateService(o.object) : validateEndpointSlice(o.object);
    if (res.ok) {
      // Not `...o`: nothing of the parse may stay reachable, since the parser's strings are
      // slices of the file's text and would keep all of it alive. The validated value is a copy.
      const meta = (res.value as { metadata: { namespace: string; name: string } }).metadata;
      entries.set(o.key, {
        key: objectKey(o.kind, meta.namespace, meta.name),
        kind: o.kind,
        namespace: meta.namespace,
        name: meta.name,
        label: objectLabel(o.kind, meta.namespace, meta.name),
        line: o.line,
        value: res.value,
      });
    } else {
      problems.push({
        line: o.line,
        label: o.label,
        problem: res.errors.join('; '),
        key: o.key,
        opaque: false,
      });
    }
  }

  // Identified but refused (invalid, wrong apiVersion): keep what this file had for that object.
  const out = problems.map((p) => {
    const kept = p.key !== undefined ? previous.get(p.key) : undefined;
    if (!kept || entries.has(p.key!)) return p;
    entries.set(p.key!, kept);
    return { ...p, problem: `${p.problem}; ${KEPT}` };
  });

  for (const p of parsed.problems) {
    if (p.key !== undefined && seen.has(p.key)) {
      const problem = `${p.problem}; also defined twice in this file (first at line ${seen.get(p.key)})`;
      out.push({ ...p, problem });
      continue;
    }
    if (p.key !== undefined) seen.set(p.key, p.line);
    const kept = p.key !== undefined ? previous.get(p.key) : undefined;
    if (kept && !entries.has(p.key!)) {
      entries.set(p.key!, kept);
      out.push({ ...p, problem: `${p.problem}; ${KEPT}` });
    } else out.push(p);
  }

  // An unreadable document may hold any of the objects this file defined before: keep them all.
  if (parsed.problems.some((p) => p.opaque)) {
    const held: string[] = [];
    for (const [key, e] of previous) {
      if (entries.has(key)) continue;
      entries.set(key, e);
      held.push(e.label);
    }
    if (held.length > 0) {
      const i = out.findIndex((p) => p.opaque);
      const p = out[i]!;
      const note = `; until the file is fixed, kpr keeps what it defined before (${held.join(', ')})`;
      out[i] = { ...p, problem: p.problem + note };
    }
  }
  out.sort((a, b) => a.line - b.line);
  return { entries, problems: out };
}
