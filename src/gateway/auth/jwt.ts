// JWT bearer tokens, verified with `jose` against keys from a JWKS URL (or the issuer's OpenID discovery document
// when no jwksUri is set).
//
// Keys: fetched on first use and cached. After `jwksCacheDuration` (default 10 min) they are refreshed in the
// background while requests keep using the cached set (a failed refresh keeps the old keys: the IdP being down
// does not lock users out). A token whose `kid` is unknown triggers an immediate refresh, at most once per
// cooldown (min(30 s, cache duration)), which is how key rotation is picked up. Only when there are no keys at all
// does a request wait for the fetch; if that fails the answer is 503 `auth_unavailable`.
//
// Checks: signature with an asymmetric algorithm (RS*, PS*, ES*, EdDSA unless `algorithms` says otherwise;
// `alg: none` and HMAC never verify against a JWKS), `exp` required, `nbf`/`iat` honoured with `clockSkew`
// (default 30 s), `iss` = issuer and `aud` ∋ audience when configured. The user is the `userClaim` (default `sub`), its groups the `groupsClaim` (default `groups`).
import { createLocalJWKSet, jwtVerify, errors, type JWTVerifyGetKey, type JSONWebKeySet, type JWTVerifyOptions } from 'jose';
import type { AuthenticationConfig } from '../../api/kinds/modelserver.ts';
import { parseDuration } from '../../kube/units.ts';
import type { AuthFailure, Identity } from './apikey.ts';

export const DEFAULT_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'];
const FETCH_TIMEOUT_MS = 5000;

class KeysUnavailable extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KeysUnavailable';
  }
}

async function fetchJson(url: string): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(url, { headers: { accept: 'application/json, application/jwk-set+json' }, signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
  } catch (err) {
    throw new KeysUnavailable(`fetching ${url}: ${(err as Error).message}`);
  }
  if (!res.ok) {
    await res.body?.cancel();
    throw new KeysUnavailable(`fetching ${url}: HTTP ${res.status}`);
  }
  try {
    return await res.json();
  } catch (err) {
    throw new KeysUnavailable(`${url}: not JSON: ${(err as Error).message}`);
  }
}

/** A JWKS fetched from a URL (or found through OpenID discovery), cached and refreshed as described above. */
export class RemoteKeys {
  readonly jwksUri: string | undefined;
  readonly issuer: string | undefined;
  readonly cacheMs: number;
  readonly cooldownMs: number;
  #local: JWTVerifyGetKey | null = null;
  #resolvedUri: string | undefined;
  #fetchedAt = 0;
  #attemptedAt = -Infinity;
  #pending: Promise<void> | null = null;
  /** Number of completed fetches of the key set (for tests and diagnostics). */
  fetches = 0;
  /** Bumped whenever the key set changes (verified-token caches start over). */
  generation = 0;

  constructor(jwksUri: string | undefined, issuer: string | undefined, cacheMs: number) {
    this.jwksUri = jwksUri;
    this.issuer = issuer;
    this.#resolvedUri = jwksUri;
    this.cacheMs = cacheMs;
    this.cooldownMs = Math.min(30_000, cacheMs);
  }

