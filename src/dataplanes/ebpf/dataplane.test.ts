import { test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DataplaneOptions } from '../types.ts';
import { memoryLogger } from '../../util/log.ts';
import { decodeBackend, decodeSvcKey, decodeSvcValue } from './codecs.ts';
import { FakeKernel, FakeLibbpf } from './fake-libbpf.ts';
import { createEbpfDataplane } from './index.ts';
import { servicePortState, stateOf } from './testdata.ts';

const OBJ = join(import.meta.dirname, '../../../build/bpf/sock_lb.bpf.o');
const skip = existsSync(OBJ) ? false : 'run `make -C bpf` first (the loader checks the object BTF)';

let dir: string;
let kernel: FakeKernel;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'kpr-t-ebpf-'));
  kernel = new FakeKernel();
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function options(): DataplaneOptions {
  return {
    nodeName: 'node-a',
    bpfPinDir: join(dir, 'pins'),
    cgroupPath: dir,
    iptablesBackend: undefined,
    nftTable: 'kpr',
    masqueradeAll: false,
    clusterCIDR: undefined,
  };
}
function newDataplane() {
  return createEbpfDataplane(options(), {
    objectPath: OBJ,
    binding: new FakeLibbpf(kernel),
    log: memoryLogger(),
  });
}

/** The property BPF lookups rely on: a master's slots 1..count exist and point at existing backends. */
function assertConsistent(k: FakeKernel): void {
  const svc = k.mapByName('kpr_services').entries;
  const be = k.mapByName('kpr_backends').entries;
  for (const [kh, vb] of svc) {
    const key = decodeSvcKey(Buffer.from(kh, 'hex'));
    const v = decodeSvcValue(vb);
    if (key.slot !== 0) {
      const id = Buffer.alloc(4);
      id.writeUInt32LE(v.backendId);
      assert.ok(
        be.has(id.toString('hex')),
        `slot ${key.vip}:${key.port}#${key.slot} points at missing backend ${v.backendId}`,
      );
      continue;
    }
    for (let s = 1; s <= v.count; s++) {
      const sk = Buffer.from(kh, 'hex');
      sk.writeUInt16LE(s, 8);
      assert.ok(
        svc.has(sk.toString('hex')),
        `master ${key.vip}:${key.port} count ${v.count} but slot ${s} missing`,
      );
    }
  }
}

const web = (eps: string[]) =>
  servicePortState({
    name: 'web',
    port: 80,
    clusterIPs: ['198.18.0.10', 'fd00::10'],
    externalIPs: ['198.18.5.5'],
    endpoints: eps,
  });
const dns = servicePortState({
  name: 'dns',
  port: 53,
  protocol: 'UDP',
  clusterIPs: ['198.18.0.53'],
  endpoints: ['198.19.0.1:5353'],
});

test('full sync uses batch writes and list() reads the frontends back', { skip }, async () => {
  const dp = newDataplane();
  await dp.start();
  const state = stateOf([web(['198.19.0.1:8080', '198.19.0.2:8080', 'fd00::1:8080']), dns]);
  const r = await dp.sync({ state, changed: new Set(), full: true });
  // 2 backends + 1 UDP backend, 2 names, 5 slots (2 per web frontend + 1), 3 masters.
  assert.deepEqual(r, { written: 3 + 2 + 5 + 3, deleted: 0 });
  assert.ok(
    kernel.log.every((l) => l.startsWith('update_batch')),
    kernel.log.join(','),
  );
  const list = await dp.list();
  assert.deepEqual(
    list.map(
      (f) =>
        `${f.kind} ${f.ip}:${f.port}/${f.protocol} ${f.service} -> ${f.backends.map((b) => `${b.ip}:${b.port}`).join(',')}`,
    ),
    [
      'ClusterIP 198.18.0.10:80/TCP default/web:p80/TCP -> 198.19.0.1:8080,198.19.0.2:8080',
      'ClusterIP 198.18.0.53:53/UDP default/dns:p53/UDP -> 198.19.0.1:5353',
      'ExternalIP 198.18.5.5:80/TCP default/web:p80/TCP -> 198.19.0.1:8080,198.19.0.2:8080',
    ],
  );
  // Shared backends are stored once.
  assert.equal(kernel.mapByName('kpr_backends').entries.size, 3);
  assert.equal(dp.stats().maps.find((m) => m.name === 'kpr_services')?.entries, 8);
  await dp.cleanup();
});

