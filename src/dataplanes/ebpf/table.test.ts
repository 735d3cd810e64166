import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FrontendTable, frontendKey } from './table.ts';

const backendsOf = (t: FrontendTable, fk: number): number[] => {
  const r = t.rows.get(fk)!;
  return [...t.pool.subarray(t.start[r]!, t.start[r]! + t.count[r]!)];
};
const put = (t: FrontendTable, fk: number, vip: number, list: number[]): void => {
  const start = t.reserveBackends(list.length);
  t.pool.set(list, start);
  t.set(fk, vip, 80, 6, 0, `svc-${vip}`, undefined, start, list.length);
};

test('rows survive growth, replacement, deletion and pool compaction', () => {
  const t = new FrontendTable(2, 4);
  const keys = Array.from({ length: 50 }, (_, i) => frontendKey(0xc6120000 + i, 80, 6));
  keys.forEach((fk, i) => put(t, fk, 0xc6120000 + i, [i, i + 1]));
  // Replace every row's backends many times: the pool fills with garbage and is compacted.
  for (let round = 0; round < 40; round++)
    keys.forEach((fk, i) =>
      put(
        t,
        fk,
        0xc6120000 + i,
        Array.from({ length: (round % 5) + 1 }, (_, j) => i * 100 + round + j),
      ),
    );
  for (const fk of keys.slice(0, 10)) t.delete(fk);
  put(t, frontendKey(0xc6130001, 80, 6), 0xc6130001, [7, 8, 9]);
  assert.equal(t.size, 41);
  assert.ok(t.pool.length < 2000, `pool grew to ${t.pool.length}: garbage is never compacted`);
  keys.slice(10).forEach((fk, k) => {
    const i = k + 10;
    assert.deepEqual(
      backendsOf(t, fk),
      Array.from({ length: 5 }, (_, j) => i * 100 + 39 + j),
    );
    assert.equal(t.service[t.rows.get(fk)!], `svc-${0xc6120000 + i}`);
  });
  assert.deepEqual(backendsOf(t, frontendKey(0xc6130001, 80, 6)), [7, 8, 9]);
});
