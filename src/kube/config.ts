// Where every component gets its connection to the Kubernetes API: an explicit kubeconfig path (local mode
// writes one to $MATRIXINFER_HOME/kubeconfig), $KUBECONFIG, in-cluster service account, or ~/.kube/config.
// With tracing on, every request of the API clients made from it carries the active span's `traceparent`
// (kube/tracing.ts propagateToKube), so the API server's spans join the reconcile that caused them.
import { existsSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';
import { localKubeconfigPath, loopbackKubeconfigYaml } from './home.ts';
import { propagateToKube } from './tracing.ts';

export { localKubeconfigPath, loopbackKubeconfigYaml, matrixinferHome } from './home.ts';

export function loadKubeConfig(kubeconfigPath?: string): KubeConfig {
  const kc = new KubeConfig();
  const path = kubeconfigPath ?? process.env.KUBECONFIG;
  if (path) {
    kc.loadFromFile(path);
  } else if (process.env.KUBERNETES_SERVICE_HOST) {
    kc.loadFromCluster();
  } else if (existsSync(localKubeconfigPath())) {
    kc.loadFromFile(localKubeconfigPath());
  } else {
    kc.loadFromDefault();
  }
  propagateToKube(kc);
  return kc;
}

export function loopbackKubeConfig(serverUrl: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromString(loopbackKubeconfigYaml(serverUrl));
  return kc;
}
