/**
 * Real-kernel test of the iptables dataplane, once per backend (iptables-nft, iptables-legacy):
 * a node namespace with the rules, a veth to a backend namespace running two tiny TCP servers,
 * and a client in the node namespace connecting to a ClusterIP. Everything it creates is named
 * kpr-t-* and removed in `after`, even on failure.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { run } from '../../src/util/exec.ts';
import type { CommandRunner } from '../../src/util/exec.ts';
import { memoryLogger } from '../../src/util/log.ts';
import { createIptablesDataplane } from '../../src/dataplanes/iptables/index.ts';
import { portState, stateOf } from '../../src/dataplanes/iptables/test-fixtures.ts';
import type { DataplaneOptions } from '../../src/dataplanes/types.ts';
import { CLIENT, replyServer } from './support/tcp-scripts.ts';

const SERVER = replyServer('198.18.0.2', [
  [8080, 'backend-1'],
  [8081, 'backend-2'],
]);

async function skipReason(tool: string): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'needs root';
  const r = await run('sh', ['-c', `command -v ${tool}`], { allowFailure: true });
  return r.code === 0 ? undefined : `${tool} is not installed`;
}

for (const backend of ['nft', 'legacy'] as const) {
  describe(`iptables dataplane (iptables-${backend})`, async () => {
    const skip = await skipReason(`iptables-${backend}-restore`);
    const id = randomBytes(3).toString('hex');
    const node = `kpr-t-ipt-${id}`;
    const peer = `kpr-t-ipt-${id}-b`;
    const netns = `/run/netns/${node}`;
    let server: ChildProcess | undefined;
    const restores: string[] = [];
    const inNode: CommandRunner = (cmd, args, o = {}) => {
      if (cmd.endsWith('-restore')) restores.push(o.input ?? '');
      return run(cmd, args, { ...o, netns });
    };
    const opts: DataplaneOptions = {
      nodeName: 'node-a',
      bpfPinDir: '',
      cgroupPath: undefined,
      iptablesBackend: backend,
      nftTable: '',
      masqueradeAll: false,
      clusterCIDR: '198.18.128.0/17',
    };
    const log = memoryLogger();
    const dp = createIptablesDataplane(opts, { run: inNode, log });
    const save = async () => (await inNode(`iptables-${backend}-save`, [])).stdout;
    const connect = async (ip: string, port: number) =>
      (
        await run('ip', ['netns', 'exec', node, process.execPath, '-e', CLIENT, ip, String(port)], {
          allowFailure: true,
          timeoutMs: 5000,
        })
      ).stdout;

    const a = (port: number) =>
      portState({ namespace: 'ns1', name: 'a', portName: 'http' }, [{ ip: '198.18.0.2', port }]);
    const b = portState(
      {
        namespace: 'ns1',
        name: 'b',
        clusterIPs: ['198.19.0.11'],
        type: 'LoadBalancer',
        nodePort: 30080,
        loadBalancerIPs: ['198.19.1.1'],
        loadBalancerSourceRanges: ['198.18.0.0/30'],
        sessionAffinity: 'ClientIP',
        externalTrafficPolicy: 'Local',
        healthCheckNodePort: 30999,
      },
      [
        { ip: '198.18.0.2', port: 8081 },
        { ip: '198.18.129.9', port: 8081, nodeName: 'node-b' },
      ],
    );

    before(async () => {
      if (skip) return;
      await run('ip', ['netns', 'add', node]);
      await run('ip', ['netns', 'add', peer]);
      await run('ip', [
        'link',
        'add',
        `kt${id}a`,
        'netns',
        node,
        'type',
        'veth',
        'peer',
        'name',
        `kt${id}b`,
        'netns',
        peer,
      ]);
      for (const [ns, dev, addr] of [
        [node, `kt${id}a`, '198.18.0.1/30'],
        [peer, `kt${id}b`, '198.18.0.2/30'],
      ] as const) {
        await run('ip', ['-n', ns, 'addr', 'add', addr, 'dev', dev]);
        await run('ip', ['-n', ns, 'link', 'set', dev, 'up']);
        await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
      }
      // Service addresses need a route for the first lookup; DNAT then reroutes to the backend.
      await run('ip', ['-n', node, 'route', 'add', '198.19.0.0/16', 'dev', `kt${id}a`]);
      server = spawn('ip', ['netns', 'exec', peer, process.execPath, '-e', SERVER], {
        stdio: 'ignore',
      });
      await new Promise((r) => setTimeout(r, 500));
    });

    after(async () => {
      server?.kill('SIGKILL');
      await run('ip', ['netns', 'del', node], { allowFailure: true });
      await run('ip', ['netns', 'del', peer], { allowFailure: true });
    });

    test('full sync: a ClusterIP connection is DNATed to the backend', { skip }, async () => {
      await dp.start();
      const res = await dp.sync({ state: stateOf(a(8080), b), changed: new Set(), full: true });
      assert.ok(res.written > 10);
      assert.equal(await connect('198.19.0.10', 80), 'backend-1');
      const text = await save();
      assert.match(text, /-A PREROUTING .*-j KUBE-SERVICES/);
      assert.match(text, /-A INPUT .*-j KUBE-PROXY-FIREWALL/);
    });

    test('list() reads the frontends back from the kernel', { skip }, async () => {
      const fes = await dp.list();
      const find = (kind: string, ip: string) => fes.find((f) => f.kind === kind && f.ip === ip);
      assert.deepEqual(find('ClusterIP', '198.19.0.10'), {
        kind: 'ClusterIP',
        ip: '198.19.0.10',
        port: 80,
        protocol: 'TCP',
        service: 'ns1/a:http',
        backends: [{ ip: '198.18.0.2', port: 8080 }],
      });
      assert.equal(find('ClusterIP', '198.19.0.11')?.backends.length, 2);
      // eTP=Local: external frontends reach the local endpoint only.
      assert.deepEqual(find('LoadBalancer', '198.19.1.1')?.backends, [
        { ip: '198.18.0.2', port: 8081 },
      ]);
      const np = fes.find((f) => f.kind === 'NodePort');
      assert.equal(np?.port, 30080);
      assert.equal(np?.service, 'ns1/b:p80');
    });

    test('partial sync rewrites only the changed service', { skip }, async () => {
      restores.length = 0;
      const bSvc = /KUBE-SVC-[A-Z2-7]{16}/.exec(
        (await save()).split('\n').find((l) => l.includes('198.19.0.11/32'))!,
      )![0];
      const res = await dp.sync({
        state: stateOf(a(8081), b),
        changed: new Set([a(8081).service.key]),
        full: false,
      });
      assert.equal(res.deleted, 1, 'the old KUBE-SEP of a is deleted');
      assert.equal(restores.length, 1);
      assert.ok(!restores[0]!.includes(`:${bSvc} `), 'b is not rewritten');
      assert.equal(await connect('198.19.0.10', 80), 'backend-2');
      assert.match(await save(), new RegExp(`-A ${bSvc} `), 'b is still programmed');
      const fes = await dp.list();
      assert.deepEqual(fes.find((f) => f.ip === '198.19.0.10')?.backends, [
        { ip: '198.18.0.2', port: 8081 },
      ]);
    });

    test('a service without endpoints is rejected', { skip }, async () => {
      const empty = portState({ namespace: 'ns1', name: 'a', portName: 'http' });
      await dp.sync({
        state: stateOf(empty, b),
        changed: new Set([empty.service.key]),
        full: false,
      });
      assert.equal(await connect('198.19.0.10', 80), 'error ECONNREFUSED');
    });

    test('iptables-restore accepts hostile names as inert comments', { skip }, async () => {
      const hostile = portState(
        {
          namespace: 'evil"ns',
          name: "svc'\n-A INPUT -j ACCEPT",
          portName: 'p\\" -j ACCEPT',
          clusterIPs: ['198.19.0.12'],
        },
        [{ ip: '198.18.0.2', port: 8080 }],
      );
      await dp.sync({ state: stateOf(hostile), changed: new Set(), full: true });
      assert.equal(await connect('198.19.0.12', 80), 'backend-1');
      const text = await save();
      assert.doesNotMatch(text, /^-A INPUT -j ACCEPT/m);
      assert.ok(!text.includes('198.19.0.11'), 'the full sync removed b');
    });

    test('the kernel accepts every golden ruleset', { skip }, async () => {
      const dir = new URL('../golden/iptables/', import.meta.url);
      for (const f of (await readdir(dir)).filter((n) => n.endsWith('.rules'))) {
        const text = await readFile(new URL(f, dir), 'utf8');
        await inNode(`iptables-${backend}-restore`, ['-w', '5', '--noflush'], { input: text });
      }
    });

    test('cleanup removes every KUBE-* chain and jump, and is idempotent', { skip }, async () => {
      await dp.cleanup();
      const text = await save();
      assert.doesNotMatch(text, /KUBE-/);
      await dp.cleanup();
      assert.equal(log.lines.filter((l) => l.includes('"level":"error"')).length, 0);
    });
  });
}
