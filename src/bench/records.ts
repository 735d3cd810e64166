/**
 * @module bench/records
 * The results of `kpr bench`: the metric catalogue, one record per dataplane x Services x metric
 * (x path, for data-path metrics), and the collector that turns per-round samples into medians
 * and ratios against the direct pod-IP baseline. Rounds are interleaved across dataplanes and
 * the ClusterIP/direct pair is measured within one round, so the ratio of a round is taken first
 * and the median of those ratios reported: it cancels the noise that hits both paths alike.
 */
import type { DataplaneName } from '../dataplanes/types.ts';
import { median, round } from './stats.ts';

export type MetricId =
  | 'lab_up_s'
  | 'agent_rss_mib'
  | 'crr_p50_us'
  | 'crr_p99_us'
  | 'http_mean_us'
  | 'crr_rate_cps'
  | 'http_keepalive_p50_us'
  | 'http_keepalive_p99_us'
  | 'tput_1_gbps'
  | 'tput_n_gbps'
  | 'cpu_1_s_per_gb'
  | 'cpu_n_s_per_gb'
  | 'full_sync_ms'
  | 'update_p50_ms'
  | 'update_p99_ms'
  | 'sync_rss_mib';

export interface MetricInfo {
  readonly unit: string;
  readonly label: string;
  /** Measured on a path (through the ClusterIP and straight to the pod) or not. */
  readonly paths: boolean;
}

export const METRICS: Readonly<Record<MetricId, MetricInfo>> = {
  lab_up_s: {
    unit: 's',
    label: 'lab setup until the first and last ClusterIP answer',
    paths: false,
  },
  agent_rss_mib: { unit: 'MiB', label: 'kpr agent resident memory in the lab', paths: false },
  crr_p50_us: { unit: 'µs', label: 'TCP connect/request/response/close p50', paths: true },
  crr_p99_us: { unit: 'µs', label: 'TCP connect/request/response/close p99', paths: true },
  http_mean_us: {
    unit: 'µs',
    label: 'HTTP request latency, new connection per request (ab-style mean)',
    paths: true,
  },
  crr_rate_cps: {
    unit: 'conn/s',
    label: 'connections per second (wrk, Connection: close)',
    paths: true,
  },
  http_keepalive_p50_us: { unit: 'µs', label: 'HTTP keep-alive request p50 (wrk)', paths: true },
  http_keepalive_p99_us: { unit: 'µs', label: 'HTTP keep-alive request p99 (wrk)', paths: true },
  tput_1_gbps: { unit: 'Gbit/s', label: 'bulk TCP throughput, 1 stream (iperf3)', paths: true },
  tput_n_gbps: {
    unit: 'Gbit/s',
    label: 'bulk TCP throughput, several streams (iperf3)',
    paths: true,
  },
  cpu_1_s_per_gb: {
    unit: 's/GB',
    label: 'kernel CPU (system+irq+softirq) per GB, 1 stream',
    paths: true,
  },
  cpu_n_s_per_gb: {
    unit: 's/GB',
    label: 'kernel CPU (system+irq+softirq) per GB, several streams',
    paths: true,
  },
  full_sync_ms: { unit: 'ms', label: 'full sync into an empty dataplane', paths: false },
  update_p50_ms: { unit: 'ms', label: 'one-endpoint update sync p50', paths: false },
  update_p99_ms: { unit: 'ms', label: 'one-endpoint update sync p99', paths: false },
  sync_rss_mib: {
    unit: 'MiB',
    label: 'sync process resident memory after the full sync',
    paths: false,
  },
};

export type PathKind = 'clusterip' | 'direct';
export type RecordStatus = 'ok' | 'timed out' | 'failed' | 'skipped';

export interface BenchRecord {
  readonly dataplane: DataplaneName;
  readonly services: number;
  /** Endpoints per Service in the run that produced this record. */
  readonly endpoints: number;
  readonly metric: MetricId;
  readonly unit: string;
  /** 'clusterip' or 'direct' for data-path metrics; null for the others. */
  readonly path: PathKind | null;
  readonly status: RecordStatus;
  /** Median over rounds; null unless status is ok. */
  readonly value: number | null;
  /** One value per successful round, in round order. */
  readonly samples: readonly number[];
  /** ClusterIP records: median over rounds of (ClusterIP / direct) of the same round. */
  readonly ratioToDirect: number | null;
  /** Why the record is not ok, or a remark on how it was measured. */
  readonly note: string | null;
}

