import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfigText } from './config-file.ts';
import { loadConfigFile, resolveAgentConfig } from './config.ts';
import { formatGoDuration, tryParseGoDuration } from './duration.ts';

const HEADER = 'apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n';
const MANIFESTS = { manifests: '/tmp/m' };
const NO_ENV = {};

function configError(text: string): string {
  try {
    parseConfigText(text, 'cfg.yaml');
  } catch (e) {
    return (e as Error).message;
  }
  assert.fail('expected a configuration error');
}

test('Go durations parse like time.ParseDuration', () => {
  assert.equal(tryParseGoDuration('1s'), 1000);
  assert.equal(tryParseGoDuration('1m30s'), 90_000);
  assert.equal(tryParseGoDuration('24h0m0s'), 86_400_000);
  assert.equal(tryParseGoDuration('250ms'), 250);
  assert.equal(tryParseGoDuration('1.5h'), 5_400_000);
  assert.equal(tryParseGoDuration('0'), 0);
  assert.equal(tryParseGoDuration('1500us'), 1.5);
  for (const bad of ['', '1', '10 s', '-1s', '1d', 's', '1s2', '+']) {
    assert.equal(tryParseGoDuration(bad), undefined, bad);
  }
  assert.equal(formatGoDuration(90_000), '1m30s');
  assert.equal(formatGoDuration(86_400_000), '24h0m0s');
});

test('a full KubeProxyConfiguration file is read field by field', () => {
  const cfg = parseConfigText(
    HEADER +
      `mode: nftables
clusterCIDR: 198.18.0.0/16,fd00:10::/56
hostnameOverride: node-a
bindAddress: 198.19.0.1
healthzBindAddress: 0.0.0.0:10256
metricsBindAddress: "[::1]:10249"
nodePortAddresses: [primary, 198.19.0.0/24]
iptables:
  minSyncPeriod: 2s
  syncPeriod: 1m30s
  masqueradeAll: false
  masqueradeBit: 14
  localhostNodePorts: true
nftables:
  minSyncPeriod: 500ms
  syncPeriod: 45s
  masqueradeAll: true
conntrack:
  maxPerCore: 32768
  min: 131072
  tcpEstablishedTimeout: 24h0m0s
  tcpCloseWaitTimeout: 1h0m0s
  tcpBeLiberal: true
  udpTimeout: 30s
  udpStreamTimeout: 2m
clientConnection:
  qps: 5
kpr:
  bpfPinDir: /sys/fs/bpf/kpr-a
  fullSyncPeriod: 2h
`,
    'cfg.yaml',
  );
  assert.equal(cfg.mode, 'nftables');
  assert.equal(cfg.iptables.syncPeriodMs, 90_000);
  assert.equal(cfg.nftables.minSyncPeriodMs, 500);
  assert.equal(cfg.conntrack.tcpEstablishedTimeoutMs, 86_400_000);
  assert.equal(cfg.conntrack.udpStreamTimeoutMs, 120_000);
  assert.equal(cfg.conntrack.tcpBeLiberal, true);
  assert.deepEqual(cfg.nodePortAddresses, ['primary', '198.19.0.0/24']);
  assert.deepEqual(cfg.ignored, ['clientConnection', 'iptables.localhostNodePorts']);

  const eff = resolveAgentConfig(cfg, MANIFESTS, NO_ENV);
  assert.equal(eff.mode, 'nftables');
  // nftables mode reads the nftables section, not the iptables one.
  assert.equal(eff.minSyncPeriodMs, 500);
  assert.equal(eff.syncPeriodMs, 45_000);
  assert.equal(eff.dataplane.masqueradeAll, true);
  assert.equal(eff.dataplane.nodeName, 'node-a');
  assert.equal(eff.dataplane.clusterCIDR, '198.18.0.0/16');
  assert.equal(eff.dataplane.bpfPinDir, '/sys/fs/bpf/kpr-a');
  assert.equal(eff.fullSyncPeriodMs, 7_200_000);
  assert.equal(eff.metricsBindAddress, '[::1]:10249');
});

test('JSON is accepted too', () => {
  const cfg = parseConfigText(
    JSON.stringify({
      apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
      kind: 'KubeProxyConfiguration',
      mode: 'iptables',
      iptables: { syncPeriod: '10s' },
    }),
    'cfg.json',
  );
  assert.equal(resolveAgentConfig(cfg, MANIFESTS, NO_ENV).syncPeriodMs, 10_000);
});

test('an unknown field is an error naming its path and the allowed fields', () => {
  const msg = configError(HEADER + 'iptables:\n  syncPeriods: 1s\n');
  assert.match(msg, /cfg\.yaml/);
  assert.match(
    msg,
    /iptables\.syncPeriods: unknown field; allowed here: minSyncPeriod, syncPeriod/,
  );
  assert.match(configError(HEADER + 'modes: ebpf\n'), /^ {2}modes: unknown field/m);
});

