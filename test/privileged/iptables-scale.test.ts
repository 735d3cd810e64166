/**
 * Real-kernel test of the iptables dataplane's scale paths, once per backend: a full sync into a
 * fresh namespace (no start(): the top-level chains do not exist yet) that the nft backend splits
 * into batches, partial syncs that find stale chains from memory, and the batched cleanup. The
 * namespace is named kpr-t-* and removed in `after`, even on failure.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { run } from '../../src/util/exec.ts';
import type { CommandRunner } from '../../src/util/exec.ts';
import { memoryLogger } from '../../src/util/log.ts';
import { createIptablesDataplane } from '../../src/dataplanes/iptables/index.ts';
import { portState, stateOf } from '../../src/dataplanes/iptables/test-fixtures.ts';
import type { ServicePortState } from '../../src/model/types.ts';

const N = 60;

function port(i: number, gen = 0): ServicePortState {
  return portState(
    {
      namespace: 'scale',
      name: `svc-${i}`,
      clusterIPs: [`198.19.2.${i}`],
      ...(i % 4 === 0 ? { type: 'NodePort' as const, nodePort: 30100 + i } : {}),
    },
    [0, 1, 2].map((j) => ({ ip: `198.18.${10 + gen}.${i * 3 + j}` })),
  );
}

async function skipReason(tool: string): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'needs root';
  const r = await run('sh', ['-c', `command -v ${tool}`], { allowFailure: true });
  return r.code === 0 ? undefined : `${tool} is not installed`;
}

for (const backend of ['nft', 'legacy'] as const) {
  describe(`iptables dataplane at scale (iptables-${backend})`, async () => {
    const skip = await skipReason(`iptables-${backend}-restore`);
    const node = `kpr-t-ips-${randomBytes(3).toString('hex')}`;
    const netns = `/run/netns/${node}`;
    let restores = 0;
    const inNode: CommandRunner = (cmd, args, o = {}) => {
      if (cmd.endsWith('-restore') && !args.includes('--version')) restores++;
      return run(cmd, args, { ...o, netns });
    };
    const log = memoryLogger();
    const dp = createIptablesDataplane(
      {
        nodeName: 'node-a',
        bpfPinDir: '',
        cgroupPath: undefined,
        iptablesBackend: backend,
        nftTable: '',
        masqueradeAll: false,
        clusterCIDR: '198.18.128.0/17',
      },
      { run: inNode, log, nftChunkChains: 25 },
    );
    const save = async () => (await inNode(`iptables-${backend}-save`, ['-t', 'nat'])).stdout;
    const chains = async () =>
      new Set((await save()).match(/^:KUBE-(SVC|SEP|EXT)-\w+/gm)?.map((c) => c.slice(1)));
    const ports = Array.from({ length: N }, (_, i) => port(i));

    before(async () => {
      if (!skip) await run('ip', ['netns', 'add', node]);
    });
    after(async () => {
      await run('ip', ['netns', 'del', node], { allowFailure: true });
    });

    test('a full sync into an empty namespace programs every port', { skip }, async () => {
      await dp.sync({ state: stateOf(...ports), changed: new Set(), full: true });
      assert.equal(restores > 1, backend === 'nft', 'only nft splits the transaction');
      const fes = await dp.list();
      const cluster = fes.filter((f) => f.kind === 'ClusterIP');
      assert.equal(cluster.length, N);
      for (const f of cluster) assert.equal(f.backends.length, 3, f.ip);
      assert.equal(fes.filter((f) => f.kind === 'NodePort').length, N / 4);
      assert.ok(/^-A KUBE-MARK-MASQ -j MARK/m.test(await save()), 'KUBE-MARK-MASQ is filled');
    });

    test(
      'partial syncs replace and delete chains without listing the kernel',
      { skip },
      async () => {
        const before = await chains();
        const next = ports.slice(1);
        next[5] = port(6, 1);
        await dp.sync({
          state: stateOf(...next),
          changed: new Set([ports[0]!.service.key, ports[6]!.service.key]),
          full: false,
        });
        const after = await chains();
        // Port 0 (SVC, EXT, 3 SEP) is gone and port 6's three endpoint chains were replaced.
        assert.equal(before.size - after.size, 5);
        assert.equal([...after].filter((c) => !before.has(c)).length, 3);
        const fes = await dp.list();
        assert.ok(!fes.some((f) => f.ip === '198.19.2.0'));
        assert.deepEqual(
          fes.find((f) => f.ip === '198.19.2.6')?.backends.map((b) => b.ip),
          ['198.18.11.18', '198.18.11.19', '198.18.11.20'],
        );
        // A full sync of the same state changes nothing visible.
        await dp.sync({ state: stateOf(...next), changed: new Set(), full: true });
        assert.deepEqual(await chains(), after);
      },
    );

    test('cleanup removes every KUBE-* chain, in batches with nft', { skip }, async () => {
      restores = 0;
      await dp.cleanup();
      assert.equal(restores > 1, backend === 'nft');
      assert.doesNotMatch(await save(), /KUBE-/);
      const filter = (await inNode(`iptables-${backend}-save`, ['-t', 'filter'])).stdout;
      assert.doesNotMatch(filter, /KUBE-/);
    });
  });
}
