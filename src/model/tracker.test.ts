import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ChangeTracker } from './tracker.ts';
import { makeService, makeSlice } from './testing.ts';

const ips = (eps: readonly { ip: string }[]) => eps.map((e) => e.ip);

test('a Service and its slice produce one service port with its ready endpoints', () => {
  const t = new ChangeTracker({ nodeName: 'n1' });
  t.updateService('default', 'web', makeService({ name: 'web', clusterIP: '198.19.0.1' }));
  t.updateEndpointSlice(
    'default',
    'web-a',
    makeSlice({
      name: 'web-a',
      service: 'web',
      endpoints: [{ ip: '198.18.0.3' }, { ip: '198.18.0.2' }, { ip: '198.18.0.4', ready: false }],
    }),
  );
  const c = t.commit();
  assert.deepEqual([...c.changed], ['default/web:http/TCP']);
  assert.deepEqual([...c.changedServices], ['default/web']);
  const st = c.state.get('default/web:http/TCP')!;
  assert.equal(st.service.port, 80);
  assert.deepEqual(ips(st.endpoints), ['198.18.0.2', '198.18.0.3', '198.18.0.4']);
  assert.deepEqual(ips(st.clusterEndpoints), ['198.18.0.2', '198.18.0.3']);
  assert.equal(st.hasEndpoints, true);
});

test('changing one slice reports only the affected service port; a no-op update reports nothing', () => {
  const t = new ChangeTracker({ nodeName: 'n1' });
  for (let i = 0; i < 50; i++) {
    t.updateService(
      'default',
      `s${i}`,
      makeService({ name: `s${i}`, clusterIP: `198.19.0.${i + 1}` }),
    );
    t.updateEndpointSlice(
      'default',
      `s${i}-x`,
      makeSlice({ name: `s${i}-x`, service: `s${i}`, endpoints: [{ ip: '198.18.0.2' }] }),
    );
  }
  assert.equal(t.commit().changed.size, 50);
  t.updateEndpointSlice(
    'default',
    's7-x',
    makeSlice({
      name: 's7-x',
      service: 's7',
      endpoints: [{ ip: '198.18.0.2' }, { ip: '198.18.0.9' }],
    }),
  );
  const c = t.commit();
  assert.deepEqual([...c.changed], ['default/s7:http/TCP']);
  t.updateEndpointSlice(
    'default',
    's7-x',
    makeSlice({
      name: 's7-x',
      service: 's7',
      endpoints: [{ ip: '198.18.0.2' }, { ip: '198.18.0.9' }],
    }),
  );
  assert.equal(t.commit().changed.size, 0);
});

test('slices of one Service merge; an endpoint moving between slices keeps the non-terminating copy', () => {
  const t = new ChangeTracker({ nodeName: 'n1' });
  t.updateService('default', 'web', makeService({ name: 'web', clusterIP: '198.19.0.1' }));
  t.updateEndpointSlice(
    'default',
    'a',
    makeSlice({
      name: 'a',
      service: 'web',
      endpoints: [{ ip: '198.18.0.2', ready: false, serving: true, terminating: true }],
    }),
  );
  t.updateEndpointSlice(
    'default',
    'b',
    makeSlice({
      name: 'b',
      service: 'web',
      endpoints: [{ ip: '198.18.0.2' }, { ip: '198.18.0.5' }],
    }),
  );
  const st = t.commit().state.get('default/web:http/TCP')!;
  assert.deepEqual(ips(st.endpoints), ['198.18.0.2', '198.18.0.5']);
  assert.equal(st.endpoints[0]!.terminating, false);
});

test('deleting the Service removes its ports; deleting the slice leaves a port with no endpoints', () => {
  const t = new ChangeTracker({ nodeName: 'n1' });
  t.updateService('default', 'web', makeService({ name: 'web', clusterIP: '198.19.0.1' }));
  t.updateEndpointSlice(
    'default',
    'a',
    makeSlice({ name: 'a', service: 'web', endpoints: [{ ip: '198.18.0.2' }] }),
  );
  t.commit();
  t.updateEndpointSlice('default', 'a', undefined);
  let c = t.commit();
  assert.deepEqual([...c.changed], ['default/web:http/TCP']);
  assert.equal(c.state.get('default/web:http/TCP')!.hasEndpoints, false);
  t.updateService('default', 'web', undefined);
  c = t.commit();
  assert.deepEqual([...c.changed], ['default/web:http/TCP']);
  assert.equal(c.state.size, 0);
});

