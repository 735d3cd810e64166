import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { BoundedFrequencyRunner } from './runner.ts';

test('a single request after idle runs at once', async () => {
  let runs = 0;
  const r = new BoundedFrequencyRunner(async () => void runs++, {
    minIntervalMs: 1000,
    retryIntervalMs: 1000,
    maxIntervalMs: Infinity,
  });
  r.start();
  const t0 = performance.now();
  r.run();
  await r.idle();
  assert.equal(runs, 1);
  assert.ok(performance.now() - t0 < 50);
  r.stop();
});

test('requests during a sync and within minInterval are coalesced into one more sync', async () => {
  const starts: number[] = [];
  const r = new BoundedFrequencyRunner(
    async () => {
      starts.push(performance.now());
      await sleep(20);
    },
    { minIntervalMs: 60, retryIntervalMs: 1000, maxIntervalMs: Infinity },
  );
  r.start();
  r.run();
  await sleep(5);
  for (let i = 0; i < 10; i++) r.run();
  await sleep(200);
  await r.idle();
  assert.equal(starts.length, 2);
  assert.ok(
    starts[1]! - starts[0]! >= 20 + 60 - 5,
    `second sync waited for minInterval after the first ended`,
  );
  r.stop();
});

test('a failed sync is retried after retryInterval without another request', async () => {
  let runs = 0;
  const r = new BoundedFrequencyRunner(
    async () => {
      runs++;
      if (runs === 1) throw new Error('kernel said no');
    },
    { minIntervalMs: 0, retryIntervalMs: 30, maxIntervalMs: Infinity },
  );
  r.start();
  r.run();
  await sleep(10);
  assert.equal(runs, 1);
  await sleep(60);
  assert.equal(runs, 2);
  r.stop();
});

test('maxInterval forces a periodic sync', async () => {
  let runs = 0;
  const r = new BoundedFrequencyRunner(async () => void runs++, {
    minIntervalMs: 0,
    retryIntervalMs: 1000,
    maxIntervalMs: 25,
  });
  r.start();
  await sleep(90);
  r.stop();
  assert.ok(runs >= 2, `ran ${runs} times`);
});
