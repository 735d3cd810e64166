/**
 * @module lab/lab
 * The lab's lifecycle: `labUp` builds namespaces, pods, pod servers and manifests, starts the
 * agent in the node namespace and returns once a ClusterIP answers; `labDown` removes exactly
 * what a lab owns (found from state.json, or from its name after a crash); `labSetEndpoints`
 * changes one service's endpoints the way an EndpointSlice update would. With `source: 'kubernetes'`
 * the agent follows the lab's own API server (lab/apiserver.ts) instead of manifest files.
 */
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { cgroup2Root, ensureBpffs, removeCgroupTree } from '../util/cgroup.ts';
import { errorMessage, KprError } from '../util/errors.ts';
import { stopLabApiServer } from './apiserver.ts';
import { findPod } from './manifests.ts';
import { createNetwork, deleteNetns, listNetnsWithPrefix } from './netns.ts';
import {
  agentArgv,
  agentAvailable,
  buildPodserver,
  findAgentPids,
  isAlive,
  KPR_BIN,
  killCgroupTree,
  podArgv,
  podCgroupPath,
  podserverArgv,
  spawnDetached,
  stopProcess,
  waitPodservers,
} from './processes.ts';
import {
  agentLogPath,
  labDir,
  layoutOptions,
  podLogPath,
  readState,
  readStateIfAny,
  writeState,
} from './state.ts';
import type { LabEndpointSpec, LabSource, LabState } from './state.ts';
import { waitForTraffic } from './ready.ts';
import { agentSource, prepareSource, publishEndpoints } from './source.ts';
import { backendPods, buildLayout, labObjectNames, serviceIndex } from './topology.ts';
import type { LabLayout, LabOptions } from './topology.ts';

export type LabPhase = 'network' | 'pods' | 'manifests' | 'apiserver' | 'agent' | 'traffic';

export interface LabProgress {
  readonly phase: LabPhase;
  readonly message: string;
  readonly done: number;
  readonly total: number;
}

export interface LabUpOptions extends LabOptions {
  /**
   * Where the agent learns Services from: manifest files in the lab's folder (default), or a test
   * API server the lab runs in the node's netns, seeded with the same objects and driven through
   * labApiServer().
   */
  readonly source?: LabSource;
  /** Start the agent (default true; fails when bin/kpr.js is missing). */
  readonly startAgent?: boolean;
  /** Extra arguments appended to the agent's command line. */
  readonly agentArgs?: readonly string[];
  /** How long to wait for a ClusterIP to answer; default 60 s plus 1 ms per service. */
  readonly readyTimeoutMs?: number;
  /** Leave a failed lab in place for debugging instead of removing it. */
  readonly keepOnFailure?: boolean;
  readonly onProgress?: (p: LabProgress) => void;
}

export async function labUp(opts: LabUpOptions): Promise<LabState> {
  const layout = buildLayout(opts);
  const progress = opts.onProgress ?? (() => undefined);
  const startAgent = opts.startAgent ?? true;
  if (startAgent && !(await agentAvailable())) {
    throw new KprError(
      'KPR_ERR_LAB_NO_AGENT',
      `the kpr agent is missing (${KPR_BIN}); build or reinstall kpr, or bring the lab up without an agent`,
    );
  }
  if (
    (await readStateIfAny(layout.name)) ||
    (await listNetnsWithPrefix(labObjectNames(layout.name).netnsPrefix)).length
  ) {
    throw new KprError(
      'KPR_ERR_LAB_EXISTS',
      `lab ${layout.name} already exists; remove it with \`kpr lab down --name ${layout.name}\` or pick another --name`,
    );
  }
  const cgroupPath = join(await cgroup2Root(), layout.cgroupRel);
  if (layout.dataplane === 'ebpf') await ensureBpffs();
  await buildPodserver();

  // state.json goes first, so a crash anywhere below leaves enough for `down` to clean up.
  const state: LabState = {
    version: 1,
    name: layout.name,
    dataplane: layout.dataplane,
    services: layout.services,
    endpoints: layout.endpoints,
    pods: backendPods(layout).length,
    udpServices: layout.udpServices,
    createdAt: new Date().toISOString(),
    cgroupPath,
    agentPid: undefined,
    source: opts.source ?? 'manifests',
    agentArgs: [...(opts.agentArgs ?? [])],
    podserverPids: {},
    endpointOverrides: {},
  };
  await writeState(state);
  try {
    progress({
      phase: 'network',
      message: 'creating namespaces and veths',
      done: 0,
      total: layout.pods.length,
    });
    await createNetwork(layout, (done, total) =>
      progress({ phase: 'network', message: 'wiring pods', done, total }),
    );

    await startPodservers(layout, state, progress);

    await prepareSource(layout, state, progress);

    if (startAgent) {
      progress({
        phase: 'agent',
        message: `starting the ${layout.dataplane} agent`,
        done: 0,
        total: 1,
      });
      await startAgentProcess(layout, state);
      progress({ phase: 'agent', message: `agent pid ${state.agentPid}`, done: 1, total: 1 });
      await waitForTraffic(
        layout,
        state,
        opts.readyTimeoutMs ?? 60_000 + layout.services,
        progress,
      );
    }
    return state;
  } catch (e) {
    if (opts.keepOnFailure) throw e;
    try {
      await labDown(layout.name);
    } catch (downErr) {
      throw new KprError(
        'KPR_ERR_LAB_UP',
        `${errorMessage(e)}\n(removing the half-built lab failed too: ${errorMessage(downErr)})`,
        {
          cause: e,
        },
      );
    }
    throw e;
  }
}

