/**
 * @module dataplanes/iptables
 * The iptables dataplane: kube-proxy's iptables layout (see README.md), applied with one
 * `iptables-restore --noflush` transaction per sync and partial syncs in the manner of KEP-3453.
 * The agent already runs in the right network namespace, so every command runs as is.
 */
import type {
  Dataplane,
  DataplaneOptions,
  LiveFrontend,
  SyncRequest,
  SyncResult,
} from '../types.ts';
import type { CommandRunner } from '../../util/exec.ts';
import { run as defaultRun } from '../../util/exec.ts';
import type { Logger } from '../../util/log.ts';
import { createLogger } from '../../util/log.ts';
import { DataplaneError, KprError, errorMessage } from '../../util/errors.ts';
import {
  backendOf,
  chunkedRestoreInputs,
  cleanupInputs,
  ensureJumps,
  ensureTopLevelChains,
  restore,
  save,
  saveText,
  toolsFor,
} from './apply.ts';
import { NAT_CHAINS, SERVICE_CHAIN_RE } from './names.ts';
import { chainNamesIn, liveFrontends } from './parse.ts';
import { createRenderCache, renderRuleset } from './render.ts';
import type { Ruleset } from './render.ts';
import { parseCIDR4 } from './syntax.ts';
import type { CIDR4 } from './syntax.ts';

export interface IptablesDeps {
  readonly run?: CommandRunner;
  readonly log?: Logger;
  /** Per-service chains per transaction of a full sync with the nft backend (default 500). */
  readonly nftChunkChains?: number;
}

/** The IPv4 member of clusterCIDR (which may be a dual-stack `v4,v6` pair); undefined if none. */
export function localTrafficCIDR(clusterCIDR: string | undefined): CIDR4 | undefined {
  if (clusterCIDR === undefined || clusterCIDR.trim() === '') return undefined;
  const parts = clusterCIDR.split(',').map((s) => s.trim());
  for (const p of parts) {
    if (p.includes(':')) continue;
    const c = parseCIDR4(p);
    if (c) return c;
    throw new KprError(
      'KPR_ERR_CONFIG',
      `clusterCIDR ${JSON.stringify(p)} is not an IPv4 CIDR such as 198.18.128.0/17; fix the agent configuration`,
    );
  }
  return undefined;
}

/** This node's IPv4 addresses other than loopback, from `ip -j addr`. */
async function nodeIPv4s(run: CommandRunner): Promise<string[]> {
  const res = await run('ip', ['-4', '-j', 'addr', 'show'], { allowFailure: true });
  if (res.code !== 0) return [];
  const links = JSON.parse(res.stdout || '[]') as {
    addr_info?: { family?: string; local?: string }[];
  }[];
  return links
    .flatMap((l) => l.addr_info ?? [])
    .filter((a) => a.family === 'inet' && a.local && !a.local.startsWith('127.'))
    .map((a) => a.local!);
}

/** nf_conntrack_tcp_be_liberal set: kube-proxy then skips the ctstate INVALID drop. */
async function tcpBeLiberal(run: CommandRunner): Promise<boolean> {
  const res = await run('cat', ['/proc/sys/net/netfilter/nf_conntrack_tcp_be_liberal'], {
    allowFailure: true,
  });
  return res.code === 0 && res.stdout.trim() !== '0';
}

