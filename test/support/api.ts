// An embedded API server for a test: temp data dir, ephemeral port, our CRDs installed and established.
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import type { KubeConfig } from '@kubernetes/client-node';
import { startApiServer } from '../../src/apiserver/server.ts';
import { admissionPlugins } from '../../src/webhooks/plugins.ts';
import { loopbackKubeConfig } from '../../src/kube/config.ts';

const CRD_DIR = fileURLToPath(new URL('../../deploy/crds/', import.meta.url));

export interface TestApi {
  url: string;
  kc: KubeConfig;
  dataDir: string;
  /** POST/PUT/... a JSON body to the API server and return status and parsed body. */
  call(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>;
  close(): Promise<void>;
}

export async function startTestApi(options: { admission?: boolean } = {}): Promise<TestApi> {
  const dataDir = mkdtempSync(join(tmpdir(), 'matrixinfer-api-'));
  const server = await startApiServer({ dataDir, port: 0, ...(options.admission === false ? {} : { admission: admissionPlugins }) });
  const call = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(server.url + path, {
      method,
      ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : undefined };
  };
  for (const file of readdirSync(CRD_DIR).filter((f) => f.endsWith('.yaml'))) {
    const created = await call('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', parse(readFileSync(join(CRD_DIR, file), 'utf8')));
    if (created.status !== 201) throw new Error(`installing ${file}: ${created.status} ${JSON.stringify(created.body)}`);
  }
  return {
    url: server.url,
    kc: loopbackKubeConfig(server.url),
    dataDir,
    call,
    close: async () => {
      await server.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
