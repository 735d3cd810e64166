/**
 * @module cli/main
 * The `kpr` command: argument parsing and dispatch only. Every failure ends in one line on stderr
 * that says what went wrong and what to do, and a non-zero exit.
 */
import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { registerAgentCommand } from './agent.ts';
import { registerServiceCommands } from './service.ts';
import { registerCleanupCommand } from './cleanup.ts';
import { registerLabCommands } from './lab.ts';
import { registerBenchCommand } from './bench.ts';
import { errorMessage } from '../util/errors.ts';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

// `kpr service list | head` closes the pipe early: that is the reader's choice, not an error.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

const program = new Command('kpr')
  .description(
    'kube-proxy replacement: eBPF, iptables and nftables dataplanes, and a network-namespace lab',
  )
  .version(pkg.version);
registerAgentCommand(program);
registerServiceCommands(program);
registerCleanupCommand(program);
registerLabCommands(program);
registerBenchCommand(program);

try {
  await program.parseAsync(process.argv);
} catch (e) {
  process.stderr.write(`kpr: ${errorMessage(e)}\n`);
  process.exit(1);
}
