// Objects for the unit tests of this folder (imported by tests only): a Model with its generated children, routes,
// servers and Services, with creation times in the order they are made.
import type { KubeObject } from '../../api/admission.ts';
import type { ServedModel as Model, ModelInfer, ModelRoute, ModelServer } from '../../api/kinds/index.ts';
import { desiredChildren } from '../model/desired.ts';
import type { World } from './resolve.ts';

let clock = 0;
/** Creation times in call order, so that olderFirst follows the order objects are made in. */
export function created(): string {
  clock++;
  return new Date(Date.UTC(2025, 0, 1, 0, 0, clock)).toISOString().replace(/\.\d+Z$/, 'Z');
}

export function meta(name: string, extra: Partial<KubeObject['metadata']> = {}): KubeObject['metadata'] {
  return { name, namespace: 'default', uid: `uid-${name}`, generation: 1, creationTimestamp: created(), ...extra };
}

export function model(name: string, runtime: Partial<Model['spec']['runtime']> = {}, uri = 'hf://meta-llama/Llama-3-70B'): Model {
  return {
    apiVersion: 'registry.matrixinfer.ai/v1alpha1',
    kind: 'Model',
    metadata: meta(name),
    spec: { modelSpec: { modelId: name, framework: 'pytorch', version: '1', source: { uri } }, runtime: { image: 'vllm/vllm-openai:latest', ...runtime } },
  };
}

/** A Model and the children its controller writes (owned, as on the API server). */
export function served(m: Model): { model: Model; modelInfer: ModelInfer; modelServer: ModelServer; modelRoute: ModelRoute } {
  const children = desiredChildren(m);
  const owner = { apiVersion: m.apiVersion, kind: 'Model', name: m.metadata.name!, uid: m.metadata.uid!, controller: true };
  const own = <T extends KubeObject>(o: T): T => ({ ...o, metadata: { ...o.metadata, ...meta(o.metadata.name!), ownerReferences: [owner] } });
  return { model: m, modelInfer: own(children.modelInfer), modelServer: own(children.modelServer), modelRoute: own(children.modelRoute) };
}

export function route(name: string, modelName: string, server: string, owner?: KubeObject): ModelRoute {
  return {
    apiVersion: 'networking.matrixinfer.ai/v1alpha1',
    kind: 'ModelRoute',
    metadata: meta(name, owner ? { ownerReferences: [{ apiVersion: owner.apiVersion, kind: owner.kind, name: owner.metadata.name!, uid: owner.metadata.uid!, controller: true }] } : {}),
    spec: { modelName, rules: [{ targetModels: [{ modelServerName: server }] }] },
  };
}

type Served = ReturnType<typeof served>;

export function world(...parts: Array<Served | ModelRoute | ModelServer | ModelInfer>): World {
  const w = { routes: [] as ModelRoute[], servers: [] as ModelServer[], modelInfers: [] as ModelInfer[], models: [] as Model[] };
  for (const part of parts) {
    if (!('kind' in part)) {
      const s = part as Served;
      w.models.push(s.model);
      w.modelInfers.push(s.modelInfer);
      w.servers.push(s.modelServer);
      w.routes.push(s.modelRoute);
    } else if (part.kind === 'ModelRoute') w.routes.push(part as ModelRoute);
    else if (part.kind === 'ModelServer') w.servers.push(part as ModelServer);
    else w.modelInfers.push(part as ModelInfer);
  }
  return w;
}

export function service(name: string, selector?: Record<string, string>): KubeObject {
  return { apiVersion: 'v1', kind: 'Service', metadata: meta(name), spec: { ...(selector ? { selector } : {}), ports: [{ port: 8000 }] } };
}
