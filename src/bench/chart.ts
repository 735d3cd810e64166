/**
 * @module bench/chart
 * A small, dependency-free SVG line chart for `kpr bench`: axes with "nice" ticks, linear or
 * log-10 scales (Service counts span 1 to 100000, sync times several decades), one polyline with
 * point markers per series, optional dashed series (the direct pod-IP baselines), a legend, and a
 * note line under the plot. The output is deterministic text, so it diffs cleanly in docs/.
 */

export interface Point {
  readonly x: number;
  readonly y: number;
}

export interface Series {
  readonly label: string;
  readonly color: string;
  readonly dashed?: boolean;
  readonly points: readonly Point[];
}

export interface ChartSpec {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly xLog?: boolean;
  readonly yLog?: boolean;
  /** Start a linear y axis at zero (default true), as latency charts should. */
  readonly yFromZero?: boolean;
  readonly series: readonly Series[];
  readonly note?: string;
  readonly width?: number;
  readonly height?: number;
}

const M = { left: 72, right: 20, top: 40, bottom: 58 };
const LEGEND_ROW = 18;

export function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Short tick label: 1k, 25k, 1.5M; small numbers keep up to 3 significant digits. */
export function formatTick(v: number): string {
  const a = Math.abs(v);
  const trim = (x: number): string => String(Number(x.toPrecision(3)));
  if (a >= 1e6) return `${trim(v / 1e6)}M`;
  if (a >= 1e3) return `${trim(v / 1e3)}k`;
  return trim(v);
}

/** Ticks of a linear axis: 1, 2 or 5 times a power of ten, about `target` of them. */
export function linearTicks(lo: number, hi: number, target = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / target;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((k) => k * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step)
    out.push(Number(v.toPrecision(12)));
  return out;
}

/** Ticks of a log axis: every power of ten in range, plus 2 and 5 multiples when few decades. */
export function logTicks(lo: number, hi: number): number[] {
  const out: number[] = [];
  const d0 = Math.floor(Math.log10(lo));
  const d1 = Math.ceil(Math.log10(hi));
  const mults = d1 - d0 <= 2 ? [1, 2, 5] : [1];
  for (let d = d0; d <= d1; d++)
    for (const k of mults) {
      const v = k * 10 ** d;
      if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) out.push(Number(v.toPrecision(12)));
    }
  return out;
}

interface Scale {
  readonly map: (v: number) => number;
  readonly ticks: number[];
}

function scale(
  values: readonly number[],
  log: boolean,
  fromZero: boolean,
  pixels: [number, number],
): Scale {
  const finite = values.filter((v) => Number.isFinite(v) && (!log || v > 0));
  let lo = finite.length ? Math.min(...finite) : log ? 1 : 0;
  let hi = finite.length ? Math.max(...finite) : 1;
  if (log) {
    lo = 10 ** Math.floor(Math.log10(lo));
    hi = 10 ** Math.ceil(Math.log10(hi));
    if (hi === lo) hi = lo * 10;
  } else {
    if (fromZero) lo = Math.min(0, lo);
    if (hi === lo) hi = lo + 1;
    const t = linearTicks(lo, hi);
    const step = t.length > 1 ? t[1]! - t[0]! : 1;
    lo = Math.floor(lo / step) * step;
    hi = Math.ceil(hi / step) * step;
  }
  const f = log ? Math.log10 : (v: number): number => v;
  const [p0, p1] = pixels;
  const map = (v: number): number => p0 + ((f(v) - f(lo)) / (f(hi) - f(lo))) * (p1 - p0);
  return { map, ticks: log ? logTicks(lo, hi) : linearTicks(lo, hi) };
}

/** Splits `text` at spaces into lines of at most `max` characters (a longer word stands alone). */
function wrap(text: string, max: number): string[] {
  const lines: string[] = [];
  let cur = '';
  for (const word of text.split(' ')) {
    if (cur && cur.length + 1 + word.length > max) {
      lines.push(cur);
      cur = word;
    } else cur = cur ? `${cur} ${word}` : word;
  }
  if (cur) lines.push(cur);
  return lines;
}

const r1 = (v: number): string => String(Math.round(v * 10) / 10);

