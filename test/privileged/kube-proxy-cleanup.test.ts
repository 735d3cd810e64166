/**
 * Real-kernel test of `kpr cleanup --kube-proxy`: in a network namespace of its own, installs a
 * kube-proxy-like ruleset (iptables-nft, iptables-legacy, ip6tables-nft, and nftables tables named
 * kube-proxy) next to chains and a table that are not kube-proxy's, runs the cleanup, and checks
 * that exactly kube-proxy's state is gone. The namespace (kpr-t-*) is deleted in `after`.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { cleanupKubeProxy } from '../../src/cli/cleanup.ts';
import { run, type CommandRunner } from '../../src/util/exec.ts';
import { memoryLogger } from '../../src/util/log.ts';

const V4_RULES = `*mangle
:KUBE-PROXY-CANARY - [0:0]
COMMIT
*filter
:KUBE-SERVICES - [0:0]
:KUBE-EXTERNAL-SERVICES - [0:0]
:KUBE-FORWARD - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-PROXY-FIREWALL - [0:0]
:KUBE-PROXY-CANARY - [0:0]
:KUBE-FIREWALL - [0:0]
:KUBE-KUBELET-CANARY - [0:0]
:KPR-T-OTHER - [0:0]
-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES
-A INPUT -m comment --comment "kubernetes health check service ports" -j KUBE-NODEPORTS
-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL
-A INPUT -j KUBE-FIREWALL
-A INPUT -j KPR-T-OTHER
-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD
-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -j KUBE-FIREWALL
-A KUBE-FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A KUBE-FIREWALL -d 127.0.0.0/8 ! -s 127.0.0.0/8 -j DROP
-A KPR-T-OTHER -s 198.18.9.9/32 -j DROP
COMMIT
*nat
:KUBE-SERVICES - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-PROXY-CANARY - [0:0]
:KUBE-SVC-ABCDEFGHIJKLMNOP - [0:0]
:KUBE-EXT-ABCDEFGHIJKLMNOP - [0:0]
:KUBE-SEP-QRSTUVWXYZ234567 - [0:0]
:KPR-T-NAT - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
-A POSTROUTING -j KPR-T-NAT
-A KUBE-SERVICES -d 198.18.100.1/32 -p tcp -m tcp --dport 80 -j KUBE-SVC-ABCDEFGHIJKLMNOP
-A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
-A KUBE-NODEPORTS -p tcp -m tcp --dport 30080 -j KUBE-EXT-ABCDEFGHIJKLMNOP
-A KUBE-EXT-ABCDEFGHIJKLMNOP -j KUBE-MARK-MASQ
-A KUBE-EXT-ABCDEFGHIJKLMNOP -j KUBE-SVC-ABCDEFGHIJKLMNOP
-A KUBE-SVC-ABCDEFGHIJKLMNOP -j KUBE-SEP-QRSTUVWXYZ234567
-A KUBE-SEP-QRSTUVWXYZ234567 -p tcp -m tcp -j DNAT --to-destination 198.18.0.2:8080
-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KPR-T-NAT -s 198.18.9.0/24 -j RETURN
COMMIT
`;

const V6_RULES = `*filter
:KUBE-SERVICES - [0:0]
:KPR-T-OTHER6 - [0:0]
-A OUTPUT -m conntrack --ctstate NEW -j KUBE-SERVICES
-A OUTPUT -j KPR-T-OTHER6
COMMIT
`;

const NFT = `table ip kube-proxy {
  chain services {
  }
}
table ip6 kube-proxy {
  chain services {
  }
}
table inet kpr-t-keep {
  chain c {
  }
}
`;

const id = randomBytes(3).toString('hex');
const ns = `kpr-t-kpc-${id}`;
const netns = `/run/netns/${ns}`;
const inNs: CommandRunner = (cmd, args, o = {}) => run(cmd, args, { ...o, netns });
const root = process.getuid?.() === 0;
let legacy = false;

before(async () => {
  if (!root) return;
  await run('ip', ['netns', 'add', ns]);
  await inNs('iptables-nft-restore', ['--noflush'], { input: V4_RULES });
  await inNs('ip6tables-nft-restore', ['--noflush'], { input: V6_RULES });
  // iptables-legacy needs the x_tables modules; where it cannot run, the nft backend still counts.
  legacy =
    (await inNs('iptables-legacy-restore', ['--noflush'], { input: V4_RULES, allowFailure: true }))
      .code === 0;
  await inNs('nft', ['-f', '-'], { input: NFT });
});

after(async () => {
  if (root) await run('ip', ['netns', 'del', ns], { allowFailure: true });
});

test(
  'cleanup --kube-proxy removes kube-proxy state and nothing else',
  { skip: !root && 'needs root' },
  async () => {
    const res = await cleanupKubeProxy(inNs, memoryLogger());
    assert.deepEqual(res.failures, []);
    assert.ok(
      res.removed.includes('iptables-nft: nat/KUBE-SVC-ABCDEFGHIJKLMNOP'),
      res.removed.join('\n'),
    );
    assert.ok(res.removed.includes('nft: ip6 kube-proxy'));

    for (const flavour of legacy ? ['iptables-nft', 'iptables-legacy'] : ['iptables-nft']) {
      const saved = (await inNs(`${flavour}-save`, [])).stdout;
      assert.doesNotMatch(
        saved,
        /KUBE-(SERVICES|NODEPORTS|POSTROUTING|MARK-MASQ|FORWARD|EXTERNAL|PROXY|SVC|SEP|EXT)/,
        flavour,
      );
      // kubelet's chains and everyone else's survive, with their rules and jumps.
      assert.match(saved, /^:KUBE-FIREWALL /m, flavour);
      assert.match(saved, /^:KUBE-KUBELET-CANARY /m, flavour);
      assert.match(saved, /^-A INPUT -j KUBE-FIREWALL$/m, flavour);
      assert.match(saved, /^-A OUTPUT -j KUBE-FIREWALL$/m, flavour);
      assert.match(saved, /^-A KUBE-FIREWALL .*-d 127\.0\.0\.0\/8 .*-j DROP$/m, flavour);
      assert.match(saved, /^-A INPUT -j KPR-T-OTHER$/m, flavour);
      assert.match(saved, /^-A KPR-T-OTHER -s 198\.18\.9\.9\/32 -j DROP$/m, flavour);
      assert.match(saved, /^-A POSTROUTING -j KPR-T-NAT$/m, flavour);
    }
    const v6 = (await inNs('ip6tables-nft-save', [])).stdout;
    assert.doesNotMatch(v6, /KUBE-SERVICES/);
    assert.match(v6, /^-A OUTPUT -j KPR-T-OTHER6$/m);

    const tables = (await inNs('nft', ['list', 'tables'])).stdout;
    assert.doesNotMatch(tables, /kube-proxy/);
    assert.match(tables, /table inet kpr-t-keep/);

    // Idempotent: a second run finds nothing.
    assert.deepEqual(await cleanupKubeProxy(inNs, memoryLogger()), { removed: [], failures: [] });
  },
);
