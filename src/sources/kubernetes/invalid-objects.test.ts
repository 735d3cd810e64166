import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { parse } from 'yaml';
import { KubeConfig } from '@kubernetes/client-node';
import { badFixtures } from '../../../test/fixtures/manifests/corpus.ts';
import {
  serviceObject,
  sliceObject,
  startTestApiServer,
  type Resource,
  type RunningApiServer,
  type StoredObject,
} from '../../../test/support/apiserver/index.ts';
import { memoryLogger } from '../../util/log.ts';
import { RecordingHandler } from '../file/testing.ts';
import { ApiEventRecorder, type ApiEventRecorderOptions } from './events.ts';
import { KubernetesSource } from './kubernetes-source.ts';

const NODE = 'kpr-t-node-b';

/** Bad objects the API server itself could hold (it always sets apiVersion and a name). */
const FIXTURES = badFixtures().filter(
  (f) =>
    f.level === 'object' && !['missing-name.yaml', 'unknown-api-version.yaml'].includes(f.file),
);

let api: RunningApiServer;
let source: KubernetesSource | undefined;

beforeEach(async () => {
  api = await startTestApiServer();
});

afterEach(async () => {
  await source?.stop();
  source = undefined;
  await api.close();
});

async function start(events: Partial<ApiEventRecorderOptions> = {}): Promise<RecordingHandler> {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(api.kubeconfig);
  const log = memoryLogger();
  const h = new RecordingHandler();
  source = new KubernetesSource({
    kubeconfig: api.kubeconfig,
    nodeName: NODE,
    log,
    eventRecorder: new ApiEventRecorder({ kubeConfig, nodeName: NODE, log, ...events }),
  });
  await source.start(h);
  await h.waitFor('onSynced', () => h.syncedAfter !== undefined, 5000);
  return h;
}

