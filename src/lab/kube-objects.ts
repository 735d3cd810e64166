/**
 * @module lab/kube-objects
 * The lab's Services, EndpointSlices and Node as Kubernetes API objects, for the lab's API server
 * (`--source kubernetes`). They carry exactly what the manifest files of lab/manifests.ts say, so
 * a lab behaves the same whichever source feeds its agent.
 */
import { serviceEndpoints, type EndpointOverrides } from './manifests.ts';
import type { LabLayout, LabService } from './topology.ts';

export type LabApiResource = 'services' | 'endpointslices' | 'nodes';

/** What the API server stores; metadata.resourceVersion and uid are the server's to set. */
export interface LabApiObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    resourceVersion?: string;
    uid?: string;
    labels?: Record<string, string>;
    [k: string]: unknown;
  };
  [k: string]: unknown;
}

/** The name of the one EndpointSlice the lab keeps per Service (the same as in the manifests). */
export function labSliceName(svc: LabService): string {
  return `${svc.name}-lab`;
}

export function labServiceObject(svc: LabService): LabApiObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: svc.name, namespace: svc.namespace },
    spec: {
      type: 'ClusterIP',
      clusterIP: svc.clusterIP,
      clusterIPs: [svc.clusterIP],
      ipFamilies: ['IPv4'],
      ports: [{ port: svc.port, targetPort: svc.targetPort, protocol: svc.protocol }],
    },
  };
}

export function labSliceObject(
  layout: LabLayout,
  svc: LabService,
  overrides: EndpointOverrides,
): LabApiObject {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name: labSliceName(svc),
      namespace: svc.namespace,
      labels: {
        'kubernetes.io/service-name': svc.name,
        'endpointslice.kubernetes.io/managed-by': 'kpr-lab',
      },
    },
    addressType: 'IPv4',
    ports: [{ name: '', port: svc.targetPort, protocol: svc.protocol }],
    endpoints: serviceEndpoints(layout, svc, overrides).map((e) => ({
      addresses: [e.pod.ip],
      conditions: { ready: e.ready, serving: e.serving, terminating: e.terminating },
      nodeName: layout.nodeName,
      targetRef: { kind: 'Pod', namespace: svc.namespace, name: e.pod.name },
    })),
  };
}

/** The lab's one Node, so the agent's Node informer finds itself (no zone label: no topology). */
export function labNodeObject(layout: LabLayout): LabApiObject {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: layout.nodeName, labels: { 'kubernetes.io/hostname': layout.nodeName } },
    spec: {},
    status: { addresses: [{ type: 'InternalIP', address: layout.nodeIP }] },
  };
}
