/**
 * Privileged tests of `kpr lab`: real namespaces, veths, cgroups and pod servers. Each lab gets a
 * unique `kpr-t-` name and is removed in `after`, even when a test fails.
 * The ClusterIP part needs the agent; its dataplane is KPR_LAB_TEST_DATAPLANE (default ebpf).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { access, readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { labDown, labRestartAgent, labSetEndpoints, labUp } from '../../src/lab/lab.ts';
import type { LabProgress } from '../../src/lab/lab.ts';
import { labExec, labProbe } from '../../src/lab/exec.ts';
import { agentAvailable, isAlive } from '../../src/lab/processes.ts';
import { labDir, manifestsDir, readState, statePath } from '../../src/lab/state.ts';
import type { LabState } from '../../src/lab/state.ts';
import { labStatus } from '../../src/lab/status.ts';
import { run } from '../../src/util/exec.ts';
import type { DataplaneName } from '../../src/dataplanes/types.ts';

const isRoot = process.getuid?.() === 0;
const suffix = (): string => randomBytes(3).toString('hex');
const exists = (p: string): Promise<boolean> =>
  access(p).then(
    () => true,
    () => false,
  );
const ipInt = (ip: string): number => ip.split('.').reduce((a, o) => a * 256 + Number(o), 0);
const inLabCidr = (ip: string): boolean =>
  ipInt(ip) >= ipInt('198.18.0.0') && ipInt(ip) <= ipInt('198.19.255.255');

interface RouteJson {
  dst: string;
  gateway?: string;
}
interface AddrJson {
  ifname: string;
  addr_info: { family: string; local: string }[];
}

/** Everything a lab may have left behind, to assert that `down` removed it all. */
async function leftovers(state: LabState): Promise<string[]> {
  const out: string[] = [];
  const netns = (await readdir('/run/netns').catch(() => [] as string[])).filter((n) =>
    n.startsWith(`kpr-lab-${state.name}_`),
  );
  out.push(...netns.map((n) => `netns ${n}`));
  if (await exists(state.cgroupPath)) out.push(`cgroup ${state.cgroupPath}`);
  if (await exists(`/sys/fs/bpf/kpr-lab-${state.name}`)) out.push('bpf pins');
  if (await exists(labDir(state.name))) out.push(`state dir ${labDir(state.name)}`);
  for (const [pod, pid] of Object.entries(state.podserverPids))
    if (await isAlive(pid)) out.push(`podserver ${pod} pid ${pid}`);
  if (state.agentPid !== undefined && (await isAlive(state.agentPid)))
    out.push(`agent pid ${state.agentPid}`);
  return out;
}

