/**
 * @module model/validate
 * Validation of Services and EndpointSlices before anything reaches the model. Objects come from
 * untrusted cluster users (and hand-written manifests), so every field kpr programs is checked for
 * type and range, mirroring the Kubernetes API server's rules where kpr depends on them. Pure: no
 * I/O. On success the value is a deep copy with `protocol` defaulted to TCP on every port (as the
 * API server does), so manifests and API objects look alike downstream.
 */
import type { V1Service } from '@kubernetes/client-node';
import {
  checkArray,
  checkCIDR,
  checkEnum,
  checkIP,
  checkInt,
  checkMeta,
  checkName,
  checkOptionalString,
  checkProtocol,
  checkStringMap,
  checkTypeMeta,
  defaultProtocols,
  done,
  ipFamily,
  isObj,
  nameProblem,
  show,
  type Obj,
  type Problems,
  type Validation,
} from './validate-fields.ts';

export type { Validation } from './validate-fields.ts';
export { SERVICE_NAME_LABEL, validateEndpointSlice } from './validate-slice.ts';

const SERVICE_TYPES = ['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName'];
const POLICIES = ['Cluster', 'Local'];
const MAX_AFFINITY_TIMEOUT = 86400;

/** Validates a Service. */
export function validateService(obj: unknown): Validation<V1Service> {
  const p: Problems = [];
  if (!isObj(obj)) return { ok: false, errors: [`${show(obj)} is not an object`] };
  checkTypeMeta(p, obj, 'v1', 'Service');
  // Service names are RFC 1035 labels: they become DNS names.
  checkMeta(p, obj.metadata, 'dns1035Label');
  if (!isObj(obj.spec)) {
    p.push(`spec: ${obj.spec === undefined ? 'is required' : `${show(obj.spec)} is not a map`}`);
    return { ok: false, errors: p };
  }
  checkServiceSpec(p, obj.spec);
  checkServiceStatus(p, obj.status);
  return done(p, obj, (c) => defaultProtocols((c.spec as Obj).ports));
}

function checkServiceSpec(p: Problems, spec: Obj): void {
  const typeOk = checkEnum(p, 'spec.type', spec.type, SERVICE_TYPES);
  const type = typeOk ? ((spec.type as string | undefined) ?? 'ClusterIP') : undefined;
  const headless = spec.clusterIP === 'None';
  checkClusterIPs(p, spec, type);
  if (type === 'ExternalName')
    checkName(p, 'spec.externalName', spec.externalName, 'dns1123Subdomain');
  else checkOptionalString(p, 'spec.externalName', spec.externalName);

  checkArray(p, 'spec.externalIPs', spec.externalIPs, 64).forEach((ip, i) =>
    checkIP(p, `spec.externalIPs[${i}]`, ip, { routable: true }),
  );
  if (spec.loadBalancerIP != null && spec.loadBalancerIP !== '')
    checkIP(p, 'spec.loadBalancerIP', spec.loadBalancerIP, { routable: true });
  checkArray(p, 'spec.loadBalancerSourceRanges', spec.loadBalancerSourceRanges, 1000).forEach(
    (c, i) => checkCIDR(p, `spec.loadBalancerSourceRanges[${i}]`, c),
  );
  checkEnum(p, 'spec.externalTrafficPolicy', spec.externalTrafficPolicy, POLICIES);
  checkEnum(p, 'spec.internalTrafficPolicy', spec.internalTrafficPolicy, POLICIES);
  if (spec.healthCheckNodePort != null && spec.healthCheckNodePort !== 0)
    checkInt(p, 'spec.healthCheckNodePort', spec.healthCheckNodePort, 1, 65535);
  checkEnum(p, 'spec.ipFamilyPolicy', spec.ipFamilyPolicy, [
    'SingleStack',
    'PreferDualStack',
    'RequireDualStack',
  ]);
  const families = checkArray(p, 'spec.ipFamilies', spec.ipFamilies, 2);
  families.forEach((f, i) => checkEnum(p, `spec.ipFamilies[${i}]`, f ?? '', ['IPv4', 'IPv6']));
  if (families.length === 2 && families[0] === families[1])
    p.push(`spec.ipFamilies: ${show(families)} lists the same family twice`);
  checkOptionalString(p, 'spec.trafficDistribution', spec.trafficDistribution);
  checkStringMap(p, 'spec.selector', spec.selector);
  checkAffinity(p, spec);

  const ports = checkArray(p, 'spec.ports', spec.ports, 1000);
  // A malformed list was reported by checkArray; do not also claim that ports are missing.
  if (spec.ports != null && (!Array.isArray(spec.ports) || spec.ports.length > 1000)) return;
  // As in Kubernetes: only ExternalName and headless Services may omit ports.
  if (ports.length === 0 && type !== 'ExternalName' && !headless)
    p.push(
      'spec.ports: at least one port is required (unless the Service is headless or ExternalName)',
    );
  checkServicePorts(p, ports, type);
}

