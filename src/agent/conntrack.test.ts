import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { memoryLogger } from '../util/log.ts';
import { applyConntrack, conntrackSysctls } from './conntrack.ts';

test('only the settings that are set become sysctls, kube-proxy style', () => {
  assert.deepEqual(conntrackSysctls({}, 4), []);
  assert.deepEqual(conntrackSysctls({ maxPerCore: 32768, min: 131072 }, 2), [
    { key: 'net/netfilter/nf_conntrack_max', value: 131072 },
  ]);
  assert.deepEqual(conntrackSysctls({ maxPerCore: 32768, min: 131072 }, 8), [
    { key: 'net/netfilter/nf_conntrack_max', value: 262144 },
  ]);
  assert.deepEqual(conntrackSysctls({ maxPerCore: 0, min: 131072, tcpBeLiberal: false }, 8), []);
  assert.deepEqual(
    conntrackSysctls(
      { tcpEstablishedTimeoutMs: 86_400_000, udpStreamTimeoutMs: 120_000, tcpBeLiberal: true },
      1,
    ),
    [
      { key: 'net/netfilter/nf_conntrack_tcp_timeout_established', value: 86400 },
      { key: 'net/netfilter/nf_conntrack_udp_timeout_stream', value: 120 },
      { key: 'net/netfilter/nf_conntrack_tcp_be_liberal', value: 1 },
    ],
  );
});

test('applyConntrack writes present sysctls, skips absent ones, and grows hashsize', async () => {
  const root = await mkdtemp(join(tmpdir(), 'kpr-t-ct-'));
  try {
    const nf = join(root, 'sys/net/netfilter');
    const params = join(root, 'params');
    await mkdir(nf, { recursive: true });
    await mkdir(params);
    await writeFile(join(nf, 'nf_conntrack_max'), '65536\n');
    await writeFile(join(nf, 'nf_conntrack_tcp_timeout_close_wait'), '60\n');
    await writeFile(join(params, 'hashsize'), '16384\n');
    const log = memoryLogger();
    const n = await applyConntrack(
      { maxPerCore: 65536, min: 0, tcpCloseWaitTimeoutMs: 3_600_000, udpTimeoutMs: 30_000 },
      { procSys: join(root, 'sys'), moduleParams: params, cpus: 2, log },
    );
    assert.equal(n, 2);
    assert.equal(await readFile(join(nf, 'nf_conntrack_max'), 'utf8'), '131072\n');
    assert.equal(await readFile(join(nf, 'nf_conntrack_tcp_timeout_close_wait'), 'utf8'), '3600\n');
    assert.equal(await readFile(join(params, 'hashsize'), 'utf8'), '32768\n');
    assert.ok(
      log.lines.some((l) => l.includes('absent') && l.includes('nf_conntrack_udp_timeout')),
    );
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
