// The LoRA loader: keeps the adapters of a base Model loaded in each of the base's ready engine pods, through the
// engines' own endpoints (vLLM's dynamic LoRA loading; the simulated engine's src/engine/lora.ts), and records on
// each pod what it loaded (api/lora-adapters.ts) for the gateway and the adapters' readiness.
//
// Rules:
//  - Keyed by the base Model. The desired adapters are the existing, not-deleting adapter Models whose baseModelRef
//    names the base and whose source can be handed to an engine (adapters.ts adapterArtifacts; the others are
//    reported on the adapter, not loaded).
//  - For every ready, routed engine pod of the base (model-name label; warm-pool pods wait until claimed): list what
//    the engine has (GET /v1/models, entries with a `parent`; `root` is the path it was loaded from), POST
//    /v1/unload_lora_adapter {lora_name} for each one it recorded there that is no longer desired (deleting an adapter
//    unloads it without a finalizer), then POST /v1/load_lora_adapter {lora_name, lora_path} for each desired one
//    missing. One loaded from another path (the adapter's source changed) is unloaded and loaded again. Adapters it did
//    not load (the engine's --lora-modules) are left alone unless an adapter Model claims their name.
//  - Then the pod's annotation is rewritten, stamped with the pod's restart count: an engine restart (which loses
//    adapters loaded at run time) makes the record stale at once, and the pod's update event brings the loader back.
//  - A base with adapters is visited again every `resyncMs` (default 30 s) in case an engine lost them otherwise.
//    Failures retry with the queue's back-off and are recorded as Warning Events on the adapter.
// `planPod` and `nextRecord` are pure; the reconcile below only talks to the engines and writes what they return.
import type { KubeObject } from '../../api/admission.ts';
import { isServed, type Model } from '../../api/kinds/index.ts';
import { MODEL_NAME_LABEL } from '../../api/labels.ts';
import { adapterAnnotations, podRestarts, recordedAdapters, LORA_ADAPTERS_ANNOTATION, LORA_RESTARTS_ANNOTATION, type PodAdapterView } from '../../api/lora-adapters.ts';
import { isAdapter } from '../../api/kinds/model.ts';
import type { KubeClient } from '../../kube/client.ts';
import { Controller, type ReconcileResult } from '../../kube/controller.ts';
import type { EventRecorder } from '../../kube/events.ts';
import type { InformerFactory } from '../../kube/informer.ts';
import { errorMessage, type Logger } from '../../kube/log.ts';
import { isDeleting, splitKey } from '../../kube/objects.ts';
import { MODELINFER_PODS } from '../modelinfer/controller.ts';
import { MODELS, PODS } from '../resources.ts';
import { adapterArtifacts, adaptersOf, isServingPod } from './adapters.ts';
import { DEFAULT_ENGINE_PORT, ENGINE_CONTAINER, enginePort } from './desired.ts';

export const DEFAULT_RESYNC_MS = 30_000;
const DEFAULT_REQUEST_TIMEOUT_MS = 5_000;

/** An adapter to load: its name (the adapter Model's, which requests use) and what the engine loads it from. */
export interface DesiredAdapter {
  name: string;
  path: string;
}