  refresh(): Promise<void> {
    if (this.#pending === null) {
      this.#attemptedAt = Date.now();
      this.#pending = this.#load().finally(() => {
        this.#pending = null;
      });
    }
    return this.#pending;
  }

  async #load(): Promise<void> {
    if (this.#resolvedUri === undefined) {
      const base = (this.issuer ?? '').replace(/\/+$/, '');
      const doc = (await fetchJson(`${base}/.well-known/openid-configuration`)) as { jwks_uri?: unknown } | null;
      if (typeof doc?.jwks_uri !== 'string') throw new KeysUnavailable(`${base}/.well-known/openid-configuration has no jwks_uri`);
      this.#resolvedUri = doc.jwks_uri;
    }
    const json = await fetchJson(this.#resolvedUri);
    let local: JWTVerifyGetKey;
    try {
      local = createLocalJWKSet(json as JSONWebKeySet);
    } catch (err) {
      throw new KeysUnavailable(`${this.#resolvedUri}: ${(err as Error).message}`);
    }
    this.#local = local;
    this.#fetchedAt = Date.now();
    this.fetches++;
    this.generation++;
  }

  readonly getKey: JWTVerifyGetKey = async (header, token) => {
    if (this.#local === null) await this.refresh();
    else if (Date.now() - this.#fetchedAt >= this.cacheMs) this.refresh().catch(() => {});
    try {
      return await this.#local!(header, token);
    } catch (err) {
      if (err instanceof errors.JWKSNoMatchingKey && Date.now() - this.#attemptedAt >= this.cooldownMs) {
        await this.refresh().catch(() => {});
        return this.#local!(header, token);
      }
      throw err;
    }
  };
}

/** Key sets by (URL, issuer, cache duration), shared by ModelServers and kept across rebuilds. */
export class KeySets {
  readonly #sets = new Map<string, RemoteKeys>();

  obtain(jwksUri: string | undefined, issuer: string | undefined, cacheMs: number): RemoteKeys {
    const key = `${jwksUri ?? ''}\0${jwksUri ? '' : (issuer ?? '')}\0${cacheMs}`;
    let s = this.#sets.get(key);
    if (s === undefined) this.#sets.set(key, (s = new RemoteKeys(jwksUri, issuer, cacheMs)));
    return s;
  }

  retain(used: ReadonlySet<RemoteKeys>): void {
    for (const [k, s] of this.#sets) if (!used.has(s)) this.#sets.delete(k);
  }
}

/** A verified token: its user and validity window (ms), for the key-set generation it was verified with. */
interface Verified {
  identity: Identity;
  notBefore: number;
  expires: number;
  generation: number;
}

const MAX_CACHED_TOKENS = 10_000;

export class JwtAuthenticator {
  readonly keys: RemoteKeys;
  readonly options: JWTVerifyOptions;
  readonly userClaim: string;
  readonly groupsClaim: string;
  readonly skewMs: number;
  /**
   * Tokens verified before (signature and claims): a repeated token costs a Map lookup and a time check instead of
   * a signature verification (~130 µs RS256). Entries die at the token's exp (+ skew) and whenever the key set
   * changes; the cache starts over when it reaches MAX_CACHED_TOKENS.
   */
  readonly #verified = new Map<string, Verified>();

  constructor(keys: RemoteKeys, config: AuthenticationConfig | undefined, clockSkewMs: number) {
    this.keys = keys;
    const audiences = [...(config?.audience ? [config.audience] : []), ...(config?.audiences ?? [])];
    this.options = {
      algorithms: config?.algorithms?.length ? config.algorithms.filter((a) => a !== 'none') : DEFAULT_ALGORITHMS,
      clockTolerance: Math.round(clockSkewMs / 1000),
      requiredClaims: ['exp'],
      ...(config?.issuer ? { issuer: config.issuer } : {}),
      ...(audiences.length > 0 ? { audience: audiences } : {}),
    };
    this.userClaim = config?.userClaim || 'sub';
    this.groupsClaim = config?.groupsClaim || 'groups';
    this.skewMs = clockSkewMs;
  }

  /** The bearer token of the request, or undefined. */
  static bearer(headers: Record<string, string | string[] | undefined>): string | undefined {
    const v = headers.authorization;
    if (typeof v !== 'string' || v.length < 8 || v.slice(0, 7).toLowerCase() !== 'bearer ') return undefined;
    const t = v.slice(7).trim();
    return t === '' ? undefined : t;
  }

  /** Who the token's bearer is, or the failure to answer. */
  authenticate(headers: Record<string, string | string[] | undefined>): Promise<Identity | AuthFailure> | AuthFailure | Identity {
    const token = JwtAuthenticator.bearer(headers);
    if (token === undefined) return { status: 401, message: 'A bearer token is required (Authorization: Bearer <JWT>).' };
    const hit = this.#verified.get(token);
    if (hit !== undefined) {
      const now = Date.now();
      if (hit.generation === this.keys.generation && now < hit.expires && now >= hit.notBefore) return hit.identity;
      this.#verified.delete(token);
    }
    const generation = this.keys.generation;
    return jwtVerify(token, this.keys.getKey, this.options).then(
      ({ payload }) => {
        const claim = payload[this.userClaim];
        const user = typeof claim === 'string' ? claim : typeof claim === 'number' ? String(claim) : '';
        const identity: Identity = { user, groups: groupsOf(payload[this.groupsClaim]) };
        // Cache only what was verified against the key set current before and after the verification.
        if (typeof payload.exp === 'number' && generation === this.keys.generation) {
          if (this.#verified.size >= MAX_CACHED_TOKENS) this.#verified.clear();
          const nbf = typeof payload.nbf === 'number' ? payload.nbf * 1000 - this.skewMs : 0;
          this.#verified.set(token, { identity, notBefore: nbf, expires: payload.exp * 1000 + this.skewMs, generation });
        }
        return identity;
      },
      (err: unknown) => jwtFailure(err),
    );
  }
}

/** A groups claim: an array of strings, or one string of space-separated names (as OAuth's `scope`). */
function groupsOf(claim: unknown): readonly string[] {
  if (Array.isArray(claim)) return claim.filter((g): g is string => typeof g === 'string' && g !== '');
  if (typeof claim === 'string') return claim.split(' ').filter((g) => g !== '');
  return [];
}

function jwtFailure(err: unknown): AuthFailure {
  if (err instanceof KeysUnavailable) return { status: 503, message: `The token could not be verified: signing keys unavailable (${err.message}).` };
  if (err instanceof errors.JWTExpired) return { status: 401, message: 'The token has expired.', challenge: 'invalid_token' };
  if (err instanceof errors.JWTClaimValidationFailed) {
    return { status: 401, message: `The token is not valid: claim "${err.claim}" ${err.reason === 'check_failed' ? 'check failed' : err.reason}.`, challenge: 'invalid_token' };
  }
  if (err instanceof errors.JWKSNoMatchingKey) return { status: 401, message: 'The token is signed with an unknown key.', challenge: 'invalid_token' };
  if (err instanceof errors.JWSSignatureVerificationFailed) return { status: 401, message: 'The token signature is not valid.', challenge: 'invalid_token' };
  if (err instanceof errors.JOSEAlgNotAllowed || err instanceof errors.JOSENotSupported) {
    return { status: 401, message: 'The token algorithm is not accepted.', challenge: 'invalid_token' };
  }
  return { status: 401, message: 'The token is not valid.', challenge: 'invalid_token' };
}

export function jwtDurations(config: AuthenticationConfig | undefined): { cacheMs: number; clockSkewMs: number } {
  const cache = config?.jwksCacheDuration ? parseDuration(config.jwksCacheDuration) : undefined;
  const skew = config?.clockSkew ? parseDuration(config.clockSkew) : undefined;
  return { cacheMs: cache !== undefined && cache > 0 ? cache : 600_000, clockSkewMs: skew !== undefined && skew >= 0 ? skew : 30_000 };
}
