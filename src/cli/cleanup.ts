/**
 * @module cli/cleanup
 * `kpr cleanup`: removes all kpr state from this node (every dataplane's kernel objects).
 */
import type { Command } from 'commander';
import { cleanupOthers } from '../dataplanes/index.ts';
import { dataplaneOptions, type StateLocationFlags } from './options.ts';
import { KprError } from '../util/errors.ts';

export function registerCleanupCommand(program: Command): void {
  program
    .command('cleanup')
    .description(
      'remove every eBPF pin, nftables table and iptables chain kpr created on this node',
    )
    .option('--bpf-pin-dir <dir>', "the agent's bpffs pin directory")
    .option('--nft-table <name>', "nftables: kpr's table name")
    .option('--iptables-backend <nft|legacy>', 'iptables backend to clean')
    .action(async (f: StateLocationFlags) => {
      const failures = await cleanupOthers(undefined, dataplaneOptions(f));
      if (failures.length)
        throw new KprError('KPR_ERR_CLEANUP', `cleanup incomplete: ${failures.join('; ')}`);
    });
}
