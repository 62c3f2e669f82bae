// The gateway's view of the world: informers (list + watch) on ModelRoutes, ModelServers, ModelInfers (their
// replicas, for starts from zero) and engine Pods (those labelled with a ModelInfer name), across all namespaces or
// one. Every change calls `onChange`; the gateway rebuilds its routing table from `snapshot()`. An informer that
// fails (API server down, watch error) is restarted with capped exponential backoff; it resumes from its last
// resourceVersion or relists.
//
// The gateway's one write: `scaleFromZeroWriter` (activation/hold.ts), the 0→1 step of a ModelInfer through its
// scale subresource, conditional on the resourceVersion at which it read 0, so gateway replicas racing to start the
// same ModelInfer end with 1 replica, not 2 (the loser's write conflicts, it reads again and finds 1).
import {
  CoreV1Api,
  CustomObjectsApi,
  makeInformer,
  ListWatch,
  PatchStrategy,
  setHeaderOptions,
  Watch,
  type Informer,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  type ObjectCache,
} from '@kubernetes/client-node';
import { MODELINFER_NAME_LABEL } from '../../api/labels.ts';
import { NETWORKING_GROUP } from '../../api/kinds/modelserver.ts';
import { WORKLOAD_GROUP } from '../../api/kinds/modelinfer.ts';
import type { ModelRoute } from '../../api/kinds/modelroute.ts';
import type { ModelServer } from '../../api/kinds/modelserver.ts';
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

type KInformer = Informer<KubernetesObject> & ObjectCache<KubernetesObject>;

class Source {
  readonly name: string;
  readonly informer: KInformer;
  listed = false;
  synced = false;
  delay: number;
  timer: NodeJS.Timeout | undefined;

  constructor(name: string, informer: KInformer, delay: number) {
    this.name = name;
    this.informer = informer;
    this.delay = delay;
  }
}

export class WorldWatcher {
  readonly #options: WorldWatcherOptions;
  readonly #sources: Source[] = [];
  readonly #routes: Source;
  readonly #servers: Source;
  readonly #pods: Source;
  readonly #infers: Source | undefined;
  readonly #secrets: Source[] = [];
  #stopped = false;
  #resolveReady!: () => void;
  /** Resolves once every informer has listed once. */
  readonly ready: Promise<void>;

  constructor(kc: KubeConfig, options: WorldWatcherOptions) {
    this.#options = options;
    this.ready = new Promise((resolve) => (this.#resolveReady = resolve));
    const ns = options.namespace;
    const custom = kc.makeApiClient(CustomObjectsApi);
    const core = kc.makeApiClient(CoreV1Api);
    const retry = options.retryMs ?? 500;

    const customPath = (plural: string, group = NETWORKING_GROUP) =>
      ns ? `/apis/${group}/${VERSION}/namespaces/${ns}/${plural}` : `/apis/${group}/${VERSION}/${plural}`;
    const listCustom = (plural: string, group = NETWORKING_GROUP) => (): Promise<KubernetesListObject<KubernetesObject>> =>
      ns
        ? custom.listNamespacedCustomObject({ group, version: VERSION, namespace: ns, plural })
        : custom.listClusterCustomObject({ group, version: VERSION, plural });

    const make = (name: string, path: string, list: () => Promise<KubernetesListObject<KubernetesObject>>, labelSelector?: string, fieldSelector?: string): Source => {
      let src: Source;
      const listFn = async () => {
        const result = await list();
        src.listed = true;
        return result;
      };
      const informer =
        fieldSelector === undefined
          ? makeInformer<KubernetesObject>(kc, path, listFn, labelSelector)
          : new ListWatch<KubernetesObject>(path, new Watch(kc), listFn, false, labelSelector, fieldSelector);
      src = new Source(name, informer, retry);
      informer.on('add', this.#changed);
      informer.on('update', this.#changed);
      informer.on('delete', this.#changed);
      informer.on('error', (err: unknown) => this.#failed(src, err));
      this.#sources.push(src);
      return src;
    };

    this.#routes = make('modelroutes', customPath('modelroutes'), listCustom('modelroutes'));
    this.#servers = make('modelservers', customPath('modelservers'), listCustom('modelservers'));
    this.#infers = options.modelInfers === false ? undefined : make('modelinfers', customPath('modelinfers', WORKLOAD_GROUP), listCustom('modelinfers', WORKLOAD_GROUP));
    this.#pods = make(
      'pods',
      ns ? `/api/v1/namespaces/${ns}/pods` : '/api/v1/pods',
      () =>
        (ns
          ? core.listNamespacedPod({ namespace: ns, labelSelector: MODELINFER_NAME_LABEL })
          : core.listPodForAllNamespaces({ labelSelector: MODELINFER_NAME_LABEL })) as Promise<KubernetesListObject<KubernetesObject>>,
      MODELINFER_NAME_LABEL,
    );
    if (options.secrets !== false) {
      // Only the Secrets the traffic policy reads: TLS certificates (by type) and API keys (by label).
      const secretsPath = ns ? `/api/v1/namespaces/${ns}/secrets` : '/api/v1/secrets';
      const listSecrets = (selector: { labelSelector?: string; fieldSelector?: string }) => () =>
        (ns ? core.listNamespacedSecret({ namespace: ns, ...selector }) : core.listSecretForAllNamespaces(selector)) as Promise<
          KubernetesListObject<KubernetesObject>
        >;
      const tls = { fieldSelector: 'type=kubernetes.io/tls' };
      this.#secrets.push(make('tls-secrets', secretsPath, listSecrets(tls), undefined, tls.fieldSelector));
      this.#secrets.push(make('api-key-secrets', secretsPath, listSecrets({ labelSelector: API_KEYS_LABEL }), API_KEYS_LABEL));
    }
  }

  get synced(): boolean {
    return this.#sources.every((s) => s.synced);
  }

  start(): void {
    for (const src of this.#sources) void this.#run(src);
  }

  snapshot(): WorldSnapshot {
    return {
      routes: this.#routes.informer.list() as unknown as ModelRoute[],
      servers: this.#servers.informer.list() as unknown as ModelServer[],
      pods: this.#pods.informer.list() as unknown as PodLike[],
      secrets: this.#secrets.flatMap((s) => s.informer.list() as unknown as SecretLike[]),
      ...(this.#infers ? { infers: this.#infers.informer.list() as unknown as ModelInferLike[] } : {}),
    };
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    for (const src of this.#sources) {
      clearTimeout(src.timer);
      src.timer = undefined;
    }
    await Promise.allSettled(this.#sources.map((s) => s.informer.stop()));
  }

  readonly #changed = (): void => {
    if (!this.#stopped) this.#options.onChange();
  };

  async #run(src: Source): Promise<void> {
    if (this.#stopped) return;
    src.timer = undefined;
    src.listed = false;
    try {
      await src.informer.start();
    } catch (err) {
      this.#failed(src, err);
      return;
    }
    if (this.#stopped) return;
    if (src.listed) src.delay = this.#options.retryMs ?? 500;
    if (src.listed && !src.synced) {
      src.synced = true;
      if (this.synced) {
        this.#options.onChange();
        this.#resolveReady();
      }
    }
  }

  #failed(src: Source, err: unknown): void {
    if (this.#stopped || src.timer !== undefined) return;
    this.#options.log?.(`gateway: ${src.name} informer: ${(err as Error)?.message ?? String(err)}; retrying in ${src.delay} ms`);
    src.timer = setTimeout(() => void this.#run(src), src.delay);
    src.delay = Math.min(src.delay * 2, 30_000);
  }
}
