/**
 * @module bench/report
 * What `kpr bench` leaves in its output directory: results.json (the machine, the kpr version,
 * the parameters and one record per dataplane x Services x metric), the SVG charts (latency and
 * connection rate versus Services, sync time, update time and memory versus Services) and
 * summary.md, whose tables show every figure next to its direct baseline and what was skipped.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DataplaneName } from '../dataplanes/types.ts';
import { lineChart, type Series } from './chart.ts';
import { METRICS, valueOf, type BenchRecord, type MetricId, type PathKind } from './records.ts';

export interface Machine {
  readonly kernel: string;
  readonly cpus: number;
  readonly cpuModel: string;
  readonly memoryGiB: number;
  readonly node: string;
}

export interface BenchDocument {
  readonly schema: 'kpr-bench/v1';
  readonly kprVersion: string;
  readonly date: string;
  readonly durationS: number;
  readonly command: string;
  readonly machine: Machine;
  readonly parameters: {
    readonly quick: boolean;
    readonly services: readonly number[];
    readonly dataplanes: readonly DataplaneName[];
    readonly rounds: number;
    readonly dataEndpoints: number;
    readonly syncEndpoints: number;
    readonly [k: string]: unknown;
  };
  readonly records: readonly BenchRecord[];
}

const COLORS: Readonly<Record<DataplaneName, string>> = {
  ebpf: '#1f6fb4',
  iptables: '#d1372e',
  nftables: '#e08a00',
};

export const CHART_FILES = [
  'http-latency.svg',
  'crr-latency.svg',
  'crr-p99.svg',
  'crr-rate.svg',
  'sync-time.svg',
  'update-time.svg',
  'memory.svg',
] as const;

/** "iptables (timed out at 5000)": a legend that says why a line stops. */
function legend(doc: BenchDocument, dp: DataplaneName, metric: MetricId, suffix = ''): string {
  const bad = doc.records
    .filter(
      (r) =>
        r.dataplane === dp && r.metric === metric && r.status !== 'ok' && r.status !== 'skipped',
    )
    .sort((a, b) => a.services - b.services)[0];
  return `${dp}${suffix}${bad ? ` (${bad.status} at ${bad.services})` : ''}`;
}

function series(
  doc: BenchDocument,
  metric: MetricId,
  path: PathKind | null,
  opts: { dashed?: boolean; suffix?: string } = {},
): Series[] {
  return doc.parameters.dataplanes.map((dp) => ({
    label: legend(doc, dp, metric, opts.suffix),
    color: COLORS[dp],
    ...(opts.dashed && { dashed: true }),
    points: doc.records
      .filter(
        (r) => r.dataplane === dp && r.metric === metric && r.path === path && r.value !== null,
      )
      .map((r) => ({ x: r.services, y: r.value! })),
  }));
}

function footnote(doc: BenchDocument, extra: string): string {
  const m = doc.machine;
  return `kpr ${doc.kprVersion}, Linux ${m.kernel}, ${m.cpus} CPUs; median of ${doc.parameters.rounds} interleaved rounds; ${extra}`;
}

