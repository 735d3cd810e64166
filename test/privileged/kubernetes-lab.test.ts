/**
 * The Kubernetes API source end to end, per dataplane: a lab whose agent follows the lab's test
 * API server (real list/watch over HTTP, driven by the real client-node informers) instead of
 * manifest files. Services and slices are created, changed and deleted through the API and the
 * client pod's traffic must follow; watches are cut, and the API goes away and comes back with its
 * history compacted (410 Gone), and nothing may be lost or duplicated; the bad-object corpus gives
 * Events and log lines, never a crash. KPR_DATAPLANES=ebpf,nftables narrows the dataplanes.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { parse } from 'yaml';
import {
  DATAPLANE_NAMES,
  type DataplaneName,
  type LiveFrontend,
} from '../../src/dataplanes/types.ts';
import { labApiServer, type LabApiObject, type LabApiServer } from '../../src/lab/apiserver.ts';
import { labExec } from '../../src/lab/exec.ts';
import { labDown, labSetEndpoints, labUp } from '../../src/lab/lab.ts';
import { isAlive, KPR_BIN } from '../../src/lab/processes.ts';
import { agentLogPath, labDir, readState } from '../../src/lab/state.ts';
import type { LabState } from '../../src/lab/state.ts';
import { labStatus, type LabStatus } from '../../src/lab/status.ts';
import { run } from '../../src/util/exec.ts';
import { badFixtures } from '../fixtures/manifests/corpus.ts';

const CLIENT = fileURLToPath(new URL('../support/client.ts', import.meta.url));
const EXTRA_VIP = '198.19.255.200';
const GAP_VIP = '198.19.255.201';
/** Long enough for iptables/nftables (1 s minimum sync period) plus a reconnect backoff. */
const FOLLOW_MS = 15_000;
/** The corpus cases an API server can hold (it always has an apiVersion and a name). */
const BAD = badFixtures().filter(
  (f) =>
    f.level === 'object' && !['missing-name.yaml', 'unknown-api-version.yaml'].includes(f.file),
);

type Json = Record<string, unknown>;
interface HttpResult {
  counts: Record<string, number>;
  failures: number;
  errors: string[];
}

function extraService(name: string, vip: string): LabApiObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: 'default' },
    spec: {
      clusterIP: vip,
      ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }],
    },
  };
}

function extraSlice(service: string, pod: { name: string; ip: string }): LabApiObject {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name: `${service}-1`,
      namespace: 'default',
      labels: { 'kubernetes.io/service-name': service },
    },
    addressType: 'IPv4',
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    endpoints: [{ addresses: [pod.ip], targetRef: { kind: 'Pod', name: pod.name } }],
  };
}

/** Retries `check` until it passes; the last failure explains a timeout. */
async function eventually<T>(what: string, check: () => Promise<T>, ms = FOLLOW_MS): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await check();
    } catch (e) {
      if (Date.now() > deadline)
        throw new Error(`${what}: not within ${ms} ms: ${(e as Error).message}`, { cause: e });
      await sleep(200);
    }
  }
}

