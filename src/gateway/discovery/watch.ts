// The gateway's view of the world: shared informers (kube/informer.ts, the project's one list-watch loop) on
// ModelRoutes, ModelServers, ModelInfers (their replicas, for starts from zero), engine Pods (those labelled with a
// ModelInfer name), production-stack StaticRoutes (engines the platform does not run, with the health the controller
// wrote: routing/static-routes.ts) and the Secrets the traffic policy reads, across all namespaces or one. Every change calls
// `onChange`; the gateway rebuilds its routing table from `snapshot()`. An informer that fails (API server down,
// watch error) retries with capped exponential backoff, resuming from its last resourceVersion or relisting; `ready`
// resolves once every informer has listed once.
//
// The gateway's one write: `scaleFromZeroWriter` (activation/hold.ts), the 0→1 step of a ModelInfer through its
// scale subresource, conditional on the resourceVersion at which it read 0, so gateway replicas racing to start the
// same ModelInfer end with 1 replica, not 2 (the loser's write conflicts, it reads again and finds 1).
import { CustomObjectsApi, PatchStrategy, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import { MODELINFER_NAME_LABEL } from '../../api/labels.ts';
import { NETWORKING_GROUP } from '../../api/kinds/modelserver.ts';
import { WORKLOAD_GROUP } from '../../api/kinds/modelinfer.ts';
import type { ModelRoute } from '../../api/kinds/modelroute.ts';
import type { ModelServer } from '../../api/kinds/modelserver.ts';
import { PRODUCTION_STACK_GROUP } from '../../api/kinds/productionstack/common.ts';
import type { StaticRoute } from '../../api/kinds/productionstack/staticroute.ts';
import { KubeClient, PODS, SECRETS, type ResourceType } from '../../kube/client.ts';
import { InformerFactory, type SharedInformer } from '../../kube/informer.ts';
import { lineLogger } from '../../kube/log.ts';
import type { ModelInferLike, PodLike, WorldSnapshot } from '../routing/table.ts';
import { API_KEYS_LABEL, type SecretLike } from '../auth/apikey.ts';

const VERSION = 'v1alpha1';

export interface WorldWatcherOptions {
  /** Watch one namespace; all when unset. */
  namespace?: string;
  onChange: () => void;
  /** Diagnostics (informer errors and restarts). */
  log?: (message: string) => void;
  /** First restart delay, ms (doubles up to 30 s). */
  retryMs?: number;
  /** Watch the Secrets the traffic policy needs (TLS and API keys); default true. */
  secrets?: boolean;
  /** Watch ModelInfers (their replicas: starts from zero); default true. */
  modelInfers?: boolean;
}

/** How a 0→1 write ended: written, or the ModelInfer was not at 0 any more (another writer was first). */
export type ScaleOutcome = 'scaled' | 'not_at_zero';

/** The 0→1 step of a ModelInfer (the only write the gateway makes). Rejects on other failures. */
export type ScaleFromZero = (namespace: string, name: string) => Promise<ScaleOutcome>;

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/**
 * `ScaleFromZero` through the API server: GET .../modelinfers/NAME/scale; at 0, PATCH it to 1 with that
 * resourceVersion as precondition (a JSON patch `test` on /spec/replicas cannot do it: autoscaling/v1 omits
 * `replicas: 0`). Another writer in between makes the PATCH fail with 409: read again.
 */
export function scaleFromZeroWriter(kc: KubeConfig): ScaleFromZero {
  const custom = kc.makeApiClient(CustomObjectsApi);
  return async (namespace, name) => {
    const at = { group: WORKLOAD_GROUP, version: VERSION, namespace, plural: 'modelinfers', name };
    for (let attempt = 0; ; attempt++) {
      const scale = (await custom.getNamespacedCustomObjectScale(at)) as { metadata?: { resourceVersion?: string }; spec?: { replicas?: number } };
      if ((scale.spec?.replicas ?? 0) !== 0) return 'not_at_zero';
      try {
        await custom.patchNamespacedCustomObjectScale({ ...at, body: { metadata: { resourceVersion: scale.metadata?.resourceVersion }, spec: { replicas: 1 } } }, mergePatch);
        return 'scaled';
      } catch (err) {
        if ((err as { code?: unknown }).code !== 409 || attempt >= 2) throw err;
      }
    }
  };
}

const resource = (group: string, kind: string, plural: string): ResourceType => ({ group, version: VERSION, kind, plural, namespaced: true });
const MODEL_ROUTES = resource(NETWORKING_GROUP, 'ModelRoute', 'modelroutes');
const MODEL_SERVERS = resource(NETWORKING_GROUP, 'ModelServer', 'modelservers');
const MODEL_INFERS = resource(WORKLOAD_GROUP, 'ModelInfer', 'modelinfers');
const STATIC_ROUTES = resource(PRODUCTION_STACK_GROUP, 'StaticRoute', 'staticroutes');

export class WorldWatcher {
  readonly #options: WorldWatcherOptions;
  readonly #informers: InformerFactory;
  readonly #routes: SharedInformer<ModelRoute>;
  readonly #servers: SharedInformer<ModelServer>;
  readonly #pods: SharedInformer;
  readonly #staticRoutes: SharedInformer<StaticRoute>;
  readonly #infers: SharedInformer | undefined;
  readonly #secrets: SharedInformer[] = [];
  #started = false;
  #stopped = false;
  /** Resolves once every informer has listed once. */
  readonly ready: Promise<void>;

  constructor(kc: KubeConfig, options: WorldWatcherOptions) {
    this.#options = options;
    const log = options.log;
    this.#informers = new InformerFactory(new KubeClient(kc), {
      namespace: options.namespace,
      minBackoffMs: options.retryMs ?? 500,
      maxBackoffMs: 30_000,
      // Every failure is worth a line in the gateway's log (it has no debug level).
      logger: lineLogger('gateway: informer', (_level, line) => log?.(line)),
    });
    const informers = this.#informers;
    this.#routes = informers.informer<ModelRoute>(MODEL_ROUTES);
    this.#servers = informers.informer<ModelServer>(MODEL_SERVERS);
    this.#infers = options.modelInfers === false ? undefined : informers.informer(MODEL_INFERS);
    this.#pods = informers.informer(PODS, { labelSelector: MODELINFER_NAME_LABEL });
    this.#staticRoutes = informers.informer<StaticRoute>(STATIC_ROUTES);
    if (options.secrets !== false) {
      // Only the Secrets the traffic policy reads: TLS certificates (by type) and API keys (by label).
      this.#secrets.push(informers.informer(SECRETS, { fieldSelector: 'type=kubernetes.io/tls' }));
      this.#secrets.push(informers.informer(SECRETS, { labelSelector: API_KEYS_LABEL }));
    }
    for (const informer of [this.#routes, this.#servers, this.#pods, this.#staticRoutes, ...(this.#infers ? [this.#infers] : []), ...this.#secrets]) {
      informer.addHandler(this.#changed);
    }
    this.ready = new Promise((resolve) => {
      void informers.waitForSync().then(() => {
        // waitForSync also resolves on stop: ready stays pending then.
        if (this.#stopped || !this.synced) return;
        options.onChange();
        resolve();
      });
    });
  }

  get synced(): boolean {
    return this.#informers.hasSynced;
  }

  start(): void {
    if (this.#started || this.#stopped) return;
    this.#started = true;
    this.#informers.start();
  }

  snapshot(): WorldSnapshot {
    return {
      routes: this.#routes.list(),
      servers: this.#servers.list(),
      pods: this.#pods.list() as unknown as PodLike[],
      staticRoutes: this.#staticRoutes.list(),
      secrets: this.#secrets.flatMap((s) => s.list() as unknown as SecretLike[]),
      ...(this.#infers ? { infers: this.#infers.list() as unknown as ModelInferLike[] } : {}),
    };
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#informers.stop();
  }

  readonly #changed = (): void => {
    if (!this.#stopped) this.#options.onChange();
  };
}
