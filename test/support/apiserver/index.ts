/**
 * @module test/support/apiserver
 * The test API server and helpers: start one with a kubeconfig written to a temp folder, and
 * build minimal Service, EndpointSlice and Node objects.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestApiServer } from './server.ts';
import type { StoredObject } from './store.ts';

export { TestApiServer, type RequestRecord } from './server.ts';
export { Store, type Change, type Resource, type StoredObject } from './store.ts';

export interface RunningApiServer {
  readonly server: TestApiServer;
  /** Path of a kubeconfig that points at the server. */
  readonly kubeconfig: string;
  /** Stops the server and removes the temp folder. */
  close(): Promise<void>;
}

export async function startTestApiServer(port = 0): Promise<RunningApiServer> {
  const server = new TestApiServer({ port });
  await server.start();
  const suffix = Math.random().toString(36).slice(2, 8);
  const dir = await mkdtemp(join(tmpdir(), `kpr-t-apiserver-${suffix}-`));
  const kubeconfig = join(dir, 'kubeconfig');
  await writeFile(kubeconfig, server.kubeconfig());
  return {
    server,
    kubeconfig,
    close: async () => {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export function serviceObject(
  name: string,
  clusterIP: string,
  opts: { namespace?: string; port?: number; labels?: Record<string, string> } = {},
): StoredObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: opts.namespace ?? 'default', labels: opts.labels ?? {} },
    spec: {
      type: 'ClusterIP',
      clusterIP,
      clusterIPs: [clusterIP],
      ipFamilies: ['IPv4'],
      ports: [{ name: 'http', port: opts.port ?? 80, protocol: 'TCP', targetPort: 8080 }],
    },
  };
}

export function sliceObject(
  name: string,
  service: string,
  addresses: readonly string[],
  opts: { namespace?: string; port?: number; labels?: Record<string, string> } = {},
): StoredObject {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name,
      namespace: opts.namespace ?? 'default',
      labels: { 'kubernetes.io/service-name': service, ...opts.labels },
    },
    addressType: 'IPv4',
    endpoints: addresses.map((ip) => ({ addresses: [ip], conditions: { ready: true } })),
    ports: [{ name: 'http', port: opts.port ?? 8080, protocol: 'TCP' }],
  };
}

export function nodeObject(name: string, labels: Record<string, string> = {}): StoredObject {
  return { apiVersion: 'v1', kind: 'Node', metadata: { name, labels }, spec: {} };
}