test('a bad duration is an error that shows the expected syntax', () => {
  const msg = configError(HEADER + 'conntrack:\n  tcpCloseWaitTimeout: 1 hour\n');
  assert.match(
    msg,
    /conntrack\.tcpCloseWaitTimeout: "1 hour" is not a duration; use a Go duration/,
  );
  assert.match(configError(HEADER + 'nftables:\n  syncPeriod: 30\n'), /nftables\.syncPeriod: 30/);
});

test('a bad mode is an error listing the modes kpr has', () => {
  const msg = configError(HEADER + 'mode: ipvs\n');
  assert.match(msg, /mode: "ipvs" is not allowed; use one of "", "ebpf", "iptables", "nftables"/);
});

test('every problem is reported at once, and kind/apiVersion are required', () => {
  const msg = configError('mode: bogus\nbindAddress: nope\nconntrack:\n  min: -1\n');
  for (const field of ['apiVersion', 'kind', 'mode', 'bindAddress', 'conntrack.min'])
    assert.match(msg, new RegExp(`^ {2}${field.replace('.', '\\.')}: `, 'm'), field);
});

test('values kpr cannot honour are refused rather than silently ignored', () => {
  assert.match(configError(HEADER + 'iptables:\n  masqueradeBit: 15\n'), /mark bit 14/);
  assert.match(configError(HEADER + 'detectLocalMode: BridgeInterface\n'), /detectLocalMode/);
  assert.match(configError(HEADER + 'clusterCIDR: 198.18.0.0/33\n'), /clusterCIDR: .*not a CIDR/);
  assert.match(
    configError(HEADER + 'healthzBindAddress: "10256"\n'),
    /healthzBindAddress: invalid bind/,
  );
});

test('flags override the file; mode "" means kpr\'s default, ebpf', () => {
  const cfg = parseConfigText(
    HEADER +
      'mode: ""\nhostnameOverride: from-file\nmetricsBindAddress: 127.0.0.1:9999\nkpr:\n  minSyncPeriod: 100ms\n',
    'cfg.yaml',
  );
  const fromFile = resolveAgentConfig(cfg, MANIFESTS, NO_ENV);
  assert.equal(fromFile.mode, 'ebpf');
  assert.equal(fromFile.minSyncPeriodMs, 100);
  assert.equal(fromFile.dataplane.nodeName, 'from-file');
  const flagged = resolveAgentConfig(
    cfg,
    {
      ...MANIFESTS,
      dataplane: 'iptables',
      nodeName: 'From-Flag',
      minSyncPeriod: '2s',
      metricsBindAddress: '',
    },
    NO_ENV,
  );
  assert.equal(flagged.mode, 'iptables');
  assert.equal(flagged.minSyncPeriodMs, 2000);
  assert.equal(flagged.dataplane.nodeName, 'from-flag');
  assert.equal(flagged.metricsBindAddress, '');
  // iptables mode without a file section gets kube-proxy's defaults.
  assert.equal(flagged.syncPeriodMs, 30_000);
  assert.throws(
    () => resolveAgentConfig(cfg, { ...MANIFESTS, syncPeriod: '30' }, NO_ENV),
    /--sync-period "30"/,
  );
});

test('exactly one source; in-cluster when neither is given inside a pod', () => {
  assert.throws(
    () => resolveAgentConfig(undefined, { manifests: '/m', kubeconfig: '/k' }, NO_ENV),
    /not both/,
  );
  assert.throws(() => resolveAgentConfig(undefined, {}, NO_ENV), /no source/);
  const pod = resolveAgentConfig(undefined, {}, { KUBERNETES_SERVICE_HOST: '198.18.0.1' });
  assert.deepEqual(pod.source, { kind: 'in-cluster' });
  assert.equal(pod.logFormat, 'json');
  assert.equal(resolveAgentConfig(undefined, MANIFESTS, NO_ENV).logFormat, 'text');
  assert.equal(
    resolveAgentConfig(
      undefined,
      { kubeconfig: '/k', logFormat: 'text' },
      { KUBERNETES_SERVICE_HOST: 'x' },
    ).logFormat,
    'text',
  );
});

test('loadConfigFile names an unreadable file', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kpr-t-cfg-'));
  try {
    await assert.rejects(
      loadConfigFile(join(dir, 'missing.yaml')),
      /cannot read --config .*missing\.yaml/,
    );
    const path = join(dir, 'ok.yaml');
    await writeFile(path, HEADER + 'mode: iptables\n');
    assert.equal((await loadConfigFile(path)).mode, 'iptables');
    await writeFile(path, HEADER + 'mode: iptables\nmode: ebpf\n');
    await assert.rejects(loadConfigFile(path), /not valid YAML or JSON/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
