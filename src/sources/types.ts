/**
 * @module sources/types
 * What every source of Services and EndpointSlices (a manifest folder, the Kubernetes API) feeds
 * the agent: validated objects, deletions, and errors naming the object that was refused.
 */
import type { V1EndpointSlice, V1Node, V1Service } from '@kubernetes/client-node';
import type { InvalidObjectError } from '../util/errors.ts';

export interface SourceHandler {
  /** A Service was added or changed (`svc` set) or deleted (`svc` undefined). Objects are validated. */
  onService(namespace: string, name: string, svc: V1Service | undefined): void;
  /** An EndpointSlice was added or changed, or deleted (`slice` undefined). */
  onEndpointSlice(namespace: string, name: string, slice: V1EndpointSlice | undefined): void;
  /**
   * This agent's own Node changed (sources that know it: the Kubernetes API). Used for topology
   * (zone label) and /healthz eligibility (deletion, ToBeDeletedByClusterAutoscaler taint).
   */
  onNode?(node: V1Node | undefined): void;
  /** The initial listing is complete: nothing should be programmed before this. */
  onSynced(): void;
  /** An object (or a whole file) was refused; everything else keeps flowing. */
  onInvalid(err: InvalidObjectError): void;
}

export interface Source {
  start(handler: SourceHandler): Promise<void>;
  stop(): Promise<void>;
}
