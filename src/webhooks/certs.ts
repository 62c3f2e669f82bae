// Certificates of the webhook server: a self-signed CA and a serving certificate it signs (X.509 via node-forge,
// keys from node:crypto). Kept in one Secret so every replica serves the same certificate; rotated before expiry.
// A rotated CA keeps the previous one in the bundle until it expires, so clients trusting either keep working.
import { generateKeyPairSync, randomBytes, X509Certificate } from 'node:crypto';
import forge from 'node-forge';

export interface KeyPair {
  cert: string;
  key: string;
}

export interface WebhookCertificates {
  /** Current CA (signs the serving certificate). */
  ca: KeyPair;
  /** Serving certificate and key. */
  serving: KeyPair;
  /** PEM bundle the API server trusts: the current CA first, then earlier CAs that have not expired. */
  caBundle: string;
}

export interface CertificateOptions {
  /** DNS names of the serving certificate, the first one is its common name. */
  dnsNames: string[];
  ipAddresses: string[];
  /** Lifetime of the serving certificate (default 1 year) and of the CA (default 5 years). */
  validityMs?: number;
  caValidityMs?: number;
  /** Renew when less than this is left (default a third of the lifetime). */
  rotateBeforeMs?: number;
  caRotateBeforeMs?: number;
}

const YEAR = 365 * 24 * 3600 * 1000;
/**
 * Names are UTF8String: forge's default, PrintableString, cannot hold every character and Go's x509 (kube-apiserver)
 * rejects a certificate whose PrintableString holds one it does not allow.
 */
const UTF8 = forge.asn1.Type.UTF8 as unknown as forge.asn1.Class;
/** Certificates are valid from a minute before they are made, for clock skew between replicas and the API server. */
const BACKDATE_MS = 60_000;

function newKeyPair(): { privateKey: forge.pki.rsa.PrivateKey; publicKey: forge.pki.rsa.PublicKey; pem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  return { privateKey: forge.pki.privateKeyFromPem(privateKey), publicKey: forge.pki.publicKeyFromPem(publicKey) as forge.pki.rsa.PublicKey, pem: privateKey };
}

/**
 * A random 127-bit serial whose DER INTEGER is positive and minimal: the first byte is 0x40–0x7F. A first byte of
 * 0x00 followed by one below 0x80 is a needless leading zero, which OpenSSL (Node's X509Certificate, TLS peers)
 * refuses as "illegal padding": the old '0' + 31 random nibbles made that in 1 certificate of 32.
 */
export function serial(): string {
  const bytes = randomBytes(16);
  bytes[0] = 0x40 | (bytes[0]! & 0x3f);
  return bytes.toString('hex');
}

function validity(cert: forge.pki.Certificate, now: number, lifetimeMs: number): void {
  cert.validity.notBefore = new Date(now - BACKDATE_MS);
  cert.validity.notAfter = new Date(now + lifetimeMs);
}

export function generateCA(commonName: string, lifetimeMs = 5 * YEAR, now = Date.now()): KeyPair {
  const keys = newKeyPair();
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = serial();
  validity(cert, now, lifetimeMs);
  const subject = [{ name: 'commonName', value: commonName, valueTagClass: UTF8 }];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(cert).replace(/\r\n/g, '\n'), key: keys.pem };
}

export function issueServingCertificate(ca: KeyPair, dnsNames: string[], ipAddresses: string[], lifetimeMs = YEAR, now = Date.now()): KeyPair {
  const caCert = forge.pki.certificateFromPem(ca.cert);
  const caKey = forge.pki.privateKeyFromPem(ca.key);
  const keys = newKeyPair();
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = serial();
  validity(cert, now, lifetimeMs);
  cert.setSubject([{ name: 'commonName', value: dnsNames[0] ?? ipAddresses[0] ?? 'webhook', valueTagClass: UTF8 }]);
  cert.setIssuer(caCert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'authorityKeyIdentifier', keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() },
    {
      name: 'subjectAltName',
      altNames: [...dnsNames.map((value) => ({ type: 2, value })), ...ipAddresses.map((ip) => ({ type: 7, ip }))],
    },
  ]);
  cert.sign(caKey, forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(cert).replace(/\r\n/g, '\n'), key: keys.pem };
}

/** The PEM blocks of a bundle. */
export function splitPem(bundle: string): string[] {
  return bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g)?.map((b) => (b.endsWith('\n') ? b : b + '\n')) ?? [];
}

function parse(pem: string): X509Certificate | undefined {
  try {
    return new X509Certificate(pem);
  } catch {
    return undefined;
  }
}