/** Renders the chart as a standalone SVG document. */
export function lineChart(spec: ChartSpec): string {
  const width = spec.width ?? 720;
  // As many legend columns as the longest label allows (no SVG text measuring: ~6.5 px a char).
  const longest = Math.max(0, ...spec.series.map((s) => s.label.length));
  const legendCols = Math.max(
    1,
    Math.min(3, Math.floor((width - M.left - M.right) / (longest * 6.5 + 40))),
  );
  const legendRows = Math.ceil(spec.series.length / legendCols);
  const noteLines = spec.note ? wrap(spec.note, Math.floor((width - M.left - 8) / 6)) : [];
  const height = (spec.height ?? 420) + legendRows * LEGEND_ROW + noteLines.length * 14 + 4;
  const plotBottom = (spec.height ?? 420) - M.bottom;
  const pts = spec.series.flatMap((s) => s.points);
  const sx = scale(
    pts.map((p) => p.x),
    spec.xLog ?? false,
    false,
    [M.left, width - M.right],
  );
  const sy = scale(
    pts.map((p) => p.y),
    spec.yLog ?? false,
    spec.yFromZero ?? true,
    [plotBottom, M.top],
  );
  const o: string[] = [];
  o.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(spec.title)}</text>`,
  );
  // Grid and ticks.
  for (const t of sy.ticks) {
    const y = r1(sy.map(t));
    o.push(
      `<line x1="${M.left}" x2="${width - M.right}" y1="${y}" y2="${y}" stroke="#e4e4e4"/>`,
      `<text x="${M.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${formatTick(t)}</text>`,
    );
  }
  for (const t of sx.ticks) {
    const x = r1(sx.map(t));
    o.push(
      `<line x1="${x}" x2="${x}" y1="${M.top}" y2="${plotBottom}" stroke="#f0f0f0"/>`,
      `<text x="${x}" y="${plotBottom + 16}" text-anchor="middle">${formatTick(t)}</text>`,
    );
  }
  o.push(
    `<line x1="${M.left}" x2="${width - M.right}" y1="${plotBottom}" y2="${plotBottom}" stroke="#333"/>`,
    `<line x1="${M.left}" x2="${M.left}" y1="${M.top}" y2="${plotBottom}" stroke="#333"/>`,
    `<text x="${(M.left + width - M.right) / 2}" y="${plotBottom + 36}" text-anchor="middle">${escapeXml(spec.xLabel)}</text>`,
    `<text transform="translate(18 ${(M.top + plotBottom) / 2}) rotate(-90)" text-anchor="middle">${escapeXml(spec.yLabel)}</text>`,
  );
  // Series.
  for (const s of spec.series) {
    const ps = [...s.points]
      .filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y) && (!spec.yLog || p.y > 0))
      .sort((a, b) => a.x - b.x);
    const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
    if (ps.length > 1)
      o.push(
        `<polyline fill="none" stroke="${s.color}" stroke-width="2"${dash} points="${ps.map((p) => `${r1(sx.map(p.x))},${r1(sy.map(p.y))}`).join(' ')}"/>`,
      );
    for (const p of ps)
      o.push(
        `<circle cx="${r1(sx.map(p.x))}" cy="${r1(sy.map(p.y))}" r="3" fill="${s.dashed ? '#ffffff' : s.color}" stroke="${s.color}" stroke-width="1.5"/>`,
      );
  }
  // Legend under the axis label, up to three entries per row.
  const colW = (width - M.left - M.right) / legendCols;
  spec.series.forEach((s, i) => {
    const x = M.left + (i % legendCols) * colW;
    const y = plotBottom + 52 + Math.floor(i / legendCols) * LEGEND_ROW;
    const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
    o.push(
      `<line x1="${x}" x2="${x + 24}" y1="${y}" y2="${y}" stroke="${s.color}" stroke-width="2"${dash}/>`,
      `<text x="${x + 30}" y="${y}" dominant-baseline="middle">${escapeXml(s.label)}</text>`,
    );
  });
  noteLines.forEach((line, i) =>
    o.push(
      `<text x="${M.left}" y="${height - 8 - (noteLines.length - 1 - i) * 14}" font-size="11" fill="#555">${escapeXml(line)}</text>`,
    ),
  );
  o.push('</svg>');
  return o.join('\n') + '\n';
}