test(
  'incremental grow writes backend, then slot, then master count; shrink the reverse',
  { skip },
  async () => {
    const dp = newDataplane();
    await dp.start();
    const one = servicePortState({
      name: 'a',
      port: 80,
      clusterIPs: ['198.18.0.1'],
      endpoints: ['198.19.0.1:80'],
    });
    await dp.sync({ state: stateOf([one]), changed: new Set(), full: true });
    kernel.log.length = 0;
    kernel.afterWrite = assertConsistent;

    const two = servicePortState({
      name: 'a',
      port: 80,
      clusterIPs: ['198.18.0.1'],
      endpoints: ['198.19.0.1:80', '198.19.0.2:80'],
    });
    const r = await dp.sync({
      state: stateOf([two]),
      changed: new Set([two.service.key]),
      full: false,
    });
    assert.deepEqual(kernel.log, [
      'update kpr_backends 1',
      'update kpr_services 1',
      'update kpr_services 1',
    ]);
    assert.deepEqual(r, { written: 3, deleted: 0 });
    const services = kernel.mapByName('kpr_services').entries;
    const master = [...services]
      .map(([k, v]) => [decodeSvcKey(Buffer.from(k, 'hex')), decodeSvcValue(v)] as const)
      .find(([k]) => k.slot === 0);
    assert.equal(master?.[1].count, 2);

    kernel.log.length = 0;
    const shrunk = servicePortState({
      name: 'a',
      port: 80,
      clusterIPs: ['198.18.0.1'],
      endpoints: ['198.19.0.2:80'],
    });
    await dp.sync({
      state: stateOf([shrunk]),
      changed: new Set([shrunk.service.key]),
      full: false,
    });
    // Slot 1 now points at .2 (already present), then the count drops, then slot 2 and backend .1 go.
    assert.deepEqual(kernel.log, [
      'update kpr_services 1',
      'update kpr_services 1',
      'delete kpr_services 1',
      'delete kpr_backends 1',
    ]);
    const be = [...kernel.mapByName('kpr_backends').entries.values()].map(
      (v) => decodeBackend(v).ip,
    );
    assert.deepEqual(be, ['198.19.0.2']);

    kernel.log.length = 0;
    await dp.sync({ state: stateOf([]), changed: new Set([shrunk.service.key]), full: false });
    assert.deepEqual(kernel.log, [
      'delete kpr_services 1',
      'delete kpr_services 1',
      'delete kpr_backends 1',
      'delete kpr_svc_names 1',
    ]);
    assert.equal(services.size, 0);
    await dp.cleanup();
  },
);

test('incremental sync leaves services outside `changed` alone', { skip }, async () => {
  const dp = newDataplane();
  await dp.start();
  await dp.sync({
    state: stateOf([web(['198.19.0.1:8080']), dns]),
    changed: new Set(),
    full: true,
  });
  kernel.log.length = 0;
  const dns2 = servicePortState({
    name: 'dns',
    port: 53,
    protocol: 'UDP',
    clusterIPs: ['198.18.0.53'],
    endpoints: [],
  });
  // web disappears from the state but is not in `changed`: an incremental sync must not touch it.
  const r = await dp.sync({
    state: stateOf([dns2]),
    changed: new Set([dns2.service.key]),
    full: false,
  });
  assert.deepEqual(r, { written: 1, deleted: 2 }); // master count 0; slot 1 and the UDP backend
  const list = await dp.list();
  assert.equal(list.length, 3);
  assert.deepEqual(list.find((f) => f.port === 53)?.backends, []);
  await dp.cleanup();
});

