// Certificates for the gateway's TLS listener, from the `kubernetes.io/tls` Secrets (`tls.crt`, `tls.key`) named
// by ModelServers with `tls.enabled` and `tls.secretName` (same namespace). Each certificate is offered for the
// names of its ModelServer's Service (`<name>`, `<name>.<ns>`, `<name>.<ns>.svc`, `<name>.<ns>.svc.cluster.local`:
// that Service leads to this listener, see src/controllers/networking/service.ts) and for the DNS names (and IPs)
// in its subjectAltName (its CN when it has none); SNI picks the exact name, then a wildcard `*.parent`. Clients
// without SNI, or with a name no certificate covers, get the certificate of the oldest such ModelServer. Contexts
// are rebuilt only when a Secret's content changes.
import { createSecureContext, type SecureContext } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import type { ModelServer } from '../../api/kinds/modelserver.ts';
import type { SecretLike } from '../auth/apikey.ts';

export interface TlsCert {
  /** namespace/name of the Secret. */
  secret: string;
  names: string[];
  context: SecureContext;
  cert: string;
  key: string;
}

function toMillis(ts: unknown): number {
  if (ts instanceof Date) return ts.getTime();
  if (typeof ts === 'string') return Date.parse(ts) || 0;
  return 0;
}

export class CertificateStore {
  #byName = new Map<string, TlsCert>();
  #default: TlsCert | null = null;
  /** By secret key; reused while the Secret's content is unchanged. */
  #cache = new Map<string, { version: string; cert: TlsCert }>();
  /** Told when the default certificate changes (each TLS listener resets its default context). */
  #defaultWatchers = new Set<(cert: TlsCert | null) => void>();

  get default(): TlsCert | null {
    return this.#default;
  }

  get size(): number {
    return this.#cache.size;
  }

  /** Call `watcher` whenever the default certificate changes (not now); returns what stops it. */
  watchDefault(watcher: (cert: TlsCert | null) => void): () => void {
    this.#defaultWatchers.add(watcher);
    return () => this.#defaultWatchers.delete(watcher);
  }

  update(servers: readonly ModelServer[], secrets: readonly SecretLike[], problems: string[]): void {
    const wanted = servers
      .filter((s) => s?.spec?.tls?.enabled && s.spec.tls.secretName)
      .sort((a, b) => toMillis(a.metadata.creationTimestamp) - toMillis(b.metadata.creationTimestamp));
    const secretsByKey = new Map<string, SecretLike>();
    for (const s of secrets) if (s.metadata?.name) secretsByKey.set(`${s.metadata.namespace ?? 'default'}/${s.metadata.name}`, s);
    const byName = new Map<string, TlsCert>();
    const cache = new Map<string, { version: string; cert: TlsCert }>();
    let first: TlsCert | null = null;
    for (const ms of wanted) {
      const ns = ms.metadata.namespace ?? 'default';
      const key = `${ns}/${ms.spec.tls!.secretName}`;
      let entry = cache.get(key);
      if (entry === undefined) {
        const secret = secretsByKey.get(key);
        const crtB64 = secret?.data?.['tls.crt'];
        const keyB64 = secret?.data?.['tls.key'];
        if (!crtB64 || !keyB64) {
          problems.push(`ModelServer ${ns}/${ms.metadata.name}: TLS Secret ${key} ${secret ? 'lacks tls.crt/tls.key' : 'not found (type kubernetes.io/tls)'}`);
          continue;
        }
        const version = `${crtB64}\0${keyB64}`;
        const old = this.#cache.get(key);
        if (old !== undefined && old.version === version) entry = old;
        else {
          try {
            entry = { version, cert: makeCert(key, Buffer.from(crtB64, 'base64').toString('utf8'), Buffer.from(keyB64, 'base64').toString('utf8')) };
          } catch (err) {
            problems.push(`ModelServer ${ns}/${ms.metadata.name}: TLS Secret ${key}: ${(err as Error).message}`);
            continue;
          }
        }
        cache.set(key, entry);
      }
      const cert = entry.cert;
      first ??= cert;
      for (const n of [...serviceNames(ms), ...cert.names]) if (!byName.has(n)) byName.set(n, cert);
    }
    this.#byName = byName;
    this.#cache = cache;
    if (first !== this.#default) {
      this.#default = first;
      for (const watcher of this.#defaultWatchers) watcher(first);
    }
  }

  /** The certificate for an SNI server name. */
  lookup(servername: string): TlsCert | null {
    const name = servername.toLowerCase();
    const exact = this.#byName.get(name);
    if (exact !== undefined) return exact;
    const dot = name.indexOf('.');
    if (dot > 0) {
      const wild = this.#byName.get(`*${name.slice(dot)}`);
      if (wild !== undefined) return wild;
    }
    return this.#default;
  }

  readonly sniCallback = (servername: string, cb: (err: Error | null, ctx?: SecureContext) => void): void => {
    const cert = this.lookup(servername);
    if (cert === null) cb(new Error('no certificate configured'));
    else cb(null, cert.context);
  };
}

/** The DNS names a ModelServer's Service answers to inside the cluster. */
export function serviceNames(ms: ModelServer): string[] {
  const name = ms.metadata.name!.toLowerCase();
  const ns = (ms.metadata.namespace ?? 'default').toLowerCase();
  return [name, `${name}.${ns}`, `${name}.${ns}.svc`, `${name}.${ns}.svc.cluster.local`];
}

function makeCert(secret: string, cert: string, key: string): TlsCert {
  const context = createSecureContext({ cert, key });
  const x509 = new X509Certificate(cert);
  const names: string[] = [];
  for (const part of (x509.subjectAltName ?? '').split(',')) {
    const p = part.trim();
    if (p.startsWith('DNS:')) names.push(p.slice(4).toLowerCase());
    else if (p.startsWith('IP Address:')) names.push(p.slice(11));
  }
  if (names.length === 0) {
    const cn = /(?:^|\n)CN=([^\n]+)/.exec(x509.subject)?.[1];
    if (cn) names.push(cn.toLowerCase());
  }
  return { secret, names, context, cert, key };
}
