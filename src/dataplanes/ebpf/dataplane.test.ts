import { test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DataplaneOptions } from '../types.ts';
import { memoryLogger } from '../../util/log.ts';
import { decodeSvcKey, decodeSvcValue, SLOT_BACKENDS } from './codecs.ts';
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

/**
 * The property BPF lookups rely on: for a master with count n, every overflow entry up to
 * backend n-1 exists and every position below n holds a backend.
 */
function assertConsistent(k: FakeKernel): void {
  const svc = k.mapByName('kpr_services').entries;
  for (const [kh, vb] of svc) {
    const key = decodeSvcKey(Buffer.from(kh, 'hex'));
    const v = decodeSvcValue(vb);
    if (key.slot !== 0) continue;
    for (let i = 0; i < v.count; i++) {
      const slot = Math.floor(i / SLOT_BACKENDS);
      const sk = Buffer.from(kh, 'hex');
      sk.writeUInt16LE(slot, 8);
      const entry = svc.get(sk.toString('hex'));
      assert.ok(entry, `master ${key.vip}:${key.port} count ${v.count} but entry ${slot} missing`);
      assert.ok(
        decodeSvcValue(entry).backends[i % SLOT_BACKENDS],
        `master ${key.vip}:${key.port} count ${v.count} but position ${i} is empty`,
      );
    }
  }
}

/** A service with `n` backends 198.19.<gen>.1.. on port 80. */
const wide = (n: number, gen = 0) =>
  servicePortState({
    name: 'wide',
    port: 80,
    clusterIPs: ['198.18.0.20'],
    endpoints: Array.from({ length: n }, (_, i) => `198.19.${gen}.${i + 1}:80`),
  });

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
  // One entry per frontend: backends and owner are inline.
  assert.deepEqual(r, { written: 3, deleted: 0 });
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
  assert.equal(dp.stats().maps.find((m) => m.name === 'kpr_services')?.entries, 3);
  await dp.cleanup();
});

test('a frontend with more than 16 backends spills into overflow entries', { skip }, async () => {
  const dp = newDataplane();
  await dp.start();
  const r = await dp.sync({ state: stateOf([wide(40)]), changed: new Set(), full: true });
  assert.deepEqual(r, { written: 3, deleted: 0 }); // master (0-15), overflow 1 (16-31), 2 (32-39)
  assertConsistent(kernel);
  const [fe] = await dp.list();
  assert.deepEqual(
    fe?.backends.map((b) => b.ip),
    Array.from({ length: 40 }, (_, i) => `198.19.0.${i + 1}`),
  );
  assert.equal(dp.stats().maps.find((m) => m.name === 'kpr_services')?.entries, 3);
  await dp.cleanup();
});

test(
  'incremental grow writes overflow entries before the master count; shrink the reverse',
  { skip },
  async () => {
    const dp = newDataplane();
    await dp.start();
    await dp.sync({ state: stateOf([wide(16)]), changed: new Set(), full: true });
    kernel.log.length = 0;
    // Checked after every single write: a concurrent lookup never finds a hole.
    kernel.afterWrite = assertConsistent;
    const key = wide(0).service.key;
    const step = async (n: number, gen = 0) =>
      dp.sync({ state: stateOf([wide(n, gen)]), changed: new Set([key]), full: false });

    assert.deepEqual(await step(20), { written: 2, deleted: 0 }); // overflow 1, then master
    assert.deepEqual(await step(40), { written: 3, deleted: 0 }); // overflow 1+2, then master
    // 40 -> 20: master (count 20) first, then overflow 1 rewritten (4 left), overflow 2 deleted.
    assert.deepEqual(await step(20, 1), { written: 2, deleted: 1 });
    assert.deepEqual(await step(3, 1), { written: 1, deleted: 1 });
    // An unchanged master is not rewritten when only an overflow entry changes.
    await step(20, 1);
    kernel.log.length = 0;
    const moved = wide(20, 1);
    const eps = [...moved.endpoints.slice(0, 19), moved.endpoints[19]!].map((e, i) =>
      i === 19 ? { ...e, port: 81 } : e,
    );
    const changed = { ...moved, endpoints: eps, clusterEndpoints: eps };
    assert.deepEqual(
      await dp.sync({ state: stateOf([changed]), changed: new Set([key]), full: false }),
      { written: 1, deleted: 0 },
    );
    assert.deepEqual(kernel.log, ['update kpr_services 1']);
    assert.equal((await dp.list())[0]?.backends[19]?.port, 81);

    kernel.log.length = 0;
    await dp.sync({ state: stateOf([]), changed: new Set([key]), full: false });
    assert.deepEqual(kernel.log, ['delete kpr_services 1', 'delete kpr_services 1']);
    assert.equal(kernel.mapByName('kpr_services').entries.size, 0);
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
  assert.deepEqual(r, { written: 1, deleted: 0 }); // the master, now with count 0
  const list = await dp.list();
  assert.equal(list.length, 3);
  assert.deepEqual(list.find((f) => f.port === 53)?.backends, []);
  await dp.cleanup();
});

