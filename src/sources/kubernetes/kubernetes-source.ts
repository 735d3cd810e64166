/**
 * @module sources/kubernetes/kubernetes-source
 * The `Source` that follows a real cluster: informers (client-node ListWatch, made resilient) on
 * Services and EndpointSlices with kube-proxy's label selector, and on this agent's own Node.
 * Every object is validated before it reaches the agent; refused objects are reported to the
 * agent and, as Warning Events, to the object's owner.
 */
import {
  CoreV1Api,
  DiscoveryV1Api,
  type KubeConfig,
  type KubernetesObject,
  type V1EndpointSlice,
  type V1Node,
  type V1Service,
} from '@kubernetes/client-node';
import {
  SERVICE_NAME_LABEL,
  validateEndpointSlice,
  validateService,
} from '../../model/validate.ts';
import { InvalidObjectError, KprError, errorMessage } from '../../util/errors.ts';
import type { Logger } from '../../util/log.ts';
import type { Source, SourceHandler } from '../types.ts';
import type { BackoffOptions } from './backoff.ts';
import { loadKubeConfig } from './config.ts';
import { ApiEventRecorder, type EventRecorder, type InvolvedObject } from './events.ts';
import { ResilientInformer } from './informer.ts';

/**
 * kube-proxy's selector: Services handled by another proxy (service-proxy-name) are not ours, and
 * headless Services have no virtual IP to program.
 */
export const PROXY_LABEL_SELECTOR =
  '!service.kubernetes.io/service-proxy-name,!service.kubernetes.io/headless';

export interface KubernetesSourceOptions {
  /** Path of a kubeconfig file; undefined = in-cluster configuration (service account). */
  readonly kubeconfig?: string | undefined;
  /** This node's name: selects the Node object and is reported as the Events' host. */
  readonly nodeName: string;
  readonly log: Logger;
  /**
   * Period of a safety-net re-list of every resource (the cache diff emits only real
   * differences); 0 or undefined = never, which is what kube-proxy does (watches are reliable).
   */
  readonly resyncMs?: number | undefined;
  /** Where Warning Events go; default: posted to the API server; false = none. */
  readonly eventRecorder?: EventRecorder | false | undefined;
  /** Reconnect backoff (default 500 ms doubling to 30 s, ±20 % jitter). */
  readonly backoff?: BackoffOptions | undefined;
}

type Kind = 'Service' | 'EndpointSlice';

const REASON: Record<Kind, string> = {
  Service: 'FailedToProgramService',
  EndpointSlice: 'FailedToProgramEndpoints',
};

function keyOf(obj: KubernetesObject): { namespace: string; name: string; key: string } {
  const namespace = obj.metadata?.namespace ?? '';
  const name = obj.metadata?.name ?? '';
  return { namespace, name, key: `${namespace}/${name}` };
}

/**
 * Policy, the same as the manifest source's: an object that becomes invalid keeps its last valid
 * version in effect (a bad edit must not drop traffic); a new invalid object is not added; a
 * deleted object is deleted whatever its state. `start()` resolves once the informers are running
 * and never fails because the API server is unreachable (it retries forever, keeping the last
 * known state); `onSynced` comes once Services, EndpointSlices and the Node have all been listed.
 */
export class KubernetesSource implements Source {
  readonly #o: KubernetesSourceOptions;
  readonly #log: Logger;
  #handler: SourceHandler | undefined;
  #recorder: EventRecorder | undefined;
  #services: ResilientInformer<V1Service> | undefined;
  #informers: ResilientInformer<KubernetesObject>[] = [];
  #resyncTimer: NodeJS.Timeout | undefined;
  #started = false;
  #synced = false;
  /** Keys whose valid version was handed to the agent, per kind. */
  readonly #emitted: Record<Kind, Set<string>> = { Service: new Set(), EndpointSlice: new Set() };

  constructor(o: KubernetesSourceOptions) {
    if (!o.nodeName)
      throw new KprError(
        'KPR_ERR_NODE_NAME',
        'the Kubernetes source needs this node name; pass --hostname-override or set NODE_NAME from spec.nodeName',
      );
    this.#o = o;
    this.#log = o.log.child({ source: 'kubernetes' });
  }

