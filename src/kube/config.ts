// Where every component gets its connection to the Kubernetes API: an explicit kubeconfig path (local mode
// writes one to $MATRIXINFER_HOME/kubeconfig), $KUBECONFIG, in-cluster service account, or ~/.kube/config.
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';

/** $MATRIXINFER_HOME, default ~/.matrixinfer: stored state, logs and the local kubeconfig. */
export function matrixinferHome(): string {
  return process.env.MATRIXINFER_HOME || join(homedir(), '.matrixinfer');
}

export function localKubeconfigPath(home = matrixinferHome()): string {
  return join(home, 'kubeconfig');
}

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
  return kc;
}

/** A kubeconfig for a plain-HTTP loopback API server (the embedded one), as YAML for kubectl. */
export function loopbackKubeconfigYaml(serverUrl: string): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: matrixinfer-local',
    '  cluster:',
    `    server: ${serverUrl}`,
    // client-node refuses plain http:// servers unless TLS verification is off (there is no TLS to verify).
    ...(serverUrl.startsWith('http:') ? ['    insecure-skip-tls-verify: true'] : []),
    'users:',
    '- name: matrixinfer-local',
    '  user: {}',
    'contexts:',
    '- name: matrixinfer-local',
    '  context:',
    '    cluster: matrixinfer-local',
    '    user: matrixinfer-local',
    '    namespace: default',
    'current-context: matrixinfer-local',
    '',
  ].join('\n');
}

export function loopbackKubeConfig(serverUrl: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromString(loopbackKubeconfigYaml(serverUrl));
  return kc;
}
