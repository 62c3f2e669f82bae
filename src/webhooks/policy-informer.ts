// The registry policy for the webhook server: one informer on the policy ConfigMap (by name, in the controller
// manager's namespace), so every AdmissionReview reads a cache, never the API server. Until its first list the
// policy is `unavailable` and Models are refused with that reason (fail closed), rather than admitted unchecked.
import type { KubeConfig } from '@kubernetes/client-node';
import { CONFIG_MAPS, KubeClient } from '../kube/client.ts';
import { SharedInformer } from '../kube/informer.ts';
import type { Logger } from '../kube/log.ts';
import { readPolicy, REGISTRY_POLICY_CONFIGMAP, type PolicyProvider } from './policy.ts';

export interface PolicyInformer extends PolicyProvider {
  /** Resolves after the first list, or after `timeoutMs` (the policy stays unavailable until a list succeeds). */
  synced(timeoutMs: number): Promise<boolean>;
  stop(): void;
}

export function startPolicyInformer(kubeConfig: KubeConfig, namespace: string, logger: Logger): PolicyInformer {
  const informer = new SharedInformer(new KubeClient(kubeConfig), CONFIG_MAPS, {
    namespace,
    fieldSelector: `metadata.name=${REGISTRY_POLICY_CONFIGMAP}`,
    logger,
  });
  informer.addHandler((type, configMap) => {
    const state = readPolicy(type === 'delete' ? undefined : configMap);
    logger.info('registry policy', { configMap: `${namespace}/${REGISTRY_POLICY_CONFIGMAP}`, state: state.state, ...(state.state === 'invalid' ? { problems: state.problems.join('; ') } : {}) });
  });
  informer.start();
  return {
    current() {
      if (!informer.hasSynced) return { state: 'unavailable', reason: `ConfigMap ${namespace}/${REGISTRY_POLICY_CONFIGMAP} not read yet` };
      return readPolicy(informer.get(namespace, REGISTRY_POLICY_CONFIGMAP));
    },
    async synced(timeoutMs) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
      try {
        return await Promise.race([informer.waitForSync().then(() => informer.hasSynced), timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
    stop: () => informer.stop(),
  };
}
