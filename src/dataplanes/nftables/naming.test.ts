import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  base32,
  canonicalIPv4Cidr,
  endpointChainBase,
  hashAndTruncate,
  isCanonicalIPv4,
  quoteComment,
  servicePortChainBase,
} from './naming.ts';
import { servicePort } from './fixtures.ts';

// Vectors from kube-proxy's nftables golden tests (see reference §2.4); the addresses are only
// hash inputs here, nothing is programmed with them.
test('chain names match kube-proxy vectors', () => {
  const svc = (ns: string, name: string) => servicePort({ namespace: ns, name, portName: 'p80' });
  assert.equal(
    `service-${servicePortChainBase(svc('ns1', 'svc1'))}`,
    'service-ULMVA6XW-ns1/svc1/tcp/p80',
  );
  assert.equal(
    `service-${servicePortChainBase(svc('ns4', 'svc4'))}`,
    'service-LAUZTJTB-ns4/svc4/tcp/p80',
  );
  assert.equal(
    `service-${servicePortChainBase(svc('ns5', 'svc5'))}`,
    'service-HVFWP5L3-ns5/svc5/tcp/p80',
  );
  assert.equal(
    `endpoint-${endpointChainBase(svc('ns1', 'svc1'), '10.180.0.1', 80)}`,
    'endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80',
  );
  assert.equal(
    `endpoint-${endpointChainBase(svc('ns4', 'svc4'), '10.180.0.4', 80)}`,
    'endpoint-UNZV3OEC-ns4/svc4/tcp/p80__10.180.0.4/80',
  );
  assert.equal(
    `endpoint-${endpointChainBase(svc('ns4', 'svc4'), '10.180.0.5', 80)}`,
    'endpoint-5RFCDDV7-ns4/svc4/tcp/p80__10.180.0.5/80',
  );
  assert.equal(
    `affinity-${endpointChainBase(svc('ns5', 'svc5'), '10.180.0.3', 80)}`,
    'affinity-GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80',
  );
});

test('base32 is RFC 4648', () => {
  assert.equal(base32(Buffer.from('foobar')), 'MZXW6YTBOI');
  assert.equal(base32(Buffer.from('f')), 'MY');
});

test('long names are truncated to 240 characters with "..."', () => {
  const long = 'a'.repeat(300);
  const name = hashAndTruncate([long], ['']);
  assert.equal(name.length, 240);
  assert.ok(name.endsWith('...'));
  assert.match(name, /^[A-Z2-7]{8}-a+\.\.\.$/);
});

test('escaping keeps the hash of the raw name, so escaped look-alikes stay distinct', () => {
  const a = hashAndTruncate(['a b'], ['']);
  const b = hashAndTruncate(['a;b'], ['']);
  assert.equal(a.slice(9), 'a_b');
  assert.equal(b.slice(9), 'a_b');
  assert.notEqual(a, b);
  assert.match(hashAndTruncate(['x"} ; flush ruleset\n#'], ['']), /^[A-Z2-7]{8}-[A-Za-z0-9._-]+$/);
});

test('comments are quoted, stripped of quotes and bounded', () => {
  assert.equal(quoteComment('ns/svc:http'), '"ns/svc:http"');
  assert.equal(quoteComment('a"b\n;c'), '"a_b__c"');
  assert.equal(quoteComment('x'.repeat(500)).length, 130);
});

test('IPv4 and CIDR validation', () => {
  assert.ok(isCanonicalIPv4('198.18.0.1'));
  for (const bad of ['198.18.0.01', '198.18.0', '198.18.0.1 ', '::1', '198.18.0.1; drop', ''])
    assert.ok(!isCanonicalIPv4(bad), bad);
  assert.equal(canonicalIPv4Cidr('198.18.5.9/16'), '198.18.0.0/16');
  assert.equal(canonicalIPv4Cidr('198.18.5.9/32'), '198.18.5.9');
  assert.equal(canonicalIPv4Cidr('198.18.5.9'), '198.18.5.9');
  assert.equal(canonicalIPv4Cidr('0.0.0.0/0'), '0.0.0.0/0');
  for (const bad of [
    '198.18.0.0/33',
    '198.18.0.0/1/2',
    'fd00::/8',
    '198.18.0.0/x',
    '198.18.0.0/-1',
  ])
    assert.equal(canonicalIPv4Cidr(bad), undefined, bad);
});
