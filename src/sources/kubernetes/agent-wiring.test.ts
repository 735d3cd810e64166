import { afterEach, beforeEach, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent } from '../../agent/agent.ts';
import {
  serviceObject,
  sliceObject,
  startTestApiServer,
  type RunningApiServer,
} from '../../../test/support/apiserver/index.ts';
import { memoryLogger } from '../../util/log.ts';
import { KubernetesSource } from './kubernetes-source.ts';
import { RecordingDataplane } from './testing.ts';

const NODE = 'kpr-t-node-c';
const WEB = 'default/web:http/TCP';

let api: RunningApiServer;
let agent: Agent | undefined;

beforeEach(async () => {
  api = await startTestApiServer();
});

afterEach(async () => {
  await agent?.stop();
  agent = undefined;
  await api.close();
});

async function until(what: string, pred: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

it('API changes reach dataplane.sync through the real Agent', async () => {
  const s = api.server;
  s.put('services', serviceObject('web', '198.18.44.1'));
  s.put('endpointslices', sliceObject('web-1', 'web', ['198.18.45.1', '198.18.45.2']));
  const dp = new RecordingDataplane();
  const log = memoryLogger();
  agent = new Agent({
    nodeName: NODE,
    dataplane: dp,
    source: new KubernetesSource({
      kubeconfig: api.kubeconfig,
      nodeName: NODE,
      log,
      eventRecorder: false,
    }),
    log,
    minSyncPeriodMs: 0,
    syncPeriodMs: 1000,
    fullSyncPeriodMs: Infinity,
  });
  await agent.start();
  await until('first sync', () => dp.syncs.length >= 1);
  const first = dp.syncs[0]!;
  assert.equal(first.full, true);
  assert.deepEqual(
    first.state.get(WEB)?.endpoints.map((e) => e.ip),
    ['198.18.45.1', '198.18.45.2'],
  );

  // An endpoint change in the API is a partial sync naming the service port.
  s.put('endpointslices', sliceObject('web-1', 'web', ['198.18.45.1', '198.18.45.3']));
  await until(
    'endpoint change',
    () => dp.last?.state.get(WEB)?.endpoints.some((e) => e.ip === '198.18.45.3') === true,
  );
  assert.equal(dp.last!.full, false);
  assert.ok(dp.last!.changed.has(WEB));

  // A new Service, then a deleted one.
  s.put('services', serviceObject('api', '198.18.44.2'));
  await until('new service', () => dp.last?.state.has('default/api:http/TCP') === true);
  s.delete('services', 'default', 'web');
  await until('deleted service', () => dp.last?.state.has(WEB) === false);
  assert.ok(dp.last!.changed.has(WEB));

  // While the API server is down, the dataplane keeps what it has: no sync removes anything.
  const n = dp.syncs.length;
  await s.stop();
  await sleep(300);
  assert.equal(dp.syncs.length, n);
  await s.start();
  s.put('services', serviceObject('late', '198.18.44.3'));
  await until('after the outage', () => dp.last?.state.has('default/late:http/TCP') === true);
  assert.ok(dp.last!.state.has('default/api:http/TCP'));
});
