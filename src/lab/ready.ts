/**
 * @module lab/ready
 * Deciding that a lab works: traffic from the client pod through ClusterIPs, with the agent's log
 * tail in the error when it does not, since that is where the reason almost always is.
 */
import { readFile } from 'node:fs/promises';
import { KprError } from '../util/errors.ts';
import { labProbe } from './exec.ts';
import { isAlive } from './processes.ts';
import { agentLogPath } from './state.ts';
import type { LabState } from './state.ts';
import { serviceAt } from './topology.ts';
import type { LabLayout } from './topology.ts';
import type { LabProgress } from './lab.ts';

/** Polls the first and last TCP ClusterIPs from the client pod until both answer. */
export async function waitForTraffic(
  layout: LabLayout,
  state: LabState,
  timeoutMs: number,
  progress: (p: LabProgress) => void,
): Promise<void> {
  const tcp = layout.services - layout.udpServices;
  if (tcp === 0 || layout.endpoints === 0) return; // nothing that could answer
  const targets = [...new Set([0, tcp - 1])].map((i) => serviceAt(layout, i));
  const deadline = Date.now() + timeoutMs;
  let done = 0;
  let lastError = '';
  progress({
    phase: 'traffic',
    message: `waiting for ${targets[0]!.clusterIP}:${targets[0]!.port}`,
    done,
    total: targets.length,
  });
  for (const svc of targets) {
    for (;;) {
      const res = await labProbe(
        state,
        { ip: svc.clusterIP, port: svc.port, protocol: svc.protocol },
        { timeoutMs: 1000 },
      );
      if (res.ok) break;
      lastError = res.error ?? '';
      const agentDied = state.agentPid !== undefined && !(await isAlive(state.agentPid));
      if (agentDied || Date.now() > deadline) {
        const why = agentDied
          ? `the agent (pid ${state.agentPid}) exited`
          : `no answer from ${svc.clusterIP}:${svc.port} within ${timeoutMs} ms`;
        throw new KprError(
          'KPR_ERR_LAB_NOT_READY',
          `lab ${layout.name}: ${why} (last probe: ${lastError}).\nLast lines of ${agentLogPath(layout.name)}:\n${await logTail(agentLogPath(layout.name), 30)}`,
        );
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    progress({
      phase: 'traffic',
      message: `${svc.name} ${svc.clusterIP}:${svc.port} answers`,
      done: ++done,
      total: targets.length,
    });
  }
}

export async function logTail(path: string, lines: number): Promise<string> {
  const text = await readFile(path, 'utf8').catch(() => '(no log)');
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}
