/**
 * @module model/validate-slice
 * Validation of EndpointSlices (discovery.k8s.io/v1); see model/validate for the rationale.
 */
import type { V1EndpointSlice } from '@kubernetes/client-node';
import {
  checkArray,
  checkEnum,
  checkIP,
  checkInt,
  checkMeta,
  checkName,
  checkOptionalBool,
  checkOptionalString,
  checkProtocol,
  checkTypeMeta,
  defaultProtocols,
  done,
  isObj,
  show,
  type Problems,
  type Validation,
} from './validate-fields.ts';

/** The label linking an EndpointSlice to its Service. */
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

/** Validates an EndpointSlice (discovery.k8s.io/v1). */
export function validateEndpointSlice(obj: unknown): Validation<V1EndpointSlice> {
  const p: Problems = [];
  if (!isObj(obj)) return { ok: false, errors: [`${show(obj)} is not an object`] };
  checkTypeMeta(p, obj, 'discovery.k8s.io/v1', 'EndpointSlice');
  const meta = checkMeta(p, obj.metadata, 'dns1123Subdomain');
  const labels = isObj(meta.labels) ? meta.labels : {};
  const svc = labels[SERVICE_NAME_LABEL];
  if (svc === undefined)
    p.push(
      `metadata.labels: the ${SERVICE_NAME_LABEL} label is required; set it to the name of the Service`,
    );
  else checkName(p, `metadata.labels["${SERVICE_NAME_LABEL}"]`, svc, 'dns1035Label');

  const typeOk =
    obj.addressType != null &&
    checkEnum(p, 'addressType', obj.addressType, ['IPv4', 'IPv6', 'FQDN']);
  if (obj.addressType == null) p.push('addressType: is required (IPv4, IPv6 or FQDN)');
  const addressType = typeOk ? (obj.addressType as string) : undefined;

  checkArray(p, 'endpoints', obj.endpoints, 1000).forEach((ep, i) =>
    checkEndpoint(p, `endpoints[${i}]`, ep, addressType),
  );

  const names = new Set<string>();
  checkArray(p, 'ports', obj.ports, 100).forEach((port, i) => {
    const at = `ports[${i}]`;
    if (!isObj(port)) {
      p.push(`${at}: ${show(port)} is not a map`);
      return;
    }
    if (port.name != null && port.name !== '')
      checkName(p, `${at}.name`, port.name, 'dns1123Label');
    else checkOptionalString(p, `${at}.name`, port.name);
    const name = typeof port.name === 'string' ? port.name : '';
    if (names.has(name)) p.push(`${at}.name: ${show(name)} is used by another port of this slice`);
    names.add(name);
    // A null port means "all ports" for some consumers; kube-proxy ignores such entries.
    if (port.port != null) checkInt(p, `${at}.port`, port.port, 1, 65535);
    checkProtocol(p, `${at}.protocol`, port.protocol);
    checkOptionalString(p, `${at}.appProtocol`, port.appProtocol);
  });
  return done(p, obj, (c) => defaultProtocols(c.ports));
}

function checkEndpoint(
  p: Problems,
  at: string,
  ep: unknown,
  addressType: string | undefined,
): void {
  if (!isObj(ep)) {
    p.push(`${at}: ${show(ep)} is not a map`);
    return;
  }
  const addrs = checkArray(p, `${at}.addresses`, ep.addresses, 100);
  if (addrs.length === 0 && (ep.addresses == null || Array.isArray(ep.addresses)))
    p.push(`${at}.addresses: at least one address is required`);
  addrs.forEach((a, j) => {
    const path = `${at}.addresses[${j}]`;
    if (addressType === 'FQDN') checkName(p, path, a, 'dns1123Subdomain');
    else if (addressType === 'IPv4') checkIP(p, path, a, { family: 4, routable: true });
    else if (addressType === 'IPv6') checkIP(p, path, a, { family: 6, routable: true });
  });
  if (ep.conditions != null) {
    if (!isObj(ep.conditions)) p.push(`${at}.conditions: ${show(ep.conditions)} is not a map`);
    else
      for (const c of ['ready', 'serving', 'terminating'])
        checkOptionalBool(p, `${at}.conditions.${c}`, ep.conditions[c]);
  }
  if (ep.nodeName != null) checkName(p, `${at}.nodeName`, ep.nodeName, 'dns1123Subdomain');
  if (ep.hostname != null) checkName(p, `${at}.hostname`, ep.hostname, 'dns1123Label');
  checkOptionalString(p, `${at}.zone`, ep.zone);
  if (ep.hints != null) {
    if (!isObj(ep.hints)) {
      p.push(`${at}.hints: ${show(ep.hints)} is not a map`);
      return;
    }
    for (const k of ['forZones', 'forNodes']) {
      checkArray(p, `${at}.hints.${k}`, ep.hints[k], 8).forEach((h, j) => {
        if (!isObj(h) || typeof h.name !== 'string' || h.name === '')
          p.push(`${at}.hints.${k}[${j}]: ${show(h)} needs a non-empty name`);
      });
    }
  }
}