async function startAgentProcess(layout: LabLayout, state: LabState): Promise<void> {
  const argv = agentArgv(layout, agentSource(state), state.cgroupPath, state.agentArgs ?? []);
  state.agentPid = await spawnDetached(argv, agentLogPath(layout.name));
  await writeState(state);
}

/**
 * Stops the lab's agent with `signal` (SIGKILL simulates a crash; SIGTERM is a clean stop, with
 * SIGKILL after 5 s), starts a new one with the same arguments, and returns once the first and
 * last TCP ClusterIPs answer. Kernel state left by the old agent is the new one's to adopt.
 */
export async function labRestartAgent(
  name: string,
  signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM',
  readyTimeoutMs = 60_000,
): Promise<LabState> {
  const state = await readState(name);
  const layout = buildLayout(layoutOptions(state));
  const old = new Set(await findAgentPids(layout));
  if (state.agentPid !== undefined) old.add(state.agentPid);
  for (const pid of old) await stopProcess(pid, layout.nftTable, signal);
  for (const pid of old) {
    const deadline = Date.now() + 5000;
    while (await isAlive(pid)) {
      if (Date.now() > deadline)
        throw new KprError(
          'KPR_ERR_LAB_AGENT',
          `the old agent (pid ${pid}) of lab ${name} does not exit`,
        );
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  await startAgentProcess(layout, state);
  await waitForTraffic(layout, state, readyTimeoutMs, () => undefined);
  return state;
}

async function startPodservers(
  layout: LabLayout,
  state: LabState,
  progress: (p: LabProgress) => void,
): Promise<void> {
  const backends = backendPods(layout);
  const pids = new Map<string, number>();
  for (const pod of layout.pods)
    await mkdir(podCgroupPath(state.cgroupPath, pod), { recursive: true });
  for (const pod of backends) {
    const pid = await spawnDetached(
      podArgv(pod, podCgroupPath(state.cgroupPath, pod), podserverArgv(pod)),
      podLogPath(layout.name),
    );
    pids.set(pod.name, pid);
    state.podserverPids[pod.name] = pid;
    progress({
      phase: 'pods',
      message: 'starting pod servers',
      done: pids.size,
      total: backends.length,
    });
  }
  await writeState(state);
  await waitPodservers(pids, podLogPath(layout.name));
}

/**
 * Removes everything the lab owns and nothing else: agent, pod processes, namespaces (which take
 * their veths, routes, iptables chains and nft table along), pins, cgroups and the state dir.
 * Idempotent, and works from the name alone when state.json is missing or damaged.
 */
export async function labDown(name: string): Promise<void> {
  const names = labObjectNames(name);
  const state = await readStateIfAny(name);
  const layout = buildLayout({ name, dataplane: 'ebpf', services: 0, endpoints: 0, pods: 1 });
  const agents = new Set(await findAgentPids(layout));
  if (state?.agentPid !== undefined) agents.add(state.agentPid);
  for (const pid of agents) await stopProcess(pid, names.nftTable);
  if (state?.apiServerPid !== undefined) await stopLabApiServer(name, state.apiServerPid);

  const cgroupPath = state?.cgroupPath ?? join(await cgroup2Root(), names.cgroupRel);
  await killCgroupTree(cgroupPath);
  await deleteNetns(await listNetnsWithPrefix(names.netnsPrefix));
  // Unlinking a bpffs pin drops the link or map it holds (when no process keeps it open).
  await rm(names.pinDir, { recursive: true, force: true });
  await removeCgroupTree(cgroupPath);
  await rm(labDir(name), { recursive: true, force: true });
}

/**
 * Sets the endpoints of one service (`undefined` restores the round-robin default) and rewrites
 * its manifest file, or updates its EndpointSlice in the lab's API server; the agent picks either
 * up as an EndpointSlice update. Returns the file's path, or the slice's API path.
 */
export async function labSetEndpoints(
  name: string,
  service: string,
  endpoints: readonly LabEndpointSpec[] | undefined,
): Promise<string> {
  const state = await readState(name);
  const layout = buildLayout(layoutOptions(state));
  const index = serviceIndex(layout, service);
  if (index === undefined) {
    throw new KprError(
      'KPR_ERR_LAB_NO_SERVICE',
      `lab ${name} has no service ${JSON.stringify(service)}; see \`kpr lab status --name ${name}\``,
    );
  }
  for (const e of endpoints ?? []) findPod(layout, e.pod);
  if (endpoints) state.endpointOverrides[service] = endpoints.map((e) => ({ ...e }));
  else delete state.endpointOverrides[service];
  await writeState(state);
  return publishEndpoints(layout, state, index);
}