test('an incremental clusterIP change moves the frontend', { skip }, async () => {
  const dp = newDataplane();
  await dp.start();
  await dp.sync({
    state: stateOf([web(['198.19.0.1:8080']), dns]),
    changed: new Set(),
    full: true,
  });
  const moved = servicePortState({
    name: 'web',
    port: 80,
    clusterIPs: ['198.18.0.11'],
    endpoints: ['198.19.0.1:8080'],
  });
  const r = await dp.sync({
    state: stateOf([moved, dns]),
    changed: new Set([moved.service.key]),
    full: false,
  });
  assert.deepEqual(r, { written: 1, deleted: 2 }); // new clusterIP; old clusterIP and externalIP
  assert.deepEqual(
    (await dp.list()).map((f) => `${f.ip}:${f.port}`),
    ['198.18.0.11:80', '198.18.0.53:53'],
  );
  await dp.cleanup();
});

test('a full resync rewrites only service ports whose content changed', { skip }, async () => {
  const dp = newDataplane();
  await dp.start();
  const state = stateOf([web(['198.19.0.1:8080']), dns, wide(20)]);
  await dp.sync({ state, changed: new Set(), full: true });
  // Same model objects: nothing is derived or written.
  assert.deepEqual(await dp.sync({ state, changed: new Set(), full: true }), {
    written: 0,
    deleted: 0,
  });
  // New but equal objects (the model rebuilt them): derived again, nothing written.
  const again = stateOf([web(['198.19.0.1:8080']), dns, wide(20)]);
  assert.deepEqual(await dp.sync({ state: again, changed: new Set(), full: true }), {
    written: 0,
    deleted: 0,
  });
  // One endpoint of the wide service moves: only its overflow entry is rewritten.
  const moved = wide(20);
  const eps = moved.clusterEndpoints.map((e, i) => (i === 17 ? { ...e, port: 81 } : e));
  const next = new Map(again).set(moved.service.key, { ...moved, clusterEndpoints: eps });
  assert.deepEqual(await dp.sync({ state: next, changed: new Set(), full: true }), {
    written: 1,
    deleted: 0,
  });
  assert.equal(
    (await dp.list()).find((f) => f.port === 80 && f.ip === '198.18.0.20')?.backends[17]?.port,
    81,
  );
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
    // The adopted mirror diffs correctly: only web's two masters change.
    const grown = stateOf([web(['198.19.0.1:8080', '198.19.0.2:8080', '198.19.0.3:8080']), dns]);
    assert.deepEqual(await second.sync({ state: grown, changed: new Set(), full: true }), {
      written: 2,
      deleted: 0,
    });

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
  await dp.sync({ state: stateOf([wide(20), dns]), changed: new Set(), full: true });
  await dp.sync({ state: stateOf([dns]), changed: new Set(), full: true });
  // Simulate a crash between "delete master" and "delete overflow": an orphan entry remains.
  const svc = kernel.mapByName('kpr_services').entries;
  await dp.sync({ state: stateOf([wide(20), dns]), changed: new Set(), full: true });
  for (const k of [...svc.keys()]) {
    const key = decodeSvcKey(Buffer.from(k, 'hex'));
    if (key.slot === 0 && key.vip === '198.18.0.20') svc.delete(k);
  }
  await dp.close();
  const again = newDataplane();
  await again.start();
  assert.deepEqual(await again.sync({ state: stateOf([dns]), changed: new Set(), full: true }), {
    written: 0,
    deleted: 1,
  });
  assert.equal(svc.size, 1);
  await again.cleanup();
});

test(
  'two services claiming one frontend: the smaller key wins, in any order',
  { skip },
  async () => {
    const a = servicePortState({
      name: 'a',
      port: 80,
      clusterIPs: ['198.18.0.9'],
      endpoints: ['198.19.0.1:80'],
    });
    const b = servicePortState({
      name: 'b',
      port: 80,
      clusterIPs: ['198.18.0.9'],
      endpoints: ['198.19.0.2:80'],
    });
    for (const order of [
      [a, b],
      [b, a],
    ]) {
      const dp = newDataplane();
      await dp.start();
      await dp.sync({ state: stateOf(order), changed: new Set(), full: true });
      const [fe] = await dp.list();
      assert.equal(fe?.service, a.service.key);
      await dp.cleanup();
      kernel.prune();
    }
  },
);

test(
  'pins from a kpr with another map layout: the error says to run kpr cleanup',
  { skip },
  async () => {
    const dp = newDataplane();
    await dp.start();
    await dp.close();
    // An older kpr: a 12-byte service value and a separate backends map.
    const m = kernel.mapByName('kpr_services');
    kernel.maps.set(m.fd, { ...m, valueSize: 12 });
    writeFileSync(join(dir, 'pins', 'maps', 'kpr_backends'), '');
    const again = newDataplane();
    await assert.rejects(again.start(), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'KPR_ERR_EBPF_PINNED_LAYOUT');
      assert.match(e.message, /kpr_backends is not a map of this kpr version/);
      assert.match(e.message, /kpr_services has type 1, key 12 B, value 12 B/);
      assert.match(e.message, /run `kpr cleanup`/);
      return true;
    });
    await assert.rejects(again.list(), /KPR_ERR_EBPF_PINNED_LAYOUT|kpr cleanup/);
    await again.cleanup();
  },
);

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