export function renderCharts(doc: BenchDocument): Record<(typeof CHART_FILES)[number], string> {
  const x = { xLabel: 'Services', xLog: true } as const;
  const eps = `${doc.parameters.dataEndpoints} endpoints/Service`;
  const withDirect = (m: MetricId): Series[] => [
    ...series(doc, m, 'clusterip', { suffix: ' ClusterIP' }),
    ...series(doc, m, 'direct', { dashed: true, suffix: ' direct' }),
  ];
  return {
    'http-latency.svg': lineChart({
      ...x,
      title: 'HTTP request latency via ClusterIP vs number of Services',
      yLabel: 'mean latency per request (µs)',
      series: withDirect('http_mean_us'),
      note: footnote(doc, `new connection per request (ab-style); dashed: pod IP; ${eps}`),
    }),
    'crr-latency.svg': lineChart({
      ...x,
      title: 'TCP connect/request/response/close latency (p50)',
      yLabel: 'p50 (µs)',
      series: withDirect('crr_p50_us'),
      note: footnote(doc, `dashed: straight to the pod IP; ${eps}`),
    }),
    'crr-p99.svg': lineChart({
      ...x,
      title: 'TCP connect/request/response/close latency (p99)',
      yLabel: 'p99 (µs)',
      series: withDirect('crr_p99_us'),
      note: footnote(doc, `dashed: straight to the pod IP; ${eps}`),
    }),
    'crr-rate.svg': lineChart({
      ...x,
      title: 'New connections per second via ClusterIP',
      yLabel: 'connections / s',
      series: withDirect('crr_rate_cps'),
      note: footnote(doc, `wrk, Connection: close; dashed: pod IP; ${eps}`),
    }),
    'sync-time.svg': lineChart({
      ...x,
      yLog: true,
      title: 'Full sync time vs number of Services',
      yLabel: 'full sync (ms, log scale)',
      series: series(doc, 'full_sync_ms', null),
      note: footnote(doc, `${doc.parameters.syncEndpoints} endpoints/Service, empty dataplane`),
    }),
    'update-time.svg': lineChart({
      ...x,
      yLog: true,
      title: 'One-endpoint update: sync time (p50) vs number of Services',
      yLabel: 'update sync p50 (ms, log scale)',
      series: series(doc, 'update_p50_ms', null),
      note: footnote(doc, `${doc.parameters.syncEndpoints} endpoints/Service`),
    }),
    'memory.svg': lineChart({
      ...x,
      title: 'Agent memory vs number of Services',
      yLabel: 'resident memory (MiB)',
      series: [
        ...series(doc, 'agent_rss_mib', null, { suffix: ' agent in lab' }),
        ...series(doc, 'sync_rss_mib', null, { dashed: true, suffix: ' sync process' }),
      ],
      note: footnote(
        doc,
        `solid: kpr agent (${doc.parameters.dataEndpoints} eps/Service); dashed: sync bench (${doc.parameters.syncEndpoints})`,
      ),
    }),
  };
}

export const fmt = (v: number | null | undefined): string => {
  if (v === null || v === undefined) return '–';
  const a = Math.abs(v);
  return a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : a >= 1 ? v.toFixed(2) : v.toFixed(3);
};

/** "123 / 118 (1.04×)": ClusterIP, direct and their ratio; or why it is missing. */
function pair(doc: BenchDocument, dp: DataplaneName, n: number, m: MetricId): string {
  const v = valueOf(doc.records, dp, n, m, 'clusterip');
  const d = valueOf(doc.records, dp, n, m, 'direct');
  if (!v || v.status !== 'ok') return v ? v.status : '–';
  const ratio = v.ratioToDirect !== null ? ` (${v.ratioToDirect.toFixed(2)}×)` : '';
  return `${fmt(v.value)} / ${fmt(d?.value)}${ratio}`;
}

function single(doc: BenchDocument, dp: DataplaneName, n: number, m: MetricId): string {
  const v = valueOf(doc.records, dp, n, m, null);
  if (!v) return '–';
  return v.status === 'ok' ? fmt(v.value) : v.status;
}

function table(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const align = head.map((_, i) => (i < 2 ? '---' : '---:'));
  return [head, align, ...rows].map((r) => `| ${r.join(' | ')} |`).join('\n');
}

