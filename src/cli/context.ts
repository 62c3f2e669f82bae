// What every client command needs: a KubeConfig, the namespace to act in, and the API's resource map.
import type { KubeConfig } from '@kubernetes/client-node';
import { loadKubeConfig } from '../kube/config.ts';
import { discoverResources, type ResourceMap } from '../kube/discovery.ts';

export interface ClientOptions {
  kubeconfig?: string;
  namespace?: string;
}

export interface ClientContext {
  kc: KubeConfig;
  namespace: string;
  resources(): Promise<ResourceMap>;
}

export function clientContext(options: ClientOptions): ClientContext {
  const kc = loadKubeConfig(options.kubeconfig);
  const contextNamespace = kc.getContextObject(kc.getCurrentContext())?.namespace;
  let cached: Promise<ResourceMap> | undefined;
  return {
    kc,
    namespace: options.namespace ?? contextNamespace ?? 'default',
    resources: () => (cached ??= discoverResources(kc)),
  };
}
