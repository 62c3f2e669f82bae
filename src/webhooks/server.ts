// The admission webhook server of the controller manager: HTTPS (node:https) serving AdmissionReview at /validate
// and /mutate over the same AdmissionPlugins the embedded API server runs inline. Every replica runs it (the
// webhooks are active-active behind the Service); the certificates live in one Secret that any replica creates or
// rotates (conditional writes, so replicas agree), and each replica patches the CA bundle into the webhook
// configurations and reloads its serving certificate when the Secret changes.
import { mkdirSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CoreV1Api, type KubeConfig, type V1Secret } from '@kubernetes/client-node';
import type { AdmissionPlugin } from '../api/admission.ts';
import { isConflict, isNotFound } from '../kube/client.ts';
import { createLogger, errorMessage, type Logger } from '../kube/log.ts';
import { certificatesFromSecretData, certificatesToSecretData, renewCertificates, type WebhookCertificates } from './certs.ts';
import { ensureWebhookConfigurations, MUTATE_PATH, VALIDATE_PATH } from './configurations.ts';
import { createAdmissionPlugins } from './plugins.ts';
import { REGISTRY_POLICY_CONFIGMAP } from './policy.ts';
import { startPolicyInformer } from './policy-informer.ts';
import { reviewAdmission, type AdmissionReview } from './review.ts';

export const DEFAULT_WEBHOOK_SERVICE = 'matrixinfer-webhook';
export const DEFAULT_WEBHOOK_PORT = 9443;
const MAX_BODY = 3 * 1024 * 1024;

export interface WebhookServerOptions {
  kubeConfig: KubeConfig;
  /**
   * Default: the project's admission plugins, reading the registry policy ConfigMap (policy.ts) in `policyNamespace`
   * through an informer.
   */
  plugins?: readonly AdmissionPlugin[];
  /** Namespace of the registry policy ConfigMap (default: `namespace`, the controller manager's). */
  policyNamespace?: string;
  /** How long startup waits for the policy's first read before serving (default 10 s; Models are refused until then). */
  policySyncTimeoutMs?: number;
  /** Listen address (default 0.0.0.0) and port (default 9443; 0 picks a free one). */
  host?: string;
  port?: number;
  /** Namespace of the Service and of the certificate Secret. */
  namespace: string;
  /** The Service in front of the webhook server (default matrixinfer-webhook); its DNS names go into the certificate. */
  serviceName?: string;
  /** Port of that Service (default 443). */
  servicePort?: number;
  /** Secret holding CA and serving certificate (default `<serviceName>-cert`). */
  secretName?: string;
  /**
   * Base URL the API server should call instead of the Service, e.g. `https://127.0.0.1:{port}` (`{port}` becomes
   * the bound port). For API servers that cannot reach Services (a bare kube-apiserver in tests). An IP host is
   * added to the certificate's IP SANs.
   */
  url?: string;
  /** Also write tls.crt, tls.key and ca.crt here. */
  certDir?: string;
  /** Serving certificate lifetime (default 1 year), CA lifetime (default 5 years); renewed with a third left. */
  validityMs?: number;
  caValidityMs?: number;
  /** How often the Secret is checked for rotation and changes by other replicas (default 60 s). */
  checkIntervalMs?: number;
  /**
   * After a new CA was patched into the configurations, keep serving the old certificate this long before switching
   * to one the new CA signed, so the API server has the new bundle first (default 5 s).
   */
  caPropagationDelayMs?: number;
  /** Create/update the webhook configurations (default true). */
  manageConfigurations?: boolean;
  failurePolicy?: 'Fail' | 'Ignore';
  validatingConfigurationName?: string;
  mutatingConfigurationName?: string;
  /** Told each request's path, status code and duration (controller_runtime_webhook_*, kube/controller-metrics.ts). */
  observe?: (webhook: string, code: number, seconds: number) => void;
  logger?: Logger;
}