export function createIptablesDataplane(
  opts: DataplaneOptions,
  deps: IptablesDeps = {},
): Dataplane {
  const run = deps.run ?? defaultRun;
  const log = (deps.log ?? createLogger()).child({ dataplane: 'iptables' });
  const tools = toolsFor(opts.iptablesBackend);
  const localCIDR = localTrafficCIDR(opts.clusterCIDR);
  let needFull = true;
  let lastLargeClusterMode: boolean | undefined;
  let nodeIPs: string[] = [];
  let dropInvalid = true;
  let lastWarnings = new Set<string>();
  // The per-service chains that the last successful sync left in the kernel. Partial syncs find
  // stale chains against it instead of listing the nat table, which at scale costs as much as the
  // restore itself (kube-proxy keeps the same record). Undefined = unknown: list on the next sync.
  let known: ReadonlySet<string> | undefined;
  let backend: 'nft' | 'legacy' | undefined;
  const cache = createRenderCache();
  const chunkChains = deps.nftChunkChains ?? 500;

  const failure = (what: string, e: unknown) =>
    new DataplaneError(
      'KPR_ERR_IPTABLES',
      `${what}: ${errorMessage(e)}; check that ${tools.restore} works in this network namespace (kernel modules, backend); the next sync is a full one`,
      { cause: e },
    );

  const render = (req: SyncRequest, full: boolean, existing: ReadonlySet<string>): Ruleset =>
    renderRuleset(
      { state: req.state, changed: full ? undefined : req.changed, existingChains: existing },
      {
        masqueradeAll: opts.masqueradeAll,
        localCIDR,
        nodeIPs,
        dropInvalid,
        dispatchByTarget: backend === 'nft',
      },
      cache,
    );

  return {
    name: 'iptables',

    async start() {
      try {
        const created = await ensureTopLevelChains(run, tools);
        const jumps = await ensureJumps(run, tools);
        backend = await backendOf(run, tools, opts.iptablesBackend);
        log.info('iptables chains ready', {
          backend: tools.iptables,
          kernelInterface: backend,
          createdChains: created,
          addedJumps: jumps,
        });
      } catch (e) {
        throw failure('cannot create the top-level KUBE-* chains', e);
      }
      needFull = true;
      known = undefined;
    },

    async sync(req: SyncRequest): Promise<SyncResult> {
      let full = req.full || needFull || known === undefined;
      // Mark the sync full until it succeeds: any failure below makes the next one full too.
      needFull = true;
      let rs: Ruleset;
      let missingTop: string[] = [];
      try {
        backend ??= await backendOf(run, tools, opts.iptablesBackend);
        let existing = known;
        if (full || existing === undefined) {
          nodeIPs = await nodeIPv4s(run);
          dropInvalid = !(await tcpBeLiberal(run));
          // Only full syncs list the kernel: they also remove what a previous run left behind.
          const chains = chainNamesIn(await saveText(run, tools, 'nat'), 'nat');
          existing = new Set([...chains].filter((c) => SERVICE_CHAIN_RE.test(c)));
          missingTop = NAT_CHAINS.filter((c) => !chains.has(c));
        }
        rs = render(req, full, existing);
        // Entering or leaving large-cluster mode changes every per-endpoint rule.
        if (!full && rs.largeClusterMode !== lastLargeClusterMode) {
          full = true;
          rs = render(req, true, existing);
        }
      } catch (e) {
        throw failure('cannot read the current iptables rules', e);
      }
      known = undefined;
      const warnings = new Set(rs.warnings);
      for (const w of warnings)
        if (!lastWarnings.has(w)) log.warn('not programmed', { problem: w });
      lastWarnings = warnings;
      const inputs =
        backend === 'nft' && full && rs.writtenChains.length > chunkChains
          ? chunkedRestoreInputs(rs.blocks, rs.top, chunkChains, missingTop)
          : [rs.text];
      try {
        for (const input of inputs) await restore(run, tools, input);
      } catch (e) {
        log.warn('iptables-restore failed', { full, rules: rs.rules, error: e });
        throw failure(
          `${tools.restore} rejected the ${full ? 'full' : 'partial'} ruleset (${rs.rules} rules)`,
          e,
        );
      }
      if (full) {
        try {
          await ensureJumps(run, tools);
        } catch (e) {
          throw failure('cannot add the jump rules from the built-in chains', e);
        }
      }
      needFull = false;
      known = rs.activeChains;
      lastLargeClusterMode = rs.largeClusterMode;
      log.debug('iptables synced', {
        full,
        rules: rs.rules,
        transactions: inputs.length,
        chainsWritten: rs.writtenChains.length,
        chainsDeleted: rs.deletedChains.length,
      });
      return { written: rs.rules, deleted: rs.deletedChains.length };
    },

    async list(): Promise<LiveFrontend[]> {
      const saved = await save(run, tools);
      return liveFrontends(saved.get('nat'), saved.get('filter'));
    },

    async close() {
      // Nothing is held open: the rules stay in the kernel for the next run to adopt.
    },

    async cleanup() {
      try {
        backend ??= await backendOf(run, tools, opts.iptablesBackend);
        const saved = await save(run, tools);
        const limit = backend === 'nft' ? chunkChains : Infinity;
        for (const input of cleanupInputs(saved, limit)) await restore(run, tools, input);
      } catch (e) {
        throw failure('cannot remove the KUBE-* chains', e);
      }
      needFull = true;
      known = undefined;
    },
  };
}
