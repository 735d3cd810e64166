import { it } from 'node:test';
import assert from 'node:assert/strict';
import { Backoff } from './backoff.ts';

it('doubles from the initial delay up to the cap, and starts over after reset', () => {
  const b = new Backoff({ initialMs: 100, maxMs: 1000, jitter: 0 });
  assert.deepEqual(
    Array.from({ length: 6 }, () => b.next()),
    [100, 200, 400, 800, 1000, 1000],
  );
  assert.equal(b.attempts, 6);
  b.reset();
  assert.equal(b.next(), 100);
});

it('spreads delays by the jitter factor', () => {
  const low = new Backoff({ initialMs: 1000, jitter: 0.2, random: () => 0 });
  const high = new Backoff({ initialMs: 1000, jitter: 0.2, random: () => 0.999999 });
  assert.equal(low.next(), 800);
  assert.equal(high.next(), 1200);
  const capped = new Backoff({ initialMs: 1000, maxMs: 30_000, random: () => 0.999999 });
  for (let i = 0; i < 40; i++) assert.ok(capped.next() <= 36_000);
});
