/**
 * @module dataplanes/nftables
 * The nftables dataplane: kube-proxy's nftables-mode layout in kpr's own `ip` table, applied as
 * one `nft -f -` transaction per sync (a cold start is applied in chunks) and read back with
 * `nft -j list table`. Runs `nft` through the CommandRunner seam in whatever network namespace the
 * agent already is in.
 */
import type {
  Dataplane,
  DataplaneOptions,
  LiveFrontend,
  SyncRequest,
  SyncResult,
} from '../types.ts';
import { DataplaneError, KprError, errorMessage } from '../../util/errors.ts';
import { run as defaultRun, type CommandRunner } from '../../util/exec.ts';
import { createLogger, type Logger } from '../../util/log.ts';
import { canonicalIPv4Cidr } from './naming.ts';
import { NftPlanner, EMPTY_INVENTORY, type KernelInventory, type Plan } from './planner.ts';
import { parseInventory, parseLiveFrontends } from './readback.ts';
import { SKELETON_CHAIN_NAMES } from './skeleton.ts';
import { skeletonDeclarations } from './transaction.ts';

export interface NftablesDeps {
  readonly run?: CommandRunner;
  readonly log?: Logger;
}

/** nft table names share the identifier grammar; kpr's table name comes from config, not the API. */
const TABLE_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;
const MISSING = /No such file or directory/;
/**
 * Service ports per transaction when the table holds no Service yet. nft's memory grows with the
 * transaction (2.3 GB for 50000 Services x 10 endpoints in one), and nothing is served yet that
 * atomicity would protect; kube-proxy chunks its cold start the same way.
 */
export const COLD_START_CHUNK = 2000;

