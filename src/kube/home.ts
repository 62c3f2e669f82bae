// Where local state lives: $MATRIXINFER_HOME (stored state, logs, the local kubeconfig) and the kubeconfig of the
// embedded API server. No Kubernetes client here: the `up` supervisor and the engine import this module, and
// @kubernetes/client-node alone costs a process about 75 MiB (kube/config.ts loads kubeconfigs with it).
import { homedir } from 'node:os';
import { join } from 'node:path';

/** $MATRIXINFER_HOME, default ~/.matrixinfer: stored state, logs and the local kubeconfig. */
export function matrixinferHome(): string {
  return process.env.MATRIXINFER_HOME || join(homedir(), '.matrixinfer');
}

export function localKubeconfigPath(home = matrixinferHome()): string {
  return join(home, 'kubeconfig');
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
