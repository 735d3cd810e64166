import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { renderRuleset } from './render.ts';
import type { RenderOptions, Ruleset } from './render.ts';
import { portState, stateOf } from './test-fixtures.ts';
import type { EndpointInit } from './test-fixtures.ts';
import type { ServicePortState } from '../../model/types.ts';
import { SERVICE_CHAIN_RE, endpointChain, serviceChains } from './names.ts';
import { parseCIDR4, tokenize } from './syntax.ts';

const GOLDEN_DIR = fileURLToPath(new URL('../../../test/golden/iptables/', import.meta.url));
const BUILTIN_TARGETS = new Set([
  'ACCEPT',
  'DROP',
  'REJECT',
  'RETURN',
  'MARK',
  'MASQUERADE',
  'DNAT',
]);

const base: RenderOptions = {
  masqueradeAll: false,
  localCIDR: parseCIDR4('198.18.128.0/17'),
  nodeIPs: ['198.18.0.1'],
  dropInvalid: true,
};

const eps = (...ips: string[]): EndpointInit[] => ips.map((ip) => ({ ip }));
const remote = (...ips: string[]): EndpointInit[] => ips.map((ip) => ({ ip, nodeName: 'node-b' }));

interface Scenario {
  readonly name: string;
  readonly state: ServicePortState[];
  readonly opts?: Partial<RenderOptions>;
}

