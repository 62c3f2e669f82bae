// The real embedded API server (src/apiserver) for tests of the controller runtime: a temp data dir and an
// ephemeral port, CRD installation, and the outages a client must survive — the server going away and coming back
// on the same port with the same data, and writes made while it was away (which its watchers never saw).
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import type { KubeConfig } from '@kubernetes/client-node';
import { startApiServer, type ApiServerOptions, type RunningApiServer } from '../../apiserver/server.ts';
import { loopbackKubeConfig } from '../config.ts';

export interface TestApiServer {
  /** Stable across down()/up(): the port is kept. */
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  readonly kubeConfig: KubeConfig;
  /** POST CustomResourceDefinitions and wait until their resources are served. */
  installCrds(crds: unknown[]): Promise<void>;
  /** Stop serving (open watches end, connections drop); the objects stay in the data dir. */
  down(): Promise<void>;
  /** Serve again on the same port and data dir. */
  up(): Promise<void>;
  /**
   * While the server is down, run `fn` against a second server on the same data dir (another port), then stop
   * that one: its writes persist, but clients of `url` were disconnected throughout and never saw them.
   */
  whileDown<T>(fn: (kubeConfig: KubeConfig) => Promise<T>): Promise<T>;
  /** Stop and remove the data dir. */
  close(): Promise<void>;
}

export async function startTestApiServer(options: Omit<ApiServerOptions, 'dataDir' | 'port'> = {}): Promise<TestApiServer> {
  const dir = mkdtempSync(join(tmpdir(), 'matrixinfer-kube-test-'));
  const dataDir = join(dir, 'data');
  let server: RunningApiServer | undefined = await startApiServer({ ...options, dataDir, port: 0 });
  const { port, url } = server;
  const t: TestApiServer = {
    url,
    port,
    dataDir,
    kubeConfig: loopbackKubeConfig(url),
    async installCrds(crds) {
      for (const crd of crds) {
        const res = await fetch(`${url}/apis/apiextensions.k8s.io/v1/customresourcedefinitions`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify(crd),
        });
        if (res.status !== 201) throw new Error(`creating CRD: HTTP ${res.status}: ${await res.text()}`);
      }
      for (const crd of crds as { spec: { group: string; versions: { name: string; served: boolean }[]; names: { plural: string } } }[]) {
        const version = crd.spec.versions.find((v) => v.served)!.name;
        const path = `${url}/apis/${crd.spec.group}/${version}/${crd.spec.names.plural}`;
        const deadline = Date.now() + 5000;
        while ((await fetch(path)).status !== 200) {
          if (Date.now() > deadline) throw new Error(`${path} not served`);
          await new Promise((r) => setTimeout(r, 10));
        }
      }
    },
    async down() {
      await server?.close();
      server = undefined;
    },
    async up() {
      server ??= await startApiServer({ ...options, dataDir, port });
    },
    async whileDown(fn) {
      if (server) throw new Error('whileDown: the server is up');
      const other = await startApiServer({ ...options, dataDir, port: 0 });
      try {
        return await fn(loopbackKubeConfig(other.url));
      } finally {
        await other.close();
      }
    },
    async close() {
      await t.down();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return t;
}

const CRD_DIR = fileURLToPath(new URL('../../../deploy/crds/', import.meta.url));

/** The project's generated CRDs (deploy/crds/*.yaml), ready to install. */
export function projectCrds(): unknown[] {
  return readdirSync(CRD_DIR)
    .filter((file) => file.endsWith('.yaml'))
    .sort()
    .map((file) => parse(readFileSync(`${CRD_DIR}${file}`, 'utf8')) as unknown);
}
