/**
 * @module cli/agent
 * `kpr agent`: the node agent. Wires a source, the change tracker, the sync runner and one
 * dataplane, serves health and metrics, and shuts down leaving the kernel state in place so a
 * restarted agent adopts it without interrupting traffic.
 */
import type { Command } from 'commander';
import { Agent } from '../agent/agent.ts';
import { HealthState, listen, parseBindAddress, serveHealth } from '../agent/health.ts';
import { AgentMetrics } from '../agent/metrics.ts';
import { cleanupOthers, createDataplane, parseDataplaneName } from '../dataplanes/index.ts';
import { ManifestSource } from '../sources/file/index.ts';
import { createLogger } from '../util/log.ts';
import { KprError, errorMessage } from '../util/errors.ts';
import { dataplaneOptions, parseDuration, type StateLocationFlags } from './options.ts';
import { createServer, type Server } from 'node:http';

interface AgentFlags extends StateLocationFlags {
  manifests?: string;
  dataplane: string;
  nodeZone?: string;
  minSyncPeriod?: string;
  syncPeriod: string;
  fullSyncPeriod: string;
  healthzBindAddress: string;
  metricsBindAddress: string;
  cleanupOthers: boolean;
}

export function registerAgentCommand(program: Command): void {
  program
    .command('agent')
    .description('run the node agent: program Services into the dataplane and keep it in sync')
    .option('--manifests <dir>', 'watch a folder of Service/EndpointSlice YAML manifests')
    .option('--dataplane <name>', 'ebpf, iptables or nftables', 'ebpf')
    .option('--node-name <name>', "this node's name (endpoints with this nodeName are local)")
    .option('--node-zone <zone>', "this node's topology.kubernetes.io/zone, for topology hints")
    .option('--bpf-pin-dir <dir>', 'bpffs directory for pinned programs, links and maps')
    .option(
      '--cgroup <path>',
      'cgroup v2 directory for the socket hooks (default: the cgroup2 root)',
    )
    .option('--nft-table <name>', "nftables: kpr's table name")
    .option(
      '--iptables-backend <nft|legacy>',
      "iptables: force a backend (default: the system's iptables)",
    )
    .option(
      '--cluster-cidr <cidr>',
      'pod CIDR: traffic from outside it to a ClusterIP is masqueraded',
    )
    .option('--masquerade-all', 'masquerade all Service traffic (iptables, nftables)')
    .option(
      '--min-sync-period <duration>',
      'minimum time between syncs (default 0 for ebpf, 1s otherwise)',
    )
    .option(
      '--sync-period <duration>',
      'retry delay after a failed sync; health timeout is twice this',
      '30s',
    )
    .option('--full-sync-period <duration>', 'periodic full resync', '1h')
    .option(
      '--healthz-bind-address <host:port>',
      'where /healthz and /livez are served ("" to disable)',
      '0.0.0.0:10256',
    )
    .option(
      '--metrics-bind-address <host:port>',
      'where /metrics is served ("" to disable)',
      '127.0.0.1:10249',
    )
    .option('--no-cleanup-others', 'keep state left by the other dataplanes')
    .action(async (flags: AgentFlags) => {
      await runAgent(flags);
    });
}

async function runAgent(f: AgentFlags): Promise<void> {
  const log = createLogger();
  if (!f.manifests) {
    throw new KprError(
      'KPR_ERR_CONFIG',
      'no source: pass --manifests DIR (a folder of Service and EndpointSlice YAML files)',
    );
  }
  const name = parseDataplaneName(f.dataplane);
  const opts = dataplaneOptions(f);
  const syncPeriodMs = parseDuration(f.syncPeriod);
  const metrics = new AgentMetrics(name);
  const health = new HealthState(2 * syncPeriodMs);
  const servers: Server[] = [];
  if (f.healthzBindAddress) {
    const { host, port } = parseBindAddress(f.healthzBindAddress);
    servers.push(await serveHealth(health, host, port));
  }
  if (f.metricsBindAddress) {
    const { host, port } = parseBindAddress(f.metricsBindAddress);
    const srv = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (path === '/metrics') {
        void metrics.registry
          .metrics()
          .then((text) =>
            res.writeHead(200, { 'Content-Type': metrics.registry.contentType }).end(text),
          );
      } else if (path === '/proxyMode') {
        res.writeHead(200, { 'Content-Type': 'text/plain' }).end(name);
      } else res.writeHead(404).end();
    });
    servers.push(await listen(srv, host, port));
  }
  if (f.cleanupOthers) {
    for (const failure of await cleanupOthers(name, opts))
      log.warn('could not remove state of another dataplane', { failure });
  }
  const dataplane = await createDataplane(name, opts);
  const source = new ManifestSource({ dir: f.manifests, log });
  const agent = new Agent({
    nodeName: opts.nodeName,
    zone: f.nodeZone,
    dataplane,
    source,
    log,
    minSyncPeriodMs:
      f.minSyncPeriod !== undefined ? parseDuration(f.minSyncPeriod) : name === 'ebpf' ? 0 : 1000,
    syncPeriodMs,
    fullSyncPeriodMs: parseDuration(f.fullSyncPeriod),
    metrics,
    health,
  });
  if ('stats' in dataplane && typeof dataplane.stats === 'function') {
    const withStats = dataplane as typeof dataplane & {
      stats(): { maps: { name: string; entries: number; capacity: number }[] };
    };
    agent.on('sync', () => {
      for (const m of withStats.stats().maps) {
        metrics.mapEntries.set({ map: m.name }, m.entries);
        metrics.mapCapacity.set({ map: m.name }, m.capacity);
      }
    });
  }
  let stopping = false;
  const stop = (sig: string) => {
    if (stopping) return;
    stopping = true;
    log.info('stopping; kernel state stays in place for the next agent', { signal: sig });
    void agent
      .stop()
      .catch((e: unknown) => log.error('error while stopping', { error: errorMessage(e) }))
      .finally(() => {
        for (const s of servers) s.close();
        process.exit(0);
      });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  log.info('starting', { dataplane: name, node: opts.nodeName, manifests: f.manifests });
  await agent.start();
}
