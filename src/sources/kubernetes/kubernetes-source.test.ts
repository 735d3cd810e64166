import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { V1Node } from '@kubernetes/client-node';
import {
  nodeObject,
  serviceObject,
  sliceObject,
  startTestApiServer,
  type RunningApiServer,
} from '../../../test/support/apiserver/index.ts';
import { KprError } from '../../util/errors.ts';
import { memoryLogger } from '../../util/log.ts';
import { RecordingHandler } from '../file/testing.ts';
import { KubernetesSource } from './kubernetes-source.ts';

const NODE = 'kpr-t-node-a';

class Recorder extends RecordingHandler {
  readonly nodes: (V1Node | undefined)[] = [];
  onNode(node: V1Node | undefined): void {
    this.nodes.push(node);
  }
  /** `ns/name:set|del` for every event, in order. */
  get log(): string[] {
    return this.events.map((e) => `${e.type}:${e.key}:${e.value ? 'set' : 'del'}`);
  }
}

let api: RunningApiServer;
let source: KubernetesSource | undefined;
let logger: ReturnType<typeof memoryLogger>;

beforeEach(async () => {
  api = await startTestApiServer();
  logger = memoryLogger();
});

afterEach(async () => {
  await source?.stop();
  source = undefined;
  await api.close();
});

async function start(opts: { resyncMs?: number } = {}): Promise<Recorder> {
  const h = new Recorder();
  source = new KubernetesSource({
    kubeconfig: api.kubeconfig,
    nodeName: NODE,
    log: logger,
    backoff: { initialMs: 50, maxMs: 400 },
    resyncMs: opts.resyncMs,
  });
  await source.start(h);
  return h;
}

async function synced(h: Recorder): Promise<void> {
  await h.waitFor('onSynced', () => h.syncedAfter !== undefined, 5000);
}

