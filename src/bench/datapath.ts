/**
 * @module bench/datapath
 * The data-path half of `kpr bench`: one lab per (dataplane, Services) with a bounded setup time,
 * and one measurement round in it. A bench lab is a normal `kpr lab` (unique kpr-t- name, its own
 * namespaces, cgroups, pins and agent; always torn down) plus one extra Service, written before
 * the agent starts so that it is part of the first sync, whose targetPort is an iperf3 server in
 * backend-0. The measured Service is the last one (the far end of any rule list); the direct
 * baseline is its first backend pod, reached by IP from the same client pod in the same round.
 */
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DataplaneName } from '../dataplanes/types.ts';
import { labDown, labRestartAgent, labUp } from '../lab/lab.ts';
import { manifestsDir } from '../lab/state.ts';
import type { LabState } from '../lab/state.ts';
import { buildLayout, defaultBackends, serviceAt, TCP_TARGET_PORT } from '../lab/topology.ts';
import { KprError } from '../util/errors.ts';
import type { Collector } from './records.ts';
import { rssMiB, runCrr, runIperf, runWrk, startIperfServer } from './tools.ts';

/** The iperf3 Service: a ClusterIP above every lab Service address (lab ClusterIPs stop below). */
const IPERF_VIP = '198.19.255.201';
const IPERF_PORT = 5201;
const IPERF_POD = 'backend-0';

export interface BenchLab {
  readonly dataplane: DataplaneName;
  readonly services: number;
  readonly endpoints: number;
  readonly state: LabState;
  /** ClusterIP:port of the measured Service, and its first backend's podIP:targetPort. */
  readonly vip: string;
  readonly direct: string;
  readonly iperfVip: string;
  readonly iperfDirect: string;
}

export interface DataRoundOptions {
  readonly crrCount: number;
  readonly wrkSeconds: number;
  readonly cpsConnections: number;
  /** Run iperf3 in this round (it does not depend on the number of Services). */
  readonly throughput: boolean;
  readonly iperfSeconds: number;
  readonly iperfStreams: number;
}

function iperfManifest(podIP: string): string {
  return `apiVersion: v1
kind: Service
metadata: { name: kpr-bench-iperf, namespace: default }
spec:
  clusterIP: ${IPERF_VIP}
  ports: [{ name: iperf, port: ${IPERF_PORT}, targetPort: ${IPERF_PORT}, protocol: TCP }]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: kpr-bench-iperf-1
  namespace: default
  labels: { kubernetes.io/service-name: kpr-bench-iperf }
addressType: IPv4
ports: [{ name: iperf, port: ${IPERF_PORT}, protocol: TCP }]
endpoints:
  - addresses: [${podIP}]
    targetRef: { kind: Pod, name: ${IPERF_POD} }
`;
}

export class LabTimeoutError extends Error {}

/**
 * Brings up a bench lab; resolves once the first and last ClusterIPs answer. Throws
 * LabTimeoutError when the agent's first sync does not finish within `timeoutMs` (the lab is
 * then already removed), or another error when the lab cannot be built.
 */
export async function startBenchLab(
  dataplane: DataplaneName,
  services: number,
  endpoints: number,
  timeoutMs: number,
): Promise<BenchLab> {
  const name = `kpr-t-bench-${randomBytes(3).toString('hex')}`;
  const opts = {
    name,
    dataplane,
    services,
    endpoints,
    pods: Math.max(endpoints, 2),
    udpServices: 0,
  };
  const layout = buildLayout(opts);
  const svc = serviceAt(layout, services - 1);
  const first = defaultBackends(layout, services - 1)[0]!;
  const iperfPod = layout.pods.find((p) => p.name === IPERF_POD)!;
  try {
    // No agent yet: the extra Service must be in place for the agent's first (full) sync, since
    // a second sync of a large iptables ruleset would cost as much as the first.
    await labUp({ ...opts, startAgent: false, agentArgs: ['--full-sync-period', '0'] });
    await writeFile(
      join(manifestsDir(name), 'zz-kpr-bench-iperf.yaml'),
      iperfManifest(iperfPod.ip),
    );
    let state: LabState;
    try {
      state = await labRestartAgent(name, 'SIGTERM', timeoutMs);
    } catch (e) {
      if (e instanceof KprError && e.code === 'KPR_ERR_LAB_NOT_READY') {
        // Keep the agent's last log line: it says how far the first sync got, or why it failed.
        const lines = e.message.split('\n');
        const tail = lines.length > 2 ? ` (agent log: ${lines.at(-1)!.slice(0, 200)})` : '';
        if (/within \d+ ms/.test(lines[0]!))
          throw new LabTimeoutError(`not ready within ${Math.round(timeoutMs / 1000)} s${tail}`);
        throw new Error(`${lines[0]}${tail}`);
      }
      throw e;
    }
    await startIperfServer(state, IPERF_POD, IPERF_PORT);
    return {
      dataplane,
      services,
      endpoints,
      state,
      vip: `${svc.clusterIP}:${svc.port}`,
      direct: `${first.ip}:${TCP_TARGET_PORT}`,
      iperfVip: `${IPERF_VIP}:${IPERF_PORT}`,
      iperfDirect: `${iperfPod.ip}:${IPERF_PORT}`,
    };
  } catch (e) {
    await stopBenchLab(name);
    throw e;
  }
}