test('headless, ExternalName and opted-out Services and slices are ignored', () => {
  const t = new ChangeTracker({ nodeName: 'n1' });
  t.updateService('default', 'h', makeService({ name: 'h', clusterIP: 'None' }));
  t.updateService('default', 'x', {
    ...makeService({ name: 'x', clusterIP: '198.19.0.3', type: 'ExternalName' }),
  });
  t.updateService(
    'default',
    'p',
    makeService({
      name: 'p',
      clusterIP: '198.19.0.4',
      labels: { 'service.kubernetes.io/service-proxy-name': 'other' },
    }),
  );
  t.updateService('default', 'ok', makeService({ name: 'ok', clusterIP: '198.19.0.5' }));
  t.updateEndpointSlice(
    'default',
    'ok-a',
    makeSlice({ name: 'ok-a', service: 'ok', endpoints: [{ ip: '198.18.0.2' }] }),
  );
  t.updateEndpointSlice(
    'default',
    'ok-b',
    makeSlice({
      name: 'ok-b',
      service: 'ok',
      endpoints: [{ ip: '198.18.0.3' }],
      labels: { 'service.kubernetes.io/headless': '' },
    }),
  );
  const c = t.commit();
  assert.deepEqual([...c.state.keys()], ['default/ok:http/TCP']);
  assert.deepEqual(ips(c.state.get('default/ok:http/TCP')!.endpoints), ['198.18.0.2']);
});

test('slices of another address family and ports of another name are not mixed in', () => {
  const t = new ChangeTracker({ nodeName: 'n1' });
  t.updateService(
    'default',
    'web',
    makeService({
      name: 'web',
      clusterIP: '198.19.0.1',
      ports: [
        { name: 'http', port: 80, protocol: 'TCP' },
        { name: 'dns', port: 53, protocol: 'UDP' },
      ],
    }),
  );
  t.updateEndpointSlice(
    'default',
    'v6',
    makeSlice({
      name: 'v6',
      service: 'web',
      addressType: 'IPv6',
      endpoints: [{ ip: '2001:db8::1' }],
    }),
  );
  t.updateEndpointSlice(
    'default',
    'v4',
    makeSlice({
      name: 'v4',
      service: 'web',
      ports: [
        { name: 'http', port: 8080, protocol: 'TCP' },
        { name: 'dns', port: 5353, protocol: 'UDP' },
      ],
      endpoints: [{ ip: '198.18.0.2' }],
    }),
  );
  const c = t.commit();
  assert.deepEqual([...c.state.keys()].sort(), ['default/web:dns/UDP', 'default/web:http/TCP']);
  assert.equal(c.state.get('default/web:dns/UDP')!.endpoints[0]!.port, 5353);
  assert.equal(c.state.get('default/web:http/TCP')!.endpoints[0]!.port, 8080);
});

test('a slice whose service-name label changes moves to the other Service', () => {
  const t = new ChangeTracker({ nodeName: 'n1' });
  t.updateService('default', 'a', makeService({ name: 'a', clusterIP: '198.19.0.1' }));
  t.updateService('default', 'b', makeService({ name: 'b', clusterIP: '198.19.0.2' }));
  t.updateEndpointSlice(
    'default',
    's',
    makeSlice({ name: 's', service: 'a', endpoints: [{ ip: '198.18.0.2' }] }),
  );
  t.commit();
  t.updateEndpointSlice(
    'default',
    's',
    makeSlice({ name: 's', service: 'b', endpoints: [{ ip: '198.18.0.2' }] }),
  );
  const c = t.commit();
  assert.deepEqual([...c.changed].sort(), ['default/a:http/TCP', 'default/b:http/TCP']);
  assert.equal(c.state.get('default/a:http/TCP')!.endpoints.length, 0);
  assert.equal(c.state.get('default/b:http/TCP')!.endpoints.length, 1);
});

test("a Service claiming another Service's frontend is refused until the frontend is free", () => {
  const conflicts: string[] = [];
  const t = new ChangeTracker({
    nodeName: 'n1',
    onConflict: (k, fe, owner) => conflicts.push(`${k} ${fe} ${owner}`),
  });
  t.updateService('default', 'first', makeService({ name: 'first', clusterIP: '198.19.0.1' }));
  t.commit();
  t.updateService('default', 'thief', makeService({ name: 'thief', clusterIP: '198.19.0.1' }));
  let c = t.commit();
  assert.deepEqual([...c.state.keys()], ['default/first:http/TCP']);
  assert.deepEqual(conflicts, ['default/thief:http/TCP 198.19.0.1/TCP/80 default/first:http/TCP']);
  t.updateService('default', 'first', undefined);
  c = t.commit();
  assert.deepEqual([...c.state.keys()], ['default/thief:http/TCP']);
  assert.deepEqual([...c.changed].sort(), ['default/first:http/TCP', 'default/thief:http/TCP']);
});

