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
 *
 * Memory: at 100000 Services the tracker is most of the agent's heap, so it keeps no source
 * objects. A Service is reduced to its ServicePorts and a slice to its endpoints per port when they
 * arrive; unchanged ports, endpoints and states keep their previous objects (so no-op detection is
 * mostly identity checks, see model/equal), and nothing serialized is stored.
 */
import type { V1EndpointSlice, V1Service } from '@kubernetes/client-node';
import { mergeSlices, portSelector, sliceEndpoints, type SlicePort } from './endpoints.ts';
import { equalServicePort, equalServicePortState } from './equal.ts';
import { Interner } from './intern.ts';
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
  /** `ns/name` → the Service's ports (empty for a headless or opted-out Service). */
  readonly #services = new Map<string, readonly ServicePort[]>();
  /** `ns/service` → slice name → the slice's endpoints per port. */
  readonly #slicesByService = new Map<string, Map<string, readonly SlicePort[]>>();
  readonly #names = new Interner();
  /** `ns/sliceName` → the `ns/service` it currently belongs to. */
  readonly #sliceOwner = new Map<string, string>();
  readonly #dirty = new Set<string>();
  readonly #state = new Map<string, ServicePortState>();
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
    if (svc) this.#services.set(nn, this.#reusePorts(servicePortsOf(svc, this.#family), nn));
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
    let previous: readonly SlicePort[] | undefined;
    if (before && before === after) previous = this.#slicesByService.get(before)?.get(name);
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
      const ports = sliceEndpoints(
        slice,
        this.#family,
        this.#node.nodeName,
        previous,
        this.#names.intern,
      );
      m.set(name, ports);
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
    const desired = new Map<string, readonly ServicePort[]>();
    for (const nn of work) {
      const ports = this.#services.get(nn) ?? [];
      desired.set(nn, ports);
      const keep = new Set(ports.map((p) => p.key));
      for (const key of this.#keysByService.get(nn) ?? []) {
        const old = this.#state.get(key);
        if (!old) continue;
        this.#releaseFrontends(key);
        if (!keep.has(key)) {
          this.#state.delete(key);
          changed.add(key);
          changedServices.add(nn);
        }
      }
    }
    for (const nn of this.#blocked) if (!desired.has(nn)) desired.set(nn, this.#portsOf(nn));
    this.#blocked.clear();
    for (const [nn, ports] of desired) {
      const eps = mergeSlices(this.#slicesByService.get(nn)?.values() ?? []);
      const keys: string[] = [];
      for (const sp of ports) {
        if (!this.#claimFrontends(sp)) {
          this.#blocked.add(nn);
          if (this.#state.delete(sp.key)) {
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
        const prev = this.#state.get(sp.key);
        if (!prev || !equalServicePortState(prev, next)) {
          this.#state.set(sp.key, next);
          changed.add(sp.key);
          changedServices.add(nn);
        }
      }
      if (keys.length) this.#keysByService.set(nn, keys);
      else this.#keysByService.delete(nn);
    }
    return { state: this.#state, changed, changedServices };
  }

  #portsOf(nn: string): readonly ServicePort[] {
    return this.#services.get(nn) ?? [];
  }

  /** `ports`, with each port equal to the Service's current one replaced by that object. */
  #reusePorts(ports: ServicePort[], nn: string): readonly ServicePort[] {
    const old = this.#services.get(nn);
    if (!old || old.length === 0) return ports;
    for (let i = 0; i < ports.length; i++) {
      const was = old.find((p) => p.key === ports[i]!.key);
      if (was && equalServicePort(was, ports[i]!)) ports[i] = was;
    }
    return ports.length === old.length && ports.every((p, i) => p === old[i]) ? old : ports;
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
