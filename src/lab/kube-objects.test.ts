import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseAllDocuments } from 'yaml';
import { validateEndpointSlice, validateService } from '../model/validate.ts';
import { labNodeObject, labServiceObject, labSliceObject } from './kube-objects.ts';
import { renderService } from './manifests.ts';
import { buildLayout, serviceAt } from './topology.ts';

const layout = buildLayout({ name: 't', dataplane: 'ebpf', services: 3, endpoints: 2, pods: 3 });
const overrides = { 'svc-1': [{ pod: 'backend-2', ready: false, terminating: true }] };

test('API objects say exactly what the manifest files say, for either source', () => {
  for (let i = 0; i < layout.services; i++) {
    const svc = serviceAt(layout, i);
    const [fileSvc, fileSlice] = parseAllDocuments(renderService(layout, svc, overrides)).map(
      (d) => d.toJS() as unknown,
    );
    assert.deepEqual(labServiceObject(svc), fileSvc, svc.name);
    assert.deepEqual(labSliceObject(layout, svc, overrides), fileSlice, svc.name);
  }
});

test('API objects pass the validators the Kubernetes source applies', () => {
  for (let i = 0; i < layout.services; i++) {
    const svc = serviceAt(layout, i);
    const s = validateService(labServiceObject(svc));
    assert.ok(s.ok, `${svc.name}: ${s.ok ? '' : s.errors.join('; ')}`);
    const e = validateEndpointSlice(labSliceObject(layout, svc, overrides));
    assert.ok(e.ok, `${svc.name} slice: ${e.ok ? '' : e.errors.join('; ')}`);
  }
  const slice = labSliceObject(layout, serviceAt(layout, 1), overrides) as unknown as {
    endpoints: { conditions: Record<string, boolean> }[];
  };
  assert.deepEqual(slice.endpoints[0]!.conditions, {
    ready: false,
    serving: false,
    terminating: true,
  });
});

test('the Node object names the node the agent runs as', () => {
  const node = labNodeObject(layout);
  assert.equal(node.metadata.name, layout.nodeName);
  assert.equal(node.metadata.namespace, undefined);
});
