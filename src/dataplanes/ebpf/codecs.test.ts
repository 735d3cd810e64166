import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  LAYOUTS,
  decodeSvcKey,
  decodeSvcValue,
  encodeSvcKey,
  encodeSvcValue,
  IPPROTO_UDP,
  packBackend,
  parseIPv4,
  SVC_NAME_LEN,
  SVC_VALUE_SIZE,
  unpackBackend,
  writeSvcBackends,
} from './codecs.ts';
import { assertLayouts, btfStructsOfObject, compareLayouts } from './btf.ts';

const OBJ = join(import.meta.dirname, '../../../build/bpf/sock_lb.bpf.o');

test('service key: network-order address and port, host-order slot', () => {
  const b = encodeSvcKey({ vip: '198.18.0.10', port: 8080, proto: IPPROTO_UDP, slot: 3 });
  assert.equal(b.toString('hex'), 'c612000a' + '1f90' + '11' + '00' + '0300' + '0000');
  assert.deepEqual(decodeSvcKey(b), { vip: '198.18.0.10', port: 8080, proto: 17, slot: 3 });
});

test('master value: count and flags host order, inline backends network order, name', () => {
  const be = [packBackend(parseIPv4('198.19.1.2'), 53), packBackend(parseIPv4('198.19.1.3'), 5353)];
  const v = { count: 2, flags: 3, backends: be, name: 'ns/a:dns/UDP' };
  const b = encodeSvcValue(v);
  assert.equal(b.length, SVC_VALUE_SIZE);
  assert.equal(
    b.subarray(0, 24).toString('hex'),
    '0200' + '0300' + '00000000' + 'c6130102' + '0035' + '0000' + 'c6130103' + '14e9' + '0000',
  );
  assert.deepEqual(decodeSvcValue(b), v);
  assert.deepEqual(unpackBackend(be[1]!), { ip: '198.19.1.3', port: 5353 });
  const long = decodeSvcValue(
    encodeSvcValue({ count: 0, flags: 0, backends: [], name: 'é'.repeat(200) }),
  );
  assert.equal(
    Buffer.byteLength(long.name),
    SVC_NAME_LEN - 2,
    'cut on a character boundary, NUL kept',
  );
});

test('overflow entries hold backends 16n..16n+15 from position 0', () => {
  const list = Array.from({ length: 20 }, (_, i) => packBackend(parseIPv4('198.19.0.1') + i, 80));
  const b = Buffer.alloc(SVC_VALUE_SIZE);
  writeSvcBackends(b, 0, list, 16, 4);
  assert.deepEqual(decodeSvcValue(b).backends, list.slice(16));
});

test('IPv4 parsing rejects what is not a dotted quad', () => {
  assert.equal(parseIPv4('198.18.0.10'), 0xc612000a);
  for (const bad of ['fd00::1', '1.2.3', '1.2.3.4.5', '256.1.1.1', '01.2.3.4', '1..2.3', ''])
    assert.equal(parseIPv4(bad), -1, bad);
  assert.throws(() => encodeSvcKey({ vip: 'fd00::1', port: 1, proto: 6, slot: 0 }), /not an IPv4/);
});

const haveObj = existsSync(OBJ);
test(
  'codec layouts match the BTF of the built object',
  { skip: haveObj ? false : 'run `make -C bpf` first' },
  () => {
    const btf = btfStructsOfObject(readFileSync(OBJ));
    assert.deepEqual(compareLayouts(LAYOUTS, btf), []);
    assert.equal(btf.get('kpr_svc_key')?.size, 12);
    assert.equal(btf.get('kpr_svc_value')?.size, SVC_VALUE_SIZE);
  },
);

test(
  'a deliberately wrong layout is caught, naming struct and field',
  { skip: haveObj ? false : 'run `make -C bpf` first' },
  () => {
    const wrong = LAYOUTS.map((l) =>
      l.name === 'kpr_svc_value'
        ? {
            ...l,
            fields: l.fields.map((fl) => (fl.name === 'name' ? { ...fl, offset: 72 } : fl)),
          }
        : l.name === 'kpr_backend'
          ? { ...l, size: 12 }
          : l,
    );
    assert.throws(
      () => assertLayouts(OBJ, readFileSync(OBJ), wrong),
      (e: Error & { code?: string }) =>
        e.code === 'KPR_ERR_EBPF_LAYOUT' &&
        /kpr_svc_value: field name is at offset 136 in BTF but 72/.test(e.message) &&
        /kpr_backend: size is 8 in BTF but 12/.test(e.message),
    );
  },
);
