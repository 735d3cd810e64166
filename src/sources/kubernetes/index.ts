/**
 * @module sources/kubernetes
 * The Kubernetes API source: `new KubernetesSource({ kubeconfig, nodeName, log })`.
 */
export {
  KubernetesSource,
  PROXY_LABEL_SELECTOR,
  type KubernetesSourceOptions,
} from './kubernetes-source.ts';
export { loadKubeConfig } from './config.ts';
export {
  ApiEventRecorder,
  type ApiEventRecorderOptions,
  type EventRecorder,
  type InvolvedObject,
  type WarningEvent,
} from './events.ts';
export type { BackoffOptions } from './backoff.ts';
