/**
 * @module sources/kubernetes/config
 * Where kpr finds the API server: a kubeconfig file when one is given, else the in-cluster
 * service account (the normal case for a DaemonSet). Failures say what to fix.
 */
import { existsSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';
import { KprError, errorMessage } from '../../util/errors.ts';

const SA_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/** Loads the kubeconfig at `path`, or the in-cluster configuration when `path` is undefined. */
export function loadKubeConfig(path: string | undefined): KubeConfig {
  const kc = new KubeConfig();
  if (path !== undefined) {
    try {
      kc.loadFromFile(path);
    } catch (e) {
      throw new KprError(
        'KPR_ERR_KUBECONFIG',
        `cannot read the kubeconfig ${path}: ${errorMessage(e)}; pass a readable kubeconfig file with --kubeconfig`,
        { cause: e },
      );
    }
    if (!kc.getCurrentCluster())
      throw new KprError(
        'KPR_ERR_KUBECONFIG',
        `the kubeconfig ${path} has no current context with a cluster; set current-context (kubectl config use-context)`,
      );
    return kc;
  }
  if (!process.env.KUBERNETES_SERVICE_HOST || !process.env.KUBERNETES_SERVICE_PORT)
    throw new KprError(
      'KPR_ERR_KUBECONFIG',
      'not running in a cluster (KUBERNETES_SERVICE_HOST/PORT are unset) and no kubeconfig was given; pass --kubeconfig PATH, or use a manifest folder',
    );
  if (!existsSync(SA_TOKEN))
    throw new KprError(
      'KPR_ERR_KUBECONFIG',
      `running in a cluster but ${SA_TOKEN} is missing; set automountServiceAccountToken: true on kpr's pod or ServiceAccount`,
    );
  kc.loadFromCluster();
  return kc;
}
