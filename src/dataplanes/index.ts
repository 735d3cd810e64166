/**
 * @module dataplanes
 * Creates a dataplane by name. Each backend is imported lazily so that, say, `kpr agent
 * --dataplane iptables` never loads libbpf through koffi.
 */
import { KprError } from '../util/errors.ts';
import type { Dataplane, DataplaneName, DataplaneOptions } from './types.ts';
import { DATAPLANE_NAMES } from './types.ts';

export function parseDataplaneName(s: string): DataplaneName {
  if ((DATAPLANE_NAMES as readonly string[]).includes(s)) return s as DataplaneName;
  throw new KprError(
    'KPR_ERR_CONFIG',
    `unknown dataplane "${s}": choose one of ${DATAPLANE_NAMES.join(', ')}`,
  );
}

export async function createDataplane(
  name: DataplaneName,
  opts: DataplaneOptions,
): Promise<Dataplane> {
  switch (name) {
    case 'ebpf':
      return (await import('./ebpf/index.ts')).createEbpfDataplane(opts);
    case 'iptables':
      return (await import('./iptables/index.ts')).createIptablesDataplane(opts);
    case 'nftables':
      return (await import('./nftables/index.ts')).createNftablesDataplane(opts);
  }
}

/** Removes what every dataplane other than `keep` left on this node (as kube-proxy does on a mode change). */
export async function cleanupOthers(
  keep: DataplaneName | undefined,
  opts: DataplaneOptions,
): Promise<string[]> {
  const failures: string[] = [];
  for (const name of DATAPLANE_NAMES) {
    if (name === keep) continue;
    try {
      await (await createDataplane(name, opts)).cleanup();
    } catch (e) {
      failures.push(`${name}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  return failures;
}
