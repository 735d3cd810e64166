/**
 * @module lab/status
 * `kpr lab status`: the lab as a cluster operator would describe it (node, pods, services and
 * their backends), computed from state.json and the layout, so it stays fast at 100000 services.
 */
import { serviceEndpoints } from './manifests.ts';
import { isAlive } from './processes.ts';
import { LAB_API_PORT } from './apiserver.ts';
import { kubeconfigPath, layoutOptions, manifestsDir, readState, sourceOf } from './state.ts';
import type { LabState } from './state.ts';
import { buildLayout, serviceAt } from './topology.ts';
import type { PodRole } from './topology.ts';
import type { DataplaneName } from '../dataplanes/types.ts';
import type { Protocol } from '../model/types.ts';

export interface LabStatus {
  readonly dataplane: DataplaneName;
  readonly nodes: { readonly name: string; readonly netns: string; readonly ip: string }[];
  readonly services: {
    readonly namespace: string;
    readonly name: string;
    readonly clusterIP: string;
    readonly port: number;
    readonly targetPort: number;
    readonly protocol: Protocol;
    readonly backends: string[];
  }[];
  readonly pods: {
    readonly name: string;
    readonly ip: string;
    readonly netns: string;
    readonly role: PodRole;
  }[];
}

export function statusOf(state: LabState): LabStatus {
  const layout = buildLayout(layoutOptions(state));
  const services: LabStatus['services'] = new Array(layout.services);
  for (let i = 0; i < layout.services; i++) {
    const s = serviceAt(layout, i);
    services[i] = {
      namespace: s.namespace,
      name: s.name,
      clusterIP: s.clusterIP,
      port: s.port,
      targetPort: s.targetPort,
      protocol: s.protocol,
      backends: serviceEndpoints(layout, s, state.endpointOverrides).map((e) => e.pod.name),
    };
  }
  return {
    dataplane: layout.dataplane,
    nodes: [{ name: layout.nodeName, netns: layout.nodeNetns, ip: layout.nodeIP }],
    services,
    pods: layout.pods.map((p) => ({ name: p.name, ip: p.ip, netns: p.netns, role: p.role })),
  };
}

export async function labStatus(name: string): Promise<LabStatus> {
  return statusOf(await readState(name));
}

/** A few lines for humans: what runs, where, and how to reach it. */
export async function labSummary(name: string): Promise<string> {
  const state = await readState(name);
  const layout = buildLayout(layoutOptions(state));
  const agent =
    state.agentPid === undefined
      ? 'not started'
      : (await isAlive(state.agentPid))
        ? `running (pid ${state.agentPid})`
        : `NOT RUNNING (pid ${state.agentPid} exited)`;
  const backends = layout.pods.length - 1;
  const lines = [
    `lab ${layout.name}: dataplane ${layout.dataplane}, created ${state.createdAt}`,
    `  agent:    ${agent}`,
    sourceOf(state) === 'kubernetes'
      ? `  source:   API server 127.0.0.1:${LAB_API_PORT} in the node netns${state.apiServerPid !== undefined ? ` (pid ${state.apiServerPid}${(await isAlive(state.apiServerPid)) ? '' : ', NOT RUNNING'})` : ''}, kubeconfig ${kubeconfigPath(name)}`
      : `  source:   manifests in ${manifestsDir(name)}`,
    `  node:     ${layout.nodeName} ${layout.nodeIP} (netns ${layout.nodeNetns})`,
    `  pods:     client ${layout.pods[0]!.ip}, ${backends} backends ${layout.pods[1]?.ip ?? ''}${backends > 1 ? ` .. ${layout.pods[backends]!.ip}` : ''}`,
    `  services: ${layout.services} (${layout.services - layout.udpServices} TCP :80->8080, ${layout.udpServices} UDP :53->5353), ${layout.endpoints} endpoints each` +
      (Object.keys(state.endpointOverrides).length
        ? `, ${Object.keys(state.endpointOverrides).length} overridden`
        : ''),
  ];
  const shown = Math.min(layout.services, 5);
  for (let i = 0; i < shown; i++) {
    const s = serviceAt(layout, i);
    const eps = serviceEndpoints(layout, s, state.endpointOverrides).map((e) => e.pod.name);
    lines.push(
      `    ${s.namespace}/${s.name} ${s.clusterIP}:${s.port}/${s.protocol} -> ${eps.join(', ') || '(no endpoints)'}`,
    );
  }
  if (layout.services > shown)
    lines.push(`    ... (${layout.services - shown} more; --json lists all)`);
  lines.push(
    `  try:      kpr lab exec --name ${layout.name} client -- curl -s http://${layout.services ? serviceAt(layout, 0).clusterIP : layout.pods[1]?.ip + ':8080'}/`,
  );
  return lines.join('\n');
}