describe(
  'kpr lab (no agent): topology, pods, exec, status, down',
  { skip: !isRoot && 'needs root' },
  () => {
    const name = `kpr-t-${suffix()}`;
    const phases = new Set<string>();

    before(async () => {
      await labUp({
        name,
        dataplane: 'nftables',
        services: 7,
        endpoints: 2,
        pods: 3,
        startAgent: false,
        onProgress: (p: LabProgress) => phases.add(p.phase),
      });
    });
    after(async () => {
      await labDown(name);
    });

    test('up reported progress and recorded its state', async () => {
      assert.deepEqual([...phases].sort(), ['manifests', 'network', 'pods']);
      const onDisk = await readState(name);
      assert.equal(onDisk.agentPid, undefined);
      assert.deepEqual(Object.keys(onDisk.podserverPids).sort(), [
        'backend-0',
        'backend-1',
        'backend-2',
      ]);
      await assert.rejects(
        labUp({ name, dataplane: 'nftables', services: 1, endpoints: 1, startAgent: false }),
        /already exists/,
      );
    });

    test('every namespace uses 198.18.0.0/15 only and has no default route; the node forwards', async () => {
      const status = await labStatus(name);
      const all = [status.nodes[0]!.netns, ...status.pods.map((p) => p.netns)];
      for (const ns of all) {
        const routes = JSON.parse(
          (await run('ip', ['-j', 'route', 'show', 'table', 'all'], { netns: `/run/netns/${ns}` }))
            .stdout,
        ) as RouteJson[];
        assert.ok(!routes.some((r) => r.dst === 'default'), `${ns} has a default route`);
        const addrs = JSON.parse(
          (await run('ip', ['-j', '-4', 'addr', 'show'], { netns: `/run/netns/${ns}` })).stdout,
        ) as AddrJson[];
        const v4 = addrs
          .flatMap((a) => a.addr_info.map((i) => i.local))
          .filter((ip) => !ip.startsWith('127.'));
        assert.equal(v4.length, 1, `${ns}: ${v4.join(' ')}`);
        assert.ok(inLabCidr(v4[0]!), `${ns}: ${v4[0]}`);
      }
      const fwd = await run('sysctl', ['-n', 'net.ipv4.ip_forward'], {
        netns: `/run/netns/${status.nodes[0]!.netns}`,
      });
      assert.equal(fwd.stdout.trim(), '1');
      const podRoutes = JSON.parse(
        (await run('ip', ['-j', 'route'], { netns: `/run/netns/${status.pods[0]!.netns}` })).stdout,
      ) as RouteJson[];
      assert.deepEqual(
        podRoutes.map((r) => `${r.dst}${r.gateway ? ` via ${r.gateway}` : ''}`).sort(),
        ['198.18.0.0/15 via 198.18.0.1', '198.18.0.1'],
      );
    });

    test('pods reach each other through the node, TCP and UDP, with their own addresses', async () => {
      const status = await labStatus(name);
      const ip = (pod: string): string => status.pods.find((p) => p.name === pod)!.ip;
      for (const [from, to] of [
        ['client', 'backend-0'],
        ['client', 'backend-2'],
        ['backend-1', 'backend-2'],
      ] as const) {
        const tcp = await labProbe(
          name,
          { ip: ip(to), port: 8080, protocol: 'TCP' },
          { fromPod: from },
        );
        assert.equal(tcp.pod, to, `${from} -> ${to}: ${tcp.error}`);
        assert.equal(tcp.clientAddr?.split(':')[0], ip(from));
        const udp = await labProbe(
          name,
          { ip: ip(to), port: 5353, protocol: 'UDP' },
          { fromPod: from },
        );
        assert.equal(udp.pod, to, `${from} -> ${to} udp: ${udp.error}`);
      }
      // No agent: a ClusterIP leads nowhere, and the node says so rather than hanging.
      const vip = await labProbe(
        name,
        { ip: status.services[0]!.clusterIP, port: 80, protocol: 'TCP' },
        { timeoutMs: 1000 },
      );
      assert.equal(vip.ok, false);
    });

    test('lab exec runs in the pod netns and cgroup, passes stdin and the exit code', async () => {
      const status = await labStatus(name);
      const pod = status.pods.find((p) => p.name === 'backend-1')!;
      const res = await labExec(
        name,
        'backend-1',
        ['sh', '-c', 'stat -L -c %i /proc/self/ns/net; cat /proc/self/cgroup; cat; exit 3'],
        {
          input: 'from-stdin',
        },
      );
      assert.equal(res.code, 3, res.stderr);
      const [ino, ...rest] = res.stdout.split('\n');
      assert.equal(Number(ino), (await stat(`/run/netns/${pod.netns}`)).ino);
      assert.match(rest.join('\n'), new RegExp(`^0::/kpr-lab-${name}/backend-1$`, 'm'));
      assert.match(res.stdout, /from-stdin$/);
      await assert.rejects(labExec(name, 'nope', ['true']), /no pod "nope"/);
    });

    test('status JSON has the documented shape', async () => {
      const status = await labStatus(name);
      assert.deepEqual(Object.keys(status), ['dataplane', 'nodes', 'services', 'pods']);
      assert.equal(status.dataplane, 'nftables');
      assert.deepEqual(status.nodes, [
        { name: `${name}-node`, netns: `kpr-lab-${name}_node`, ip: '198.18.0.1' },
      ]);
      assert.equal(status.services.length, 7);
      assert.deepEqual(status.services[1], {
        namespace: 'default',
        name: 'svc-1',
        clusterIP: '198.18.16.2',
        port: 80,
        targetPort: 8080,
        protocol: 'TCP',
        backends: ['backend-2', 'backend-0'],
      });
      assert.equal(status.services[6]!.protocol, 'UDP');
      assert.deepEqual(
        status.pods.map((p) => [p.name, p.role]),
        [
          ['client', 'client'],
          ['backend-0', 'backend'],
          ['backend-1', 'backend'],
          ['backend-2', 'backend'],
        ],
      );
      for (const p of status.pods)
        assert.deepEqual(Object.keys(p), ['name', 'ip', 'netns', 'role']);
    });

    test('labSetEndpoints rewrites the service manifest and status follows', async () => {
      const path = await labSetEndpoints(name, 'svc-3', [
        { pod: 'backend-1' },
        { pod: 'backend-0', ready: false },
      ]);
      const docs = parseAllDocuments(await readFile(path, 'utf8')).map(
        (d) => d.toJS() as { metadata: { name: string }; endpoints?: unknown[] },
      );
      assert.equal(docs.find((d) => d.metadata.name === 'svc-3-lab')!.endpoints!.length, 2);
      assert.deepEqual((await labStatus(name)).services[3]!.backends, ['backend-1', 'backend-0']);
      await labSetEndpoints(name, 'svc-3', undefined);
      assert.deepEqual((await labStatus(name)).services[3]!.backends, ['backend-0', 'backend-1']);
      await assert.rejects(labSetEndpoints(name, 'svc-99', []), /no service/);
      assert.deepEqual(await readdir(manifestsDir(name)), ['services-000.yaml']);
    });

    test('down removes everything and is idempotent', async () => {
      const before = await readState(name);
      // The detector must see a live lab, or an empty result below would prove nothing.
      const live = await leftovers(before);
      for (const thing of [
        `netns kpr-lab-${name}_node`,
        `netns kpr-lab-${name}_client`,
        `cgroup ${before.cgroupPath}`,
        `state dir ${labDir(name)}`,
      ]) {
        assert.ok(live.includes(thing), `${thing} not in ${live.join(', ')}`);
      }
      assert.equal(live.filter((l) => l.startsWith('podserver ')).length, 3);
      await labDown(name);
      assert.deepEqual(await leftovers(before), []);
      await labDown(name);
      assert.deepEqual(await leftovers(before), []);
    });
  },
);

