import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { liveFrontends, parseSave, serviceChainsIn } from './parse.ts';
import { cleanupText } from './apply.ts';

const sample = () => readFile(new URL('./testdata/nft-save-nat.txt', import.meta.url), 'utf8');

test('liveFrontends reads every frontend kind back from iptables-save output', async () => {
  const fes = liveFrontends(parseSave(await sample()).get('nat'));
  const backendsA = [
    { ip: '198.18.0.2', port: 8080 },
    { ip: '198.18.0.3', port: 8080 },
  ];
  const bAll = [
    { ip: '198.18.0.2', port: 8081 },
    { ip: '198.18.129.9', port: 8081 },
  ];
  const bLocal = [{ ip: '198.18.0.2', port: 8081 }];
  assert.deepEqual(fes, [
    {
      kind: 'ClusterIP',
      ip: '198.19.0.10',
      port: 80,
      protocol: 'TCP',
      service: 'ns1/a:http',
      backends: backendsA,
    },
    {
      kind: 'ClusterIP',
      ip: '198.19.0.11',
      port: 80,
      protocol: 'TCP',
      service: 'ns1/b:p80',
      backends: bAll,
    },
    // eTP=Local: external frontends lead to the local endpoint only.
    {
      kind: 'ExternalIP',
      ip: '198.19.3.3',
      port: 80,
      protocol: 'TCP',
      service: 'ns1/b:p80',
      backends: bLocal,
    },
    {
      kind: 'LoadBalancer',
      ip: '198.19.1.1',
      port: 80,
      protocol: 'TCP',
      service: 'ns1/b:p80',
      backends: bLocal,
    },
    {
      kind: 'NodePort',
      ip: '0.0.0.0',
      port: 30080,
      protocol: 'TCP',
      service: 'ns1/b:p80',
      backends: bLocal,
    },
  ]);
});

test('serviceChainsIn lists only per-service chains', async () => {
  const chains = serviceChainsIn(parseSave(await sample()).get('nat'));
  assert.equal(chains.size, 9);
  assert.ok([...chains].every((c) => /^KUBE-(SVC|SVL|EXT|FW|SEP)-/.test(c)));
});

test('cleanupText deletes the jumps into kpr chains and then the chains, nothing else', async () => {
  const saved = parseSave(
    (await sample()) +
      [
        '*filter',
        ':INPUT ACCEPT [0:0]',
        ':KUBE-FIREWALL - [0:0]',
        ':KUBE-NODEPORTS - [0:0]',
        '-A INPUT -m comment --comment "kubernetes health check service ports" -j KUBE-NODEPORTS',
        '-A INPUT -j KUBE-FIREWALL',
        'COMMIT',
      ].join('\n'),
  );
  const text = cleanupText(saved);
  const lines = text.trimEnd().split('\n');
  assert.ok(
    lines.includes(
      '-D INPUT -m comment --comment "kubernetes health check service ports" -j KUBE-NODEPORTS',
    ),
  );
  assert.ok(
    lines.includes('-D OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES'),
  );
  assert.ok(lines.includes('-X KUBE-SEP-TQGFOZUBBUUVRGQQ'));
  assert.ok(lines.includes('-X KUBE-MARK-MASQ'));
  assert.ok(!text.includes('KUBE-FIREWALL'), "kubelet's chain stays");
  // The -D lines come before the -X lines of their table.
  const nat = lines.slice(lines.indexOf('*nat'));
  assert.ok(nat.findIndex((l) => l.startsWith('-D ')) < nat.findIndex((l) => l.startsWith('-X ')));
  assert.equal(cleanupText(parseSave('*nat\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n')), '', 'nothing to do');
});

test('liveFrontends lists frontends the filter table rejects or drops, with no backends', () => {
  const text = `*filter
:KUBE-SERVICES - [0:0]
:KUBE-EXTERNAL-SERVICES - [0:0]
-A KUBE-SERVICES -m comment --comment "ns1/empty:http has no endpoints" -m tcp -p tcp -d 198.19.0.20 --dport 80 -j REJECT
-A KUBE-SERVICES -m comment --comment "ns1/local:http has no local endpoints" -m udp -p udp -d 198.19.0.21 --dport 53 -j DROP
-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns1/empty:http has no endpoints" -m addrtype --dst-type LOCAL -m tcp -p tcp --dport 30080 -j REJECT
-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns1/empty:http has no endpoints" -m tcp -p tcp -d 198.18.200.1 --dport 80 -j REJECT
-A KUBE-SERVICES -m comment --comment "someone else's rule" -d 198.19.0.99/32 -j REJECT
COMMIT
`;
  const fes = liveFrontends(undefined, parseSave(text).get('filter'));
  assert.deepEqual(
    fes.map((f) => [f.kind, f.ip, f.port, f.protocol, f.service, f.backends.length]),
    [
      ['ClusterIP', '198.19.0.20', 80, 'TCP', 'ns1/empty:http', 0],
      ['ClusterIP', '198.19.0.21', 53, 'UDP', 'ns1/local:http', 0],
      ['NodePort', '0.0.0.0', 30080, 'TCP', 'ns1/empty:http', 0],
      ['ExternalIP', '198.18.200.1', 80, 'TCP', 'ns1/empty:http', 0],
    ],
  );
});
