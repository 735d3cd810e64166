import { test } from 'node:test';
import assert from 'node:assert/strict';
import { base32, endpointChain, serviceChains, servicePortName } from './names.ts';

test('base32 matches RFC 4648 test vectors', () => {
  const enc = (s: string) => base32(new TextEncoder().encode(s));
  assert.equal(enc(''), '');
  assert.equal(enc('f'), 'MY');
  assert.equal(enc('fo'), 'MZXQ');
  assert.equal(enc('foo'), 'MZXW6');
  assert.equal(enc('foob'), 'MZXW6YQ');
  assert.equal(enc('fooba'), 'MZXW6YTB');
  assert.equal(enc('foobar'), 'MZXW6YTBOI');
});

test('service chain names match kube-proxy test vectors', () => {
  const cases: [string, string, string][] = [
    ['ns1/svc1:p80', 'TCP', 'KUBE-SVC-XPGD46QRK7WJZT7O'],
    ['ns4/svc4:p80', 'TCP', 'KUBE-SVC-4SW47YFZTEDKD3PK'],
    ['kube-system/kube-dns:dns', 'UDP', 'KUBE-SVC-TCOU7JCQXEZGVUNU'],
    ['kube-system/kube-dns:dns-tcp', 'TCP', 'KUBE-SVC-ERIFXISQEP7F7OF4'],
    ['default/kubernetes:https', 'TCP', 'KUBE-SVC-NPX46M4PTMTKRN6Y'],
  ];
  for (const [name, proto, want] of cases) {
    const c = serviceChains(name, proto);
    assert.equal(c.svc, want, name);
    const h = want.slice('KUBE-SVC-'.length);
    assert.deepEqual(c, {
      svc: want,
      svl: `KUBE-SVL-${h}`,
      ext: `KUBE-EXT-${h}`,
      fw: `KUBE-FW-${h}`,
    });
  }
});

test('endpoint chain names match kube-proxy test vectors', () => {
  assert.equal(endpointChain('ns4/svc4:p80', 'TCP', '10.180.0.4', 80), 'KUBE-SEP-UKSFD7AGPMPPLUHC');
  assert.equal(endpointChain('ns4/svc4:p80', 'TCP', '10.180.0.5', 80), 'KUBE-SEP-C6EBXVWJJZMIWKLZ');
});

test('servicePortName omits the colon for unnamed ports', () => {
  assert.equal(servicePortName({ namespace: 'a', name: 'b', portName: '' }), 'a/b');
  assert.equal(servicePortName({ namespace: 'a', name: 'b', portName: 'http' }), 'a/b:http');
});