const scenarios: Scenario[] = [
  {
    name: 'clusterip-1ep',
    state: [portState({ namespace: 'ns1', name: 'svc1' }, eps('198.18.128.1'))],
  },
  {
    name: 'clusterip-2ep',
    state: [portState({ namespace: 'ns1', name: 'svc1' }, eps('198.18.128.2', '198.18.128.1'))],
  },
  {
    name: 'clusterip-3ep',
    state: [
      portState(
        { namespace: 'ns1', name: 'svc1' },
        eps('198.18.128.1', '198.18.128.3', '198.18.128.2'),
      ),
    ],
  },
  {
    name: 'no-endpoints',
    state: [portState({ namespace: 'ns1', name: 'svc1', nodePort: 30080, type: 'NodePort' })],
  },
  {
    name: 'terminating-only',
    state: [
      portState({ namespace: 'ns1', name: 'svc1' }, [
        { ip: '198.18.128.1', ready: false, serving: true, terminating: true },
        { ip: '198.18.128.2', ready: false, serving: false, terminating: true },
      ]),
    ],
  },
  {
    name: 'nodeport',
    state: [
      portState(
        { namespace: 'ns1', name: 'svc1', type: 'NodePort', nodePort: 30080 },
        eps('198.18.128.1'),
      ),
    ],
  },
  {
    name: 'loadbalancer-source-ranges',
    state: [
      portState(
        {
          namespace: 'ns1',
          name: 'svc1',
          type: 'LoadBalancer',
          nodePort: 30080,
          loadBalancerIPs: ['198.19.1.1'],
          loadBalancerSourceRanges: ['198.18.0.0/24', ' 198.19.2.7/24 ', '2001:db8::/64'],
        },
        eps('198.18.128.1'),
      ),
    ],
  },
  {
    name: 'external-ips',
    state: [
      portState(
        { namespace: 'ns1', name: 'svc1', externalIPs: ['198.19.3.1', '2001:db8::1'] },
        eps('198.18.128.1'),
      ),
      portState({
        namespace: 'ns1',
        name: 'svc2',
        clusterIPs: ['198.19.0.11'],
        externalIPs: ['198.19.3.2'],
      }),
    ],
  },
  {
    name: 'etp-local',
    state: [
      portState(
        {
          namespace: 'ns1',
          name: 'with-local',
          type: 'LoadBalancer',
          nodePort: 30080,
          healthCheckNodePort: 30999,
          loadBalancerIPs: ['198.19.1.1'],
          externalTrafficPolicy: 'Local',
        },
        [...eps('198.18.128.1'), ...remote('198.18.129.1')],
      ),
      portState(
        {
          namespace: 'ns1',
          name: 'without-local',
          clusterIPs: ['198.19.0.11'],
          type: 'LoadBalancer',
          nodePort: 30081,
          healthCheckNodePort: 30998,
          loadBalancerIPs: ['198.19.1.2'],
          externalTrafficPolicy: 'Local',
        },
        remote('198.18.129.2'),
      ),
    ],
  },
  {
    name: 'itp-local',
    state: [
      portState({ namespace: 'ns1', name: 'with-local', internalTrafficPolicy: 'Local' }, [
        ...eps('198.18.128.1'),
        ...remote('198.18.129.1'),
      ]),
      portState(
        {
          namespace: 'ns1',
          name: 'without-local',
          clusterIPs: ['198.19.0.11'],
          internalTrafficPolicy: 'Local',
        },
        remote('198.18.129.2'),
      ),
    ],
  },
  {
    name: 'affinity',
    state: [
      portState(
        {
          namespace: 'ns1',
          name: 'svc1',
          sessionAffinity: 'ClientIP',
          sessionAffinityTimeoutSeconds: 300,
        },
        eps('198.18.128.1', '198.18.128.2'),
      ),
    ],
  },
  {
    name: 'multi-port',
    state: [
      portState({ namespace: 'ns1', name: 'svc1', portName: 'http' }, eps('198.18.128.1')),
      portState(
        { namespace: 'ns1', name: 'svc1', portName: 'https', port: 443, targetPort: 8443 },
        [{ ip: '198.18.128.1', port: 8443 }],
      ),
    ],
  },
  {
    name: 'udp',
    state: [
      portState(
        { namespace: 'kube-system', name: 'kube-dns', portName: 'dns', protocol: 'UDP', port: 53 },
        [{ ip: '198.18.128.1', port: 53 }],
      ),
      portState(
        { namespace: 'ns1', name: 'unnamed', portName: '', clusterIPs: ['198.19.0.11'] },
        eps('198.18.128.2'),
      ),
    ],
  },
  {
    name: 'masquerade-all',
    state: [portState({ namespace: 'ns1', name: 'svc1' }, eps('198.18.128.1'))],
    opts: { masqueradeAll: true, localCIDR: undefined, dropInvalid: false },
  },
  {
    name: 'large-cluster',
    state: [
      portState(
        { namespace: 'ns1', name: 'svc1' },
        eps('198.18.128.1', '198.18.128.2', '198.18.128.3'),
      ),
    ],
    opts: { largeClusterThreshold: 2 },
  },
  {
    name: 'hostile-names',
    state: [
      portState(
        {
          namespace: 'evil"ns',
          name: 'svc\n-A INPUT -j ACCEPT\n#',
          portName: `p" -j ACCEPT -m comment --comment "x\\`,
          clusterIPs: ['198.19.0.10 -j ACCEPT', '198.19.0.12'],
          externalIPs: ['198.19.3.1\n-A INPUT -j ACCEPT'],
          loadBalancerIPs: ['198.19.1.1'],
          loadBalancerSourceRanges: ['0.0.0.0/0 -j ACCEPT'],
          type: 'LoadBalancer',
          nodePort: 30080,
        },
        [
          { ip: '198.18.128.1' },
          { ip: '198.18.128.9 -j ACCEPT' },
          { ip: '198.18.128.2', port: 70000 },
        ],
      ),
    ],
  },
];

function render(
  s: Scenario,
  changed?: ReadonlySet<string>,
  existing: Iterable<string> = [],
): Ruleset {
  return renderRuleset(
    { state: stateOf(...s.state), changed, existingChains: new Set(existing) },
    { ...base, ...s.opts },
  );
}

