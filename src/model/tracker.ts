/**
 * @module model/tracker
 * Change tracking: Services and EndpointSlices go in one object at a time; `commit()` recomputes
 * only the Services those objects touched and returns which service ports really changed, so a
 * dataplane rewrites only those. Updates that change nothing a dataplane sees are dropped here,
 * as kube-proxy's change trackers drop no-op updates.
 *
 * The tracker also refuses a service port whose frontend (ClusterIP or external IP, protocol and
 * port) is already claimed by another Service: the API server never allocates such a pair, but a
 * manifest folder or a hostile object can, and letting the second one win would silently hijack
 * the first Service's traffic. The refused port waits and is admitted once the frontend is free.
 */
import type { V1EndpointSlice, V1Service } from '@kubernetes/client-node';
import { mergeSlices, portSelector } from './endpoints.ts';
import { namespacedName } from './names.ts';
import { excludedByLabels, servicePortsOf } from './service.ts';
import { categorizeEndpoints, type NodeTopology } from './topology.ts';
import type { IPFamily, ServicePort, ServicePortState, StateChange } from './types.ts';

export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

export interface TrackerOptions {
  readonly nodeName: string;
  readonly zone?: string | undefined;
  readonly family?: IPFamily;
  /** Called when a service port is refused because another Service owns its frontend. */
  readonly onConflict?: (key: string, frontend: string, owner: string) => void;
}

export class ChangeTracker {
  readonly #family: IPFamily;
  #node: NodeTopology;
  readonly #onConflict: TrackerOptions['onConflict'];
  readonly #services = new Map<string, V1Service>();
  readonly #slicesByService = new Map<string, Map<string, V1EndpointSlice>>();
  /** `ns/sliceName` → the `ns/service` it currently belongs to. */
  readonly #sliceOwner = new Map<string, string>();
  readonly #dirty = new Set<string>();
  readonly #state = new Map<string, ServicePortState>();
  readonly #signatures = new Map<string, string>();
  readonly #keysByService = new Map<string, string[]>();
  /** `ip/PROTO/port` → owning service port key. */
  readonly #frontendOwner = new Map<string, string>();
  /** Services with a port refused for a frontend conflict, retried when frontends free up. */
  readonly #blocked = new Set<string>();
  #serviceChanges = 0;
  #endpointChanges = 0;

  constructor(opts: TrackerOptions) {
    this.#family = opts.family ?? 'IPv4';
    this.#node = { nodeName: opts.nodeName, zone: opts.zone };
    this.#onConflict = opts.onConflict;
  }

  /** Records a Service add/update (`svc` set) or delete. Returns whether a commit is pending. */
  updateService(namespace: string, name: string, svc: V1Service | undefined): boolean {
    const nn = namespacedName(namespace, name);
    if (svc) this.#services.set(nn, svc);
    else this.#services.delete(nn);
    this.#dirty.add(nn);
    this.#serviceChanges++;
    return true;
  }

  /** Records an EndpointSlice add/update (`slice` set) or delete. Returns whether a commit is pending. */
  updateEndpointSlice(
    namespace: string,
    name: string,
    slice: V1EndpointSlice | undefined,
  ): boolean {
    const sliceId = namespacedName(namespace, name);
    const before = this.#sliceOwner.get(sliceId);
    const label = slice?.metadata?.labels?.[SERVICE_NAME_LABEL];
    const keep = slice && label && !excludedByLabels(slice.metadata?.labels);
    const after = keep ? namespacedName(namespace, label) : undefined;
    if (before && before !== after) {
      const m = this.#slicesByService.get(before);
      m?.delete(name);
      if (m && m.size === 0) this.#slicesByService.delete(before);
      this.#sliceOwner.delete(sliceId);
      this.#dirty.add(before);
    }
    if (after && slice) {
      let m = this.#slicesByService.get(after);
      if (!m) this.#slicesByService.set(after, (m = new Map()));
      m.set(name, slice);
      this.#sliceOwner.set(sliceId, after);
      this.#dirty.add(after);
    }
    this.#endpointChanges++;
    return this.#dirty.size > 0;
  }