export interface WebhookServer {
  /** `https://host:port` as bound. */
  readonly url: string;
  readonly port: number;
  /** The certificates being served right now. */
  certificates(): WebhookCertificates;
  /** Check the Secret now (rotate if due, reload, re-patch configurations); what the timer does. */
  sync(): Promise<void>;
  close(): Promise<void>;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        reject(new Error('request body too large'));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, code: number, body: unknown): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(code, { 'content-type': typeof body === 'string' ? 'text/plain' : 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export async function startWebhookServer(options: WebhookServerOptions): Promise<WebhookServer> {
  const log = options.logger ?? createLogger('webhook');
  const policyNamespace = options.policyNamespace ?? options.namespace;
  const policy = options.plugins ? undefined : startPolicyInformer(options.kubeConfig, policyNamespace, log.child('policy'));
  const plugins = options.plugins ?? createAdmissionPlugins({ policy });
  if (policy && !(await policy.synced(options.policySyncTimeoutMs ?? 10_000))) {
    log.warn('registry policy not read yet; Models are refused until it is', { configMap: `${policyNamespace}/${REGISTRY_POLICY_CONFIGMAP}` });
  }
  const core = options.kubeConfig.makeApiClient(CoreV1Api);
  const serviceName = options.serviceName ?? DEFAULT_WEBHOOK_SERVICE;
  const secretName = options.secretName ?? `${serviceName}-cert`;
  const namespace = options.namespace;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && (path === '/healthz' || path === '/readyz')) return send(res, 200, 'ok');
    const mode = path === VALIDATE_PATH ? 'validate' : path === MUTATE_PATH ? 'mutate' : undefined;
    if (!mode) return send(res, 404, 'not found');
    if (req.method !== 'POST') return send(res, 405, 'method not allowed');
    let review: AdmissionReview;
    try {
      review = JSON.parse(await readBody(req)) as AdmissionReview;
    } catch (err) {
      return send(res, 400, `invalid AdmissionReview: ${errorMessage(err)}`);
    }
    try {
      const answer = reviewAdmission(review, plugins, mode);
      if (!answer.response!.allowed) {
        log.info('denied', { kind: review.request?.kind?.kind, name: review.request?.name ?? '', namespace: review.request?.namespace ?? '', message: answer.response!.status?.message ?? '' });
      }
      send(res, 200, answer);
    } catch (err) {
      send(res, 400, `invalid AdmissionReview: ${errorMessage(err)}`);
    }
  };

  // ---------- certificates ----------

  const ipAddresses = ['127.0.0.1'];
  const dnsNames = [`${serviceName}.${namespace}.svc`, `${serviceName}.${namespace}.svc.cluster.local`, `${serviceName}.${namespace}`, serviceName, 'localhost'];
  if (options.url) {
    const host = new URL(options.url.replace('{port}', '1')).hostname.replace(/^\[|\]$/g, '');
    if (isIP(host)) {
      if (!ipAddresses.includes(host)) ipAddresses.push(host);
    } else if (!dnsNames.includes(host)) {
      dnsNames.push(host);
    }
  }
  const certOptions = { dnsNames, ipAddresses, validityMs: options.validityMs, caValidityMs: options.caValidityMs };

  /** Read the Secret, renew what is due (conditional write; on a lost race use the winner's), return the certs. */
  async function loadOrRenew(): Promise<WebhookCertificates> {
    for (let attempt = 0; ; attempt++) {
      let secret: V1Secret | undefined;
      try {
        secret = await core.readNamespacedSecret({ name: secretName, namespace });
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
      const { certs, changed } = renewCertificates(certificatesFromSecretData(secret?.data), certOptions);
      if (!changed) return certs;
      const data = certificatesToSecretData(certs);
      try {
        if (!secret) {
          await core.createNamespacedSecret({
            namespace,
            body: { apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/tls', metadata: { name: secretName, namespace, labels: { 'app.kubernetes.io/part-of': 'matrixinfer' } }, data },
          });
          log.info('created webhook certificates', { secret: `${namespace}/${secretName}` });
        } else {
          await core.replaceNamespacedSecret({ name: secretName, namespace, body: { ...secret, type: secret.type ?? 'kubernetes.io/tls', data } });
          log.info('rotated webhook certificates', { secret: `${namespace}/${secretName}` });
        }
        return certs;
      } catch (err) {
        // AlreadyExists or Conflict: another replica wrote first; read theirs.
        if (!isConflict(err) || attempt >= 5) throw err;
      }
    }
  }

  const stopPolicy = (err: unknown): never => {
    policy?.stop();
    throw err;
  };
  let current = await loadOrRenew().catch(stopPolicy);
  const writeCertDir = (certs: WebhookCertificates) => {
    if (!options.certDir) return;
    mkdirSync(options.certDir, { recursive: true });
    writeFileSync(join(options.certDir, 'tls.crt'), certs.serving.cert);
    writeFileSync(join(options.certDir, 'tls.key'), certs.serving.key, { mode: 0o600 });
    writeFileSync(join(options.certDir, 'ca.crt'), certs.caBundle);
  };
  writeCertDir(current);

  const observe = options.observe;
  const server = https.createServer({ cert: current.serving.cert, key: current.serving.key, minVersion: 'TLSv1.2' }, (req, res) => {
    if (observe) {
      const started = performance.now();
      const path = (req.url ?? '/').split('?')[0]!;
      if (path === VALIDATE_PATH || path === MUTATE_PATH) res.once('finish', () => observe(path, res.statusCode, (performance.now() - started) / 1000));
    }
    handle(req, res).catch((err: unknown) => {
      log.error('webhook request failed', { error: errorMessage(err) });
      if (!res.headersSent) send(res, 500, 'internal error');
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => {
      policy?.stop();
      reject(err);
    });
    server.listen(options.port ?? DEFAULT_WEBHOOK_PORT, options.host ?? '0.0.0.0', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const listenHost = options.host && options.host !== '0.0.0.0' ? options.host : '127.0.0.1';
  const url = `https://${listenHost.includes(':') ? `[${listenHost}]` : listenHost}:${port}`;

  const endpoint = options.url
    ? { url: options.url.replace('{port}', String(port)) }
    : { service: { namespace, name: serviceName, port: options.servicePort ?? 443 } };
  const patchConfigurations = async () => {
    if (options.manageConfigurations === false) return;
    const result = await ensureWebhookConfigurations(options.kubeConfig, {
      plugins,
      endpoint,
      caBundle: current.caBundle,
      ...(options.failurePolicy ? { failurePolicy: options.failurePolicy } : {}),
      ...(options.validatingConfigurationName ? { validatingName: options.validatingConfigurationName } : {}),
      ...(options.mutatingConfigurationName ? { mutatingName: options.mutatingConfigurationName } : {}),
    });
    if (result.validating !== 'unchanged' || result.mutating !== 'unchanged') log.info('webhook configurations', result);
  };
  try {
    await patchConfigurations();
  } catch (err) {
    server.close();
    stopPolicy(err);
  }
  log.info('webhook server listening', { url, endpoint: endpoint.url ?? `${serviceName}.${namespace}.svc` });

  let syncing: Promise<void> | undefined;
  const sync = (): Promise<void> => {
    syncing ??= (async () => {
      try {
        const next = await loadOrRenew();
        if (next.serving.cert !== current.serving.cert || next.caBundle !== current.caBundle) {
          // Trust first, then serve: the bundle patched in already holds the new CA (and the old one while valid).
          const previous = current;
          current = next;
          try {
            await patchConfigurations();
          } catch (err) {
            current = previous;
            throw err;
          }
          if (next.ca.cert !== previous.ca.cert) await sleep(options.caPropagationDelayMs ?? 5_000);
          server.setSecureContext({ cert: next.serving.cert, key: next.serving.key, minVersion: 'TLSv1.2' });
          writeCertDir(next);
          log.info('serving renewed certificate');
        } else {
          await patchConfigurations();
        }
      } finally {
        syncing = undefined;
      }
    })();
    return syncing;
  };
  const timer = setInterval(() => {
    sync().catch((err: unknown) => log.error('webhook certificate sync failed', { error: errorMessage(err) }));
  }, options.checkIntervalMs ?? 60_000);
  timer.unref();

  return {
    url,
    port,
    certificates: () => current,
    sync,
    async close() {
      clearInterval(timer);
      policy?.stop();
      await syncing?.catch(() => undefined);
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
