/**
 * @module cli/agent
 * `kpr agent`: the node agent. Resolves the configuration (defaults < `--config` file < flags),
 * wires a source (the Kubernetes API or a manifest folder), the change tracker, the sync runner and
 * one dataplane, serves kube-proxy's health and metrics endpoints, and shuts down leaving the
 * kernel state in place so a restarted agent adopts it without interrupting traffic.
 */
import type { Command } from 'commander';
import type { Server } from 'node:http';
import { Agent } from '../agent/agent.ts';
import {
  loadConfigFile,
  resolveAgentConfig,
  type AgentConfig,
  type AgentFlags,
} from '../agent/config.ts';
import { applyConntrack } from '../agent/conntrack.ts';
import { HealthState, parseBindAddress, serveHealth } from '../agent/health.ts';
import { AgentMetrics, healthCounter, serveMetrics } from '../agent/metrics.ts';
import { SourceTap } from '../agent/source-tap.ts';
import { cleanupOthers, createDataplane } from '../dataplanes/index.ts';
import type { Dataplane } from '../dataplanes/types.ts';
import { ManifestSource } from '../sources/file/index.ts';
import { KubernetesSource } from '../sources/kubernetes/index.ts';
import type { Source } from '../sources/types.ts';
import { errorMessage } from '../util/errors.ts';
import { createLogger, type Logger } from '../util/log.ts';

export function registerAgentCommand(program: Command): void {
  program
    .command('agent')
    .description('run the node agent: program Services into the dataplane and keep it in sync')
    .option('--config <file>', 'a KubeProxyConfiguration file (YAML or JSON); flags override it')
    .option(
      '--kubeconfig <file>',
      'follow the cluster of this kubeconfig (default in a pod: in-cluster)',
    )
    .option(
      '--manifests <dir>',
      'follow a folder of Service/EndpointSlice manifests instead of a cluster',
    )
    .option(
      '--dataplane <name>',
      "ebpf, iptables or nftables (default: the file's mode, else ebpf)",
    )
    .option('--node-name <name>', "this node's name (default: hostnameOverride, else the hostname)")
    .option('--hostname-override <name>', "kube-proxy's spelling of --node-name")
    .option('--node-zone <zone>', "this node's zone when the source does not report Nodes")
    .option('--bpf-pin-dir <dir>', 'bpffs directory for pinned programs, links and maps')
    .option(
      '--cgroup <path>',
      'cgroup v2 directory for the socket hooks (default: the cgroup2 root)',
    )
    .option('--nft-table <name>', "nftables: kpr's table name (default kpr)")
    .option('--iptables-backend <nft|legacy>', "iptables: force a backend (default: the system's)")
    .option(
      '--cluster-cidr <cidr>',
      'pod CIDR: traffic from outside it to a ClusterIP is masqueraded',
    )
    .option('--masquerade-all', 'masquerade all Service traffic (iptables, nftables)')
    .option('--no-masquerade-all', 'do not masquerade all Service traffic, whatever the file says')
    .option(
      '--min-sync-period <duration>',
      'minimum time between syncs (default 0 for ebpf, 1s otherwise)',
    )
    .option(
      '--sync-period <duration>',
      'retry delay after a failed sync; /healthz fails after twice this (default 30s)',
    )
    .option('--full-sync-period <duration>', 'periodic full resync, 0 to disable (default 1h)')
    .option(
      '--healthz-bind-address <host:port>',
      '/healthz and /livez ("" disables; default 0.0.0.0:10256)',
    )
    .option(
      '--metrics-bind-address <host:port>',
      '/metrics and /proxyMode ("" disables; default 127.0.0.1:10249)',
    )
    .option(
      '--log-format <json|text>',
      'log format (default json in a pod, text otherwise; env KPR_LOG_FORMAT)',
    )
    .option('--no-cleanup-others', 'keep state left by the other dataplanes')
    .action(async (flags: AgentFlags) => {
      const file = flags.config !== undefined ? await loadConfigFile(flags.config) : undefined;
      await runAgent(resolveAgentConfig(file, flags));
    });
}

