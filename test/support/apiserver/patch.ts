/**
 * @module test/support/apiserver/patch
 * JSON patch (add/replace/remove on object paths) and JSON merge patch, enough for Event updates.
 */

type Json = Record<string, unknown>;

function isObj(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObj(patch)) return patch;
  const out: Json = isObj(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

function jsonPatch(target: unknown, ops: unknown): unknown {
  if (!Array.isArray(ops)) throw new Error('a JSON patch must be an array of operations');
  const out = structuredClone(target) as Json;
  for (const op of ops as { op?: string; path?: string; value?: unknown }[]) {
    const parts = (op.path ?? '')
      .split('/')
      .slice(1)
      .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
    const last = parts.pop();
    if (last === undefined) throw new Error(`bad path ${JSON.stringify(op.path)}`);
    let cur: Json = out;
    for (const p of parts) {
      const next = cur[p];
      if (!isObj(next)) throw new Error(`path ${op.path} does not exist`);
      cur = next;
    }
    if (op.op === 'add' || op.op === 'replace') {
      if (op.op === 'replace' && !(last in cur)) throw new Error(`path ${op.path} does not exist`);
      cur[last] = op.value;
    } else if (op.op === 'remove') delete cur[last];
    else throw new Error(`unsupported JSON patch op ${JSON.stringify(op.op)}`);
  }
  return out;
}

export function applyPatch(target: unknown, patch: unknown, contentType: string): unknown {
  if (contentType.startsWith('application/json-patch+json')) return jsonPatch(target, patch);
  if (
    contentType.startsWith('application/merge-patch+json') ||
    contentType.startsWith('application/strategic-merge-patch+json')
  )
    return mergePatch(target, patch);
  throw new Error(`unsupported patch content type ${JSON.stringify(contentType)}`);
}
