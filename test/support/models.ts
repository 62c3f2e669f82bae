// The Model the integration tests deploy: the seed's Llama-2-7B on the simulated engine, in one place, so a test
// states only what it varies (engine arguments, replicas, autoscaling, serving).
import type { ServedModel as Model } from '../../src/api/kinds/index.ts';

export function testModel(name: string, namespace: string, options: { runtime?: Partial<Model['spec']['runtime']>; spec?: Partial<Omit<Model['spec'], 'runtime' | 'modelSpec'>> } = {}): Model {
  return {
    apiVersion: 'registry.matrixinfer.ai/v1alpha1',
    kind: 'Model',
    metadata: { name, namespace },
    spec: {
      modelSpec: { modelId: `${name}-v1`, framework: 'pytorch', version: '1.0.0', source: { uri: 'huggingface://meta-llama/Llama-2-7b-hf' } },
      runtime: { image: 'matrixinfer/pytorch-runtime:latest', ...options.runtime },
      ...options.spec,
    },
  } as Model;
}