export function createNftablesDataplane(
  opts: DataplaneOptions,
  deps: NftablesDeps = {},
): Dataplane {
  const run = deps.run ?? defaultRun;
  const log = (deps.log ?? createLogger()).child({ dataplane: 'nftables', table: opts.nftTable });
  const table = opts.nftTable;
  if (!TABLE_NAME.test(table)) {
    throw new KprError(
      'KPR_ERR_CONFIG',
      `invalid nftables table name ${JSON.stringify(table)}: use a letter followed by letters, digits, '_' or '-' (at most 64)`,
    );
  }
  let clusterCIDR: string | undefined;
  if (opts.clusterCIDR !== undefined) {
    // A dual-stack "v4,v6" pair is allowed; this table only needs the IPv4 one.
    const v4 = opts.clusterCIDR
      .split(',')
      .map((c) => canonicalIPv4Cidr(c))
      .find((c) => c !== undefined);
    if (v4 === undefined && !opts.clusterCIDR.includes(':')) {
      throw new KprError(
        'KPR_ERR_CONFIG',
        `invalid clusterCIDR ${JSON.stringify(opts.clusterCIDR)}: expected an IPv4 CIDR such as 198.18.0.0/16`,
      );
    }
    clusterCIDR = v4;
  }
  const planner = new NftPlanner(table, {
    masqueradeAll: opts.masqueradeAll,
    clusterCIDR,
    warn: (msg, fields) => log.warn(msg, fields),
  });
  // Until a full sync succeeds, incremental syncs would start from an unknown kernel state.
  let needFull = true;

  const nft = (args: readonly string[], input?: string) =>
    run('nft', args, { input, allowFailure: true });

  /** Chain and set names only: listing rules (`list table`) takes minutes at 50000 Services. */
  async function inventory(): Promise<KernelInventory> {
    const texts: string[] = [];
    for (const what of [
      ['list', 'chains', 'ip'],
      ['-t', 'list', 'sets', 'ip'],
    ]) {
      const res = await nft(['-j', ...what]);
      if (res.code !== 0) {
        if (MISSING.test(res.stderr)) return EMPTY_INVENTORY;
        throw new DataplaneError(
          'KPR_ERR_NFT_LIST',
          `cannot list the chains and sets of nftables table ip ${table} (nft ${what.join(' ')}): ${res.stderr.trim()}`,
        );
      }
      texts.push(res.stdout);
    }
    return parseInventory(table, ...texts);
  }

  async function apply(plan: Plan, full: boolean): Promise<void> {
    if (plan.text === '') return;
    const res = await nft(['-f', '-'], plan.text);
    if (res.code !== 0) {
      throw new DataplaneError(
        'KPR_ERR_NFT_APPLY',
        `nft refused the ${full ? 'full' : 'incremental'} transaction for table ip ${table} (kernel state is unchanged; the next sync will be full): ${res.stderr.trim().slice(0, 4000)}`,
      );
    }
  }

  function chunks(state: SyncRequest['state']): (() => Plan)[] {
    const keys = [...state.keys()].sort();
    const out: (() => Plan)[] = [];
    for (let i = 0; i < keys.length; i += COLD_START_CHUNK) {
      const part = new Set(keys.slice(i, i + COLD_START_CHUNK));
      out.push(() => planner.incremental(state, part));
    }
    return out;
  }

  return {
    name: 'nftables',

    async start(): Promise<void> {
      // Declarations only: adopting a table a previous run left keeps serving its traffic.
      const res = await nft(['-f', '-'], skeletonDeclarations(table).join('\n') + '\n');
      if (res.code !== 0) {
        throw new DataplaneError(
          'KPR_ERR_NFT_START',
          `cannot create nftables table ip ${table}: ${res.stderr.trim()}; check that nft is installed and the kernel has nf_tables, nft_nat, nft_fib, nft_numgen and nft_reject`,
        );
      }
      log.info('nftables table ready');
    },

    async sync(req: SyncRequest): Promise<SyncResult> {
      const full = req.full || needFull;
      const start = performance.now();
      try {
        const inv = full ? await inventory() : EMPTY_INVENTORY;
        const cold = full && [...inv.chains].every((c) => SKELETON_CHAIN_NAMES.has(c));
        // A cold start is a skeleton transaction followed by incremental chunks of Service ports;
        // otherwise one atomic transaction, so live traffic never sees a half-written table.
        const plans: (() => Plan)[] = !full
          ? [() => planner.incremental(req.state, req.changed)]
          : !cold
            ? [() => planner.full(req.state, inv)]
            : [() => planner.full(new Map(), inv), ...chunks(req.state)];
        let written = 0;
        let deleted = 0;
        let bytes = 0;
        for (const make of plans) {
          const plan = make();
          if (plan.conflicts.length > 0) {
            log.warn('several services claim the same frontend; the first by key wins', {
              conflicts: plan.conflicts.slice(0, 10),
            });
          }
          await apply(plan, full);
          plan.commit();
          written += plan.written;
          deleted += plan.deleted;
          bytes += plan.text.length;
        }
        needFull = false;
        log.debug('nftables sync done', {
          full,
          cold,
          transactions: plans.length,
          written,
          deleted,
          bytes,
          ms: Math.round(performance.now() - start),
        });
        return { written, deleted };
      } catch (e) {
        needFull = true;
        log.error('nftables sync failed', { full, error: errorMessage(e) });
        throw e;
      }
    },

    async list(): Promise<LiveFrontend[]> {
      const res = await nft(['-j', 'list', 'table', 'ip', table]);
      if (res.code !== 0) {
        if (MISSING.test(res.stderr)) return [];
        throw new DataplaneError(
          'KPR_ERR_NFT_LIST',
          `cannot list nftables table ip ${table}: ${res.stderr.trim()}`,
        );
      }
      return parseLiveFrontends(res.stdout);
    },

    async close(): Promise<void> {},

    async cleanup(): Promise<void> {
      const res = await nft(['delete', 'table', 'ip', table]);
      if (res.code !== 0 && !MISSING.test(res.stderr)) {
        throw new DataplaneError(
          'KPR_ERR_NFT_CLEANUP',
          `cannot delete nftables table ip ${table}: ${res.stderr.trim()}`,
        );
      }
      planner.reset();
      needFull = true;
      if (res.code === 0) log.info('nftables table deleted');
    },
  };
}
