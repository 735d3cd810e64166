/**
 * @module cli/bench
 * `kpr bench [--quick] [--services LIST] [--dataplanes LIST] [--out DIR]`: the iptables-versus-
 * eBPF measurement on the user's own kernel, as charts. The work happens in src/bench; this file
 * parses arguments, shows progress and prints where the results went.
 */
import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import { resolve } from 'node:path';
import { DATAPLANE_NAMES } from '../dataplanes/types.ts';
import type { DataplaneName } from '../dataplanes/types.ts';
import { KprError } from '../util/errors.ts';
import { writeReport } from '../bench/report.ts';
import { defaultOptions, runBench, type BenchOptions, type BenchProgress } from '../bench/run.ts';

function list(flag: string, v: string): string[] {
  const xs = v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (xs.length === 0) throw new KprError('KPR_ERR_CONFIG', `${flag} wants a comma-separated list`);
  return xs;
}

function positive(flag: string, v: string): number {
  if (!/^[1-9]\d*$/.test(v))
    throw new KprError('KPR_ERR_CONFIG', `${flag} wants a positive integer, not "${v}"`);
  return Number(v);
}

/** A bar on a terminal; one line per step otherwise (CI logs). */
function progressDisplay(): BenchProgress {
  if (!process.stderr.isTTY) {
    let done = 0;
    let total = 0;
    return {
      start: (t) => (total = t),
      step: (m) => process.stderr.write(`[${++done}/${total}] ${m}\n`),
      log: (m) => process.stderr.write(`  ${m}\n`),
      stop: () => undefined,
    };
  }
  const bar = new cliProgress.SingleBar(
    {
      format: 'bench [{bar}] {value}/{total} {eta_formatted} {message}',
      hideCursor: true,
      stream: process.stderr,
      etaBuffer: 20,
    },
    cliProgress.Presets.shades_classic,
  );
  return {
    start: (t) => bar.start(t, 0, { message: 'starting' }),
    step: (m) => bar.increment(1, { message: m.slice(0, 70) }),
    log: (m) => {
      // Print above the bar: clear the line, write, and let the bar redraw.
      process.stderr.write(`\r\x1b[K${m}\n`);
      bar.render();
    },
    stop: () => bar.stop(),
  };
}

interface BenchFlags {
  quick?: boolean;
  services?: string;
  dataplanes?: string;
  out?: string;
  rounds?: string;
  labTimeout?: string;
  syncTimeout?: string;
  endpoints?: string;
  dataPath: boolean;
  controlPlane: boolean;
}

export function registerBenchCommand(program: Command): void {
  program
    .command('bench')
    .description(
      'measure every dataplane side by side on this kernel (latency, connection rate, throughput, ' +
        'sync time, memory versus the number of Services) and write JSON, SVG charts and a Markdown table',
    )
    .option('--quick', 'small smoke run (Services 1,100; 2 rounds): under 3 minutes on 2 cores')
    .option(
      '--services <list>',
      'numbers of Services (default 1,1000,5000,10000,25000,50000,100000)',
    )
    .option('--dataplanes <list>', `dataplanes to compare (default ${DATAPLANE_NAMES.join(',')})`)
    .option('--out <dir>', 'output directory (default ./kpr-bench-<date>)')
    .option('--rounds <n>', 'interleaved rounds per measurement (default 3, quick 2)')
    .option(
      '--lab-timeout <s>',
      'give up on a lab whose agent is not ready in this time (default 150)',
    )
    .option('--sync-timeout <s>', 'give up on a control-plane run after this time (default 150)')
    .option('--endpoints <n>', 'endpoints per Service in the data-path labs (default 2)')
    .option('--no-data-path', 'skip the data-path half (labs)')
    .option('--no-control-plane', 'skip the control-plane half (sync time, memory)')
    .action(async (f: BenchFlags) => {
      const base = defaultOptions(f.quick ?? false);
      const dataplanes = f.dataplanes
        ? list('--dataplanes', f.dataplanes).map((d) => {
            if (!DATAPLANE_NAMES.includes(d as DataplaneName))
              throw new KprError(
                'KPR_ERR_CONFIG',
                `--dataplanes: "${d}" is not one of ${DATAPLANE_NAMES.join(', ')}`,
              );
            return d as DataplaneName;
          })
        : base.dataplanes;
      const opts: BenchOptions = {
        ...base,
        dataplanes,
        ...(f.services && {
          services: [
            ...new Set(list('--services', f.services).map((s) => positive('--services', s))),
          ],
        }),
        ...(f.rounds && {
          rounds: positive('--rounds', f.rounds),
          syncRounds: positive('--rounds', f.rounds),
          throughputRounds: positive('--rounds', f.rounds),
        }),
        ...(f.labTimeout && { labTimeoutMs: positive('--lab-timeout', f.labTimeout) * 1000 }),
        ...(f.syncTimeout && { syncTimeoutMs: positive('--sync-timeout', f.syncTimeout) * 1000 }),
        ...(f.endpoints && { dataEndpoints: positive('--endpoints', f.endpoints) }),
        skipDataPath: !f.dataPath,
        skipControlPlane: !f.controlPlane,
      };
      const stamp = new Date().toISOString().slice(0, 19).replace(/[:T]/g, '-');
      const out = resolve(f.out ?? `kpr-bench-${stamp}`);
      let stop = false;
      const onSigint = (): void => {
        if (stop) return;
        stop = true;
        process.stderr.write(
          '\nkpr bench: interrupted; finishing the current step and cleaning up\n',
        );
      };
      process.on('SIGINT', onSigint);
      const command = ['kpr', ...process.argv.slice(2)]
        .map((a) => (/^[\w.,=/:-]+$/.test(a) ? a : `'${a}'`))
        .join(' ');
      try {
        const doc = await runBench(opts, progressDisplay(), command, () => stop);
        const files = await writeReport(out, doc);
        const bad = doc.records.filter((r) => r.status !== 'ok').length;
        process.stdout.write(
          `kpr bench: ${doc.records.length} records (${bad} not ok) in ${doc.durationS} s\n` +
            `${files.map((x) => `  ${out}/${x}`).join('\n')}\n`,
        );
      } finally {
        process.off('SIGINT', onSigint);
      }
    });
}
