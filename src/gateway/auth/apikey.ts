// API keys from Kubernetes Secrets. A Secret labelled `networking.matrixinfer.ai/api-keys` (any value) holds one
// entry per user: data key = user name, value = the API key, or `sha256:<hex>` to store only its hash. Its labels
// `groups.matrixinfer.ai/<group>` (any value) put every user of the Secret in those groups (ModelRoute
// authorization reads them): one Secret per team is the natural layout. The gateway
// keeps SHA-256 hashes only; a request's key is hashed and compared against every stored hash with
// `timingSafeEqual`, without stopping at a match, so the time taken says nothing about which key (if any) matched.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { AuthenticationConfig } from '../../api/kinds/modelserver.ts';

export const API_KEYS_LABEL = 'networking.matrixinfer.ai/api-keys';
/** Label key prefix naming a group of every user in an API-key Secret. */
export const GROUP_LABEL_PREFIX = 'groups.matrixinfer.ai/';

/** Who a request is, once authenticated: built once per key or verified token, shared by its requests. */
export interface Identity {
  readonly user: string;
  readonly groups: readonly string[];
}

/** The authenticator answered a failure, not an identity. */
export function isAuthFailure(r: Identity | AuthFailure): r is AuthFailure {
  return (r as AuthFailure).status !== undefined;
}

/** The parts of a Secret the gateway reads. */
export interface SecretLike {
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string> | null; creationTimestamp?: unknown };
  type?: string;
  data?: Record<string, string> | null;
}

export interface AuthFailure {
  status: 401 | 503;
  message: string;
  /** `error` of the www-authenticate challenge (RFC 6750). */
  challenge?: string;
}

export function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** Keys of one ModelServer: hashes and the user each belongs to. */
export class ApiKeyAuthenticator {
  readonly hashes: Buffer[] = [];
  readonly identities: Identity[] = [];
  /** Lower-case header name; `authorization` expects `Bearer <key>`. */
  readonly header: string;

  constructor(header: string | undefined) {
    this.header = (header || 'authorization').toLowerCase();
  }

  add(identity: Identity, hash: Buffer): void {
    this.hashes.push(hash);
    this.identities.push(identity);
  }

  /** The key presented by the request, or undefined. */
  presented(headers: Record<string, string | string[] | undefined>): string | undefined {
    const v = headers[this.header];
    if (typeof v !== 'string' || v === '') return undefined;
    if (this.header !== 'authorization') return v.trim();
    if (v.length < 8 || v.slice(0, 7).toLowerCase() !== 'bearer ') return undefined;
    const key = v.slice(7).trim();
    return key === '' ? undefined : key;
  }

  /** Whose the key is, or the failure to answer. */
  authenticate(headers: Record<string, string | string[] | undefined>): Identity | AuthFailure {
    const key = this.presented(headers);
    if (key === undefined) {
      return { status: 401, message: `An API key is required (${this.header === 'authorization' ? 'Authorization: Bearer <key>' : `header ${this.header}`}).` };
    }
    const digest = sha256(key);
    let match = -1;
    const hashes = this.hashes;
    for (let i = 0; i < hashes.length; i++) {
      if (timingSafeEqual(digest, hashes[i]!) && match < 0) match = i;
    }
    if (match < 0) return { status: 401, message: 'The API key is not valid.', challenge: 'invalid_token' };
    return this.identities[match]!;
  }
}

function labelsMatch(labels: Record<string, string> | null | undefined, want: Record<string, string>): boolean {
  for (const k in want) if (labels?.[k] !== want[k]) return false;
  return true;
}

/** Build the keys of a ModelServer in `namespace` from the labelled Secrets the gateway watches. */
export function buildApiKeys(
  namespace: string,
  config: AuthenticationConfig | undefined,
  secrets: readonly SecretLike[],
  problems: string[],
  owner: string,
): ApiKeyAuthenticator {
  const auth = new ApiKeyAuthenticator(config?.header);
  const name = config?.secretName;
  const selector = config?.secretSelector?.matchLabels;
  let found = 0;
  for (const s of secrets) {
    const md = s.metadata;
    if (!md || (md.namespace ?? 'default') !== namespace) continue;
    if (name ? md.name !== name : !(selector && labelsMatch(md.labels, selector))) continue;
    found++;
    const groups: string[] = [];
    for (const label in md.labels ?? {}) if (label.startsWith(GROUP_LABEL_PREFIX) && label.length > GROUP_LABEL_PREFIX.length) groups.push(label.slice(GROUP_LABEL_PREFIX.length));
    for (const [user, b64] of Object.entries(s.data ?? {})) {
      if (typeof b64 !== 'string') continue;
      const value = Buffer.from(b64, 'base64').toString('utf8').trim();
      if (value === '') continue;
      if (value.startsWith('sha256:')) {
        const hex = value.slice(7).trim();
        if (!/^[0-9a-fA-F]{64}$/.test(hex)) {
          problems.push(`ModelServer ${owner}: Secret ${md.name} entry ${user}: sha256: needs 64 hex digits`);
          continue;
        }
        auth.add({ user, groups }, Buffer.from(hex, 'hex'));
      } else {
        auth.add({ user, groups }, sha256(value));
      }
    }
  }
  if (found === 0) {
    problems.push(
      `ModelServer ${owner}: no API-key Secret ${name ? `named ${name}` : 'matches secretSelector'} in ${namespace} (Secrets need the label ${API_KEYS_LABEL}); every request is refused`,
    );
  }
  return auth;
}
