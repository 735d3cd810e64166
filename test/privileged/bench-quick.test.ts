/**
 * The CI smoke test of `kpr bench --quick`: the real command, as root, into a temp dir. It checks
 * that the output is well-formed and complete (one record per dataplane x size x metric, with the
 * machine and kpr version; parseable SVG charts; a Markdown table per section), not that any
 * figure is good. It also checks that the bench left no lab or scratch namespace behind.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CHART_FILES, type BenchDocument } from '../../src/bench/report.ts';
import { METRICS, type MetricId } from '../../src/bench/records.ts';

const isRoot = process.getuid?.() === 0;
const KPR = new URL('../../bin/kpr.js', import.meta.url).pathname;
const QUICK_LIMIT_MS = 180_000;

async function netnsNames(): Promise<string[]> {
  return readdir('/run/netns').catch(() => [] as string[]);
}

describe('kpr bench --quick', { skip: !isRoot && 'needs root' }, () => {
  let dir = '';
  let code: number | null = null;
  let stderr = '';
  let ms = 0;
  let netnsBefore: string[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kpr-t-bench-'));
    netnsBefore = await netnsNames();
    const t0 = Date.now();
    const child = spawn(process.execPath, [KPR, 'bench', '--quick', '--out', join(dir, 'out')], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), QUICK_LIMIT_MS + 120_000);
    code = await new Promise((resolve) => child.on('close', (c) => resolve(c)));
    clearTimeout(timer);
    ms = Date.now() - t0;
  });
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('exits 0 within 3 minutes', () => {
    assert.equal(code, 0, `kpr bench failed:\n${stderr.slice(-3000)}`);
    // Generous for a loaded CI machine; the run itself targets well under this.
    assert.ok(ms < QUICK_LIMIT_MS + 60_000, `took ${ms} ms`);
  });

  test('results.json: machine, version and one record per dataplane x size x metric x path', async () => {
    const doc = JSON.parse(
      await readFile(join(dir, 'out', 'results.json'), 'utf8'),
    ) as BenchDocument;
    assert.equal(doc.schema, 'kpr-bench/v1');
    assert.match(doc.kprVersion, /^\d+\.\d+\.\d+/);
    assert.ok(doc.machine.kernel.length > 0);
    assert.ok(Number.isInteger(doc.machine.cpus) && doc.machine.cpus > 0);
    assert.deepEqual(doc.parameters.services, [1, 100]);
    assert.deepEqual([...doc.parameters.dataplanes].sort(), ['ebpf', 'iptables', 'nftables']);
    const keys = new Set<string>();
    for (const r of doc.records) {
      const info = METRICS[r.metric];
      assert.ok(info, `unknown metric ${r.metric}`);
      assert.equal(r.unit, info.unit);
      assert.equal(r.path === null, !info.paths, `${r.metric} path ${r.path}`);
      assert.ok(['ok', 'timed out', 'failed', 'skipped'].includes(r.status));
      if (r.status === 'ok') {
        assert.ok(typeof r.value === 'number' && Number.isFinite(r.value), JSON.stringify(r));
        assert.ok(r.samples.length > 0);
      } else {
        assert.equal(r.value, null);
        assert.ok(r.note, `a ${r.status} record says why`);
      }
      const key = `${r.dataplane}|${r.services}|${r.metric}|${r.path}`;
      assert.ok(!keys.has(key), `duplicate record ${key}`);
      keys.add(key);
    }
    // Every size and dataplane has every control-plane and per-size data-path metric.
    const perSize: MetricId[] = [
      'crr_p50_us',
      'crr_p99_us',
      'http_mean_us',
      'crr_rate_cps',
      'full_sync_ms',
      'update_p50_ms',
    ];
    for (const dp of doc.parameters.dataplanes)
      for (const n of doc.parameters.services)
        for (const m of perSize)
          assert.ok(
            keys.has(`${dp}|${n}|${m}|${METRICS[m].paths ? 'clusterip' : null}`),
            `${dp} ${n} ${m}`,
          );
  });

  test('charts are well-formed SVG with a line or point per dataplane', async () => {
    for (const f of CHART_FILES) {
      const svg = await readFile(join(dir, 'out', f), 'utf8');
      assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/, f);
      assert.ok(svg.trimEnd().endsWith('</svg>'), f);
      assert.ok(!/NaN|Infinity|undefined/.test(svg), `${f} has a bad number`);
      // Balanced: every opened element is closed or self-closing.
      const open = svg.match(/<(?!\/)[a-z]+[^>]*[^/]>/g)?.length ?? 0;
      const close = svg.match(/<\/[a-z]+>/g)?.length ?? 0;
      assert.equal(open, close, `${f}: ${open} opened, ${close} closed`);
      for (const dp of ['ebpf', 'iptables', 'nftables'])
        assert.ok(svg.includes(dp), `${f} lacks ${dp}`);
    }
  });

  test('summary.md has the three tables and links every chart', async () => {
    const md = await readFile(join(dir, 'out', 'summary.md'), 'utf8');
    for (const h of ['## Data path', '## Throughput and kernel CPU', '## Control plane'])
      assert.ok(md.includes(h), `missing ${h}`);
    const rows = md.split('\n').filter((l) => /^\| (ebpf|iptables|nftables) \|/.test(l));
    assert.ok(rows.length >= 3 * 2 * 2, `only ${rows.length} table rows`);
    for (const f of CHART_FILES) assert.ok(md.includes(`(${f})`), `summary does not link ${f}`);
  });

  test('no lab or scratch namespace is left behind', async () => {
    const left = (await netnsNames()).filter(
      (n) => !netnsBefore.includes(n) && /^kpr-(lab-kpr-t-bench|t-bench)-/.test(n),
    );
    assert.deepEqual(left, []);
  });
});