/** The adapters `base` should have loaded, by name. */
export function desiredAdapters(models: readonly Model[], base: string): DesiredAdapter[] {
  const out: DesiredAdapter[] = [];
  for (const adapter of adaptersOf(models, base)) {
    const artifacts = adapterArtifacts(adapter);
    if (artifacts.ok) out.push({ name: adapter.metadata.name!, path: artifacts.path });
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** An adapter as the engine lists it: its name and, when the engine says, the path it was loaded from. */
export interface EngineAdapter {
  name: string;
  root?: string;
}

export interface PodPlan {
  /** Unloaded first (also the first half of a reload). */
  unload: string[];
  load: DesiredAdapter[];
}

/**
 * One pod: unload what the engine has, the loader recorded there and is no longer desired; load what is desired and
 * missing; reload (unload, then load) a desired one the engine loaded from another path.
 */
export function planPod(desired: readonly DesiredAdapter[], engine: readonly EngineAdapter[], recorded: readonly string[]): PodPlan {
  const has = new Map(engine.map((a) => [a.name, a]));
  const wanted = new Set(desired.map((d) => d.name));
  const stale = desired.filter((d) => {
    const root = has.get(d.name)?.root;
    return root !== undefined && root !== d.path;
  });
  return {
    unload: [...engine.filter((a) => !wanted.has(a.name) && recorded.includes(a.name)).map((a) => a.name), ...stale.map((d) => d.name)].sort(),
    load: desired.filter((d) => !has.has(d.name) || stale.includes(d)),
  };
}

/**
 * What the pod's record says after the calls: the desired adapters the engine now has, and recorded ones it still has
 * (an unload that failed is retried from the record).
 */
export function nextRecord(desired: readonly DesiredAdapter[], recorded: readonly string[], loadedNow: ReadonlySet<string>): string[] {
  const keep = new Set([...desired.map((d) => d.name), ...recorded]);
  return [...loadedNow].filter((name) => keep.has(name)).sort();
}

/** http://ip:port of the pod's engine: the engine container's first port, else the base's runtime port. */
export function engineOrigin(pod: KubeObject, base: Model): string | undefined {
  const ip = (pod.status as { podIP?: string } | undefined)?.podIP;
  if (!ip) return undefined;
  const containers = (pod.spec as { containers?: { name?: string; ports?: { containerPort?: number }[] }[] } | undefined)?.containers ?? [];
  const engine = containers.find((c) => c.name === ENGINE_CONTAINER) ?? containers[0];
  const port = engine?.ports?.[0]?.containerPort ?? (isServed(base) ? enginePort(base) : DEFAULT_ENGINE_PORT);
  return ip.includes(':') ? `http://[${ip}]:${port}` : `http://${ip}:${port}`;
}

/** The engine's HTTP calls (vLLM's API); a class so tests can count them against a real engine. */
export class EngineLoraClient {
  readonly timeoutMs: number;
  constructor(timeoutMs = DEFAULT_REQUEST_TIMEOUT_MS) {
    this.timeoutMs = timeoutMs;
  }

  /** Adapters the engine serves (GET /v1/models entries with a parent; `root`: the path it loaded). */
  async list(origin: string): Promise<EngineAdapter[]> {
    const res = await fetch(`${origin}/v1/models`, { signal: AbortSignal.timeout(this.timeoutMs) });
    if (!res.ok) throw new Error(`GET ${origin}/v1/models: ${res.status} ${(await res.text()).slice(0, 200)}`);
    const body = (await res.json()) as { data?: { id?: unknown; parent?: unknown; root?: unknown }[] };
    return (body.data ?? [])
      .filter((m) => typeof m.id === 'string' && m.parent !== null && m.parent !== undefined)
      .map((m) => ({ name: m.id as string, ...(typeof m.root === 'string' ? { root: m.root } : {}) }));
  }

  /** POST /v1/load_lora_adapter; an adapter already loaded counts as loaded. */
  async load(origin: string, adapter: DesiredAdapter): Promise<void> {
    const res = await this.post(origin, '/v1/load_lora_adapter', { lora_name: adapter.name, lora_path: adapter.path });
    if (res.ok) return;
    const text = await res.text();
    if (res.status === 400 && /already been loaded/i.test(text)) return;
    throw new Error(`loading ${adapter.name} from ${adapter.path} into ${origin}: ${res.status} ${text.slice(0, 300)}`);
  }

  /** POST /v1/unload_lora_adapter; an adapter already gone counts as unloaded. */
  async unload(origin: string, name: string): Promise<void> {
    const res = await this.post(origin, '/v1/unload_lora_adapter', { lora_name: name });
    if (res.ok || res.status === 404) {
      await res.text();
      return;
    }
    throw new Error(`unloading ${name} from ${origin}: ${res.status} ${(await res.text()).slice(0, 300)}`);
  }

  private post(origin: string, path: string, body: unknown): Promise<Response> {
    return fetch(`${origin}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(this.timeoutMs),
    });
  }
}

export interface LoraLoaderDeps {
  client: KubeClient;
  informers: InformerFactory;
  recorder?: EventRecorder;
  logger?: Logger;
  workers?: number;
  /** Visit a base with adapters again after this long, ms (default 30 s). */
  resyncMs?: number;
  engine?: EngineLoraClient;
}

export function createLoraLoader(deps: LoraLoaderDeps): Controller {
  const { client, informers, recorder } = deps;
  const models = informers.informer<Model>(MODELS);
  const pods = informers.informer(PODS, MODELINFER_PODS);
  const engine = deps.engine ?? new EngineLoraClient();
  const resyncMs = deps.resyncMs ?? DEFAULT_RESYNC_MS;

  async function reconcile(key: string): Promise<ReconcileResult | void> {
    const { namespace, name } = splitKey(key);
    const base = models.get(namespace, name);
    // Without a base there are no engine pods to load into (its ModelInfer goes with it).
    if (!base || isDeleting(base) || !isServed(base)) return;
    const inNamespace = models.list(namespace);
    const desired = desiredAdapters(inNamespace, name);
    const basePods = pods.list(namespace).filter((p) => p.metadata.labels?.[MODEL_NAME_LABEL] === name && isServingPod(p));
    // Nothing wanted and nothing of ours anywhere: do not poll the engines of a Model without adapters.
    if (desired.length === 0 && basePods.every((p) => !recordedAdapters(p as PodAdapterView)?.names.length)) return;

    const failures: string[] = [];
    await Promise.all(basePods.map((pod) => syncPod(pod, base, desired, failures, inNamespace)));
    if (failures.length > 0) throw new Error(failures.join('; '));
    return { requeueAfterMs: resyncMs };
  }

  async function syncPod(pod: KubeObject, base: Model, desired: readonly DesiredAdapter[], failures: string[], inNamespace: readonly Model[]): Promise<void> {
    const podName = pod.metadata.name!;
    const namespace = pod.metadata.namespace ?? 'default';
    const origin = engineOrigin(pod, base);
    if (!origin) return;
    const restarts = podRestarts(pod as PodAdapterView);
    const recorded = recordedAdapters(pod as PodAdapterView)?.names ?? [];
    let listed: EngineAdapter[];
    try {
      listed = await engine.list(origin);
    } catch (err) {
      failures.push(`pod ${podName}: ${errorMessage(err)}`);
      return;
    }
    const plan = planPod(desired, listed, recorded);
    const loadedNow = new Set(listed.map((a) => a.name));
    for (const adapter of plan.unload) {
      try {
        await engine.unload(origin, adapter);
        loadedNow.delete(adapter);
      } catch (err) {
        failures.push(`pod ${podName}: ${errorMessage(err)}`);
      }
    }
    for (const adapter of plan.load) {
      try {
        await engine.load(origin, adapter);
        loadedNow.add(adapter.name);
      } catch (err) {
        failures.push(`pod ${podName}: ${errorMessage(err)}`);
        const model = inNamespace.find((m) => m.metadata.name === adapter.name && isAdapter(m));
        if (model) recorder?.event(model, 'Warning', 'LoadFailed', `pod ${podName}: ${errorMessage(err)}`);
      }
    }
    const next = adapterAnnotations(nextRecord(desired, recorded, loadedNow), restarts);
    const current = pod.metadata.annotations ?? {};
    if (current[LORA_ADAPTERS_ANNOTATION] === next[LORA_ADAPTERS_ANNOTATION] && current[LORA_RESTARTS_ANNOTATION] === next[LORA_RESTARTS_ANNOTATION]) return;
    try {
      await client.mergePatch(PODS, namespace, podName, { metadata: { annotations: next } });
      deps.logger?.debug('recorded LoRA adapters', { pod: `${namespace}/${podName}`, adapters: next[LORA_ADAPTERS_ANNOTATION], restarts });
    } catch (err) {
      failures.push(`pod ${podName}: recording its adapters: ${errorMessage(err)}`);
    }
  }

  const controller = new Controller({ name: 'lora-loader', reconcile, workers: deps.workers, logger: deps.logger, resyncPeriodMs: 0 });
  // A base: itself; an adapter: its base (also when it is deleted: the base unloads it).
  controller.watch(models, (model) => {
    const namespace = model.metadata.namespace ?? 'default';
    return isAdapter(model) ? `${namespace}/${model.spec.modelSpec.baseModelRef.name}` : `${namespace}/${model.metadata.name}`;
  });
  controller.watch(pods, (pod) => {
    const model = pod.metadata.labels?.[MODEL_NAME_LABEL];
    return model ? `${pod.metadata.namespace ?? 'default'}/${model}` : undefined;
  });
  return controller;
}
