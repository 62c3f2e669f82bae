// A real Kubernetes control plane on loopback for tests: etcd + kube-apiserver (+ kube-controller-manager running
// only the garbage collector and namespace controllers, since cascading deletion is its job, not the API
// server's), built from Go modules by scripts/kube-binaries.sh (cached after the first build). Our CRDs are
// installed and Established before startRealCluster() resolves.
//
// Authentication: the admin token (group system:masters, bypasses RBAC) comes from a static token file; any other
// identity comes from tokenFor(user, groups), a token signed by this process and checked by a token-review webhook
// this process serves (kube-apiserver's --authentication-token-webhook-config-file), so tests can mint narrower
// users (e.g. `system:serviceaccount:ns:name` for RBAC checks) at any time, synchronously.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { createHmac, generateKeyPairSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, fetch as undiciFetch, type RequestInit as UndiciRequestInit } from 'undici';
import { KubeConfig } from '@kubernetes/client-node';
import { projectCrds } from '../../src/kube/testing/apiserver.ts';
import { freePort, stopProcess } from '../support/platform.ts';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
export const KUBE_VERSION = 'v1.34.4';

export interface RealCluster {
  /** https://127.0.0.1:PORT */
  readonly url: string;
  /** Admin (system:masters) client configuration. */
  readonly kubeConfig: KubeConfig;
  /** An admin kubeconfig file for kubectl (and for child processes). */
  readonly kubeconfigPath: string;
  /** The cluster CA (PEM) that signed the serving certificate. */
  readonly caData: string;
  readonly adminToken: string;
  /** A bearer token authenticating as `user` with `groups` (plus system:authenticated). No RBAC bypass. */
  tokenFor(user: string, groups?: string[]): string;
  /** A client configuration (and writes a kubeconfig file, returned as `path`) for the given token. */
  kubeConfigFor(token: string): { kubeConfig: KubeConfig; path: string };
  /** fetch() against the API server with TLS trust set up; `token` defaults to the admin token. */
  fetch(path: string, init?: UndiciRequestInit & { token?: string }): ReturnType<typeof undiciFetch>;
  /** Stop kube-apiserver (etcd keeps the data); open watches end, connections drop. */
  apiserverDown(): Promise<void>;
  /** Start kube-apiserver again on the same port, data and certificates; resolves when ready. */
  apiserverUp(): Promise<void>;
  /** Directory with the processes' logs (kept while running). */
  readonly dir: string;
  /** Kill every process and remove the temp dirs. Idempotent. */
  stop(): Promise<void>;
}

export interface RealClusterOptions {
  /** Install deploy/crds (default true). */
  crds?: boolean;
  /** Run kube-controller-manager's garbage collector and namespace controllers (default true). */
  controllerManager?: boolean;
  /** Extra kube-apiserver flags. */
  apiserverArgs?: string[];
}

let cachedBinDir: string | undefined;

/** Build (once, then cached) and return the directory holding kube-apiserver, kube-controller-manager and etcd. */
export function kubeBinaries(): string {
  if (cachedBinDir) return cachedBinDir;
  const out = execFileSync('bash', [join(REPO, 'scripts/kube-binaries.sh')], { cwd: REPO, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 60 * 60_000 });
  cachedBinDir = out.trim().split('\n').pop()!;
  return cachedBinDir;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

function startProcess(name: string, bin: string, args: string[], logDir: string): { child: ChildProcess; log: () => string } {
  const logPath = join(logDir, `${name}.log`);
  const out = createWriteStream(logPath);
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.pipe(out, { end: false });
  child.stderr!.pipe(out, { end: false });
  running.add(child);
  child.once('exit', () => running.delete(child));
  return {
    child,
    log: () => {
      try {
        return readFileSync(logPath, 'utf8').split('\n').slice(-40).join('\n');
      } catch {
        return '';
      }
    },
  };
}

function kubeconfigYaml(url: string, caData: string, token: string): string {
  const ca = Buffer.from(caData).toString('base64');
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: real',
    '  cluster:',
    `    server: ${url}`,
    `    certificate-authority-data: ${ca}`,
    'users:',
    '- name: user',
    '  user:',
    `    token: ${token}`,
    'contexts:',
    '- name: real',
    '  context:',
    '    cluster: real',
    '    user: user',
    '    namespace: default',
    'current-context: real',
    '',
  ].join('\n');
}

