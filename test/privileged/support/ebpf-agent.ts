/**
 * A minimal stand-in for the kpr agent, for the restart-after-SIGKILL test: starts the eBPF
 * dataplane on the given pins and cgroup, performs one full sync of a JSON list of fixtures,
 * prints "synced", then idles until killed.
 * Usage: node ebpf-agent.ts PIN_DIR CGROUP FIXTURES_JSON
 */
import { createEbpfDataplane } from '../../../src/dataplanes/ebpf/index.ts';
import { servicePortState, stateOf } from '../../../src/dataplanes/ebpf/testdata.ts';
import type { FixtureOptions } from '../../../src/dataplanes/ebpf/testdata.ts';

const [pinDir, cgroupPath, fixtures] = process.argv.slice(2);
if (!pinDir || !cgroupPath || !fixtures)
  throw new Error('usage: ebpf-agent.ts PIN_DIR CGROUP FIXTURES_JSON');
const dp = createEbpfDataplane({
  nodeName: 'node-a',
  bpfPinDir: pinDir,
  cgroupPath,
  iptablesBackend: undefined,
  nftTable: 'kpr',
  masqueradeAll: false,
  clusterCIDR: undefined,
});
await dp.start();
const state = stateOf((JSON.parse(fixtures) as FixtureOptions[]).map(servicePortState));
await dp.sync({ state, changed: new Set(), full: true });
process.stdout.write('synced\n');
setInterval(() => {}, 1 << 30);