function kubernetesLabSuite(dataplane: DataplaneName): void {
  describe(`kubernetes source lab: ${dataplane}`, { concurrency: false }, () => {
    const name = `kpr-t-${randomBytes(3).toString('hex')}`;
    let state: LabState;
    let status: LabStatus;
    let api: LabApiServer;
    let agentPid: number;
    let started = 0;
    const pod = (podName: string): { name: string; ip: string } => {
      const p = status.pods.find((x) => x.name === podName);
      assert.ok(p, `pod ${podName}`);
      return { name: p.name, ip: p.ip };
    };
    const svc = (svcName: string): LabStatus['services'][number] => {
      const s = status.services.find((x) => x.name === svcName);
      assert.ok(s, `service ${svcName}`);
      return s;
    };

    async function client(...args: (string | number)[]): Promise<Json> {
      const res = await labExec(name, 'client', [process.execPath, CLIENT, ...args.map(String)], {
        timeoutMs: 30_000,
      });
      assert.equal(res.code, 0, `client ${args.join(' ')} failed: ${res.stderr}`);
      return JSON.parse(res.stdout) as Json;
    }

    /** Asserts that `count` connections to ip:80 all succeed and land exactly on `pods`. */
    async function servedBy(ip: string, pods: readonly string[], count = 12): Promise<void> {
      const r = (await client('http', ip, 80, count)) as unknown as HttpResult;
      assert.equal(r.failures, 0, `${ip}: ${r.errors.join(', ')}`);
      assert.deepEqual(Object.keys(r.counts).sort(), [...pods].sort(), `${ip} answered by`);
    }

    async function refused(ip: string): Promise<void> {
      const r = await client('refused', ip, 80);
      assert.ok(
        ['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH'].includes(String(r.code)),
        `${ip}: got ${String(r.code)}`,
      );
    }

    /** The ClusterIP frontends as read back from the kernel by `kpr service list --lab`. */
    async function liveFrontends(): Promise<LiveFrontend[]> {
      const res = await run(process.execPath, [
        KPR_BIN,
        'service',
        'list',
        '--lab',
        name,
        '--json',
      ]);
      return (JSON.parse(res.stdout) as LiveFrontend[]).filter((f) => f.kind === 'ClusterIP');
    }

    before(async () => {
      started = Date.now();
      state = await labUp({
        name,
        dataplane,
        source: 'kubernetes',
        services: 4,
        endpoints: 3,
        pods: 4,
        udpServices: 0,
      });
      status = await labStatus(name);
      api = labApiServer(name);
      assert.ok(state.agentPid !== undefined);
      agentPid = state.agentPid;
    });
    after(async () => {
      await labDown(name);
      process.stderr.write(`# ${dataplane}: ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
    });

    test('the agent follows the API server: a ClusterIP reaches its backends', async () => {
      assert.match(await readFile(agentLogPath(name), 'utf8'), /source=kubeconfig/);
      const info = await api.info();
      assert.equal(info.watches, 3, 'services, endpointslices and node are watched');
      await servedBy(svc('svc-0').clusterIP, svc('svc-0').backends);
    });

    test('an EndpointSlice update removes an endpoint', async () => {
      const s = svc('svc-1');
      const [keep1, keep2] = s.backends as [string, string, string];
      await labSetEndpoints(name, s.name, [{ pod: keep1 }, { pod: keep2 }]);
      await eventually('svc-1 on two backends', () => servedBy(s.clusterIP, [keep1, keep2], 30));
    });

    test('a deleted Service refuses connections; a created one works', async () => {
      assert.equal(await api.delete('services', 'default', 'svc-2'), true);
      await eventually('svc-2 refused', () => refused(svc('svc-2').clusterIP));
      await api.put('endpointslices', extraSlice('extra', pod('backend-0')));
      await api.put('services', extraService('extra', EXTRA_VIP));
      await eventually('extra served', () => servedBy(EXTRA_VIP, ['backend-0']));
    });

    test('watches cut: they resume from their resourceVersion and a later change arrives', async () => {
      const mark = (await api.info()).requests;
      await api.dropWatches();
      await api.put('endpointslices', extraSlice('extra', pod('backend-3')));
      await eventually('extra moved to backend-3', () => servedBy(EXTRA_VIP, ['backend-3']));
      await eventually('three watches again', async () =>
        assert.equal((await api.info()).watches, 3),
      );
      const reqs = await api.requests(mark);
      assert.equal(reqs.filter((r) => !r.watch).length, 0, 'no re-list after a clean drop');
      for (const r of reqs)
        assert.match(r.query, /resourceVersion=\d+/, `watch ${r.resource} resumed: ${r.query}`);
    });

    test('410 Gone after an outage: a clean re-list, nothing lost or duplicated', async () => {
      const mark = (await api.info()).requests;
      const s1 = svc('svc-1');
      const only = s1.backends[0]!;
      await api.outage(async () => {
        // Made while no client can watch: they reach the agent only through the re-list.
        await api.delete('services', 'default', 'svc-3');
        await api.delete('endpointslices', 'default', 'svc-3-lab');
        await labSetEndpoints(name, s1.name, [{ pod: only }]);
        await api.put('endpointslices', extraSlice('gap', pod('backend-1')));
        await api.put('services', extraService('gap', GAP_VIP));
      });
      const { compactedRevision } = await api.info();
      await eventually('gap served', () => servedBy(GAP_VIP, ['backend-1']));
      await eventually('svc-3 refused', () => refused(svc('svc-3').clusterIP));
      await eventually('svc-1 on one backend', () => servedBy(s1.clusterIP, [only], 20));

      // Every informer resumed from a compacted resourceVersion (answered 410) and re-listed.
      const reqs = await api.requests(mark);
      for (const resource of ['services', 'endpointslices', 'nodes']) {
        const expired = reqs.findIndex((r) => {
          const rv = /resourceVersion=(\d+)/.exec(r.query)?.[1];
          return r.resource === resource && r.watch && rv && Number(rv) < compactedRevision;
        });
        assert.ok(expired >= 0, `${resource}: a watch from before the compaction`);
        assert.ok(
          reqs.slice(expired).some((r) => r.resource === resource && !r.watch),
          `${resource}: re-listed after the 410`,
        );
      }

      // The kernel holds each live Service exactly once, with exactly its endpoints.
      const ip = (p: string): string => `${pod(p).ip}:8080`;
      const want = new Map<string, string[]>([
        [`${svc('svc-0').clusterIP}:80`, svc('svc-0').backends.map(ip)],
        [`${s1.clusterIP}:80`, [ip(only)]],
        [`${EXTRA_VIP}:80`, [ip('backend-3')]],
        [`${GAP_VIP}:80`, [ip('backend-1')]],
      ]);
      await eventually('kernel state', async () => {
        const live = await liveFrontends();
        const got = live.map((f) => `${f.ip}:${f.port}`);
        assert.deepEqual([...got].sort(), [...want.keys()].sort(), 'frontends, once each');
        for (const f of live) {
          const backends = f.backends.map((b) => `${b.ip}:${b.port}`);
          assert.deepEqual(backends.sort(), [...want.get(`${f.ip}:${f.port}`)!].sort(), f.ip);
        }
      });
    });

    test('bad objects from the corpus: an Event and a log line each, traffic unharmed', async () => {
      assert.ok(BAD.length >= 10, `corpus has ${BAD.length} API-representable cases`);
      for (const f of BAD) {
        const o = parse(f.text) as LabApiObject;
        await api.put(o.kind === 'EndpointSlice' ? 'endpointslices' : 'services', o);
      }
      await eventually('an Event per bad object', async () => {
        const events = (await api.events()) as unknown as { message: string; type: string }[];
        for (const f of BAD) {
          const ev = events.find((e) => e.message.includes(`${f.object}:`));
          assert.ok(ev, `no Event for ${f.object} (${f.file})`);
          assert.equal(ev.type, 'Warning');
          assert.ok(ev.message.includes(f.error), `${f.file}: ${ev.message}`);
        }
      });
      const log = await readFile(agentLogPath(name), 'utf8');
      for (const f of BAD) {
        const line = log.split('\n').find((l) => l.includes(`api: ${f.object}:`));
        assert.ok(line, `no log line for ${f.object} (${f.file})`);
        assert.match(line, /ERROR/);
        assert.ok(line.includes('KPR_ERR_INVALID_OBJECT'), line);
      }
      await servedBy(svc('svc-0').clusterIP, svc('svc-0').backends);
      await servedBy(GAP_VIP, ['backend-1']);
    });

    test('the agent never crashed, and down stops the API server', async () => {
      assert.ok(await isAlive(agentPid), 'the agent is still running');
      assert.equal((await readState(name)).agentPid, agentPid, 'never restarted');
      const log = await readFile(agentLogPath(name), 'utf8');
      assert.doesNotMatch(log, /uncaught|unhandled|FATAL/i);
      const apiPid = (await readState(name)).apiServerPid;
      assert.ok(apiPid !== undefined && (await isAlive(apiPid)));
      await labDown(name);
      await eventually(
        'API server gone',
        async () => assert.equal(await isAlive(apiPid), false),
        5000,
      );
      assert.equal(await isAlive(agentPid), false);
      await assert.rejects(readFile(`${labDir(name)}/state.json`), /ENOENT/);
    });
  });
}

const only = process.env.KPR_DATAPLANES?.split(',');
for (const dp of DATAPLANE_NAMES) if (!only || only.includes(dp)) kubernetesLabSuite(dp);
