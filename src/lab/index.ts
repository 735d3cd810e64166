/**
 * @module lab
 * The lab's programmatic API, for tests and benchmarks: bring a lab up and down, inspect it, run
 * commands and probes in its pods, change a service's endpoints, and drive the lab's API server
 * (labs brought up with `source: 'kubernetes'`).
 */
export { labDown, labRestartAgent, labSetEndpoints, labUp } from './lab.ts';
export { logTail, waitForTraffic } from './ready.ts';
export { LAB_API_PORT, labApiServer } from './apiserver.ts';
export type { LabApiInfo, LabApiRequest, LabApiServer } from './apiserver.ts';
export { labNodeObject, labServiceObject, labSliceName, labSliceObject } from './kube-objects.ts';
export type { LabApiObject, LabApiResource } from './kube-objects.ts';
export type { LabPhase, LabProgress, LabUpOptions } from './lab.ts';
export { labExec, labProbe } from './exec.ts';
export type { LabExecOptions, LabExecResult, ProbeResult, ProbeTarget } from './exec.ts';
export { labStatus, labSummary, statusOf } from './status.ts';
export type { LabStatus } from './status.ts';
export {
  agentLogPath,
  apiServerLogPath,
  kubeconfigPath,
  LAB_SOURCES,
  labDir,
  listLabNames,
  listLabNetnsNames,
  manifestsDir,
  readState,
} from './state.ts';
export type { LabEndpointSpec, LabSource, LabState } from './state.ts';
export { PODSERVER_PATH } from './processes.ts';
export { buildLayout, LAB_CIDR, MAX_SERVICES, serviceAt } from './topology.ts';
export type { LabLayout, LabOptions, LabPod, LabService } from './topology.ts';