  /** The node's zone changed: every Service's topology filtering may change. */
  setNodeZone(zone: string | undefined): void {
    if (zone === this.#node.zone) return;
    this.#node = { ...this.#node, zone };
    for (const nn of this.#services.keys()) this.#dirty.add(nn);
  }

  get pending(): number {
    return this.#dirty.size;
  }

  /** Counters for kube-proxy's `*_changes_total` metrics. */
  get counters(): { serviceChanges: number; endpointChanges: number } {
    return { serviceChanges: this.#serviceChanges, endpointChanges: this.#endpointChanges };
  }

  get state(): ReadonlyMap<string, ServicePortState> {
    return this.#state;
  }

  /** Applies pending changes and reports the service ports that changed. */
  commit(): StateChange {
    const changed = new Set<string>();
    const changedServices = new Set<string>();
    // Pass 1 releases frontends of removed ports, so pass 2 can hand them to waiting Services.
    const work = [...this.#dirty];
    this.#dirty.clear();
    const desired = new Map<string, ServicePort[]>();
    for (const nn of work) {
      const svc = this.#services.get(nn);
      const ports = svc ? servicePortsOf(svc, this.#family) : [];
      desired.set(nn, ports);
      const keep = new Set(ports.map((p) => p.key));
      for (const key of this.#keysByService.get(nn) ?? []) {
        const old = this.#state.get(key);
        if (!old) continue;
        this.#releaseFrontends(key);
        if (!keep.has(key)) {
          this.#state.delete(key);
          this.#signatures.delete(key);
          changed.add(key);
          changedServices.add(nn);
        }
      }
    }
    for (const nn of this.#blocked) if (!desired.has(nn)) desired.set(nn, this.#portsOf(nn));
    this.#blocked.clear();
    for (const [nn, ports] of desired) {
      const eps = mergeSlices(
        this.#slicesByService.get(nn)?.values() ?? [],
        this.#family,
        this.#node.nodeName,
      );
      const keys: string[] = [];
      for (const sp of ports) {
        if (!this.#claimFrontends(sp)) {
          this.#blocked.add(nn);
          if (this.#state.delete(sp.key)) {
            this.#signatures.delete(sp.key);
            changed.add(sp.key);
            changedServices.add(nn);
          }
          continue;
        }
        keys.push(sp.key);
        const endpoints = eps.get(portSelector(sp.portName, sp.protocol)) ?? [];
        const next: ServicePortState = {
          service: sp,
          endpoints,
          ...categorizeEndpoints(sp, endpoints, this.#node),
        };
        const sig = JSON.stringify(next);
        if (this.#signatures.get(sp.key) !== sig) {
          this.#state.set(sp.key, next);
          this.#signatures.set(sp.key, sig);
          changed.add(sp.key);
          changedServices.add(nn);
        }
      }
      if (keys.length) this.#keysByService.set(nn, keys);
      else this.#keysByService.delete(nn);
    }
    return { state: this.#state, changed, changedServices };
  }

  #portsOf(nn: string): ServicePort[] {
    const svc = this.#services.get(nn);
    return svc ? servicePortsOf(svc, this.#family) : [];
  }

  #frontendsOf(sp: ServicePort): string[] {
    return [...sp.clusterIPs, ...sp.externalIPs, ...sp.loadBalancerIPs].map(
      (ip) => `${ip}/${sp.protocol}/${sp.port}`,
    );
  }

  #releaseFrontends(key: string): void {
    const sp = this.#state.get(key)?.service;
    if (!sp) return;
    for (const fe of this.#frontendsOf(sp))
      if (this.#frontendOwner.get(fe) === key) this.#frontendOwner.delete(fe);
  }

  /** Claims every frontend of `sp`, or none when another service port owns one of them. */
  #claimFrontends(sp: ServicePort): boolean {
    const fes = this.#frontendsOf(sp);
    for (const fe of fes) {
      const owner = this.#frontendOwner.get(fe);
      if (owner !== undefined && owner !== sp.key) {
        this.#onConflict?.(sp.key, fe, owner);
        return false;
      }
    }
    for (const fe of fes) this.#frontendOwner.set(fe, sp.key);
    return true;
  }
}
