import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Collector, valueOf } from './records.ts';

test('medians over rounds and the median of per-round ratios against direct', () => {
  const c = new Collector();
  const vip = [100, 300, 110];
  const direct = [90, 100, 100];
  vip.forEach((v, r) => c.add('ebpf', 10, 2, 'crr_p50_us', 'clusterip', r, v));
  direct.forEach((v, r) => c.add('ebpf', 10, 2, 'crr_p50_us', 'direct', r, v));
  const recs = c.records();
  const v = valueOf(recs, 'ebpf', 10, 'crr_p50_us')!;
  assert.equal(v.value, 110);
  assert.equal(v.unit, 'µs');
  assert.equal(v.ratioToDirect, 1.111); // ratios 1.111, 3, 1.1 -> median 1.111
  assert.equal(valueOf(recs, 'ebpf', 10, 'crr_p50_us', 'direct')!.ratioToDirect, null);
});

test('a timed-out lab yields one not-ok record per metric and path, without values', () => {
  const c = new Collector();
  c.fail('iptables', 5000, 2, ['crr_p50_us', 'full_sync_ms'], 'timed out', 'not ready within 60 s');
  const recs = c.records();
  assert.equal(recs.length, 3);
  for (const r of recs) {
    assert.equal(r.status, 'timed out');
    assert.equal(r.value, null);
    assert.equal(r.note, 'not ready within 60 s');
  }
});

test('a failed round keeps the other rounds and says so', () => {
  const c = new Collector();
  c.add('nftables', 1, 2, 'full_sync_ms', null, 0, 12);
  c.fail('nftables', 1, 2, ['full_sync_ms'], 'failed', 'worker exit 1');
  const r = valueOf(c.records(), 'nftables', 1, 'full_sync_ms')!;
  assert.equal(r.status, 'ok');
  assert.equal(r.value, 12);
  assert.match(r.note!, /a round failed: worker exit 1/);
});
