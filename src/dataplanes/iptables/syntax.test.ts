import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cidrContains, commentToken, isIPv4, parseCIDR4, tokenize } from './syntax.ts';

test('comments: bare names stay bare, text is quoted, quoting characters cannot survive', () => {
  assert.equal(commentToken('ns4/svc4:p80'), 'ns4/svc4:p80');
  assert.equal(commentToken('ns4/svc4:p80 cluster IP'), '"ns4/svc4:p80 cluster IP"');
  const evil = 'a" -j ACCEPT \'b\\\n-A INPUT\x00\u00e9`';
  const tok = commentToken(evil);
  assert.equal(tok, '"a_ -j ACCEPT _b__-A INPUT___"');
  assert.equal(tokenize(`-A X -m comment --comment ${tok} -j RETURN`).length, 8);
  assert.equal(commentToken('x'.repeat(400)).length, 255);
  assert.equal(commentToken(''), '_');
});

test('IPv4 parsing is strict', () => {
  for (const ok of ['0.0.0.0', '198.18.0.1', '255.255.255.255']) assert.ok(isIPv4(ok), ok);
  for (const bad of [
    '198.18.0.01',
    '198.18.0',
    '256.1.1.1',
    ' 198.18.0.1',
    '198.18.0.1 -j ACCEPT',
    '::1',
  ]) {
    assert.ok(!isIPv4(bad), bad);
  }
});

test('CIDRs are canonicalized like Go net.ParseCIDR', () => {
  assert.equal(parseCIDR4(' 198.19.2.7/24 ')?.text, '198.19.2.0/24');
  assert.equal(parseCIDR4('198.18.0.1')?.text, '198.18.0.1/32');
  assert.equal(parseCIDR4('0.0.0.0/0')?.text, '0.0.0.0/0');
  assert.equal(parseCIDR4('198.18.0.0/33'), undefined);
  assert.equal(parseCIDR4('198.18.0.0/24 -j ACCEPT'), undefined);
  const c = parseCIDR4('198.18.0.0/15')!;
  assert.ok(cidrContains(c, '198.19.255.255'));
  assert.ok(!cidrContains(c, '198.20.0.0'));
});

test('tokenize follows iptables-save quoting', () => {
  assert.deepEqual(tokenize('-A X -m comment --comment "a b\\"c" -j Y'), [
    '-A',
    'X',
    '-m',
    'comment',
    '--comment',
    'a b"c',
    '-j',
    'Y',
  ]);
  assert.deepEqual(tokenize('-A X --comment ""'), ['-A', 'X', '--comment', '']);
});
