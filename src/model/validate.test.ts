import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseAllDocuments } from 'yaml';
import { badFixtures, goodFixtures } from '../../test/fixtures/manifests/corpus.ts';
import { validateEndpointSlice, validateService, type Validation } from './validate.ts';

type Json = Record<string, unknown>;

function svc(spec: Json, extra: Json = {}): Json {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'foo', namespace: 'default' },
    spec,
    ...extra,
  };
}

function slice(body: Json, labels: Json = { 'kubernetes.io/service-name': 'foo' }): Json {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: 'foo-1', namespace: 'default', labels },
    addressType: 'IPv4',
    ...body,
  };
}

function errorsOf<T>(r: Validation<T>): string[] {
  return r.ok ? [] : r.errors;
}

function assertError<T>(r: Validation<T>, expected: string): void {
  assert.equal(r.ok, false, `expected an error containing ${JSON.stringify(expected)}`);
  const errs = errorsOf(r);
  assert.ok(
    errs.some((e) => e.includes(expected)),
    `expected an error containing ${JSON.stringify(expected)}, got ${JSON.stringify(errs)}`,
  );
}

/** Every object of a YAML stream, List items expanded. */
function objectsOf(text: string): Json[] {
  const out: Json[] = [];
  for (const doc of parseAllDocuments(text)) {
    const js = doc.toJS() as Json | null;
    if (!js) continue;
    if (js.kind === 'List') out.push(...(js.items as Json[]));
    else out.push(js);
  }
  return out;
}

function validate(o: Json): Validation<unknown> {
  return o.kind === 'EndpointSlice' ? validateEndpointSlice(o) : validateService(o);
}

describe('validate: corpus', () => {
  for (const f of goodFixtures()) {
    it(`accepts every object in good/${f.file}`, () => {
      const objs = objectsOf(f.text);
      assert.ok(objs.length > 0);
      for (const o of objs) {
        // Manifests may omit the namespace; sources default it before validating.
        const meta = o.metadata as Json;
        meta.namespace ??= 'default';
        const r = validate(o);
        assert.deepEqual(errorsOf(r), [], `${f.file}: ${meta.name as string}`);
      }
    });
  }
  for (const f of badFixtures().filter((b) => b.level === 'object')) {
    it(`refuses bad/${f.file}: ${f.error}`, () => {
      const [o] = objectsOf(f.text);
      const meta = o!.metadata as Json;
      meta.namespace ??= 'default';
      assertError(validate(o!), f.error);
    });
  }
});