test('LoadBalancer ingress counts only with ipMode VIP or unset; NodePort only for non-ClusterIP types', () => {
  const t = new ChangeTracker({ nodeName: 'n1' });
  const svc = makeService({
    name: 'lb',
    clusterIP: '198.19.0.1',
    type: 'LoadBalancer',
    lbIngress: [
      { ip: '198.18.200.1' },
      { ip: '198.18.200.2', ipMode: 'Proxy' },
      { ip: '198.18.200.3', ipMode: 'VIP' },
    ],
  });
  svc.spec!.ports![0]!.nodePort = 30080;
  t.updateService('default', 'lb', svc);
  const sp = t.commit().state.get('default/lb:http/TCP')!.service;
  assert.deepEqual(sp.loadBalancerIPs, ['198.18.200.1', '198.18.200.3']);
  assert.equal(sp.nodePort, 30080);
});

test('updates keep unchanged endpoint, port and state objects; no-op updates report nothing', () => {
  const t = new ChangeTracker({ nodeName: 'n1' });
  const key = 'default/web:http/TCP';
  const svc = (): ReturnType<typeof makeService> =>
    makeService({ name: 'web', clusterIP: '198.19.0.1' });
  const slice = (first: string): ReturnType<typeof makeSlice> =>
    makeSlice({
      name: 'web-a',
      service: 'web',
      endpoints: [{ ip: first }, { ip: '198.18.0.3' }, { ip: '198.18.0.4', nodeName: 'n1' }],
    });
  t.updateService('default', 'web', svc());
  t.updateEndpointSlice('default', 'web-a', slice('198.18.0.2'));
  t.updateService('default', 'other', makeService({ name: 'other', clusterIP: '198.19.0.2' }));
  const st1 = t.commit().state.get(key)!;
  // All ready: the Cluster list is the endpoint list itself, not a copy.
  assert.equal(st1.clusterEndpoints, st1.endpoints);

  t.updateEndpointSlice('default', 'web-a', slice('198.18.0.9'));
  const c2 = t.commit();
  assert.deepEqual([...c2.changed], [key]);
  const st2 = c2.state.get(key)!;
  assert.deepEqual(ips(st2.endpoints), ['198.18.0.3', '198.18.0.4', '198.18.0.9']);
  assert.equal(st2.endpoints[0], st1.endpoints[1], 'unchanged endpoint re-allocated');
  assert.equal(st2.endpoints[1], st1.endpoints[2], 'unchanged endpoint re-allocated');
  assert.equal(st2.service, st1.service);

  // Same content again, and an unrelated Service's update: nothing changes, nothing is replaced.
  t.updateService('default', 'web', svc());
  t.updateEndpointSlice('default', 'web-a', slice('198.18.0.9'));
  t.updateService('default', 'other', makeService({ name: 'other', clusterIP: '198.19.0.2' }));
  const c3 = t.commit();
  assert.equal(c3.changed.size, 0);
  assert.equal(c3.state.get(key), st2);

  // A Service field change is a change, and keeps the endpoint list.
  t.updateService('default', 'web', {
    ...svc(),
    spec: { ...svc().spec, sessionAffinity: 'ClientIP' },
  });
  const c4 = t.commit();
  assert.deepEqual([...c4.changed], [key]);
  assert.equal(c4.state.get(key)!.service.sessionAffinity, 'ClientIP');
  assert.equal(c4.state.get(key)!.endpoints, st2.endpoints);
});

test('a zone change re-filters endpoints by their hints', () => {
  const t = new ChangeTracker({ nodeName: 'n1', zone: 'a' });
  t.updateService('default', 'web', makeService({ name: 'web', clusterIP: '198.19.0.1' }));
  t.updateEndpointSlice(
    'default',
    'web-a',
    makeSlice({
      name: 'web-a',
      service: 'web',
      endpoints: [
        { ip: '198.18.0.2', zoneHints: ['a'] },
        { ip: '198.18.0.3', zoneHints: ['b'] },
      ],
    }),
  );
  const key = 'default/web:http/TCP';
  assert.deepEqual(ips(t.commit().state.get(key)!.clusterEndpoints), ['198.18.0.2']);
  t.setNodeZone('b');
  const c = t.commit();
  assert.deepEqual([...c.changed], [key]);
  assert.deepEqual(ips(c.state.get(key)!.clusterEndpoints), ['198.18.0.3']);
});
