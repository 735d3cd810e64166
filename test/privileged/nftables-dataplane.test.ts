/**
 * Real-kernel test of the nftables dataplane. It creates a "node" network namespace that holds
 * kpr's table and a client, and a "backend" namespace behind a veth pair running two tiny TCP
 * servers. It proves that nft accepts full and incremental transactions (and every golden
 * scenario), that a ClusterIP connection is DNATed to a backend, that list() reads the kernel
 * back, that VIPs without endpoints and undefined ClusterIP ports are rejected, and that cleanup
 * removes the table. Everything is named kpr-t-* and removed in `after`, even on failure.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { run, type CommandRunner } from '../../src/util/exec.ts';
import { memoryLogger } from '../../src/util/log.ts';
import type { DataplaneOptions } from '../../src/dataplanes/types.ts';
import { createNftablesDataplane } from '../../src/dataplanes/nftables/index.ts';
import {
  endpoint,
  portState,
  servicePort,
  stateOf,
} from '../../src/dataplanes/nftables/fixtures.ts';
import { CLIENT, replyServer } from './support/tcp-scripts.ts';

const BACKEND_IP = '198.18.10.2';
const NODE_IP = '198.18.10.1';

const SERVER = replyServer(BACKEND_IP, [
  [8080, 'one'],
  [8081, 'two'],
]);

const skip = process.getuid?.() !== 0 ? 'needs root' : undefined;

describe('nftables dataplane (real kernel)', { skip }, () => {
  const id = randomBytes(3).toString('hex');
  const nodeNs = `kpr-t-nft-${id}`;
  const peerNs = `kpr-t-nft-${id}-b`;
  const netns = `/run/netns/${nodeNs}`;
  const table = `kpr_t_${id}`;
  let server: ChildProcess | undefined;
  const transactions: string[] = [];
  const inNode: CommandRunner = (cmd, args, o = {}) => {
    if (args[0] === '-f') transactions.push(o.input ?? '');
    return run(cmd, args, { ...o, netns });
  };
  const opts: DataplaneOptions = {
    nodeName: 'node-a',
    bpfPinDir: '',
    cgroupPath: undefined,
    iptablesBackend: undefined,
    nftTable: table,
    masqueradeAll: false,
    clusterCIDR: '198.19.0.0/16',
  };
  const dp = createNftablesDataplane(opts, { run: inNode, log: memoryLogger() });
  const connect = async (ip: string, port: number): Promise<string> =>
    (
      await run('ip', ['netns', 'exec', nodeNs, process.execPath, '-e', CLIENT, ip, String(port)], {
        allowFailure: true,
        timeoutMs: 6000,
      })
    ).stdout;
  const listTable = async () =>
    (await inNode('nft', ['list', 'table', 'ip', table], { allowFailure: true })).stdout;

  const web = (port: number) =>
    portState(
      servicePort({
        namespace: 'ns1',
        name: 'web',
        portName: 'http',
        clusterIPs: ['198.18.100.1'],
      }),
      [endpoint(BACKEND_IP, port)],
    );
  const empty = portState(
    servicePort({ namespace: 'ns1', name: 'empty', clusterIPs: ['198.18.100.2'] }),
    [],
  );

  before(async () => {
    const sh = (cmd: string, ...args: string[]) => run(cmd, args);
    await sh('ip', 'netns', 'add', nodeNs);
    await sh('ip', 'netns', 'add', peerNs);
    await sh(
      'ip',
      'link',
      'add',
      `kt${id}a`,
      'netns',
      nodeNs,
      'type',
      'veth',
      'peer',
      'name',
      `kt${id}b`,
      'netns',
      peerNs,
    );
    await sh('ip', '-n', nodeNs, 'addr', 'add', `${NODE_IP}/24`, 'dev', `kt${id}a`);
    await sh('ip', '-n', peerNs, 'addr', 'add', `${BACKEND_IP}/24`, 'dev', `kt${id}b`);
    for (const [ns, dev] of [
      [nodeNs, `kt${id}a`],
      [peerNs, `kt${id}b`],
    ] as const) {
      await sh('ip', '-n', ns, 'link', 'set', dev, 'up');
      await sh('ip', '-n', ns, 'link', 'set', 'lo', 'up');
    }
    // The node needs a route for the VIPs so that output routing happens before nat-output DNAT.
    await sh('ip', '-n', nodeNs, 'route', 'add', '198.18.100.0/24', 'dev', `kt${id}a`);
    server = spawn('ip', ['netns', 'exec', peerNs, process.execPath, '-e', SERVER], {
      stdio: 'ignore',
    });
    for (let i = 0; i < 50; i++) {
      const r = await run('ip', ['netns', 'exec', peerNs, 'ss', '-ltnH'], { allowFailure: true });
      if (r.stdout.includes(':8081')) break;
      await new Promise((res) => setTimeout(res, 100));
    }
  });

  after(async () => {
    server?.kill('SIGKILL');
    await run('ip', ['netns', 'del', nodeNs], { allowFailure: true });
    await run('ip', ['netns', 'del', peerNs], { allowFailure: true });
  });

  test('start + full sync: a ClusterIP connection reaches the backend; no-endpoint VIPs are rejected', async () => {
    await dp.start();
    await dp.sync({ state: stateOf(web(8080), empty), changed: new Set(), full: true });
    // A cold start: the skeleton transaction, then the Service ports in chunks.
    assert.match(transactions.at(-2)!, /^add table ip /);
    assert.match(transactions.at(-1)!, /^add chain ip \S+ service-/);
    assert.equal(await connect('198.18.100.1', 80), 'one');
    // Rejected (immediate error), not silently dropped (a timeout).
    assert.equal(await connect('198.18.100.2', 80), 'error ECONNREFUSED');
    assert.equal(
      await connect('198.18.100.1', 81),
      'error ECONNREFUSED',
      'undefined ClusterIP port',
    );
  });

  test('list() reads the frontends and backends back from the kernel', async () => {
    const live = await dp.list();
    assert.deepEqual(live, [
      {
        kind: 'ClusterIP',
        ip: '198.18.100.1',
        port: 80,
        protocol: 'TCP',
        service: 'ns1/web:http',
        backends: [{ ip: BACKEND_IP, port: 8080 }],
      },
      {
        kind: 'ClusterIP',
        ip: '198.18.100.2',
        port: 80,
        protocol: 'TCP',
        service: 'ns1/empty',
        backends: [],
      },
    ]);
  });

  test('incremental syncs change only what changed and are accepted by nft', async () => {
    const before = transactions.length;
    await dp.sync({
      state: stateOf(web(8081), empty),
      changed: new Set([web(8081).service.key]),
      full: false,
    });
    const tx = transactions.at(-1)!;
    assert.equal(transactions.length, before + 1);
    assert.doesNotMatch(tx, /add table|ns1\/empty/);
    // No endpoint chains without ClientIP affinity: the service chain is refilled in place and
    // the old endpoint's hairpin element replaced.
    assert.doesNotMatch(tx, /endpoint-/);
    assert.match(
      tx,
      /^delete element ip \S+ hairpin-connections \{ 198\.18\.10\.2 \. \S+ \. tcp \. 8080 \}$/m,
    );
    assert.equal(await connect('198.18.100.1', 80), 'two');
    // The empty service gains its endpoint: reject element out, service-ips element in.
    const filled = portState(empty.service, [endpoint(BACKEND_IP, 8080)]);
    await dp.sync({
      state: stateOf(web(8081), filled),
      changed: new Set([filled.service.key]),
      full: false,
    });
    assert.equal(await connect('198.18.100.2', 80), 'one');
    // Removing a service deletes its elements and chains in one transaction.
    await dp.sync({
      state: stateOf(filled),
      changed: new Set([web(8081).service.key]),
      full: false,
    });
    const listed = await listTable();
    assert.doesNotMatch(listed, /ns1\/web/);
    assert.doesNotMatch(listed, /198\.18\.100\.1\b/, 'no longer an active ClusterIP either');
    // A later full sync over the live table is accepted and restores everything.
    await dp.sync({ state: stateOf(web(8080), filled), changed: new Set(), full: true });
    assert.equal(await connect('198.18.100.1', 80), 'one');
    assert.equal((await dp.list()).length, 2);
  });

  test('nft accepts every golden scenario', async () => {
    const dir = join(import.meta.dirname, '../golden/nftables');
    const skeleton = readFileSync(join(dir, 'skeleton.nft'), 'utf8');
    const scratch = `kpr_g_${id}`;
    for (const f of readdirSync(dir).filter((n) => n.endsWith('.nft') && n !== 'skeleton.nft')) {
      const text = (skeleton + readFileSync(join(dir, f), 'utf8')).replaceAll(
        ' ip kpr ',
        ` ip ${scratch} `,
      );
      try {
        const r = await run('nft', ['-f', '-'], { input: text, netns, allowFailure: true });
        assert.equal(r.code, 0, `${f}: ${r.stderr}`);
      } finally {
        await run('nft', ['delete', 'table', 'ip', scratch], { netns, allowFailure: true });
      }
    }
  });

  test('a restarted agent adopts the table and its first full sync removes stale chains', async () => {
    const again = createNftablesDataplane(opts, { run: inNode, log: memoryLogger() });
    await again.start();
    assert.equal(
      await connect('198.18.100.1', 80),
      'one',
      'start() keeps serving the adopted rules',
    );
    const only = portState(empty.service, [endpoint(BACKEND_IP, 8081)]);
    const res = await again.sync({ state: stateOf(only), changed: new Set(), full: false });
    assert.ok(res.deleted >= 1, `stale web service chain deleted (deleted=${res.deleted})`);
    const listed = await listTable();
    assert.doesNotMatch(listed, /ns1\/web/);
    assert.equal(await connect('198.18.100.2', 80), 'two');
  });

  test('cleanup removes the table and is idempotent', async () => {
    await dp.cleanup();
    assert.equal(await listTable(), '');
    await dp.cleanup();
    assert.deepEqual(await dp.list(), []);
    assert.equal(
      await connect('198.18.100.2', 80),
      'timeout',
      'no DNAT any more: the VIP is unreachable',
    );
  });
});
