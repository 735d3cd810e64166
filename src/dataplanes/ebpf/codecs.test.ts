import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  LAYOUTS,
  decodeBackend,
  decodeSvcKey,
  decodeSvcName,
  decodeSvcValue,
  encodeBackend,
  encodeSvcKey,
  encodeSvcName,
  encodeSvcValue,
  IPPROTO_UDP,
} from './codecs.ts';
import { assertLayouts, btfStructsOfObject, compareLayouts } from './btf.ts';

const OBJ = join(import.meta.dirname, '../../../build/bpf/sock_lb.bpf.o');

test('service key: network-order address and port, host-order slot', () => {
  const b = encodeSvcKey({ vip: '198.18.0.10', port: 8080, proto: IPPROTO_UDP, slot: 3 });
  assert.equal(b.toString('hex'), 'c612000a' + '1f90' + '11' + '00' + '0300' + '0000');
  assert.deepEqual(decodeSvcKey(b), { vip: '198.18.0.10', port: 8080, proto: 17, slot: 3 });
});

test('values round-trip', () => {
  const v = { backendId: 0, count: 10, flags: 3, serviceId: 77 };
  assert.deepEqual(decodeSvcValue(encodeSvcValue(v)), v);
  const be = { ip: '198.19.1.2', port: 53, proto: 17 };
  assert.deepEqual(decodeBackend(encodeBackend(be)), be);
  assert.equal(decodeSvcName(encodeSvcName('ns/a:dns/UDP')), 'ns/a:dns/UDP');
  assert.equal(decodeSvcName(encodeSvcName('x'.repeat(500))).length, 127);
});

test('rejects non-IPv4 addresses', () => {
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
            fields: l.fields.map((fl) => (fl.name === 'service_id' ? { ...fl, offset: 6 } : fl)),
          }
        : l.name === 'kpr_backend'
          ? { ...l, size: 12 }
          : l,
    );
    assert.throws(
      () => assertLayouts(OBJ, readFileSync(OBJ), wrong),
      (e: Error & { code?: string }) =>
        e.code === 'KPR_ERR_EBPF_LAYOUT' &&
        /kpr_svc_value: field service_id is at offset 8 in BTF but 6/.test(e.message) &&
        /kpr_backend: size is 8 in BTF but 12/.test(e.message),
    );
  },
);
