/**
 * @module bench/services
 * Synthetic clusters for the benchmarks: N ClusterIP Services with E endpoints each, all in
 * 198.18.0.0/15. Pods take 198.18.0.1 to 198.18.63.255 (16383 addresses, reused across
 * Services, as real pods back several Services); ClusterIPs start at 198.18.64.0, which leaves
 * room for 114688 Services. `generation` rotates endpoint 0 of a Service to another pod, which is
 * the single-endpoint change the incremental benches time.
 */
import type { V1EndpointSlice, V1Service } from '@kubernetes/client-node';
import { makeService, makeSlice } from '../model/testing.ts';

const BASE = ((198 << 24) | (18 << 16)) >>> 0;
const PODS = 16383;
const FIRST_CLUSTER_IP = 0x4000;
export const MAX_BENCH_SERVICES = 0x20000 - FIRST_CLUSTER_IP - 1;
export const NAMESPACE = 'bench';
export const PORT = 80;
export const TARGET_PORT = 8080;

function ipv4(n: number): string {
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

export function serviceName(i: number): string {
  return `svc-${i}`;
}

export function clusterIP(i: number): string {
  if (i < 0 || i >= MAX_BENCH_SERVICES)
    throw new Error(
      `service index ${i} is outside the benchmark range (max ${MAX_BENCH_SERVICES})`,
    );
  return ipv4(BASE + FIRST_CLUSTER_IP + i);
}

/** Pod addresses of Service i: E consecutive pods; generation g moves endpoint 0 off that run. */
export function endpointIPs(i: number, endpoints: number, generation = 0): string[] {
  if (endpoints >= PODS) throw new Error(`at most ${PODS - 1} endpoints per service`);
  const ips: string[] = [];
  for (let j = 0; j < endpoints; j++) {
    // Generation g > 0 picks a pod just past this Service's run, so it is never a duplicate.
    const k =
      j === 0 && generation > 0 ? i * endpoints + endpoints - 1 + generation : i * endpoints + j;
    ips.push(ipv4(BASE + 1 + (k % PODS)));
  }
  return ips;
}

export function benchService(i: number): V1Service {
  return makeService({
    namespace: NAMESPACE,
    name: serviceName(i),
    clusterIP: clusterIP(i),
    ports: [{ name: 'http', port: PORT, targetPort: TARGET_PORT, protocol: 'TCP' }],
  });
}

export function benchSlice(i: number, endpoints: number, generation = 0): V1EndpointSlice {
  return makeSlice({
    namespace: NAMESPACE,
    name: `${serviceName(i)}-abc`,
    service: serviceName(i),
    endpoints: endpointIPs(i, endpoints, generation).map((ip) => ({ ip, nodeName: 'bench-node' })),
    ports: [{ name: 'http', port: TARGET_PORT, protocol: 'TCP' }],
  });
}

/** Service i and its slice as one two-document YAML text (what the manifest source reads). */
export function manifestYaml(i: number, endpoints: number, generation = 0): string {
  const name = serviceName(i);
  const eps = endpointIPs(i, endpoints, generation)
    .map((ip) => `- addresses: ["${ip}"]\n  conditions: {ready: true}\n  nodeName: bench-node\n`)
    .join('');
  return (
    `apiVersion: v1\nkind: Service\nmetadata: {name: ${name}, namespace: ${NAMESPACE}}\n` +
    `spec:\n  type: ClusterIP\n  clusterIP: ${clusterIP(i)}\n  ports:\n` +
    `  - {name: http, port: ${PORT}, targetPort: ${TARGET_PORT}, protocol: TCP}\n---\n` +
    `apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n` +
    `metadata:\n  name: ${name}-abc\n  namespace: ${NAMESPACE}\n  labels: {kubernetes.io/service-name: ${name}}\n` +
    `addressType: IPv4\nports:\n- {name: http, port: ${TARGET_PORT}, protocol: TCP}\n` +
    (eps ? `endpoints:\n${eps}` : 'endpoints: []\n')
  );
}