describe('kpr lab down after a crash', { skip: !isRoot && 'needs root' }, () => {
  const name = `kpr-t-${suffix()}`;
  after(async () => {
    await labDown(name);
  });

  test('reconstructs what to remove from the name when state.json is gone', async () => {
    const state = await labUp({
      name,
      dataplane: 'iptables',
      services: 2,
      endpoints: 1,
      pods: 2,
      startAgent: false,
    });
    await rm(statePath(name));
    await labDown(name);
    assert.deepEqual(await leftovers(state), []);
  });
});

const dataplane = (process.env.KPR_LAB_TEST_DATAPLANE ?? 'ebpf') as DataplaneName;
const agentSkip = !isRoot
  ? 'needs root'
  : !(await agentAvailable())
    ? 'the agent (bin/kpr.js) is not built yet'
    : false;

describe(
  `kpr lab with the ${dataplane} agent: traffic through ClusterIPs`,
  { skip: agentSkip },
  () => {
    const name = `kpr-t-${suffix()}`;
    let state: LabState;
    before(async () => {
      state = await labUp({
        name,
        dataplane,
        services: 5,
        endpoints: 2,
        pods: 3,
        readyTimeoutMs: 60_000,
      });
    });
    after(async () => {
      await labDown(name);
    });

    test('every service answers from one of its backends, TCP and UDP', async () => {
      assert.ok(state.agentPid !== undefined && (await isAlive(state.agentPid)));
      const status = await labStatus(name);
      for (const svc of status.services) {
        const seen = new Set<string>();
        for (let i = 0; i < 6; i++) {
          const res = await labProbe(name, {
            ip: svc.clusterIP,
            port: svc.port,
            protocol: svc.protocol,
          });
          assert.ok(
            res.ok,
            `${svc.name} ${svc.clusterIP}:${svc.port}/${svc.protocol}: ${res.error}`,
          );
          seen.add(res.pod!);
        }
        for (const pod of seen)
          assert.ok(
            svc.backends.includes(pod),
            `${svc.name} answered from ${pod}, not one of ${svc.backends.join(', ')}`,
          );
      }
    });

    test('an endpoint change reaches the dataplane', async () => {
      await labSetEndpoints(name, 'svc-0', [{ pod: 'backend-2' }]);
      const deadline = Date.now() + 20_000;
      let streak = 0;
      while (streak < 5) {
        assert.ok(Date.now() < deadline, 'svc-0 still answers from its old backends');
        const res = await labProbe(name, { ip: '198.18.16.1', port: 80, protocol: 'TCP' });
        streak = res.pod === 'backend-2' ? streak + 1 : 0;
        if (!streak) await new Promise((r) => setTimeout(r, 200));
      }
    });

    test('labRestartAgent replaces a SIGKILLed agent, and traffic keeps flowing', async () => {
      const oldPid = (await readState(name)).agentPid!;
      const restarted = await labRestartAgent(name, 'SIGKILL');
      assert.notEqual(restarted.agentPid, oldPid);
      assert.equal(await isAlive(oldPid), false);
      assert.ok(await isAlive(restarted.agentPid!));
      assert.equal((await readState(name)).agentPid, restarted.agentPid);
      const res = await labProbe(name, { ip: '198.18.16.2', port: 80, protocol: 'TCP' });
      assert.ok(res.ok, res.error);
    });

    test('down stops the agent and removes its pins too', async () => {
      const before = await readState(name);
      await labDown(name);
      assert.deepEqual(await leftovers(before), []);
      assert.equal(await exists(join('/sys/fs/bpf', `kpr-lab-${name}`)), false);
    });
  },
);
