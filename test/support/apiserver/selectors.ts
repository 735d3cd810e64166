/**
 * @module test/support/apiserver/selectors
 * Label and field selectors as the API server evaluates them, enough for what kpr sends:
 * `key`, `!key`, `key=v`, `key==v`, `key!=v`, `key in (a,b)`, `key notin (a,b)`, joined by
 * commas; field selectors `metadata.name` and `metadata.namespace` with `=`, `==` and `!=`.
 */

export interface Meta {
  readonly name?: string | undefined;
  readonly namespace?: string | undefined;
  readonly labels?: Readonly<Record<string, string>> | undefined;
}

export type Selector = (meta: Meta) => boolean;

/** Splits on commas that are not inside parentheses. */
function terms(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const c of s) {
    if (c === '(') depth++;
    if (c === ')') depth--;
    if (c === ',' && depth === 0) {
      out.push(cur.trim());
      cur = '';
    } else cur += c;
  }
  if (cur.trim()) out.push(cur.trim());
  return out;
}

function labelTerm(t: string): Selector {
  let m = /^!\s*([\w./-]+)$/.exec(t);
  if (m) {
    const k = m[1]!;
    return (o) => o.labels?.[k] === undefined;
  }
  m = /^([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(t);
  if (m) {
    const [, k, op, list] = m as unknown as [string, string, string, string];
    const values = new Set(list.split(',').map((v) => v.trim()));
    return op === 'in'
      ? (o) => values.has(o.labels?.[k] ?? '\0')
      : (o) => !values.has(o.labels?.[k] ?? '\0');
  }
  m = /^([\w./-]+)\s*(==|=|!=)\s*([\w./-]*)$/.exec(t);
  if (m) {
    const [, k, op, v] = m as unknown as [string, string, string, string];
    return op === '!=' ? (o) => o.labels?.[k] !== v : (o) => o.labels?.[k] === v;
  }
  m = /^([\w./-]+)$/.exec(t);
  if (m) {
    const k = m[1]!;
    return (o) => o.labels?.[k] !== undefined;
  }
  throw new Error(`unsupported label selector term ${JSON.stringify(t)}`);
}

export function parseLabelSelector(s: string | null): Selector {
  if (!s) return () => true;
  const all = terms(s).map(labelTerm);
  return (o) => all.every((f) => f(o));
}

export function parseFieldSelector(s: string | null): Selector {
  if (!s) return () => true;
  const all = terms(s).map((t): Selector => {
    const m = /^(metadata\.name|metadata\.namespace)\s*(==|=|!=)\s*(.*)$/.exec(t);
    if (!m) throw new Error(`unsupported field selector term ${JSON.stringify(t)}`);
    const [, field, op, v] = m as unknown as [string, string, string, string];
    const get = (o: Meta): string => (field === 'metadata.name' ? o.name : o.namespace) ?? '';
    return op === '!=' ? (o) => get(o) !== v : (o) => get(o) === v;
  });
  return (o) => all.every((f) => f(o));
}