export function renderSummary(doc: BenchDocument): string {
  const { services, dataplanes } = doc.parameters;
  const m = doc.machine;
  const rows = (f: (dp: DataplaneName, n: number) => string[]): string[][] =>
    services.flatMap((n) => dataplanes.map((dp) => [dp, String(n), ...f(dp, n)]));
  const out: string[] = [
    `# kpr bench results`,
    '',
    `kpr ${doc.kprVersion}, ${doc.date}, ${Math.round(doc.durationS)} s. Machine: ${m.cpuModel}, ` +
      `${m.cpus} CPUs, ${m.memoryGiB} GiB, Linux ${m.kernel}, Node ${m.node}.`,
    '',
    `Command: \`${doc.command}\``,
    '',
    `Medians of ${doc.parameters.rounds} rounds, dataplanes interleaved within each round. ` +
      `Data-path cells read "ClusterIP / direct pod IP (ratio)"; the ratio is the median of ` +
      `per-round ratios.`,
    '',
    `## Data path (${doc.parameters.dataEndpoints} endpoints per Service)`,
    '',
    table(
      [
        'dataplane',
        'Services',
        'HTTP mean µs',
        'CRR p50 µs',
        'CRR p99 µs',
        'conn/s',
        'keep-alive p50 µs',
        'agent MiB',
        'setup s',
      ],
      rows((dp, n) => [
        pair(doc, dp, n, 'http_mean_us'),
        pair(doc, dp, n, 'crr_p50_us'),
        pair(doc, dp, n, 'crr_p99_us'),
        pair(doc, dp, n, 'crr_rate_cps'),
        pair(doc, dp, n, 'http_keepalive_p50_us'),
        single(doc, dp, n, 'agent_rss_mib'),
        single(doc, dp, n, 'lab_up_s'),
      ]),
    ),
    '',
  ];
  const tputSizes = [
    ...new Set(
      doc.records
        .filter((r) => r.metric === 'tput_1_gbps' && r.status === 'ok')
        .map((r) => r.services),
    ),
  ];
  if (tputSizes.length) {
    const streams = String(doc.parameters['iperfStreams'] ?? 'N');
    out.push(
      `## Throughput and kernel CPU (iperf3, ${tputSizes.join(', ')} Services)`,
      '',
      table(
        ['dataplane', 'streams', 'Gbit/s', 'kernel CPU s/GB'],
        tputSizes.flatMap((n) =>
          dataplanes.flatMap((dp) => [
            [dp, '1', pair(doc, dp, n, 'tput_1_gbps'), pair(doc, dp, n, 'cpu_1_s_per_gb')],
            [dp, streams, pair(doc, dp, n, 'tput_n_gbps'), pair(doc, dp, n, 'cpu_n_s_per_gb')],
          ]),
        ),
      ),
      '',
    );
  }
  out.push(
    `## Control plane (${doc.parameters.syncEndpoints} endpoints per Service)`,
    '',
    table(
      ['dataplane', 'Services', 'full sync ms', 'update p50 ms', 'update p99 ms', 'process MiB'],
      rows((dp, n) => [
        single(doc, dp, n, 'full_sync_ms'),
        single(doc, dp, n, 'update_p50_ms'),
        single(doc, dp, n, 'update_p99_ms'),
        single(doc, dp, n, 'sync_rss_mib'),
      ]),
    ),
    '',
  );
  const notes = new Map<string, string>();
  for (const r of doc.records) {
    if (!r.note) continue;
    const where = `${r.dataplane} at ${r.services} Services`;
    const prev = notes.get(where);
    const line = `${r.status}: ${r.note}`;
    if (!prev) notes.set(where, line);
    else if (!prev.includes(line)) notes.set(where, `${prev}; ${line}`);
  }
  if (notes.size) {
    out.push('## Not measured or partly measured', '');
    for (const [k, v] of notes) out.push(`- ${k}: ${v}`);
    out.push('');
  }
  out.push(`Charts: ${CHART_FILES.map((f) => `[${f}](${f})`).join(', ')}.`, '');
  return out.join('\n');
}

/** Writes results.json, summary.md and the charts into `dir`; returns the file names. */
export async function writeReport(dir: string, doc: BenchDocument): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'results.json'), JSON.stringify(doc, null, 2) + '\n');
  await writeFile(join(dir, 'summary.md'), renderSummary(doc));
  const charts = renderCharts(doc);
  for (const [name, svg] of Object.entries(charts)) await writeFile(join(dir, name), svg);
  return ['results.json', 'summary.md', ...Object.keys(charts)];
}

/** Metric labels, for `kpr bench`'s own output and documentation. */
export function metricLabel(m: MetricId): string {
  return `${METRICS[m].label} (${METRICS[m].unit})`;
}