/** Asserts the restore input is well formed and every jump goes somewhere that exists. */
function checkStructure(rs: Ruleset, alsoExisting: ReadonlySet<string> = new Set()): void {
  let declared = new Set<string>();
  let table = '';
  for (const l of rs.text.trimEnd().split('\n')) {
    assert.match(
      l,
      /^(\*filter|\*nat|COMMIT|:KUBE-[A-Z0-9-]+ - \[0:0\]|-[AX] KUBE-[A-Z0-9-]+( .*)?)$/,
      `bad line ${l}`,
    );
    if (l.startsWith('*')) {
      table = l;
      declared = new Set();
    } else if (l.startsWith(':')) declared.add(l.slice(1, l.indexOf(' ')));
    if (!l.startsWith('-A ')) continue;
    const tok = tokenize(l);
    assert.ok(declared.has(tok[1]!), `${table}: rule in undeclared chain: ${l}`);
    const jumps = tok.flatMap((t, i) => (t === '-j' || t === '-g' ? [tok[i + 1]!] : []));
    assert.ok(jumps.length <= 1, `more than one target: ${l}`);
    if (jumps.length === 0) assert.match(l, /will be dropped by KUBE-PROXY-FIREWALL/);
    for (const j of jumps) {
      const ok =
        BUILTIN_TARGETS.has(j) || declared.has(j) || (table === '*nat' && alsoExisting.has(j));
      assert.ok(ok, `${table}: jump to undeclared chain ${j}: ${l}`);
    }
    // A comment is one token: never more than one --comment, and no quote survives inside it.
    const comments = tok.filter((t) => t === '--comment').length;
    assert.ok(comments <= 1, `comment injection: ${l}`);
  }
}

for (const s of scenarios) {
  test(`golden: ${s.name}`, async () => {
    const rs = render(s);
    checkStructure(rs);
    const file = join(GOLDEN_DIR, `${s.name}.rules`);
    if (process.env.UPDATE_GOLDEN === '1') {
      await mkdir(GOLDEN_DIR, { recursive: true });
      await writeFile(file, rs.text);
    }
    assert.equal(
      rs.text,
      await readFile(file, 'utf8'),
      `${file} differs (UPDATE_GOLDEN=1 rewrites it)`,
    );
  });
}

test('probabilities are 1/(n-i) with ten decimals and the last rule is unconditional', () => {
  const rs = render(scenarios.find((s) => s.name === 'clusterip-3ep')!);
  const svc = serviceChains('ns1/svc1:p80', 'TCP').svc;
  const probs = rs.text
    .split('\n')
    .filter((l) => l.startsWith(`-A ${svc} `) && l.includes('-> '))
    .map((l) => /--probability (\S+)/.exec(l)?.[1]);
  assert.deepEqual(probs, ['0.3333333333', '0.5000000000', undefined]);
});

test('hostile names cannot add rules or targets', () => {
  const rs = render(scenarios.find((s) => s.name === 'hostile-names')!);
  assert.ok(
    !/^-A (INPUT|FORWARD|OUTPUT|PREROUTING|POSTROUTING) /m.test(rs.text),
    'no built-in chain rule',
  );
  for (const l of rs.text
    .split('\n')
    .filter((x) => x.startsWith('-A ') && !x.startsWith('-A KUBE-FORWARD '))) {
    const tok = tokenize(l);
    assert.ok(!tok.includes('ACCEPT'), `injected ACCEPT: ${l}`);
  }
  assert.ok(rs.warnings.some((w) => w.includes('invalid cluster IP')));
  assert.ok(rs.warnings.some((w) => w.includes('invalid endpoint')));
  assert.ok(rs.warnings.some((w) => w.includes('invalid source range')));
  // The valid parts are still programmed.
  assert.match(rs.text, /-d 198\.19\.0\.12 --dport 80 -j KUBE-SVC-/);
  assert.match(rs.text, /DNAT --to-destination 198\.18\.128\.1:8080/);
});