describe('validateService', () => {
  const port = (p: Json): Json => svc({ clusterIP: '198.18.0.1', ports: [p] });

  it('accepts ports at the range limits and refuses just outside them', () => {
    assert.equal(validateService(port({ port: 1 })).ok, true);
    assert.equal(validateService(port({ port: 65535 })).ok, true);
    assertError(validateService(port({ port: 0 })), 'spec.ports[0].port: 0 is outside 1-65535');
    assertError(
      validateService(port({ port: 65536 })),
      'spec.ports[0].port: 65536 is outside 1-65535',
    );
    assertError(
      validateService(port({ port: 80.5 })),
      'spec.ports[0].port: 80.5 is not an integer',
    );
    assertError(
      validateService(port({ port: '80' })),
      'spec.ports[0].port: "80" is not an integer',
    );
    assertError(validateService(port({})), 'spec.ports[0].port: undefined is not an integer');
  });

  it('defaults the protocol to TCP in a copy and leaves the input alone', () => {
    const input = port({ port: 80 });
    const r = validateService(input);
    assert.ok(r.ok);
    assert.equal(r.value.spec?.ports?.[0]?.protocol, 'TCP');
    assert.equal(((input.spec as Json).ports as Json[])[0]!.protocol, undefined);
  });

  it('checks targetPort as a number or an IANA service name', () => {
    assert.equal(validateService(port({ port: 80, targetPort: 'http-alt' })).ok, true);
    assert.equal(validateService(port({ port: 80, targetPort: 8080 })).ok, true);
    assertError(
      validateService(port({ port: 80, targetPort: 0 })),
      'targetPort: 0 is outside 1-65535',
    );
    assertError(
      validateService(port({ port: 80, targetPort: 'Http' })),
      'must be an IANA service name',
    );
    assertError(
      validateService(port({ port: 80, targetPort: 'a--b' })),
      'must be an IANA service name',
    );
    assertError(
      validateService(port({ port: 80, targetPort: 'sixteen-chars-xx' })),
      'no more than 15',
    );
    assertError(
      validateService(port({ port: 80, targetPort: true })),
      'neither a port number nor a port name',
    );
  });

  it('requires names on multi-port Services and refuses duplicate port/protocol pairs', () => {
    const two = (a: Json, b: Json): Json => svc({ clusterIP: '198.18.0.1', ports: [a, b] });
    assertError(
      validateService(two({ port: 80 }, { name: 'b', port: 81 })),
      'spec.ports[0].name: is required',
    );
    assertError(
      validateService(two({ name: 'a', port: 80 }, { name: 'b', port: 80 })),
      'port 80/TCP is defined twice',
    );
    assert.equal(
      validateService(two({ name: 'a', port: 53 }, { name: 'b', port: 53, protocol: 'UDP' })).ok,
      true,
    );
    assertError(
      validateService(two({ name: 'A', port: 80 }, { name: 'b', port: 81 })),
      'must be an RFC 1123 label',
    );
  });

  it('checks nodePort range and type', () => {
    const np = (type: string, nodePort: unknown): Json =>
      svc({ type, clusterIP: '198.18.0.1', ports: [{ port: 80, nodePort }] });
    assert.equal(validateService(np('NodePort', 30000)).ok, true);
    assert.equal(validateService(np('NodePort', 0)).ok, true);
    assertError(
      validateService(np('NodePort', 70000)),
      'spec.ports[0].nodePort: 70000 is outside 1-65535',
    );
    assertError(
      validateService(np('ClusterIP', 30000)),
      'may not be set when spec.type is ClusterIP',
    );
  });

  it('checks cluster IPs: families, headless, consistency and special addresses', () => {
    assert.equal(
      validateService(svc({ clusterIP: '2001:db8::1', ports: [{ port: 80 }] })).ok,
      true,
    );
    assert.equal(validateService(svc({ clusterIP: 'None' })).ok, true);
    assertError(
      validateService(svc({ clusterIP: '198.18.0.1' })),
      'spec.ports: at least one port is required',
    );
    assertError(
      validateService(svc({ clusterIP: '198.018.0.1', ports: [{ port: 80 }] })),
      'is not a valid IP address',
    );
    assertError(
      validateService(svc({ clusterIP: 'fe80::1%eth0', ports: [{ port: 80 }] })),
      'is not a valid IP address',
    );
    assertError(
      validateService(svc({ clusterIP: '0.0.0.0', ports: [{ port: 80 }] })),
      'loopback, link-local or unspecified',
    );
    assertError(
      validateService(svc({ clusterIP: '::1', ports: [{ port: 80 }] })),
      'loopback, link-local or unspecified',
    );
    const both = (ips: string[]): Json =>
      svc({ clusterIP: ips[0], clusterIPs: ips, ports: [{ port: 80 }] });
    assert.equal(validateService(both(['198.18.0.1', '2001:db8::1'])).ok, true);
    assertError(
      validateService(both(['198.18.0.1', '198.18.0.2'])),
      'must hold one IPv4 and one IPv6 address',
    );
    assertError(
      validateService(
        svc({ clusterIP: '198.18.0.1', clusterIPs: ['198.18.0.2'], ports: [{ port: 80 }] }),
      ),
      'spec.clusterIPs[0]: "198.18.0.2" must equal spec.clusterIP "198.18.0.1"',
    );
  });

  it('checks external IPs, load balancer ingress and source ranges', () => {
    const lb = (extra: Json): Json =>
      svc({ type: 'LoadBalancer', clusterIP: '198.18.0.1', ports: [{ port: 80 }], ...extra });
    assertError(
      validateService(lb({ externalIPs: ['198.18.0.256'] })),
      'spec.externalIPs[0]: "198.18.0.256" is not a valid IP address',
    );
    assertError(
      validateService({
        ...lb({}),
        status: { loadBalancer: { ingress: [{ ip: '169.254.1.1' }] } },
      }),
      'status.loadBalancer.ingress[0].ip',
    );
    assert.equal(
      validateService(lb({ loadBalancerSourceRanges: ['198.18.0.0/15', ' 2001:db8::/32 '] })).ok,
      true,
    );
    for (const bad of ['198.18.0.0', '198.18.0.0/', '198.18.0.0/x', '2001:db8::/129', 'x/8'])
      assertError(validateService(lb({ loadBalancerSourceRanges: [bad] })), 'is not a valid CIDR');
  });

  it('checks enumerations and session affinity', () => {
    const s = (extra: Json): Json =>
      svc({ clusterIP: '198.18.0.1', ports: [{ port: 80 }], ...extra });
    assertError(
      validateService(s({ type: 'Magic' })),
      'spec.type: "Magic" is not one of ClusterIP, NodePort, LoadBalancer, ExternalName',
    );
    assertError(
      validateService(s({ internalTrafficPolicy: 'local' })),
      'spec.internalTrafficPolicy: "local" is not one of Cluster, Local',
    );
    assertError(validateService(s({ sessionAffinity: 'Cookie' })), 'spec.sessionAffinity');
    const aff = (t: unknown, affinity = 'ClientIP'): Json =>
      s({ sessionAffinity: affinity, sessionAffinityConfig: { clientIP: { timeoutSeconds: t } } });
    assert.equal(validateService(aff(1)).ok, true);
    assert.equal(validateService(aff(86400)).ok, true);
    assertError(validateService(aff(0)), 'timeoutSeconds: 0 is outside 1-86400');
    assertError(
      validateService(aff(10, 'None')),
      'may only be set when spec.sessionAffinity is ClientIP',
    );
  });

  it('checks metadata names', () => {
    const named = (name: unknown, namespace: unknown = 'default'): Json => ({
      ...svc({ clusterIP: '198.18.0.1', ports: [{ port: 80 }] }),
      metadata: { name, namespace },
    });
    assertError(validateService(named('1abc')), 'must be an RFC 1035 label');
    assertError(validateService(named('a'.repeat(64))), 'no more than 63 characters');
    assertError(validateService(named('foo', 'x'.repeat(64))), 'metadata.namespace');
    const noNamespace = { ...named('foo'), metadata: { name: 'foo' } };
    assertError(validateService(noNamespace), 'metadata.namespace: is required');
    assertError(validateService(named(42)), 'metadata.name: 42 is not a string');
  });

  it('accepts ExternalName Services without ports and checks the name', () => {
    assert.equal(
      validateService(svc({ type: 'ExternalName', externalName: 'db.example.com' })).ok,
      true,
    );
    assertError(
      validateService(svc({ type: 'ExternalName', externalName: 'Not A Name' })),
      'spec.externalName',
    );
    assertError(
      validateService(svc({ type: 'ExternalName', externalName: 'a.b', clusterIP: '198.18.0.1' })),
      'must be empty for an ExternalName Service',
    );
  });

  it('refuses non-objects and wrong kinds', () => {
    assertError(validateService(null), 'null is not an object');
    assertError(validateService([]), 'is not an object');
    assertError(validateService({ ...svc({}), kind: 'Pod' }), 'kind: "Pod" is not Service');
    assertError(validateService({ metadata: { name: 'a', namespace: 'b' } }), 'spec: is required');
  });
});

