/**
 * @module cli/service
 * `kpr service list`: the live frontends and backends, read back from the kernel (pinned maps,
 * iptables-save or nft), never from an agent's memory.
 */
import type { Command } from 'commander';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createDataplane, parseDataplaneName } from '../dataplanes/index.ts';
import type { LiveFrontend } from '../dataplanes/types.ts';
import { readState } from '../lab/state.ts';
import { labObjectNames } from '../lab/topology.ts';
import { netnsPath } from '../lab/netns.ts';
import { dataplaneOptions, type StateLocationFlags } from './options.ts';

interface ListFlags extends StateLocationFlags {
  dataplane?: string;
  json?: boolean;
  lab?: string;
}

const KPR_BIN = fileURLToPath(new URL('../../bin/kpr.js', import.meta.url));

export function registerServiceCommands(program: Command): void {
  const svc = program.command('service').description('inspect programmed Services');
  svc
    .command('list')
    .description('list frontends and their backends as programmed in the kernel')
    .option('--dataplane <name>', 'ebpf, iptables or nftables (default: ebpf, or the lab’s)')
    .option('--bpf-pin-dir <dir>', "the agent's bpffs pin directory")
    .option('--nft-table <name>', "nftables: kpr's table name")
    .option('--iptables-backend <nft|legacy>', 'iptables backend to read')
    .option('--lab <name>', "read a lab's node (its dataplane, pins, table and network namespace)")
    .option('--json', 'print JSON')
    .action(async (f: ListFlags) => {
      if (f.lab !== undefined) return listLab(f.lab, f.json ?? false);
      const dp = await createDataplane(
        parseDataplaneName(f.dataplane ?? 'ebpf'),
        dataplaneOptions(f),
      );
      const live = await dp.list();
      await dp.close();
      process.stdout.write(f.json ? JSON.stringify(live, null, 2) + '\n' : formatTable(live));
    });
}

/**
 * A lab's iptables and nftables state lives in its node's network namespace, so the listing runs
 * there (nsenter only switches the network namespace; bpffs and cgroups stay visible).
 */
function listLab(lab: string, json: boolean): Promise<void> {
  return readState(lab).then((state) => {
    const names = labObjectNames(lab);
    const args = [
      KPR_BIN,
      'service',
      'list',
      '--dataplane',
      state.dataplane,
      '--bpf-pin-dir',
      names.pinDir,
      '--nft-table',
      names.nftTable,
    ];
    if (json) args.push('--json');
    const res = spawnSync(
      'nsenter',
      [`--net=${netnsPath(names.nodeNetns)}`, '--', process.execPath, ...args],
      { stdio: 'inherit' },
    );
    if (res.status !== 0) process.exitCode = res.status ?? 1;
  });
}

export function formatTable(live: readonly LiveFrontend[]): string {
  // Numeric order of address, then port, then protocol: 198.18.16.2 before 198.18.16.10.
  const ipKey = (ip: string) => ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);
  const rows = [...live].sort(
    (a, b) => ipKey(a.ip) - ipKey(b.ip) || a.port - b.port || a.protocol.localeCompare(b.protocol),
  );
  const lines = [
    'KIND         FRONTEND                 PROTO  SERVICE                         BACKENDS',
  ];
  for (const fe of rows) {
    const backends = fe.backends.length
      ? fe.backends.map((b) => `${b.ip}:${b.port}`).join(', ')
      : '(none: rejected)';
    lines.push(
      `${fe.kind.padEnd(12)} ${`${fe.ip}:${fe.port}`.padEnd(24)} ${fe.protocol.padEnd(6)} ${(fe.service ?? '-').padEnd(31)} ${backends}`,
    );
  }
  return lines.join('\n') + '\n';
}
