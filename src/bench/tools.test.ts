import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCrr, parseIperf, parseKernelTicks, parseWrk, wrkDurationUs } from './tools.ts';

const WRK_CLOSE = `Running 2s test @ http://198.18.16.1:80/
  2 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.20ms  500.00us   9.10ms   80.00%
    Req/Sec     2.90k   100.00     3.10k    70.00%
  Latency Distribution
     50%    1.10ms
     75%    1.40ms
     90%    1.90ms
     99%    3.05ms
  11600 requests in 2.00s, 1.30MB read
  Socket errors: connect 0, read 3, write 0, timeout 1
  Non-2xx or 3xx responses: 2
Requests/sec:   5800.12
Transfer/sec:    650.00KB
`;

test('wrk: rate, percentiles in µs, errors summed', () => {
  const r = parseWrk(WRK_CLOSE);
  assert.equal(r.requests, 11600);
  assert.equal(r.requestsPerSec, 5800.12);
  assert.equal(r.p50Us, 1100);
  assert.equal(r.p99Us, 3050);
  assert.equal(r.errors, 6);
});

test('wrk durations', () => {
  assert.equal(wrkDurationUs('38.00us'), 38);
  assert.equal(wrkDurationUs('2.00s'), 2e6);
  assert.throws(() => wrkDurationUs('3 parsecs'), /unrecognised/);
  assert.throws(
    () => parseWrk('unable to connect to 198.18.16.1:80 Connection refused'),
    /unrecognised wrk output/,
  );
});

test('iperf3 -J: the receiver side, or the error it reports', () => {
  const ok = JSON.stringify({
    end: { sum_received: { bytes: 3e9, seconds: 3, bits_per_second: 8e9 } },
  });
  assert.deepEqual(parseIperf(ok), { bytes: 3e9, seconds: 3, gbps: 8 });
  assert.throws(() => parseIperf('{"error":"unable to connect to server"}'), /unable to connect/);
});

test('/proc/stat kernel ticks are system + irq + softirq of the aggregate line', () => {
  const stat = 'cpu  100 5 200 9000 10 7 30 0 0 0\ncpu0 50 2 100 4500 5 3 15 0 0 0\n';
  assert.equal(parseKernelTicks(stat), 237);
  assert.throws(() => parseKernelTicks('intr 1 2 3'), /no aggregate cpu line/);
});

test('crr output', () => {
  const t = parseCrr('{"targets":[{"target":"a:80","n":10,"errors":0,"p50_us":80.5}]}');
  assert.equal(t[0]!.p50_us, 80.5);
  assert.throws(() => parseCrr('{}'), /no targets/);
});
