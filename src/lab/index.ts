/**
 * @module lab
 * The lab's programmatic API, for tests and benchmarks: bring a lab up and down, inspect it, run
 * commands and probes in its pods, and change a service's endpoints.
 */
export { labDown, labRestartAgent, labSetEndpoints, labUp } from './lab.ts';
export { logTail, waitForTraffic } from './ready.ts';
export type { LabPhase, LabProgress, LabUpOptions } from './lab.ts';
export { labExec, labProbe } from './exec.ts';
export type { LabExecOptions, LabExecResult, ProbeResult, ProbeTarget } from './exec.ts';
export { labStatus, labSummary, statusOf } from './status.ts';
export type { LabStatus } from './status.ts';
export {
  agentLogPath,
  labDir,
  listLabNames,
  listLabNetnsNames,
  manifestsDir,
  readState,
} from './state.ts';
export type { LabEndpointSpec, LabState } from './state.ts';
export { PODSERVER_PATH } from './processes.ts';
export { buildLayout, LAB_CIDR, MAX_SERVICES, serviceAt } from './topology.ts';
export type { LabLayout, LabOptions, LabPod, LabService } from './topology.ts';