/** Logs configuration that is accepted but has no effect, once, so operators are not misled. */
function warnUnused(cfg: AgentConfig, log: Logger): void {
  if (cfg.ignoredFields.length)
    log.warn('configuration fields ignored: kube-proxy settings kpr has no use for', {
      fields: cfg.ignoredFields,
    });
  if (cfg.nodePortAddresses.length)
    log.warn('nodePortAddresses is not honoured yet: NodePorts are served on every local address', {
      nodePortAddresses: cfg.nodePortAddresses,
    });
}

function createSource(cfg: AgentConfig, log: Logger): Source {
  const s = cfg.source;
  if (s.kind === 'manifests') return new ManifestSource({ dir: s.dir, log });
  return new KubernetesSource({
    kubeconfig: s.kind === 'kubeconfig' ? s.path : undefined,
    nodeName: cfg.dataplane.nodeName,
    log,
  });
}

/** Publishes the dataplane's map usage when it has maps (the eBPF dataplane). */
function watchMapStats(dataplane: Dataplane, agent: Agent, metrics: AgentMetrics): void {
  if (!('stats' in dataplane) || typeof dataplane.stats !== 'function') return;
  const withStats = dataplane as Dataplane & {
    stats(): { maps: { name: string; entries: number; capacity: number }[] };
  };
  agent.on('sync', () => {
    for (const m of withStats.stats().maps) {
      metrics.mapEntries.set({ map: m.name }, m.entries);
      metrics.mapCapacity.set({ map: m.name }, m.capacity);
    }
  });
}

async function runAgent(cfg: AgentConfig): Promise<void> {
  const log = createLogger({ format: cfg.logFormat });
  warnUnused(cfg, log);
  await applyConntrack(cfg.conntrack, { log });

  const metrics = new AgentMetrics(cfg.mode);
  const health = new HealthState(2 * cfg.syncPeriodMs);
  const servers: Server[] = [];
  if (cfg.healthzBindAddress) {
    const { host, port } = parseBindAddress(cfg.healthzBindAddress);
    servers.push(await serveHealth(health, host, port, healthCounter(metrics)));
  }
  if (cfg.metricsBindAddress) {
    const { host, port } = parseBindAddress(cfg.metricsBindAddress);
    servers.push(await serveMetrics(metrics, health, cfg.mode, host, port));
  }

  if (cfg.cleanupOthers) {
    for (const failure of await cleanupOthers(cfg.mode, cfg.dataplane))
      log.warn('could not remove state of another dataplane', { failure });
  }
  const dataplane = await createDataplane(cfg.mode, cfg.dataplane);
  let agent: Agent | undefined = undefined;
  const source = new SourceTap(createSource(cfg, log), {
    log,
    metrics,
    health,
    // The Node's zone label wins over --node-zone; a Node without the label falls back to it.
    onZone: (zone) => agent?.setNodeZone(zone ?? cfg.nodeZone),
  });
  agent = new Agent({
    nodeName: cfg.dataplane.nodeName,
    zone: cfg.nodeZone,
    dataplane,
    source,
    log,
    minSyncPeriodMs: cfg.minSyncPeriodMs,
    syncPeriodMs: cfg.syncPeriodMs,
    fullSyncPeriodMs: cfg.fullSyncPeriodMs,
    metrics,
    health,
  });
  agent.on('sync', (ev: { durationMs: number }) => source.programmed(ev.durationMs));
  watchMapStats(dataplane, agent, metrics);

  const running = agent;
  let stopping = false;
  const stop = (sig: string) => {
    if (stopping) return;
    stopping = true;
    log.info('stopping; kernel state stays in place for the next agent', { signal: sig });
    void running
      .stop()
      .catch((e: unknown) => log.error('error while stopping', { error: errorMessage(e) }))
      .finally(() => {
        for (const s of servers) s.close();
        process.exit(0);
      });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  log.info('starting', {
    dataplane: cfg.mode,
    node: cfg.dataplane.nodeName,
    source: cfg.source.kind,
    minSyncPeriodMs: cfg.minSyncPeriodMs,
    syncPeriodMs: cfg.syncPeriodMs,
  });
  await running.start();
}
