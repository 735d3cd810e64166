import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatTick, lineChart, linearTicks, logTicks } from './chart.ts';

test('linear ticks are 1/2/5 steps covering the range', () => {
  assert.deepEqual(linearTicks(0, 100), [0, 20, 40, 60, 80, 100]);
  assert.deepEqual(linearTicks(0, 0.9), [0, 0.2, 0.4, 0.6, 0.8]);
});

test('log ticks: powers of ten over many decades, 1-2-5 over few', () => {
  assert.deepEqual(logTicks(1, 100000), [1, 10, 100, 1000, 10000, 100000]);
  assert.deepEqual(logTicks(10, 100), [10, 20, 50, 100]);
});

test('tick labels are short', () => {
  assert.equal(formatTick(100000), '100k');
  assert.equal(formatTick(2500), '2.5k');
  assert.equal(formatTick(0.25), '0.25');
  assert.equal(formatTick(3_000_000), '3M');
});

test('a chart has one polyline per multi-point series, escaped labels and a dashed baseline', () => {
  const svg = lineChart({
    title: 'latency <p50> & more',
    xLabel: 'Services',
    yLabel: 'µs',
    xLog: true,
    series: [
      {
        label: 'ebpf',
        color: '#00f',
        points: [
          { x: 1, y: 80 },
          { x: 1000, y: 81 },
          { x: 100000, y: 82 },
        ],
      },
      {
        label: 'direct',
        color: '#00f',
        dashed: true,
        points: [
          { x: 1, y: 79 },
          { x: 1000, y: 80 },
        ],
      },
      { label: 'iptables (timed out at 5000)', color: '#f00', points: [{ x: 1, y: 90 }] },
    ],
  });
  assert.ok(svg.startsWith('<svg '));
  assert.ok(svg.trimEnd().endsWith('</svg>'));
  assert.equal(svg.match(/<polyline /g)?.length, 2);
  assert.equal(svg.match(/stroke-dasharray/g)?.length, 2); // the line and its legend entry
  assert.equal(svg.match(/<circle /g)?.length, 6);
  assert.ok(svg.includes('latency &#60;p50&#62; &#38; more'));
  assert.ok(!svg.includes('NaN'));
  // The x axis is logarithmic: 1 -> 1000 is 3 decades, 1000 -> 100000 is 2.
  const xs = [...svg.matchAll(/<circle cx="([\d.]+)"/g)].slice(0, 3).map((m) => Number(m[1]));
  const ratio = (xs[1]! - xs[0]!) / (xs[2]! - xs[1]!);
  assert.ok(Math.abs(ratio - 1.5) < 0.01, `x positions ${xs.join(', ')}`);
});

test('an empty chart still renders axes without NaN', () => {
  const svg = lineChart({
    title: 't',
    xLabel: 'x',
    yLabel: 'y',
    xLog: true,
    yLog: true,
    series: [],
  });
  assert.ok(!svg.includes('NaN') && !svg.includes('Infinity'));
});
