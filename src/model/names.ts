/**
 * @module model/names
 * The identities kube-proxy gives service ports, which dataplanes hash into chain and map names.
 */
import type { Protocol } from './types.ts';

/** `ns/name` */
export function namespacedName(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

/** kube-proxy's ServicePortName.String(): `ns/name`, plus `:portName` when the port is named. */
export function servicePortNameString(namespace: string, name: string, portName: string): string {
  return portName ? `${namespace}/${name}:${portName}` : `${namespace}/${name}`;
}

/** kpr's unique key for a service port: the ServicePortName string plus the protocol. */
export function servicePortKey(
  namespace: string,
  name: string,
  portName: string,
  protocol: Protocol,
): string {
  return `${servicePortNameString(namespace, name, portName)}/${protocol}`;
}

/** The `ns/name` part of a service port key. */
export function serviceOfKey(key: string): string {
  const slash = key.indexOf('/');
  const end = key.slice(slash + 1).search(/[:/]/);
  return key.slice(0, slash + 1 + end);
}