/** Removes a bench lab; never throws (a leftover is reported with the command that removes it). */
export async function stopBenchLab(name: string): Promise<string | undefined> {
  try {
    await labDown(name);
    return undefined;
  } catch (e) {
    return `removing lab ${name} failed; run \`kpr lab down --name ${name}\`: ${(e as Error).message}`;
  }
}

/** The agent's memory once synced (the real `kpr agent` process of the lab). */
export async function recordAgentMemory(lab: BenchLab, c: Collector): Promise<void> {
  const pid = lab.state.agentPid;
  const mib = pid === undefined ? undefined : await rssMiB(pid);
  if (mib !== undefined)
    c.add(lab.dataplane, lab.services, lab.endpoints, 'agent_rss_mib', null, 0, mib);
}

/**
 * One round in one lab: every data-path metric through the ClusterIP and to the pod directly.
 * A failing tool fails only its own metrics for this round.
 */
export async function measureRound(
  lab: BenchLab,
  r: number,
  o: DataRoundOptions,
  c: Collector,
): Promise<string[]> {
  const errors: string[] = [];
  const { dataplane: dp, services: n, endpoints: e } = lab;
  const step = async (
    metrics: Parameters<Collector['fail']>[3],
    fn: () => Promise<void>,
  ): Promise<void> => {
    try {
      await fn();
    } catch (err) {
      const msg = (err as Error).message.split('\n')[0]!;
      errors.push(msg);
      c.fail(dp, n, e, metrics, 'failed', msg);
    }
  };

  await step(['crr_p50_us', 'crr_p99_us', 'http_mean_us'], async () => {
    const [vip, direct] = await runCrr(lab.state, [lab.vip, lab.direct], o.crrCount);
    for (const [path, t] of [
      ['clusterip', vip],
      ['direct', direct],
    ] as const) {
      if (!t || t.p50_us === undefined || t.n === 0)
        throw new Error(
          `crr to ${t?.target ?? path}: no successful connection (${t?.last_error ?? 'no data'})`,
        );
      // A lost SYN in thousands (connect times out after 2 s) is noise of a loaded machine, not a
      // broken path; more than 1% is a failure.
      if (t.errors > t.n / 100)
        throw new Error(`crr to ${t.target}: ${t.errors} failed connections (${t.last_error})`);
      c.add(dp, n, e, 'crr_p50_us', path, r, t.p50_us);
      c.add(dp, n, e, 'crr_p99_us', path, r, t.p99_us!);
      c.add(dp, n, e, 'http_mean_us', path, r, t.mean_us!);
    }
  });

  await step(['crr_rate_cps'], async () => {
    for (const [path, target] of [
      ['clusterip', lab.vip],
      ['direct', lab.direct],
    ] as const) {
      const w = await runWrk(lab.state, target, {
        seconds: o.wrkSeconds,
        connections: o.cpsConnections,
        threads: 2,
        close: true,
      });
      if (w.errors > w.requests / 100)
        throw new Error(`wrk to ${target}: ${w.errors} errors in ${w.requests} requests`);
      c.add(dp, n, e, 'crr_rate_cps', path, r, w.requestsPerSec);
    }
  });

  await step(['http_keepalive_p50_us', 'http_keepalive_p99_us'], async () => {
    for (const [path, target] of [
      ['clusterip', lab.vip],
      ['direct', lab.direct],
    ] as const) {
      const w = await runWrk(lab.state, target, {
        seconds: o.wrkSeconds,
        connections: 1,
        threads: 1,
        close: false,
      });
      if (w.errors > 0 || w.p50Us === undefined || w.p99Us === undefined)
        throw new Error(`wrk keep-alive to ${target}: ${w.errors} errors`);
      c.add(dp, n, e, 'http_keepalive_p50_us', path, r, w.p50Us);
      c.add(dp, n, e, 'http_keepalive_p99_us', path, r, w.p99Us);
    }
  });

  if (o.throughput) {
    const runs = [
      [1, 'tput_1_gbps', 'cpu_1_s_per_gb'],
      [o.iperfStreams, 'tput_n_gbps', 'cpu_n_s_per_gb'],
    ] as const;
    for (const [streams, tput, cpu] of runs) {
      await step([tput, cpu], async () => {
        for (const [path, target] of [
          ['clusterip', lab.iperfVip],
          ['direct', lab.iperfDirect],
        ] as const) {
          const t = await runIperf(lab.state, target, streams, o.iperfSeconds);
          c.add(dp, n, e, tput, path, r, t.gbps);
          c.add(dp, n, e, cpu, path, r, t.cpuSecondsPerGB);
        }
      });
    }
  }
  return errors;
}
