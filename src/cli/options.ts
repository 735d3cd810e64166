/**
 * @module cli/options
 * Parsing and defaults for options shared by several commands (where kpr keeps its kernel state).
 */
import { hostname } from 'node:os';
import type { DataplaneOptions } from '../dataplanes/types.ts';
import { KprError } from '../util/errors.ts';
import { DEFAULT_NFT_TABLE, DEFAULT_PIN_DIR } from '../agent/config.ts';

export interface StateLocationFlags {
  bpfPinDir?: string;
  cgroup?: string;
  nftTable?: string;
  iptablesBackend?: string;
  nodeName?: string;
  clusterCidr?: string;
  masqueradeAll?: boolean;
}

export function dataplaneOptions(f: StateLocationFlags): DataplaneOptions {
  const backend = f.iptablesBackend;
  if (backend !== undefined && backend !== 'nft' && backend !== 'legacy') {
    throw new KprError(
      'KPR_ERR_CONFIG',
      `--iptables-backend must be nft or legacy, not "${backend}"`,
    );
  }
  return {
    nodeName: f.nodeName ?? hostname(),
    bpfPinDir: f.bpfPinDir ?? DEFAULT_PIN_DIR,
    cgroupPath: f.cgroup,
    iptablesBackend: backend,
    nftTable: f.nftTable ?? DEFAULT_NFT_TABLE,
    masqueradeAll: f.masqueradeAll ?? false,
    clusterCIDR: f.clusterCidr,
  };
}

/** Parses a duration such as `1s`, `250ms`, `2m` or a bare number of seconds into milliseconds. */
export function parseDuration(s: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(s.trim());
  if (!m) throw new KprError('KPR_ERR_CONFIG', `invalid duration "${s}": use e.g. 500ms, 1s, 2m`);
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  return n * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[unit]!;
}