test('matches the kube-proxy restore format for a two-endpoint service', () => {
  // The lines of the format illustration in the kube-proxy reference (§1.7).
  const st = portState({ namespace: 'ns4', name: 'svc4', clusterIPs: ['172.30.0.44'] }, [
    { ip: '10.180.0.4', port: 80 },
    { ip: '10.180.0.5', port: 80 },
  ]);
  const rs = renderRuleset(
    { state: stateOf(st), changed: undefined, existingChains: new Set() },
    { ...base, localCIDR: parseCIDR4('10.0.0.0/8') },
  );
  const lines = new Set(rs.text.split('\n'));
  for (const want of [
    ':KUBE-SVC-4SW47YFZTEDKD3PK - [0:0]',
    '-A KUBE-SERVICES -m comment --comment "ns4/svc4:p80 cluster IP" -m tcp -p tcp -d 172.30.0.44 --dport 80 -j KUBE-SVC-4SW47YFZTEDKD3PK',
    '-A KUBE-SVC-4SW47YFZTEDKD3PK -m comment --comment "ns4/svc4:p80 cluster IP" -m tcp -p tcp -d 172.30.0.44 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ',
    '-A KUBE-SVC-4SW47YFZTEDKD3PK -m comment --comment "ns4/svc4:p80 -> 10.180.0.4:80" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-UKSFD7AGPMPPLUHC',
    '-A KUBE-SVC-4SW47YFZTEDKD3PK -m comment --comment "ns4/svc4:p80 -> 10.180.0.5:80" -j KUBE-SEP-C6EBXVWJJZMIWKLZ',
    '-A KUBE-SEP-UKSFD7AGPMPPLUHC -m comment --comment ns4/svc4:p80 -s 10.180.0.4 -j KUBE-MARK-MASQ',
    '-A KUBE-SEP-UKSFD7AGPMPPLUHC -m comment --comment ns4/svc4:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.4:80',
  ]) {
    assert.ok(lines.has(want), `missing: ${want}`);
  }
});

test('a partial render rewrites only changed service chains and keeps the others', () => {
  const a = portState({ namespace: 'ns1', name: 'a' }, eps('198.18.128.1'));
  const b = portState(
    { namespace: 'ns1', name: 'b', clusterIPs: ['198.19.0.11'] },
    eps('198.18.128.2'),
  );
  const s: Scenario = { name: 'partial', state: [a, b] };
  const full = render(s);
  const partial = render(s, new Set([a.service.key]), full.activeChains);
  checkStructure(partial, full.activeChains);
  const aChains = serviceChains('ns1/a:p80', 'TCP');
  const bChains = serviceChains('ns1/b:p80', 'TCP');
  assert.ok(partial.writtenChains.includes(aChains.svc));
  assert.ok(
    partial.writtenChains.every(
      (c) => c.startsWith('KUBE-SEP-') || c.endsWith(aChains.svc.slice(9)),
    ),
  );
  assert.equal(partial.writtenChains.length, 2, 'KUBE-SVC and one KUBE-SEP of a');
  assert.ok(!partial.text.includes(`:${bChains.svc}`), 'b is not declared (so not flushed)');
  assert.ok(!partial.text.includes(`-A ${bChains.svc}`));
  assert.ok(partial.text.includes(`-j ${bChains.svc}`), 'KUBE-SERVICES still dispatches to b');
  assert.deepEqual(partial.deletedChains, []);
  // Top-level chains are always rewritten.
  for (const c of [
    ':KUBE-SERVICES',
    ':KUBE-NODEPORTS',
    ':KUBE-EXTERNAL-SERVICES',
    ':KUBE-POSTROUTING',
  ]) {
    assert.ok(partial.text.includes(c), c);
  }
});

test('removed services and endpoints leave stale chains that are flushed and deleted', () => {
  const a = portState({ namespace: 'ns1', name: 'a' }, eps('198.18.128.1', '198.18.128.2'));
  const full = render({ name: 'x', state: [a] });
  const a2 = portState({ namespace: 'ns1', name: 'a' }, eps('198.18.128.1'));
  const existing = [
    ...full.activeChains,
    'KUBE-SVC-AAAAAAAAAAAAAAAA',
    'KUBE-FIREWALL',
    'KUBE-SEP-notours',
  ];
  const next = render({ name: 'x', state: [a2] }, new Set([a2.service.key]), existing);
  const gone = endpointChain('ns1/a:p80', 'TCP', '198.18.128.2', 8080);
  assert.deepEqual(next.deletedChains, [gone, 'KUBE-SVC-AAAAAAAAAAAAAAAA'].sort());
  for (const c of next.deletedChains) {
    assert.ok(next.text.includes(`:${c} - [0:0]\n`), `${c} flushed`);
    assert.ok(next.text.includes(`-X ${c}\n`), `${c} deleted`);
  }
  assert.ok(
    !next.text.includes('KUBE-FIREWALL'),
    'chains that are not per-service chains are never deleted',
  );
  assert.ok(SERVICE_CHAIN_RE.test(next.deletedChains[0]!));
});