function checkClusterIPs(p: Problems, spec: Obj, type: string | undefined): void {
  const ip = spec.clusterIP;
  if (type === 'ExternalName') {
    if (ip != null && ip !== '')
      p.push(`spec.clusterIP: ${show(ip)} must be empty for an ExternalName Service`);
    return;
  }
  if (ip != null && ip !== '' && ip !== 'None')
    checkIP(p, 'spec.clusterIP', ip, { routable: true });
  else checkOptionalString(p, 'spec.clusterIP', ip);
  const ips = checkArray(p, 'spec.clusterIPs', spec.clusterIPs, 2);
  if (ips.length === 0) return;
  if (ips[0] === 'None') {
    if (ips.length > 1)
      p.push(`spec.clusterIPs: ${show(ips)} may hold only "None" for a headless Service`);
  } else {
    ips.forEach((v, i) => checkIP(p, `spec.clusterIPs[${i}]`, v, { routable: true }));
    if (ips.length === 2 && typeof ips[0] === 'string' && typeof ips[1] === 'string') {
      if (ipFamily(ips[0]) === ipFamily(ips[1]))
        p.push(`spec.clusterIPs: ${show(ips)} must hold one IPv4 and one IPv6 address`);
    }
  }
  if (ip != null && ip !== '' && ips[0] !== ip)
    p.push(`spec.clusterIPs[0]: ${show(ips[0])} must equal spec.clusterIP ${show(ip)}`);
}

function checkAffinity(p: Problems, spec: Obj): void {
  checkEnum(p, 'spec.sessionAffinity', spec.sessionAffinity, ['None', 'ClientIP']);
  const cfg = spec.sessionAffinityConfig;
  if (cfg == null) return;
  if (!isObj(cfg)) {
    p.push(`spec.sessionAffinityConfig: ${show(cfg)} is not a map`);
    return;
  }
  if (cfg.clientIP == null) return;
  if (!isObj(cfg.clientIP)) {
    p.push(`spec.sessionAffinityConfig.clientIP: ${show(cfg.clientIP)} is not a map`);
    return;
  }
  const t = cfg.clientIP.timeoutSeconds;
  if (t != null)
    checkInt(p, 'spec.sessionAffinityConfig.clientIP.timeoutSeconds', t, 1, MAX_AFFINITY_TIMEOUT);
  if (spec.sessionAffinity !== 'ClientIP')
    p.push(
      'spec.sessionAffinityConfig.clientIP: may only be set when spec.sessionAffinity is ClientIP',
    );
}

function checkServicePorts(p: Problems, ports: unknown[], type: string | undefined): void {
  const names = new Set<string>();
  const portProto = new Set<string>();
  const nodePorts = new Set<string>();
  ports.forEach((port, i) => {
    const at = `spec.ports[${i}]`;
    if (!isObj(port)) {
      p.push(`${at}: ${show(port)} is not a map`);
      return;
    }
    if (port.name == null || port.name === '') {
      if (ports.length > 1) p.push(`${at}.name: is required when a Service has more than one port`);
    } else if (checkName(p, `${at}.name`, port.name, 'dns1123Label')) {
      if (names.has(port.name))
        p.push(`${at}.name: ${show(port.name)} is used by another port of this Service`);
      names.add(port.name);
    }
    const protoOk = checkProtocol(p, `${at}.protocol`, port.protocol);
    const proto = (port.protocol as string | undefined) ?? 'TCP';
    if (checkInt(p, `${at}.port`, port.port, 1, 65535) && protoOk) {
      const k = `${port.port}/${proto}`;
      if (portProto.has(k)) p.push(`${at}: port ${k} is defined twice in this Service`);
      portProto.add(k);
    }
    checkTargetPort(p, `${at}.targetPort`, port.targetPort);
    if (port.nodePort != null && port.nodePort !== 0) {
      if (checkInt(p, `${at}.nodePort`, port.nodePort, 1, 65535)) {
        if (type === 'ClusterIP' || type === 'ExternalName')
          p.push(`${at}.nodePort: may not be set when spec.type is ${type}`);
        const k = `${port.nodePort}/${proto}`;
        if (nodePorts.has(k))
          p.push(`${at}.nodePort: ${k} is used by another port of this Service`);
        nodePorts.add(k);
      }
    }
    checkOptionalString(p, `${at}.appProtocol`, port.appProtocol);
  });
}

function checkTargetPort(p: Problems, path: string, v: unknown): void {
  if (v == null) return; // defaults to port
  if (typeof v === 'number') {
    checkInt(p, path, v, 1, 65535);
    return;
  }
  if (typeof v !== 'string') {
    p.push(`${path}: ${show(v)} is neither a port number nor a port name`);
    return;
  }
  const why = nameProblem(v, 'ianaSvcName');
  if (why) p.push(`${path}: ${show(v)} ${why}; use a number (1-65535) or a container port name`);
}

function checkServiceStatus(p: Problems, status: unknown): void {
  if (status == null) return;
  if (!isObj(status)) {
    p.push(`status: ${show(status)} is not a map`);
    return;
  }
  const lb = status.loadBalancer;
  if (lb == null) return;
  if (!isObj(lb)) {
    p.push(`status.loadBalancer: ${show(lb)} is not a map`);
    return;
  }
  checkArray(p, 'status.loadBalancer.ingress', lb.ingress, 100).forEach((ing, i) => {
    const at = `status.loadBalancer.ingress[${i}]`;
    if (!isObj(ing)) {
      p.push(`${at}: ${show(ing)} is not a map`);
      return;
    }
    if (ing.ip != null && ing.ip !== '') checkIP(p, `${at}.ip`, ing.ip, { routable: true });
    if (ing.hostname != null && ing.hostname !== '')
      checkName(p, `${at}.hostname`, ing.hostname, 'dns1123Subdomain');
    checkEnum(p, `${at}.ipMode`, ing.ipMode, ['VIP', 'Proxy']);
  });
}
