/**
 * @module cli/service
 * `kpr service list`: the live frontends and backends, read back from the kernel (pinned maps,
 * iptables-save or nft), never from an agent's memory.
 */
import type { Command } from 'commander';
import { createDataplane, parseDataplaneName } from '../dataplanes/index.ts';
import type { LiveFrontend } from '../dataplanes/types.ts';
import { dataplaneOptions, type StateLocationFlags } from './options.ts';

interface ListFlags extends StateLocationFlags {
  dataplane: string;
  json?: boolean;
}

export function registerServiceCommands(program: Command): void {
  const svc = program.command('service').description('inspect programmed Services');
  svc
    .command('list')
    .description('list frontends and their backends as programmed in the kernel')
    .option('--dataplane <name>', 'ebpf, iptables or nftables', 'ebpf')
    .option('--bpf-pin-dir <dir>', "the agent's bpffs pin directory")
    .option('--nft-table <name>', "nftables: kpr's table name")
    .option('--iptables-backend <nft|legacy>', 'iptables backend to read')
    .option('--json', 'print JSON')
    .action(async (f: ListFlags) => {
      const dp = await createDataplane(parseDataplaneName(f.dataplane), dataplaneOptions(f));
      const live = await dp.list();
      await dp.close();
      process.stdout.write(f.json ? JSON.stringify(live, null, 2) + '\n' : formatTable(live));
    });
}

export function formatTable(live: readonly LiveFrontend[]): string {
  const rows = [...live].sort((a, b) => (a.ip + a.port).localeCompare(b.ip + b.port));
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