interface Cell {
  dataplane: DataplaneName;
  services: number;
  endpoints: number;
  metric: MetricId;
  path: PathKind | null;
  samples: (number | undefined)[];
  status: RecordStatus;
  notes: string[];
}

const cellKey = (dp: string, n: number, m: string, p: string | null): string =>
  `${dp}|${n}|${m}|${p ?? ''}`;

/** Accumulates samples and failures in the order they happen, and renders the records. */
export class Collector {
  readonly #cells = new Map<string, Cell>();

  #cell(dp: DataplaneName, n: number, eps: number, m: MetricId, p: PathKind | null): Cell {
    const k = cellKey(dp, n, m, p);
    let c = this.#cells.get(k);
    if (!c) {
      c = {
        dataplane: dp,
        services: n,
        endpoints: eps,
        metric: m,
        path: p,
        samples: [],
        status: 'ok',
        notes: [],
      };
      this.#cells.set(k, c);
    }
    return c;
  }

  /** One round's value. Paired ClusterIP/direct values must share the round index `round`. */
  add(
    dp: DataplaneName,
    n: number,
    eps: number,
    m: MetricId,
    p: PathKind | null,
    roundIndex: number,
    value: number,
  ): void {
    const c = this.#cell(dp, n, eps, m, p);
    c.samples[roundIndex] = value;
  }

  /** Marks metrics that could not be measured; a later success in another round keeps its data. */
  fail(
    dp: DataplaneName,
    n: number,
    eps: number,
    metrics: readonly MetricId[],
    status: Exclude<RecordStatus, 'ok'>,
    note: string,
  ): void {
    for (const m of metrics) {
      const paths: (PathKind | null)[] = METRICS[m].paths ? ['clusterip', 'direct'] : [null];
      for (const p of paths) {
        const c = this.#cell(dp, n, eps, m, p);
        // Rounds that did succeed keep their data; the failure becomes a remark.
        const partial = c.samples.some((x) => x !== undefined);
        const msg = partial ? `a round failed: ${note}` : note;
        if (!partial) c.status = status;
        if (!c.notes.includes(msg)) c.notes.push(msg);
      }
    }
  }

  records(): BenchRecord[] {
    const out: BenchRecord[] = [];
    for (const c of this.#cells.values()) {
      const samples = c.samples.filter((x): x is number => x !== undefined && Number.isFinite(x));
      const ok = samples.length > 0 && (c.status === 'ok' || c.status === 'failed');
      let ratio: number | null = null;
      if (ok && c.path === 'clusterip') {
        const direct = this.#cells.get(cellKey(c.dataplane, c.services, c.metric, 'direct'));
        const ratios: number[] = [];
        c.samples.forEach((v, i) => {
          const d = direct?.samples[i];
          if (v !== undefined && d !== undefined && d > 0) ratios.push(v / d);
        });
        if (ratios.length) ratio = round(median(ratios), 3);
      }
      out.push({
        dataplane: c.dataplane,
        services: c.services,
        endpoints: c.endpoints,
        metric: c.metric,
        unit: METRICS[c.metric].unit,
        path: c.path,
        status: ok ? 'ok' : c.status,
        value: ok ? round(median(samples), 3) : null,
        samples: samples.map((x) => round(x, 3)),
        ratioToDirect: ratio,
        note: c.notes.length ? c.notes.join('; ') : null,
      });
    }
    return out;
  }
}

/** Looks up one record's value (null when absent or not ok). */
export function valueOf(
  records: readonly BenchRecord[],
  dp: DataplaneName,
  n: number,
  m: MetricId,
  p: PathKind | null = METRICS[m].paths ? 'clusterip' : null,
): BenchRecord | undefined {
  return records.find(
    (r) => r.dataplane === dp && r.services === n && r.metric === m && r.path === p,
  );
}