/** For conditions the recorder is not notified about (the Node). */
async function until(what: string, pred: () => boolean, timeoutMs = 3000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

function port(h: Recorder, key: string): number | undefined {
  return h.services.get(key)?.spec?.ports?.[0]?.port;
}

function lists(resource: string): number {
  return api.server.requests.filter((r) => r.resource === resource && !r.watch).length;
}

describe('KubernetesSource: initial sync', () => {
  it('calls onSynced only once Services, EndpointSlices and the Node are all listed', async () => {
    const s = api.server;
    s.put('services', serviceObject('web', '198.18.40.1'));
    s.put('services', serviceObject('db', '198.18.40.2', { namespace: 'shop' }));
    s.put('endpointslices', sliceObject('web-1', 'web', ['198.18.41.1', '198.18.41.2']));
    s.put('nodes', nodeObject(NODE, { 'topology.kubernetes.io/zone': 'z1' }));
    s.put('nodes', nodeObject('kpr-t-other-node'));
    s.pauseLists('endpointslices');
    const h = await start();
    await h.waitFor('services', () => h.services.size === 2, 5000);
    await sleep(150);
    assert.equal(h.syncedAfter, undefined, 'not synced while EndpointSlices are unlisted');
    s.resumeLists('endpointslices');
    await synced(h);
    assert.equal(h.syncedAfter, 3, 'all initial objects come before onSynced');
    assert.deepEqual([...h.slices.keys()], ['default/web-1']);
    assert.equal(h.slices.get('default/web-1')?.endpoints?.length, 2);
    assert.deepEqual(
      h.nodes.map((n) => n?.metadata?.name),
      [NODE],
      'only this node',
    );
    assert.equal(h.nodes[0]?.metadata?.labels?.['topology.kubernetes.io/zone'], 'z1');
    // Services are validated and defaulted on the way (protocol is always set).
    assert.equal(h.services.get('shop/db')?.spec?.ports?.[0]?.protocol, 'TCP');
  });

  it('syncs on an empty cluster and when this Node does not exist', async () => {
    const h = await start();
    await synced(h);
    assert.equal(h.events.length, 0);
    assert.deepEqual(h.nodes, []);
  });

  it('rejects start() with advice when the kubeconfig cannot be read', async () => {
    const s = new KubernetesSource({
      kubeconfig: '/nonexistent/kpr-t-kubeconfig',
      nodeName: NODE,
      log: memoryLogger(),
    });
    await assert.rejects(s.start(new Recorder()), (e: unknown) => {
      assert.ok(e instanceof KprError);
      assert.equal(e.code, 'KPR_ERR_KUBECONFIG');
      assert.match(e.message, /--kubeconfig/);
      return true;
    });
  });
});

describe('KubernetesSource: following changes', () => {
  it('delivers creates, updates and deletes of Services, slices and the Node', async () => {
    const s = api.server;
    s.put('services', serviceObject('web', '198.18.40.1'));
    const h = await start();
    await synced(h);
    s.put('services', serviceObject('web', '198.18.40.1', { port: 81 }));
    s.put('endpointslices', sliceObject('web-1', 'web', ['198.18.41.1']));
    s.put('services', serviceObject('api', '198.18.40.3'));
    await h.waitFor(
      'updates',
      () => port(h, 'default/web') === 81 && h.services.has('default/api'),
    );
    await h.waitFor('slice', () => h.slices.has('default/web-1'));
    s.delete('services', 'default', 'api');
    s.delete('endpointslices', 'default', 'web-1');
    await h.waitFor('deletes', () => !h.services.has('default/api') && h.slices.size === 0);
    s.put('nodes', nodeObject(NODE));
    await until('node', () => h.nodes.length === 1);
    s.delete('nodes', '', NODE);
    await until('node deleted', () => h.nodes.length === 2);
    assert.equal(h.nodes[1], undefined);
    // Each resource is its own watch: order holds within a resource, not across them.
    assert.deepEqual(
      h.log.filter((e) => e.startsWith('service:')),
      [
        'service:default/web:set',
        'service:default/web:set',
        'service:default/api:set',
        'service:default/api:del',
      ],
    );
    assert.deepEqual(
      h.log.filter((e) => e.startsWith('slice:')),
      ['slice:default/web-1:set', 'slice:default/web-1:del'],
    );
    assert.deepEqual(h.invalid, []);
  });

  it("applies kube-proxy's selector: other proxies' and headless objects are left out", async () => {
    const s = api.server;
    const other = { 'service.kubernetes.io/service-proxy-name': 'someone-else' };
    s.put('services', serviceObject('mine', '198.18.40.1'));
    s.put('services', serviceObject('theirs', '198.18.40.2', { labels: other }));
    s.put(
      'endpointslices',
      sliceObject('hl-1', 'hl', ['198.18.41.9'], {
        labels: { 'service.kubernetes.io/headless': '' },
      }),
    );
    const h = await start();
    await synced(h);
    assert.deepEqual([...h.services.keys()], ['default/mine']);
    assert.equal(h.slices.size, 0);
    // Labelling a Service for another proxy removes it from kpr's view (a DELETED watch event).
    s.put('services', serviceObject('mine', '198.18.40.1', { labels: other }));
    await h.waitFor('mine leaves', () => h.services.size === 0);
    s.put('services', serviceObject('theirs', '198.18.40.2'));
    await h.waitFor('theirs joins', () => h.services.has('default/theirs'));
  });
});

describe('KubernetesSource: surviving the API server', () => {
  it('reconnects dropped watches without losing or repeating anything', async () => {
    const s = api.server;
    s.put('services', serviceObject('web', '198.18.40.1'));
    const h = await start();
    await synced(h);
    await until('watching', () => s.watchCount === 3);
    for (let i = 0; i < 3; i++) {
      s.bookmark();
      s.dropWatches();
      // Written while the client is reconnecting: replayed from its resourceVersion.
      s.put('services', serviceObject(`svc-${i}`, `198.18.40.${10 + i}`));
      s.put('services', serviceObject('web', '198.18.40.1', { port: 90 + i }));
      await h.waitFor(`round ${i}`, () => port(h, 'default/web') === 90 + i);
    }
    await h.waitFor('all', () => h.services.size === 4);
    assert.deepEqual(h.log, [
      'service:default/web:set',
      'service:default/svc-0:set',
      'service:default/web:set',
      'service:default/svc-1:set',
      'service:default/web:set',
      'service:default/svc-2:set',
      'service:default/web:set',
    ]);
    assert.equal(lists('services'), 1, 'resumed from the resourceVersion, no re-list');
  });

  it('re-lists cleanly after 410 Gone: gap deletes once, no duplicates', async () => {
    const s = api.server;
    for (const n of ['keep', 'change', 'gone'])
      s.put('services', serviceObject(n, `198.18.40.${n.length}`));
    s.put('endpointslices', sliceObject('gone-1', 'gone', ['198.18.41.1']));
    const h = await start();
    await synced(h);
    await until('watching', () => s.watchCount === 3);
    const before = h.events.length;
    // All at once, so that the client reconnects only after the history is gone.
    s.dropWatches();
    s.delete('services', 'default', 'gone');
    s.delete('endpointslices', 'default', 'gone-1');
    s.put('services', serviceObject('change', '198.18.40.6', { port: 99 }));
    s.put('services', serviceObject('new', '198.18.40.20'));
    s.expire();
    await h.waitFor('re-list', () => lists('services') === 2 && h.services.has('default/new'));
    await h.waitFor('slice gone', () => h.slices.size === 0);
    await sleep(100);
    assert.deepEqual(h.log.slice(before).sort(), [
      'service:default/change:set',
      'service:default/gone:del',
      'service:default/new:set',
      'slice:default/gone-1:del',
    ]);
    assert.equal(port(h, 'default/change'), 99);
    assert.ok(h.services.has('default/keep'));
  });

  it('rides out an API server outage: backoff, no deletes while down, catch-up after', async () => {
    const s = api.server;
    s.put('services', serviceObject('web', '198.18.40.1'));
    s.put('services', serviceObject('old', '198.18.40.2'));
    const h = await start();
    await synced(h);
    await until('watching', () => s.watchCount === 3);
    const before = h.events.length;
    await s.stop();
    // Changed "in etcd" while the API server is down.
    s.delete('services', 'default', 'old');
    s.put('services', serviceObject('web', '198.18.40.1', { port: 8443 }));
    await sleep(1500);
    assert.equal(h.events.length, before, 'nothing emitted while the API server is down');
    const lost = logger.lines.filter((l) => l.includes('lost the API server'));
    assert.ok(lost.length >= 1 && lost.length <= 3, 'one warning per informer, not per retry');
    const delays = logger.lines
      .filter((l) => l.includes('retryInMs') && l.includes('"informer":"services"'))
      .map((l) => (JSON.parse(l) as { retryInMs: number }).retryInMs);
    assert.ok(delays.length >= 3, `retried ${delays.length} times`);
    assert.ok(delays.at(-1)! > delays[0]!, `backoff grows: ${delays.join(', ')}`);
    assert.ok(Math.max(...delays) <= 400 * 1.2, 'backoff is capped');
    s.expire(); // a restart may lose the watch cache too
    await s.start();
    await h.waitFor(
      'caught up',
      () => port(h, 'default/web') === 8443 && h.services.size === 1,
      5000,
    );
    await sleep(100);
    assert.deepEqual(h.log.slice(before).sort(), [
      'service:default/old:del',
      'service:default/web:set',
    ]);
    assert.ok(logger.lines.some((l) => l.includes('API server reachable again')));
  });

  it('retries failed lists and never emits deletes for them', async () => {
    const s = api.server;
    s.put('services', serviceObject('web', '198.18.40.1'));
    s.failRequests(4, 503);
    const h = await start();
    await synced(h);
    assert.deepEqual(h.log, ['service:default/web:set']);
  });

  it('re-lists periodically when resyncMs is set, emitting only real differences', async () => {
    const s = api.server;
    s.put('services', serviceObject('web', '198.18.40.1'));
    const h = await start({ resyncMs: 150 });
    await synced(h);
    await until('two re-lists', () => lists('services') >= 3);
    assert.deepEqual(h.log, ['service:default/web:set']);
  });

  it('emits nothing after stop()', async () => {
    const h = await start();
    await synced(h);
    await source!.stop();
    api.server.put('services', serviceObject('late', '198.18.40.9'));
    await sleep(100);
    assert.equal(h.events.length, 0);
  });
});