  async start(handler: SourceHandler): Promise<void> {
    if (this.#started)
      throw new KprError('KPR_ERR_SOURCE_STARTED', 'this KubernetesSource was already started');
    const kc = loadKubeConfig(this.#o.kubeconfig);
    this.#started = true;
    this.#handler = handler;
    this.#recorder =
      this.#o.eventRecorder === false
        ? undefined
        : (this.#o.eventRecorder ??
          new ApiEventRecorder({ kubeConfig: kc, nodeName: this.#o.nodeName, log: this.#log }));
    this.#log.info('connecting to the API server', {
      server: kc.getCurrentCluster()?.server,
      node: this.#o.nodeName,
    });
    this.#informers = this.#makeInformers(kc);
    for (const i of this.#informers) i.start();
    const period = this.#o.resyncMs ?? 0;
    if (period > 0) {
      this.#resyncTimer = setInterval(() => {
        for (const i of this.#informers) i.relist();
      }, period);
      this.#resyncTimer.unref();
    }
    await Promise.resolve();
  }

  async stop(): Promise<void> {
    const handler = this.#handler;
    this.#handler = undefined;
    clearInterval(this.#resyncTimer);
    this.#resyncTimer = undefined;
    await Promise.all(this.#informers.map((i) => i.stop()));
    this.#informers = [];
    await this.#recorder?.close();
    if (handler) this.#log.debug('stopped');
  }

  #makeInformers(kc: KubeConfig): ResilientInformer<KubernetesObject>[] {
    const core = kc.makeApiClient(CoreV1Api);
    const discovery = kc.makeApiClient(DiscoveryV1Api);
    const common = { kubeConfig: kc, log: this.#log, backoff: this.#o.backoff };
    const labelSelector = PROXY_LABEL_SELECTOR;
    const onListed = (): void => this.#listed();
    const services = new ResilientInformer<V1Service>({
      ...common,
      what: 'services',
      slim: true,
      path: '/api/v1/services',
      labelSelector,
      list: () => core.listServiceForAllNamespaces({ labelSelector }),
      onAdd: (o) => this.#apply('Service', o),
      onUpdate: (o) => this.#apply('Service', o),
      onDelete: (o) => this.#deleted('Service', o),
      onListed,
    });
    const slices = new ResilientInformer<V1EndpointSlice>({
      ...common,
      what: 'endpointslices',
      slim: true,
      path: '/apis/discovery.k8s.io/v1/endpointslices',
      labelSelector,
      list: () => discovery.listEndpointSliceForAllNamespaces({ labelSelector }),
      onAdd: (o) => this.#apply('EndpointSlice', o),
      onUpdate: (o) => this.#apply('EndpointSlice', o),
      onDelete: (o) => this.#deleted('EndpointSlice', o),
      onListed,
    });
    const fieldSelector = `metadata.name=${this.#o.nodeName}`;
    const node = new ResilientInformer<V1Node>({
      ...common,
      what: 'node',
      path: '/api/v1/nodes',
      fieldSelector,
      list: () => core.listNode({ fieldSelector }),
      onAdd: (n) => this.#node(n),
      onUpdate: (n) => this.#node(n),
      onDelete: () => this.#node(undefined),
      onListed,
    });
    this.#services = services;
    return [services, slices, node] as ResilientInformer<KubernetesObject>[];
  }

  #listed(): void {
    if (this.#synced || !this.#handler) return;
    if (!this.#informers.every((i) => i.synced)) return;
    this.#synced = true;
    this.#log.info('listed Services, EndpointSlices and the Node', {
      services: this.#emitted.Service.size,
      endpointSlices: this.#emitted.EndpointSlice.size,
    });
    const h = this.#handler;
    this.#call('onSynced', () => h.onSynced());
  }

  #apply(kind: Kind, obj: KubernetesObject): void {
    const h = this.#handler;
    if (!h) return;
    const { namespace, name, key } = keyOf(obj);
    if (kind === 'Service') {
      const res = validateService(obj);
      if (res.ok) {
        this.#emitted.Service.add(key);
        this.#call('onService', () => h.onService(namespace, name, res.value));
      } else this.#refuse(kind, obj, res.errors);
    } else {
      const res = validateEndpointSlice(obj);
      if (res.ok) {
        this.#emitted.EndpointSlice.add(key);
        this.#call('onEndpointSlice', () => h.onEndpointSlice(namespace, name, res.value));
      } else this.#refuse(kind, obj, res.errors);
    }
  }

  #deleted(kind: Kind, obj: KubernetesObject): void {
    const h = this.#handler;
    if (!h) return;
    const { namespace, name, key } = keyOf(obj);
    // Never handed over (it was invalid from the start): nothing to delete.
    if (!this.#emitted[kind].delete(key)) return;
    if (kind === 'Service') this.#call('onService', () => h.onService(namespace, name, undefined));
    else this.#call('onEndpointSlice', () => h.onEndpointSlice(namespace, name, undefined));
  }

  #node(node: V1Node | undefined): void {
    const h = this.#handler;
    if (!h?.onNode) return;
    if (node && node.metadata?.name !== this.#o.nodeName) return;
    this.#call('onNode', () => h.onNode!(node));
  }

  #refuse(kind: Kind, obj: KubernetesObject, errors: readonly string[]): void {
    const h = this.#handler!;
    const { key } = keyOf(obj);
    const effect = this.#emitted[kind].has(key)
      ? 'the last valid version stays in effect until this is fixed'
      : 'it is not programmed until this is fixed';
    const problem = `${errors.join('; ')}; ${effect}`;
    const err = new InvalidObjectError('api', `${kind} ${key}`, problem);
    this.#call('onInvalid', () => h.onInvalid(err));
    this.#recorder?.warn({
      involved: this.#involved(kind, obj),
      reason: REASON[kind],
      message: `kpr on node ${this.#o.nodeName} refused ${kind} ${key}: ${problem}`,
    });
  }

  /** The Event's subject: the Service itself, or the Service an EndpointSlice belongs to. */
  #involved(kind: Kind, obj: KubernetesObject): InvolvedObject {
    const { namespace, name } = keyOf(obj);
    const self: InvolvedObject = {
      kind,
      apiVersion: kind === 'Service' ? 'v1' : 'discovery.k8s.io/v1',
      namespace,
      name,
      uid: obj.metadata?.uid,
      resourceVersion: obj.metadata?.resourceVersion,
    };
    if (kind === 'Service') return self;
    const svcName = obj.metadata?.labels?.[SERVICE_NAME_LABEL];
    if (typeof svcName !== 'string' || svcName === '') return self;
    const svc = this.#services?.get(svcName, namespace);
    return {
      kind: 'Service',
      apiVersion: 'v1',
      namespace,
      name: svcName,
      uid: svc?.metadata?.uid,
      resourceVersion: undefined,
    };
  }

  #call(what: string, fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.#log.error('the agent failed to take an update; continuing', {
        callback: what,
        error: errorMessage(e),
      });
    }
  }
}