async function until(what: string, pred: () => boolean, timeoutMs = 3000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

function resourceOf(o: StoredObject): Resource {
  return o.kind === 'EndpointSlice' ? 'endpointslices' : 'services';
}

interface EventView {
  involvedObject: { kind: string; name: string; namespace?: string; uid?: string };
  reason: string;
  type: string;
  message: string;
  count: number;
  source: { component: string; host: string };
  reportingComponent: string;
  reportingInstance: string;
}

function events(): EventView[] {
  return [...api.server.events.values()] as unknown as EventView[];
}

describe('KubernetesSource: invalid objects', () => {
  it('refuses every bad object of the corpus, from a list and from a watch, with one Event each', async () => {
    assert.ok(FIXTURES.length >= 14, `corpus has ${FIXTURES.length} API-representable cases`);
    const objects = FIXTURES.map((f) => parse(f.text) as StoredObject);
    const s = api.server;
    s.put('services', serviceObject('web', '198.18.42.1'));
    for (const o of objects) s.put(resourceOf(o), o);
    const h = await start({ aggregateMs: 50 });
    assert.equal(h.invalid.length, FIXTURES.length, h.invalid.map((e) => e.message).join('\n'));
    assert.ok(h.services.has('default/web'), 'the good Service flows');
    // The same objects again, through the watch this time (raw JSON, not deserialized).
    for (const o of objects)
      s.delete(resourceOf(o), o.metadata.namespace ?? 'default', o.metadata.name);
    for (const o of objects) s.put(resourceOf(o), o);
    s.put('services', serviceObject('after', '198.18.42.2'));
    await h.waitFor(
      'watched',
      () => h.invalid.length === 2 * FIXTURES.length && h.services.has('default/after'),
    );
    for (const f of FIXTURES) {
      const errs = h.invalid.filter((e) => e.object === f.object);
      assert.equal(errs.length, 2, `${f.file}: once from the list, once from the watch`);
      for (const err of errs) {
        assert.equal(err.code, 'KPR_ERR_INVALID_OBJECT');
        assert.equal(err.source, 'api');
        assert.ok(err.message.includes(f.error), `${f.file}: ${err.message} has ${f.error}`);
        assert.match(err.message, /it is not programmed until this is fixed/);
      }
    }
    assert.equal(h.slices.size, 0);
    assert.deepEqual([...h.services.keys()].sort(), ['default/after', 'default/web']);

    // One Event per object, on the Service (or the slice's Service), the repeat folded in.
    await until(
      'events',
      () => events().length === FIXTURES.length && events().every((e) => e.count === 2),
    );
    for (const f of FIXTURES) {
      const [kind, key] = f.object.split(' ') as [string, string];
      const [ns, name] = key.split('/') as [string, string];
      assert.ok(name);
      const o = objects[FIXTURES.indexOf(f)]!;
      const svc = o.metadata.labels?.['kubernetes.io/service-name'];
      const expected =
        kind === 'EndpointSlice' && svc ? { kind: 'Service', name: svc } : { kind, name };
      const ev = events().find((e) => e.message.includes(`${f.object}:`));
      assert.ok(ev, `an Event for ${f.object}`);
      assert.deepEqual(
        { kind: ev.involvedObject.kind, name: ev.involvedObject.name },
        expected,
        f.file,
      );
      assert.equal(ev.involvedObject.namespace, ns);
      assert.equal(ev.type, 'Warning');
      assert.equal(
        ev.reason,
        kind === 'Service' ? 'FailedToProgramService' : 'FailedToProgramEndpoints',
      );
      assert.deepEqual(ev.source, { component: 'kpr', host: NODE });
      assert.equal(ev.reportingComponent, 'kpr');
      assert.equal(ev.reportingInstance, NODE);
      assert.ok(ev.message.includes(f.error));
    }
  });

  it('keeps the last valid version of a Service that turns bad, and folds a hot loop into one Event', async () => {
    const s = api.server;
    const good = serviceObject('hot', '198.18.42.5');
    s.put('services', good);
    s.put('endpointslices', sliceObject('hot-1', 'hot', ['198.18.43.1']));
    const h = await start({ aggregateMs: 100 });
    const bad = structuredClone(good);
    (bad.spec as { ports: { port: number }[] }).ports[0]!.port = 70000;
    const LOOPS = 200;
    for (let i = 0; i < LOOPS; i++) s.put('services', bad);
    await h.waitFor('all refusals', () => h.invalid.length === LOOPS);
    assert.match(
      h.invalid[0]!.message,
      /70000 is outside 1-65535; the last valid version stays in effect/,
    );
    assert.equal(h.services.get('default/hot')?.spec?.ports?.[0]?.port, 80, 'still programmed');
    assert.equal(h.events.filter((e) => !e.value).length, 0, 'nothing deleted');
    await until('count', () => events()[0]?.count === LOOPS);
    assert.equal(events().length, 1);
    const posts = s.requests.filter((r) => r.resource === 'events').length;
    assert.ok(posts <= 4, `${posts} Event requests for ${LOOPS} refusals`);
    // Fixed: the new version applies; deleted: the delete applies.
    s.put('services', serviceObject('hot', '198.18.42.5', { port: 81 }));
    await h.waitFor('fixed', () => h.services.get('default/hot')?.spec?.ports?.[0]?.port === 81);
    s.delete('services', 'default', 'hot');
    await h.waitFor('deleted', () => !h.services.has('default/hot'));
  });

  it('throttles new Events per object', async () => {
    const s = api.server;
    const h = await start({ burst: 3, refillMs: 60_000 });
    for (let p = 0; p < 10; p++) {
      const o = serviceObject('noisy', '198.18.42.6');
      (o.spec as { ports: { port: number }[] }).ports[0]!.port = 70000 + p; // a new message each time
      s.put('services', o);
    }
    await h.waitFor('refusals', () => h.invalid.length === 10);
    await sleep(200);
    assert.equal(events().length, 3);
  });

  it('a deleted Service that was never valid emits no delete', async () => {
    const h = await start();
    const o = serviceObject('never', '198.18.42.7');
    (o.spec as { ports: { port: number }[] }).ports[0]!.port = 0;
    api.server.put('services', o);
    await h.waitFor('refused', () => h.invalid.length === 1);
    api.server.delete('services', 'default', 'never');
    api.server.put('services', serviceObject('marker', '198.18.42.8'));
    await h.waitFor('marker', () => h.services.has('default/marker'));
    assert.deepEqual(
      h.events.map((e) => e.key),
      ['default/marker'],
    );
  });
});
