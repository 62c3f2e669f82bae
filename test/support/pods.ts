// Engine pods for the gateway's tests, written through the API as the node agent would: a Pod labelled with its
// ModelInfer, then its status (Running, the pod IP, the Ready condition). Works with either test kit's `call`.
import { MODELINFER_NAME_LABEL } from '../../src/api/labels.ts';
import type { TestApiServer } from '../../src/kube/testing/apiserver.ts';

type Api = Pick<TestApiServer, 'call'>;

export async function createEnginePod(api: Api, name: string, inferName: string, labels: Record<string, string> = {}): Promise<void> {
  await api.call('POST', '/api/v1/namespaces/default/pods', {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels: { [MODELINFER_NAME_LABEL]: inferName, ...labels } },
    spec: { containers: [{ name: 'engine', image: 'vllm/vllm-openai:latest' }] },
  });
}

export async function setPodStatus(api: Api, name: string, ip: string | undefined, ready: boolean): Promise<void> {
  await api.call(
    'PATCH',
    `/api/v1/namespaces/default/pods/${name}/status`,
    {
      status: {
        phase: 'Running',
        podIP: ip ?? null,
        conditions: [{ type: 'Ready', status: ready ? 'True' : 'False', lastTransitionTime: new Date().toISOString() }],
      },
    },
    'application/merge-patch+json',
  );
}

/** A pod serving at `ip`, Ready. */
export async function readyPod(api: Api, name: string, inferName: string, ip: string, labels: Record<string, string> = {}): Promise<void> {
  await createEnginePod(api, name, inferName, labels);
  await setPodStatus(api, name, ip, true);
}