/** Whether `certs` is a usable set for these names at `now`, else what to renew. */
function assess(certs: WebhookCertificates | undefined, options: CertificateOptions, now: number): 'ok' | 'serving' | 'all' {
  if (!certs) return 'all';
  const ca = parse(certs.ca.cert);
  const serving = parse(certs.serving.cert);
  const caLifetime = options.caValidityMs ?? 5 * YEAR;
  const lifetime = options.validityMs ?? YEAR;
  if (!ca || !ca.ca) return 'all';
  if (Date.parse(ca.validTo) - now < (options.caRotateBeforeMs ?? caLifetime / 3)) return 'all';
  if (!serving || !serving.checkIssued(ca) || !serving.verify(ca.publicKey)) return 'serving';
  if (Date.parse(serving.validTo) - now < (options.rotateBeforeMs ?? lifetime / 3)) return 'serving';
  // The serving certificate must not outlive its CA, and must cover every name asked for.
  if (Date.parse(serving.validTo) > Date.parse(ca.validTo)) return 'serving';
  const sans = serving.subjectAltName ?? '';
  for (const name of options.dnsNames) if (!sans.split(', ').includes(`DNS:${name}`)) return 'serving';
  for (const ip of options.ipAddresses) if (!sans.split(', ').includes(`IP Address:${ip}`)) return 'serving';
  return 'ok';
}

/**
 * The certificates to use from now on: `current` when still good, else renewed ones (a new serving certificate
 * from the same CA; or, when the CA itself is due, a new CA too, with the old CA kept in the bundle until it expires).
 * Returns `changed: false` when nothing had to be renewed.
 */
export function renewCertificates(current: WebhookCertificates | undefined, options: CertificateOptions, now = Date.now()): { certs: WebhookCertificates; changed: boolean } {
  const verdict = assess(current, options, now);
  if (verdict === 'ok' && current) return { certs: current, changed: false };
  const caLifetime = options.caValidityMs ?? 5 * YEAR;
  const ca = verdict === 'all' || !current ? generateCA(`matrixinfer-webhook-ca-${Math.floor(now / 1000)}`, caLifetime, now) : current.ca;
  // The serving certificate never outlives the CA that signed it.
  const caExpiry = parse(ca.cert) ? Date.parse(parse(ca.cert)!.validTo) : now + caLifetime;
  const lifetime = Math.min(options.validityMs ?? YEAR, caExpiry - now);
  const serving = issueServingCertificate(ca, options.dnsNames, options.ipAddresses, lifetime, now);
  const previous = current ? splitPem(current.caBundle) : [];
  const stillValid = previous.filter((pem) => {
    const cert = parse(pem);
    return cert && pem.trim() !== ca.cert.trim() && Date.parse(cert.validTo) > now;
  });
  const caBundle = [ca.cert.endsWith('\n') ? ca.cert : ca.cert + '\n', ...stillValid].join('');
  return { certs: { ca, serving, caBundle }, changed: true };
}

// ---------- Secret encoding ----------

export const SECRET_KEYS = { cert: 'tls.crt', key: 'tls.key', caCert: 'ca.crt', caKey: 'ca.key', caBundle: 'ca-bundle.crt' } as const;

const b64 = (text: string) => Buffer.from(text).toString('base64');
const unb64 = (text: string | undefined) => (text ? Buffer.from(text, 'base64').toString('utf8') : '');

export function certificatesToSecretData(certs: WebhookCertificates): Record<string, string> {
  return {
    [SECRET_KEYS.cert]: b64(certs.serving.cert),
    [SECRET_KEYS.key]: b64(certs.serving.key),
    [SECRET_KEYS.caCert]: b64(certs.ca.cert),
    [SECRET_KEYS.caKey]: b64(certs.ca.key),
    [SECRET_KEYS.caBundle]: b64(certs.caBundle),
  };
}

export function certificatesFromSecretData(data: Record<string, string> | undefined): WebhookCertificates | undefined {
  if (!data) return undefined;
  const certs = {
    serving: { cert: unb64(data[SECRET_KEYS.cert]), key: unb64(data[SECRET_KEYS.key]) },
    ca: { cert: unb64(data[SECRET_KEYS.caCert]), key: unb64(data[SECRET_KEYS.caKey]) },
    caBundle: unb64(data[SECRET_KEYS.caBundle]) || unb64(data[SECRET_KEYS.caCert]),
  };
  if (!certs.serving.cert || !certs.serving.key || !certs.ca.cert || !certs.ca.key) return undefined;
  return certs;
}
