/**
 * @module agent/conntrack
 * Applies the `conntrack:` section of a KubeProxyConfiguration as kube-proxy does: the table size
 * (`nf_conntrack_max = max(maxPerCore × cores, min)`, with the hash table grown to a quarter of
 * it) and the TCP/UDP timeouts, written as sysctls of the agent's network namespace. Unlike
 * kube-proxy, only fields that are set are applied (kube-proxy also applies its defaults).
 * A sysctl that does not exist (nf_conntrack not loaded, older kernel) is skipped with a log line;
 * one that cannot be written (read-only /proc/sys in an unprivileged container) is logged as an
 * error with advice, and the agent carries on: Service routing does not depend on it.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '../util/log.ts';
import type { ConntrackConfig } from './config-file.ts';

export interface ConntrackEnv {
  /** Root of the sysctl tree; tests point it at a temporary directory. */
  readonly procSys?: string;
  /** Where nf_conntrack's module parameters live (for hashsize). */
  readonly moduleParams?: string;
  readonly cpus?: number;
  readonly log: Logger;
}

export interface SysctlWrite {
  readonly key: string;
  readonly value: number;
}

/** The sysctls (relative to /proc/sys) that `cfg` asks for, in the order kube-proxy sets them. */
export function conntrackSysctls(cfg: ConntrackConfig, cpus: number): SysctlWrite[] {
  const out: SysctlWrite[] = [];
  // maxPerCore 0 means "leave the limit alone"; min only raises a per-core computed value.
  if (cfg.maxPerCore !== undefined && cfg.maxPerCore > 0) {
    out.push({
      key: 'net/netfilter/nf_conntrack_max',
      value: Math.max(cfg.maxPerCore * cpus, cfg.min ?? 0),
    });
  }
  const seconds = (ms: number | undefined) =>
    ms !== undefined && ms > 0 ? Math.max(1, Math.floor(ms / 1000)) : undefined;
  const timeouts: [string, number | undefined][] = [
    ['nf_conntrack_tcp_timeout_established', seconds(cfg.tcpEstablishedTimeoutMs)],
    ['nf_conntrack_tcp_timeout_close_wait', seconds(cfg.tcpCloseWaitTimeoutMs)],
    ['nf_conntrack_udp_timeout', seconds(cfg.udpTimeoutMs)],
    ['nf_conntrack_udp_timeout_stream', seconds(cfg.udpStreamTimeoutMs)],
  ];
  for (const [name, value] of timeouts)
    if (value !== undefined) out.push({ key: `net/netfilter/${name}`, value });
  // kube-proxy only ever turns be_liberal on; `false` leaves the kernel's setting alone.
  if (cfg.tcpBeLiberal) out.push({ key: 'net/netfilter/nf_conntrack_tcp_be_liberal', value: 1 });
  return out;
}

/** Applies the conntrack settings; returns how many sysctls were written. */
export async function applyConntrack(cfg: ConntrackConfig, env: ConntrackEnv): Promise<number> {
  const procSys = env.procSys ?? '/proc/sys';
  const writes = conntrackSysctls(cfg, env.cpus ?? availableParallelism());
  let applied = 0;
  for (const w of writes) {
    const path = join(procSys, w.key);
    try {
      const current = Number((await readFile(path, 'utf8')).trim());
      if (current !== w.value) await writeFile(path, `${w.value}\n`);
      env.log.info('conntrack sysctl set', {
        sysctl: w.key.replaceAll('/', '.'),
        value: w.value,
        was: current,
      });
      applied++;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') {
        env.log.info('conntrack sysctl absent; skipped (is nf_conntrack loaded?)', {
          sysctl: w.key,
        });
      } else {
        env.log.error(
          'cannot set conntrack sysctl; run the agent with a writable /proc/sys (CAP_NET_ADMIN, not a read-only /proc) or remove the conntrack setting',
          { sysctl: w.key, value: w.value, code },
        );
      }
      continue;
    }
    if (w.key.endsWith('nf_conntrack_max')) await growHashsize(w.value, env);
  }
  return applied;
}

/**
 * kube-proxy grows nf_conntrack's hash table to max/4 buckets when it is smaller, so lookups stay
 * short. The parameter is global to the host; failing to write it is harmless, just slower.
 */
async function growHashsize(max: number, env: ConntrackEnv): Promise<void> {
  const path = join(env.moduleParams ?? '/sys/module/nf_conntrack/parameters', 'hashsize');
  try {
    const current = Number((await readFile(path, 'utf8')).trim());
    const want = Math.floor(max / 4);
    if (current >= want) return;
    await writeFile(path, `${want}\n`);
    env.log.info('conntrack hashsize raised', { hashsize: want, was: current });
  } catch (e) {
    env.log.warn('cannot raise nf_conntrack hashsize; lookups may be slower', {
      error: (e as Error).message,
    });
  }
}
