/**
 * @module cli/cleanup
 * `kpr cleanup`: removes all kpr state from this node (every dataplane's kernel objects).
 * `kpr cleanup --kube-proxy`: removes what kube-proxy left on a node after its DaemonSet is gone:
 * its KUBE-* chains in nat, filter and mangle with the jump rules that lead to them (IPv4 and
 * IPv6, iptables-nft and iptables-legacy), and its `kube-proxy` nftables tables. Chains kube-proxy
 * shares with or leaves to kubelet (KUBE-FIREWALL, KUBE-KUBELET-CANARY, KUBE-MARK-DROP) and every
 * other table are left alone.
 */
import type { Command } from 'commander';
import { readdir, readFile } from 'node:fs/promises';
import { cleanupOthers } from '../dataplanes/index.ts';
import { parseSave, type SavedTable } from '../dataplanes/iptables/parse.ts';
import { removeChainsText, restore, type Tools } from '../dataplanes/iptables/apply.ts';
import { SERVICE_CHAIN_RE } from '../dataplanes/iptables/names.ts';
import { dataplaneOptions, type StateLocationFlags } from './options.ts';
import { KprError, errorMessage } from '../util/errors.ts';
import { run as defaultRun, type CommandRunner } from '../util/exec.ts';
import { createLogger, type Logger } from '../util/log.ts';

/** kube-proxy's top-level chains (iptables mode, current and older releases). */
const KUBE_PROXY_CHAINS = new Set([
  'KUBE-SERVICES',
  'KUBE-EXTERNAL-SERVICES',
  'KUBE-NODEPORTS',
  'KUBE-POSTROUTING',
  'KUBE-MARK-MASQ',
  'KUBE-FORWARD',
  'KUBE-PROXY-FIREWALL',
  'KUBE-PROXY-CANARY',
  'KUBE-LOAD-BALANCER',
]);
/** Per-service chains; KUBE-XLB-* is what releases before 1.24 used for eTP=Local. */
const OLD_SERVICE_CHAIN_RE = /^KUBE-XLB-[A-Z2-7]{16}$/;

export function isKubeProxyChain(chain: string): boolean {
  return (
    KUBE_PROXY_CHAINS.has(chain) || SERVICE_CHAIN_RE.test(chain) || OLD_SERVICE_CHAIN_RE.test(chain)
  );
}

/**
 * The restore input that removes kube-proxy's chains from the saved tables: each chain is
 * declared (which flushes it, dropping references between kube-proxy's own chains), every rule
 * elsewhere that jumps to one is deleted, then the chains are deleted. '' when there is nothing.
 */
export function kubeProxyCleanupText(saved: ReadonlyMap<string, SavedTable>): string {
  return removeChainsText(saved, ['mangle', 'filter', 'nat'], (_table, c) => isKubeProxyChain(c));
}

/** The iptables flavours kube-proxy may have used: both families, both backends. */
export function iptablesFlavours(): { label: string; tools: Tools }[] {
  const out: { label: string; tools: Tools }[] = [];
  for (const fam of ['iptables', 'ip6tables'])
    for (const backend of ['nft', 'legacy'])
      out.push({
        label: `${fam}-${backend}`,
        tools: {
          restore: `${fam}-${backend}-restore`,
          save: `${fam}-${backend}-save`,
          iptables: `${fam}-${backend}`,
        },
      });
  return out;
}

export interface KubeProxyCleanupResult {
  /** `iptables-nft: nat/KUBE-SERVICES`, `nft: ip kube-proxy`, … */
  readonly removed: string[];
  readonly failures: string[];
}

/** Removes kube-proxy's iptables chains and nftables tables through `run`. */
export async function cleanupKubeProxy(
  run: CommandRunner,
  log: Logger,
): Promise<KubeProxyCleanupResult> {
  const removed: string[] = [];
  const failures: string[] = [];
  for (const { label, tools } of iptablesFlavours()) {
    try {
      const saved = await run(tools.save, [], { allowFailure: true });
      if (saved.code !== 0) {
        log.debug('iptables flavour unavailable; skipped', {
          flavour: label,
          stderr: saved.stderr.trim(),
        });
        continue;
      }
      const tables = parseSave(saved.stdout);
      const text = kubeProxyCleanupText(tables);
      if (!text) continue;
      await restore(run, tools, text);
      for (const [table, t] of tables)
        for (const c of t.chains.filter(isKubeProxyChain)) removed.push(`${label}: ${table}/${c}`);
    } catch (e) {
      if (e instanceof KprError && /cannot run/.test(e.message)) continue; // binary not installed
      failures.push(`${label}: ${errorMessage(e)}`);
    }
  }
  try {
    const tables = await run('nft', ['list', 'tables']);
    for (const line of tables.stdout.split('\n')) {
      const m = /^table (ip|ip6|inet) kube-proxy$/.exec(line.trim());
      if (!m) continue;
      await run('nft', ['delete', 'table', m[1]!, 'kube-proxy']);
      removed.push(`nft: ${m[1]} kube-proxy`);
    }
  } catch (e) {
    failures.push(`nft: ${errorMessage(e)}`);
  }
  return { removed, failures };
}

/** Pids of running kube-proxy processes: cleaning up under a live kube-proxy is pointless. */
async function kubeProxyPids(): Promise<number[]> {
  const pids: number[] = [];
  for (const e of await readdir('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const comm = await readFile(`/proc/${e}/comm`, 'utf8').catch(() => '');
    if (comm.trim() === 'kube-proxy') pids.push(Number(e));
  }
  return pids;
}

export function registerCleanupCommand(program: Command): void {
  program
    .command('cleanup')
    .description(
      'remove every eBPF pin, nftables table and iptables chain kpr created on this node',
    )
    .option('--bpf-pin-dir <dir>', "the agent's bpffs pin directory")
    .option('--nft-table <name>', "nftables: kpr's table name")
    .option('--iptables-backend <nft|legacy>', 'iptables backend to clean')
    .option(
      '--kube-proxy',
      "remove kube-proxy's iptables chains and nftables tables instead of kpr's (after removing its DaemonSet)",
    )
    .option('--force', 'with --kube-proxy: clean up even though a kube-proxy process is running')
    .action(async (f: StateLocationFlags & { kubeProxy?: boolean; force?: boolean }) => {
      if (!f.kubeProxy) {
        const failures = await cleanupOthers(undefined, dataplaneOptions(f));
        if (failures.length)
          throw new KprError('KPR_ERR_CLEANUP', `cleanup incomplete: ${failures.join('; ')}`);
        return;
      }
      const log = createLogger();
      const pids = await kubeProxyPids();
      if (pids.length && !f.force)
        throw new KprError(
          'KPR_ERR_CLEANUP',
          `kube-proxy is still running on this node (pid ${pids.join(', ')}) and would recreate its rules; delete its DaemonSet first (see docs/migration.md) or pass --force`,
        );
      const { removed, failures } = await cleanupKubeProxy(defaultRun, log);
      for (const r of removed) process.stdout.write(`removed ${r}\n`);
      if (removed.length === 0)
        process.stdout.write('nothing of kube-proxy was left on this node\n');
      if (failures.length)
        throw new KprError(
          'KPR_ERR_CLEANUP',
          `kube-proxy cleanup incomplete: ${failures.join('; ')}`,
        );
    });
}
