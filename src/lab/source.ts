/**
 * @module lab/source
 * What feeds the lab's agent, and how lab changes reach it: manifest files in the lab's folder, or
 * (`source: 'kubernetes'`) the lab's own API server, seeded with the same objects.
 */
import { seedLabApiServer, startLabApiServer, labApiServer } from './apiserver.ts';
import { labSliceObject } from './kube-objects.ts';
import { rewriteManifestFor, writeAllManifests } from './manifests.ts';
import type { AgentSourceArg } from './processes.ts';
import { kubeconfigPath, manifestsDir, sourceOf, writeState } from './state.ts';
import type { LabState } from './state.ts';
import { serviceAt } from './topology.ts';
import type { LabLayout } from './topology.ts';
import type { LabProgress } from './lab.ts';

/** Writes the manifests, or starts and seeds the API server, for the lab's source. */
export async function prepareSource(
  layout: LabLayout,
  state: LabState,
  progress: (p: LabProgress) => void,
): Promise<void> {
  if (sourceOf(state) === 'manifests') {
    await writeAllManifests(manifestsDir(layout.name), layout, state.endpointOverrides, (d, t) =>
      progress({
        phase: 'manifests',
        message: `writing ${layout.services} services`,
        done: d,
        total: t,
      }),
    );
    return;
  }
  progress({ phase: 'apiserver', message: 'starting the API server', done: 0, total: 1 });
  state.apiServerPid = await startLabApiServer(layout, state.cgroupPath);
  await writeState(state);
  await seedLabApiServer(layout, state.endpointOverrides, (done, total) =>
    progress({ phase: 'apiserver', message: `storing ${layout.services} services`, done, total }),
  );
}

export function agentSource(state: LabState): AgentSourceArg {
  return sourceOf(state) === 'kubernetes'
    ? { kubeconfig: kubeconfigPath(state.name) }
    : { manifests: manifestsDir(state.name) };
}

/**
 * Hands service `index`'s endpoints (as `state.endpointOverrides` now say) to the agent: rewrites
 * its manifest file, or stores its EndpointSlice in the API server. Returns the file's path, or
 * the slice's API path.
 */
export async function publishEndpoints(
  layout: LabLayout,
  state: LabState,
  index: number,
): Promise<string> {
  if (sourceOf(state) === 'manifests')
    return rewriteManifestFor(manifestsDir(layout.name), layout, index, state.endpointOverrides);
  const svc = serviceAt(layout, index);
  const [stored] = await labApiServer(layout.name).put(
    'endpointslices',
    labSliceObject(layout, svc, state.endpointOverrides),
  );
  return `/apis/discovery.k8s.io/v1/namespaces/${svc.namespace}/endpointslices/${stored!.metadata.name}`;
}
