// Reports the download's progress on its own Pod: a merge patch of the DOWNLOAD_ANNOTATION annotation (contract.ts)
// with the JSON DownloadStatus, which the node agent and the Model controller read. Used by `matrixinfer download`
// inside the init container; @kubernetes/client-node is loaded only when there is somewhere to report to.
//
// Rules: active only with POD_NAME and POD_NAMESPACE set and Kubernetes credentials present (the in-cluster service
// account, KUBECONFIG, or ~/.kube/config — never the client's localhost fallback); a failed patch is logged once to
// stderr and never fails the download.
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { DownloadStatus } from '../../api/kinds/model.ts';
import { DOWNLOAD_ANNOTATION } from '../contract.ts';

export type StatusSink = (status: DownloadStatus) => Promise<void>;

const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

export function hasKubeCredentials(env: NodeJS.ProcessEnv): boolean {
  if (env.KUBECONFIG) return env.KUBECONFIG.split(':').some((p) => p !== '' && existsSync(p));
  if (env.KUBERNETES_SERVICE_HOST && existsSync(SERVICE_ACCOUNT_TOKEN)) return true;
  return existsSync(join(env.HOME ?? homedir(), '.kube', 'config'));
}

/** A sink patching the Pod's annotation, or undefined when this process has no Pod or no credentials. */
export async function podAnnotationSink(env: NodeJS.ProcessEnv, warn: (message: string) => void): Promise<StatusSink | undefined> {
  const name = env.POD_NAME;
  const namespace = env.POD_NAMESPACE;
  if (!name || !namespace || !hasKubeCredentials(env)) return undefined;
  const { KubeConfig, CoreV1Api, setHeaderOptions, PatchStrategy } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  try {
    kc.loadFromDefault();
  } catch (err) {
    warn(`progress will not be reported on pod ${namespace}/${name}: ${(err as Error).message}`);
    return undefined;
  }
  const core = kc.makeApiClient(CoreV1Api);
  const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
  let warned = false;
  return async (status) => {
    try {
      await core.patchNamespacedPod({ name, namespace, body: { metadata: { annotations: { [DOWNLOAD_ANNOTATION]: JSON.stringify(status) } } } }, mergePatch);
    } catch (err) {
      if (!warned) warn(`cannot report progress on pod ${namespace}/${name}: ${(err as Error).message.split('\n')[0]}`);
      warned = true;
    }
  };
}