test('internalTrafficPolicy=Local programs only local endpoints', { skip }, async () => {
  const dp = newDataplane();
  await dp.start();
  const s = servicePortState({
    name: 'loc',
    port: 80,
    clusterIPs: ['198.18.0.7'],
    internalTrafficPolicy: 'Local',
    endpoints: ['198.19.0.1:80@local', '198.19.0.2:80'],
  });
  await dp.sync({ state: stateOf([s]), changed: new Set(), full: true });
  assert.deepEqual((await dp.list())[0]?.backends, [{ ip: '198.19.0.1', port: 80 }]);
  await dp.cleanup();
});

test(
  'restart adopts pinned maps and links: first sync writes nothing, links are updated in place',
  { skip },
  async () => {
    const state = stateOf([web(['198.19.0.1:8080', '198.19.0.2:8080']), dns]);
    const first = newDataplane();
    await first.start();
    await first.sync({ state, changed: new Set(), full: true });
    assert.equal(kernel.links.size, 4);
    await first.close();
    assert.equal(kernel.links.size, 4, 'close() leaves programs attached');

    // A separate process can list without start(), from the pins alone.
    const cli = newDataplane();
    assert.equal((await cli.list()).length, 3);

    const second = newDataplane();
    await second.start();
    assert.equal(kernel.links.size, 4, 'no second attachment');
    assert.ok(
      [...kernel.links].every((l) => l.progGen === kernel.loads),
      'links run the new programs',
    );
    kernel.log.length = 0;
    assert.deepEqual(await second.sync({ state, changed: new Set(), full: true }), {
      written: 0,
      deleted: 0,
    });
    assert.deepEqual(kernel.log, []);
    // Ids allocated by the first agent are reused, not duplicated.
    const grown = stateOf([web(['198.19.0.1:8080', '198.19.0.2:8080', '198.19.0.3:8080']), dns]);
    assert.deepEqual(await second.sync({ state: grown, changed: new Set(), full: true }), {
      written: 1 + 2 + 2,
      deleted: 0,
    });
    assert.equal(kernel.mapByName('kpr_backends').entries.size, 4);

    await second.cleanup();
    assert.equal(existsSync(join(dir, 'pins')), false);
    kernel.prune();
    assert.equal(kernel.links.size, 0, 'cleanup detaches');
    await second.cleanup(); // idempotent
    assert.deepEqual(readdirSync(dir), []);
  },
);

test('adoption removes leftovers of an interrupted sync', { skip }, async () => {
  const dp = newDataplane();
  await dp.start();
  await dp.sync({ state: stateOf([dns]), changed: new Set(), full: true });
  // Simulate a crash between "delete master" and "delete slots": an orphan slot remains.
  const svc = kernel.mapByName('kpr_services').entries;
  for (const k of [...svc.keys()]) {
    if (decodeSvcKey(Buffer.from(k, 'hex')).slot === 0) svc.delete(k);
  }
  await dp.close();
  const again = newDataplane();
  await again.start();
  assert.deepEqual(await again.sync({ state: stateOf([]), changed: new Set(), full: true }), {
    written: 0,
    deleted: 3,
  });
  assert.equal(svc.size, 0);
  assert.equal(kernel.mapByName('kpr_backends').entries.size, 0);
  await again.cleanup();
});

test('a pinned map of another size is a clear startup error', { skip }, async () => {
  const dp = newDataplane();
  await dp.start();
  await dp.close();
  const other = createEbpfDataplane(options(), {
    objectPath: OBJ,
    binding: new FakeLibbpf(kernel),
    log: memoryLogger(),
    maxEntries: { services: 1024 },
  });
  await assert.rejects(other.start(), /KPR_ERR_EBPF_MAP_SIZE|capacity but 1024 were requested/);
  await dp.cleanup();
});
