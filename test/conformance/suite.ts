/**
 * @module test/conformance/suite
 * The one conformance suite every dataplane must pass, run in a real lab (namespaces, veths, the
 * agent in the node namespace, clients in the client pod's netns and cgroup). It is written once
 * and instantiated per dataplane by test/privileged/conformance.test.ts.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { DataplaneName } from '../../src/dataplanes/types.ts';
import { labDown, labRestartAgent, labSetEndpoints, labUp } from '../../src/lab/lab.ts';
import { labExec } from '../../src/lab/exec.ts';
import { labStatus, type LabStatus } from '../../src/lab/status.ts';
import { manifestsDir } from '../../src/lab/state.ts';

const CLIENT = fileURLToPath(new URL('../support/client.ts', import.meta.url));
/** The agent coalesces changes for up to minSyncPeriod (1 s for iptables/nftables, as kube-proxy). */
const MIN_SYNC_MS = 1000;

type Json = Record<string, unknown>;

export function conformanceSuite(dataplane: DataplaneName): void {
  describe(`conformance: ${dataplane}`, { concurrency: false }, () => {
    const name = `t${randomBytes(3).toString('hex')}`;
    let status: LabStatus;
    const tcp = () => status.services.filter((s) => s.protocol === 'TCP');

    async function client(...args: (string | number)[]): Promise<Json> {
      const res = await labExec(name, 'client', [process.execPath, CLIENT, ...args.map(String)], {
        timeoutMs: 120_000,
      });
      assert.equal(res.code, 0, `client ${args.join(' ')} failed: ${res.stderr}`);
      return JSON.parse(res.stdout) as Json;
    }

    before(async () => {
      await labUp({ name, dataplane, services: 12, endpoints: 3, pods: 4, udpServices: 2 });
      status = await labStatus(name);
    });
    after(async () => {
      await labDown(name);
    });

    test("a ClusterIP connection reaches one of the Service's ready backends", async () => {
      for (const svc of tcp().slice(0, 4)) {
        const r = (await client('http', svc.clusterIP, svc.port, 5)) as {
          counts: Record<string, number>;
          failures: number;
        };
        assert.equal(r.failures, 0);
        for (const pod of Object.keys(r.counts))
          assert.ok(svc.backends.includes(pod), `${pod} is not a backend of ${svc.name}`);
      }
    });

    test('3000 connections over 3 backends land within ±10% of uniform', async () => {
      const svc = tcp()[0]!;
      assert.equal(svc.backends.length, 3);
      const r = (await client('http', svc.clusterIP, svc.port, 3000)) as {
        counts: Record<string, number>;
        failures: number;
      };
      assert.equal(r.failures, 0);
      assert.deepEqual(Object.keys(r.counts).sort(), [...svc.backends].sort());
      for (const [pod, n] of Object.entries(r.counts))
        assert.ok(n >= 900 && n <= 1100, `${pod} got ${n} of 3000`);
    });

    test('getpeername returns the ClusterIP, not the backend', async () => {
      const svc = tcp()[1]!;
      const r = await client('peer', svc.clusterIP, svc.port);
      assert.equal(r.remoteAddress, svc.clusterIP);
      assert.equal(r.remotePort, svc.port);
      assert.ok(svc.backends.includes(String(r.body)));
    });

    test('a UDP Service answers, from the ClusterIP', async () => {
      const svc = status.services.find((s) => s.protocol === 'UDP')!;
      const r = await client('udp', svc.clusterIP, svc.port);
      assert.equal(r.from, `${svc.clusterIP}:${svc.port}`);
      assert.ok(svc.backends.includes(String(r.body)), `answer ${String(r.body)} is not a backend`);
    });

    test('a removed endpoint gets no new connections 200 ms after its file changes', async () => {
      const svc = tcp()[2]!;
      const [keep1, keep2, removed] = svc.backends as [string, string, string];
      await sleep(MIN_SYNC_MS);
      await labSetEndpoints(name, svc.name, [{ pod: keep1 }, { pod: keep2 }]);
      await sleep(200);
      const r = (await client('http', svc.clusterIP, svc.port, 300)) as {
        counts: Record<string, number>;
        failures: number;
      };
      assert.equal(r.failures, 0);
      assert.equal(
        r.counts[removed],
        undefined,
        `removed endpoint ${removed} still got ${r.counts[removed]} connections`,
      );
      assert.deepEqual(Object.keys(r.counts).sort(), [keep1, keep2].sort());
    });

    test('a Service with no endpoints refuses connections at once', async () => {
      const svc = tcp()[3]!;
      await sleep(MIN_SYNC_MS);
      await labSetEndpoints(name, svc.name, []);
      await sleep(300);
      const r = await client('refused', svc.clusterIP, svc.port);
      assert.equal(r.code, 'ECONNREFUSED');
      assert.ok(Number(r.ms) < 500, `took ${String(r.ms)} ms`);
    });

    test('a deleted Service refuses connections; a new one works', async () => {
      const file = join(manifestsDir(name), 'zz-conformance-extra.yaml');
      const backend = tcp()[0]!.backends[0]!;
      const backendIP = status.pods.find((p) => p.name === backend)!.ip;
      const vip = '198.19.255.200';
      await writeFile(file, extraService(vip, backend, backendIP));
      try {
        await sleep(MIN_SYNC_MS + 300);
        const ok = (await client('http', vip, 80, 3)) as {
          counts: Record<string, number>;
          failures: number;
        };
        assert.deepEqual(ok.counts, { [backend]: 3 });
        await sleep(MIN_SYNC_MS);
        await rm(file);
        await sleep(300);
        const r = await client('refused', vip, 80);
        assert.ok(
          ['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH'].includes(String(r.code)),
          `got ${String(r.code)}`,
        );
        assert.ok(Number(r.ms) < 1000, `took ${String(r.ms)} ms`);
      } finally {
        await rm(file, { force: true });
      }
    });

    test('the agent killed with SIGKILL and restarted: zero failed connections meanwhile', async () => {
      const svc = tcp()[4]!;
      const loop = client('loop', svc.clusterIP, svc.port, 6000);
      await sleep(1500);
      await labRestartAgent(name, 'SIGKILL');
      const r = (await loop) as { ok: number; failures: number; errors: string[] };
      assert.equal(r.failures, 0, `errors: ${r.errors.join(', ')}`);
      assert.ok(r.ok > 50, `only ${r.ok} connections in 6 s`);
      const after = (await client('http', svc.clusterIP, svc.port, 20)) as { failures: number };
      assert.equal(after.failures, 0);
    });
  });
}

function extraService(vip: string, pod: string, podIP: string): string {
  return `apiVersion: v1
kind: Service
metadata: { name: conformance-extra, namespace: default }
spec:
  clusterIP: ${vip}
  ports: [{ name: http, port: 80, targetPort: 8080, protocol: TCP }]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: conformance-extra-1
  namespace: default
  labels: { kubernetes.io/service-name: conformance-extra }
addressType: IPv4
ports: [{ name: http, port: 8080, protocol: TCP }]
endpoints:
  - addresses: [${podIP}]
    targetRef: { kind: Pod, name: ${pod} }
`;
}