export async function startRealCluster(options: RealClusterOptions = {}): Promise<RealCluster> {
  const binDir = kubeBinaries();
  const base = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
  const dir = mkdtempSync(join(base, 'matrixinfer-cluster-'));
  const children: ChildProcess[] = [];
  let webhook: Server | undefined;
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    for (const child of children.reverse()) await stopProcess(child, 10_000);
    await new Promise<void>((resolve) => (webhook ? webhook.close(() => resolve()) : resolve()));
    webhook?.closeAllConnections();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    // Token-review webhook for tokens minted by tokenFor().
    const secret = randomBytes(32);
    const sign = (payload: string) => createHmac('sha256', secret).update(payload).digest('base64url');
    const tokenFor = (user: string, groups: string[] = []) => {
      const payload = Buffer.from(JSON.stringify({ u: user, g: groups })).toString('base64url');
      return `mi.${payload}.${sign(payload)}`;
    };
    webhook = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        const review = JSON.parse(body || '{}') as { apiVersion?: string; spec?: { token?: string } };
        const [prefix, payload, signature] = (review.spec?.token ?? '').split('.');
        let status: Record<string, unknown> = { authenticated: false };
        if (prefix === 'mi' && payload && signature) {
          const expected = Buffer.from(sign(payload));
          const given = Buffer.from(signature);
          if (expected.length === given.length && timingSafeEqual(expected, given)) {
            const { u, g } = JSON.parse(Buffer.from(payload, 'base64url').toString()) as { u: string; g: string[] };
            status = { authenticated: true, user: { username: u, uid: `uid-${u}`, groups: g } };
          }
        }
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ apiVersion: review.apiVersion ?? 'authentication.k8s.io/v1', kind: 'TokenReview', status }));
      });
    });
    await new Promise<void>((resolve) => webhook!.listen(0, '127.0.0.1', resolve));
    const webhookPort = (webhook.address() as { port: number }).port;
    writeFileSync(
      join(dir, 'authn-webhook.yaml'),
      kubeconfigYaml(`http://127.0.0.1:${webhookPort}/`, '', 'unused').replace(/    certificate-authority-data: .*\n/, ''),
    );

    // etcd.
    const [etcdPort, peerPort, apiPort] = [await freePort(), await freePort(), await freePort()];
    const etcd = startProcess('etcd', join(binDir, 'etcd'), [
      `--data-dir=${join(dir, 'etcd')}`,
      `--listen-client-urls=http://127.0.0.1:${etcdPort}`,
      `--advertise-client-urls=http://127.0.0.1:${etcdPort}`,
      `--listen-peer-urls=http://127.0.0.1:${peerPort}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${peerPort}`,
      `--initial-cluster=default=http://127.0.0.1:${peerPort}`,
      '--unsafe-no-fsync',
      '--log-level=warn',
    ], dir);
    children.push(etcd.child);
    await waitFor('etcd', 60_000, etcd, async () => (await fetch(`http://127.0.0.1:${etcdPort}/health`)).ok);

    // kube-apiserver.
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    writeFileSync(join(dir, 'sa.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
    writeFileSync(join(dir, 'sa.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const adminToken = randomBytes(24).toString('hex');
    writeFileSync(join(dir, 'tokens.csv'), `${adminToken},admin,admin-uid,"system:masters"\n`);
    const certDir = join(dir, 'certs');
    mkdirSync(certDir);
    const url = `https://127.0.0.1:${apiPort}`;
    const apiserverArgs = [
      `--etcd-servers=http://127.0.0.1:${etcdPort}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${apiPort}`,
      '--advertise-address=127.0.0.1',
      `--cert-dir=${certDir}`,
      '--authorization-mode=RBAC',
      '--service-cluster-ip-range=10.0.0.0/24',
      '--allow-privileged=true',
      '--disable-admission-plugins=ServiceAccount',
      `--service-account-issuer=${url}/`,
      `--service-account-key-file=${join(dir, 'sa.pub')}`,
      `--service-account-signing-key-file=${join(dir, 'sa.key')}`,
      `--token-auth-file=${join(dir, 'tokens.csv')}`,
      `--authentication-token-webhook-config-file=${join(dir, 'authn-webhook.yaml')}`,
      '--authentication-token-webhook-version=v1',
      '--authentication-token-webhook-cache-ttl=30s',
      '--endpoint-reconciler-type=none',
      ...(options.apiserverArgs ?? []),
    ];
    let caData = '';
    let agent: Agent | undefined;
    let apiserver = startProcess('kube-apiserver', join(binDir, 'kube-apiserver'), apiserverArgs, dir);
    children.push(apiserver.child);
    const apiserverReady = () => waitFor('kube-apiserver /readyz', 90_000, apiserver, async () => {
      const crt = join(certDir, 'apiserver.crt');
      if (!existsSync(crt)) return false;
      if (!agent) {
        const blocks = readFileSync(crt, 'utf8').match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g);
        if (!blocks || blocks.length < 2) return false;
        caData = blocks[blocks.length - 1]!.trimEnd() + '\n';
        agent = new Agent({ connect: { ca: caData } });
      }
      const res = await undiciFetch(`${url}/readyz`, { dispatcher: agent, headers: { authorization: `Bearer ${adminToken}` } });
      await res.text();
      return res.ok;
    });
    await apiserverReady();

    const dispatcher = agent!;
    const clusterFetch = (path: string, init: UndiciRequestInit & { token?: string } = {}) => {
      const { token, headers, ...rest } = init;
      return undiciFetch(url + path, {
        ...rest,
        dispatcher,
        headers: { authorization: `Bearer ${token ?? adminToken}`, ...(headers as Record<string, string> | undefined) },
      });
    };
    let configs = 0;
    const kubeConfigFor = (token: string) => {
      const path = join(dir, `kubeconfig-${configs++}`);
      writeFileSync(path, kubeconfigYaml(url, caData, token), { mode: 0o600 });
      const kubeConfig = new KubeConfig();
      kubeConfig.loadFromFile(path);
      return { kubeConfig, path };
    };
    const admin = kubeConfigFor(adminToken);

    if (options.crds !== false) await installCrds(clusterFetch);

    if (options.controllerManager !== false && existsSync(join(binDir, 'kube-controller-manager'))) {
      const kcm = startProcess('kube-controller-manager', join(binDir, 'kube-controller-manager'), [
        `--kubeconfig=${admin.path}`,
        '--controllers=garbagecollector,namespace',
        '--leader-elect=false',
        '--secure-port=0',
        `--service-account-private-key-file=${join(dir, 'sa.key')}`,
        '--concurrent-gc-syncs=5',
      ], dir);
      children.push(kcm.child);
      // The garbage collector is ready once it has built its graph; give it a moment and check it stays up.
      await sleep(500);
      if (kcm.child.exitCode !== null) throw new Error(`kube-controller-manager exited:\n${kcm.log()}`);
    }

    return {
      url,
      kubeConfig: admin.kubeConfig,
      kubeconfigPath: admin.path,
      caData,
      adminToken,
      tokenFor,
      kubeConfigFor,
      fetch: clusterFetch,
      async apiserverDown() {
        await stopProcess(apiserver.child, 10_000);
      },
      async apiserverUp() {
        if (apiserver.child.exitCode === null && apiserver.child.signalCode === null) return;
        apiserver = startProcess('kube-apiserver', join(binDir, 'kube-apiserver'), apiserverArgs, dir);
        children.splice(1, 0, apiserver.child);
        await apiserverReady();
      },
      dir,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

async function waitFor(what: string, timeoutMs: number, proc: { child: ChildProcess; log: () => string }, probe: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc.child.exitCode !== null || proc.child.signalCode !== null) throw new Error(`${what}: the process exited (${proc.child.exitCode ?? proc.child.signalCode}):\n${proc.log()}`);
    try {
      if (await probe()) return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}:\n${proc.log()}`);
    await sleep(250);
  }
}

async function installCrds(clusterFetch: RealCluster['fetch']): Promise<void> {
  const crds = projectCrds() as Array<{ metadata: { name: string }; spec?: { group: string; names: { plural: string }; versions: Array<{ name: string; served: boolean }> } }>;
  for (const crd of crds) {
    const res = await clusterFetch('/apis/apiextensions.k8s.io/v1/customresourcedefinitions', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(crd),
    });
    if (res.status !== 201) throw new Error(`creating CRD ${crd.metadata.name}: HTTP ${res.status}: ${await res.text()}`);
    await res.text();
  }
  const deadline = Date.now() + 60_000;
  for (const crd of crds) {
    for (;;) {
      const res = await clusterFetch(`/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}`);
      const body = (await res.json()) as { status?: { conditions?: Array<{ type: string; status: string }> } };
      if (body.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) break;
      if (Date.now() > deadline) throw new Error(`CRD ${crd.metadata.name} not Established`);
      await sleep(100);
    }
    // Established is not yet served: the resource's storage (watch cache) answers 429 for a moment.
    const version = crd.spec!.versions.find((v) => v.served)!.name;
    for (;;) {
      const res = await clusterFetch(`/apis/${crd.spec!.group}/${version}/${crd.spec!.names.plural}?limit=1`);
      await res.text();
      if (res.status === 200) break;
      if (Date.now() > deadline) throw new Error(`${crd.metadata.name}: HTTP ${res.status} listing`);
      await sleep(100);
    }
  }
}