describe('validateEndpointSlice', () => {
  const ep = (e: Json, addressType = 'IPv4'): Json =>
    slice({ addressType, endpoints: [e], ports: [{ port: 80 }] });

  it('accepts a minimal slice and defaults port protocols', () => {
    const r = validateEndpointSlice(ep({ addresses: ['198.18.0.10'] }));
    assert.ok(r.ok);
    assert.equal(r.value.ports?.[0]?.protocol, 'TCP');
  });

  it('allows an absent or null port and checks present ones', () => {
    assert.equal(validateEndpointSlice(slice({ ports: [{ name: 'x', port: null }] })).ok, true);
    assert.equal(validateEndpointSlice(slice({ ports: [{ name: 'x' }] })).ok, true);
    assertError(
      validateEndpointSlice(slice({ ports: [{ port: 0 }] })),
      'ports[0].port: 0 is outside 1-65535',
    );
    assertError(
      validateEndpointSlice(slice({ ports: [{ port: 1 }, { port: 2 }] })),
      'ports[1].name: "" is used by another port',
    );
  });

  it('checks addresses against the address type', () => {
    assert.equal(validateEndpointSlice(ep({ addresses: ['2001:db8::5'] }, 'IPv6')).ok, true);
    assert.equal(validateEndpointSlice(ep({ addresses: ['db-0.example.com'] }, 'FQDN')).ok, true);
    assertError(
      validateEndpointSlice(ep({ addresses: ['198.18.0.1'] }, 'IPv6')),
      'is not an IPv6 address',
    );
    assertError(
      validateEndpointSlice(ep({ addresses: ['127.0.0.1'] })),
      'loopback, link-local or unspecified',
    );
    assertError(
      validateEndpointSlice(ep({ addresses: [] })),
      'endpoints[0].addresses: at least one address is required',
    );
    assertError(
      validateEndpointSlice(ep({})),
      'endpoints[0].addresses: at least one address is required',
    );
    const many = Array.from({ length: 101 }, (_, i) => `198.18.1.${i}`);
    assertError(validateEndpointSlice(ep({ addresses: many })), 'more than the limit of 100');
    assertError(
      validateEndpointSlice(slice({ addressType: undefined })),
      'addressType: is required',
    );
  });

  it('checks conditions, node names and hints', () => {
    const a = { addresses: ['198.18.0.10'] };
    assert.equal(
      validateEndpointSlice(ep({ ...a, conditions: { ready: null, serving: false } })).ok,
      true,
    );
    assertError(
      validateEndpointSlice(ep({ ...a, conditions: { terminating: 1 } })),
      'endpoints[0].conditions.terminating: 1 is not a boolean',
    );
    assertError(validateEndpointSlice(ep({ ...a, nodeName: 'Node_A' })), 'endpoints[0].nodeName');
    assertError(
      validateEndpointSlice(ep({ ...a, hints: { forZones: [{}] } })),
      'endpoints[0].hints.forZones[0]',
    );
  });

  it('caps the error list of a hostile object', () => {
    const addresses = Array.from({ length: 50 }, (_, i) => `not-an-ip-${i}`);
    const r = validateEndpointSlice(ep({ addresses }));
    assert.equal(errorsOf(r).length, 11);
    assert.equal(errorsOf(r)[10], 'and 40 more problems');
  });

  it('requires a valid service-name label', () => {
    assertError(
      validateEndpointSlice(slice({}, {})),
      'the kubernetes.io/service-name label is required',
    );
    assertError(
      validateEndpointSlice(slice({}, { 'kubernetes.io/service-name': 'Foo' })),
      'must be an RFC 1035 label',
    );
  });
});
