/**
 * @module cli/lab
 * `kpr lab up|status|exec|down`: a one-machine, Kubernetes-like cluster made of network
 * namespaces, to try, test and benchmark kpr. The work happens in src/lab; this file only parses
 * arguments and renders progress and results.
 */
import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import { DATAPLANE_NAMES } from '../dataplanes/types.ts';
import type { DataplaneName } from '../dataplanes/types.ts';
import { KprError } from '../util/errors.ts';
import { labExec } from '../lab/exec.ts';
import { labDown, labUp } from '../lab/lab.ts';
import type { LabProgress } from '../lab/lab.ts';
import { LAB_SOURCES, listLabNames, listLabNetnsNames } from '../lab/state.ts';
import type { LabSource } from '../lab/state.ts';
import { labStatus, labSummary } from '../lab/status.ts';

const DEFAULT_LAB = 'lab';

function integer(what: string): (v: string) => number {
  return (v) => {
    if (!/^\d+$/.test(v))
      throw new KprError('KPR_ERR_CONFIG', `${what} must be a non-negative integer, not "${v}"`);
    return Number(v);
  };
}

function dataplane(v: string): DataplaneName {
  if (!DATAPLANE_NAMES.includes(v as DataplaneName)) {
    throw new KprError(
      'KPR_ERR_CONFIG',
      `--dataplane must be one of ${DATAPLANE_NAMES.join(', ')}, not "${v}"`,
    );
  }
  return v as DataplaneName;
}

function labSource(v: string): LabSource {
  if (!LAB_SOURCES.includes(v as LabSource)) {
    throw new KprError(
      'KPR_ERR_CONFIG',
      `--source must be one of ${LAB_SOURCES.join(', ')}, not "${v}"`,
    );
  }
  return v as LabSource;
}

/** A progress bar on a terminal; one plain line per step otherwise (logs, CI). */
function progressReporter(): { report: (p: LabProgress) => void; stop: () => void } {
  if (!process.stderr.isTTY) {
    let last = '';
    return {
      report: (p) => {
        const line = `${p.phase}: ${p.message}`;
        // Only phase/message changes and the end of each step: 4000 pods must not print 4000 lines.
        if (line !== last || p.done === p.total)
          process.stderr.write(`${line} (${p.done}/${p.total})\n`);
        last = line;
      },
      stop: () => undefined,
    };
  }
  const bar = new cliProgress.SingleBar(
    {
      format: '{phase} [{bar}] {value}/{total} {message}',
      hideCursor: true,
      clearOnComplete: false,
      stream: process.stderr,
    },
    cliProgress.Presets.shades_classic,
  );
  let phase = '';
  return {
    report: (p) => {
      if (p.phase !== phase) {
        if (phase) bar.stop();
        phase = p.phase;
        bar.start(Math.max(p.total, 1), p.done, { phase: p.phase.padEnd(9), message: p.message });
      } else {
        bar.setTotal(Math.max(p.total, 1));
        bar.update(p.done, { message: p.message });
      }
    },
    stop: () => {
      if (phase) bar.stop();
    },
  };
}

interface UpFlags {
  name: string;
  dataplane: DataplaneName;
  source: LabSource;
  services: number;
  endpoints: number;
  pods?: number;
  agent: boolean;
  timeout?: number;
  keepOnFailure?: boolean;
  agentArg: string[];
}

export function registerLabCommands(program: Command): void {
  const lab = program
    .command('lab')
    .description(
      'a Kubernetes-like cluster of network namespaces on this machine, to try, test and benchmark kpr',
    );

  lab
    .command('up')
    .description(
      'create a lab: a node, backend pods, a client pod, N Services, and the agent; returns once a ClusterIP answers',
    )
    .option('--name <name>', 'lab name (several labs can run side by side)', DEFAULT_LAB)
    .option('--dataplane <name>', DATAPLANE_NAMES.join(', '), dataplane, 'ebpf' as DataplaneName)
    .option(
      '--source <source>',
      'where the agent learns Services: manifests (files) or kubernetes (a test API server in the node netns)',
      labSource,
      'manifests' as LabSource,
    )
    .option(
      '--services <n>',
      'number of Services (TCP 80->8080, about 1% UDP 53->5353)',
      integer('--services'),
      10,
    )
    .option('--endpoints <m>', 'backend pods per Service', integer('--endpoints'), 3)
    .option('--pods <p>', 'backend pods (default: max(endpoints, 3))', integer('--pods'))
    .option('--no-agent', 'do not start the agent (network and pods only)')
    .option(
      '--timeout <seconds>',
      'how long to wait for traffic through a ClusterIP',
      integer('--timeout'),
    )
    .option('--keep-on-failure', 'leave a lab that failed to come up in place, for debugging')
    .option(
      '--agent-arg <arg>',
      'extra agent argument (repeatable)',
      (v: string, acc: string[]) => [...acc, v],
      [] as string[],
    )
    .action(async (f: UpFlags) => {
      const progress = progressReporter();
      const started = Date.now();
      try {
        await labUp({
          name: f.name,
          dataplane: f.dataplane,
          source: f.source,
          services: f.services,
          endpoints: f.endpoints,
          pods: f.pods,
          startAgent: f.agent,
          agentArgs: f.agentArg,
          keepOnFailure: f.keepOnFailure ?? false,
          onProgress: progress.report,
          ...(f.timeout !== undefined && { readyTimeoutMs: f.timeout * 1000 }),
        });
      } finally {
        progress.stop();
      }
      process.stderr.write(
        `lab ${f.name} is up (${((Date.now() - started) / 1000).toFixed(1)} s)\n`,
      );
      process.stdout.write((await labSummary(f.name)) + '\n');
    });

  lab
    .command('status')
    .description('show a lab: node, pods, services and their backends')
    .option('--name <name>', 'lab name', DEFAULT_LAB)
    .option('--json', 'machine-readable output')
    .action(async (f: { name: string; json?: boolean }) => {
      if (f.json) process.stdout.write(JSON.stringify(await labStatus(f.name)) + '\n');
      else process.stdout.write((await labSummary(f.name)) + '\n');
    });

  lab
    .command('exec')
    .description(
      'run a command in a pod, inside its network namespace and cgroup: kpr lab exec client -- curl -s http://198.18.16.1/',
    )
    .option('--name <name>', 'lab name', DEFAULT_LAB)
    .argument('<pod>', 'pod name (client, backend-0, ...)')
    .argument('<command...>', 'the command and its arguments, after --')
    .action(async (pod: string, command: string[], f: { name: string }) => {
      const res = await labExec(f.name, pod, command, { stdio: 'inherit' });
      process.exitCode = res.code;
    });

  lab
    .command('down')
    .description('remove a lab and everything it created (idempotent; works after a crash)')
    .option('--name <name>', 'lab name', DEFAULT_LAB)
    .option('--all', 'remove every lab on this machine')
    .action(async (f: { name: string; all?: boolean }) => {
      const names = f.all
        ? [...new Set([...(await listLabNames()), ...(await listLabNetnsNames())])]
        : [f.name];
      for (const name of names) {
        await labDown(name);
        process.stderr.write(`lab ${name} removed\n`);
      }
    });
}
