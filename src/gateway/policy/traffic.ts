// Traffic policy: authentication (ModelServer `authentication`), request and token rate limits (ModelServer
// `rateLimit`, ModelRoute `rateLimit`), and TLS certificates (ModelServer `tls`), compiled from the watched world
// on every table rebuild. Limit state (bucket levels), JWKS caches and Redis clients survive rebuilds.
//
// Per request, three stages of the pipeline (pipeline.ts), after the route and ModelServer are chosen:
//   authenticate: TLS required (ModelServer `tls.enabled`, request on the plain listener) → 426 `tls_required`;
//     the ModelServer's authentication (API key: synchronous; JWT: asynchronous, cached keys) → 401 / 503
//   authorize: the route's allow list → 403
//   limit, all or nothing: the server's requests bucket (1 per request), the route's input-token buckets (the
//     estimated prompt), the route's output-token buckets (must not be exhausted); route-wide and per user
//     → 429 with retry-after (or 503 when a `failureMode: closed` Redis is unreachable)
// When the exchange finishes (`settle`), a request that never reached an engine gets everything back; otherwise
// the input charge is corrected to the engine's prompt_tokens and the completion_tokens are charged as output.
// Servers and routes without policy cost one Map lookup each and allocate nothing.
import { performance } from 'node:perf_hooks';
import type { ModelServer } from '../../api/kinds/modelserver.ts';
import type { ModelRoute } from '../../api/kinds/modelroute.ts';
import type { Exchange } from '../http/exchange.ts';
import type { ServerEntry } from '../routing/table.ts';
import { parseDuration } from '../../kube/units.ts';
import { TokenBucket, BucketMap } from '../limits/bucket.ts';
import { RedisClients, type RedisLimiter, type RedisTake, type RedisAdjust } from '../limits/redis.ts';
import { ApiKeyAuthenticator, buildApiKeys, isAuthFailure, type AuthFailure, type Identity, type SecretLike } from '../auth/apikey.ts';
import { JwtAuthenticator, KeySets, jwtDurations, type RemoteKeys } from '../auth/jwt.ts';
import { CertificateStore } from '../tls/certificates.ts';
import { estimatePromptTokens } from '../accounting/usage.ts';
import { writeRecord } from '../../kube/log.ts';

export type LimitKind = 'requests' | 'input_tokens' | 'output_tokens';

const UNIT_MS = { second: 1000, minute: 60_000, hour: 3_600_000 } as const;
const DEFAULT_REDIS_TIMEOUT_MS = 50;
const DEFAULT_KEY_PREFIX = 'matrixinfer:rl';

/** Where a limit's counters live: this replica, or Redis shared by all replicas. */
interface Backend {
  redis: RedisLimiter | null;
  failOpen: boolean;
  prefix: string;
}

const LOCAL: Backend = { redis: null, failOpen: true, prefix: '' };

/** One limit: capacity and refill rate, with its state (one bucket, or one per user). */
export class Limit {
  readonly kind: LimitKind;
  readonly perUser: boolean;
  capacity: number;
  /** Tokens per ms. */
  rate: number;
  backend: Backend;
  /** Redis key (per user: + ':' + user). */
  readonly key: string;
  bucket: TokenBucket | null = null;
  users: BucketMap | null = null;

  constructor(kind: LimitKind, perUser: boolean, key: string, capacity: number, rate: number, backend: Backend, now: number) {
    this.kind = kind;
    this.perUser = perUser;
    this.key = key;
    this.capacity = capacity;
    this.rate = rate;
    this.backend = backend;
    if (backend.redis === null) {
      if (perUser) this.users = new BucketMap(capacity, rate);
      else this.bucket = new TokenBucket(capacity, rate, now);
    }
  }

  localBucket(user: string, now: number): TokenBucket {
    return this.bucket ?? this.users!.get(user, now);
  }

  redisKey(user: string): string {
    return this.perUser ? `${this.backend.prefix}:${this.key}:${user}` : `${this.backend.prefix}:${this.key}`;
  }
}

export type Authenticator = ApiKeyAuthenticator | JwtAuthenticator;

export interface ServerPolicy {
  key: string;
  auth: Authenticator | null;
  requests: Limit | null;
  /** `tls.enabled`: served on the TLS listener only, so its traffic is never in clear text. */
  tlsOnly: boolean;
}

export interface RoutePolicy {
  key: string;
  /** Limits in admission order: route-wide then per user; input then output. */
  limits: Limit[];
  userHeader: string | undefined;
  /** `authorization.allow`, or null when anyone who passed authentication may use the route. */
  allow: Allow | null;
}

/** Who may use a route. */
export interface Allow {
  users: ReadonlySet<string>;
  groups: ReadonlySet<string>;
}

export interface TrafficPolicyOptions {
  log?: (message: string) => void;
}

export class TrafficPolicy {
  servers = new Map<string, ServerPolicy>();
  routes = new Map<string, RoutePolicy>();
  readonly certificates = new CertificateStore();
  readonly redis: RedisClients;
  readonly keySets = new KeySets();
  readonly log: (message: string) => void;
  #limits = new Map<string, Limit>();
  /** JWT authenticators by configuration, kept across rebuilds (their verified-token caches with them). */
  #jwt = new Map<string, JwtAuthenticator>();

  constructor(options: TrafficPolicyOptions = {}) {
    this.log = options.log ?? ((m) => writeRecord('warn', 'gateway/traffic', m));
    this.redis = new RedisClients(this.log);
  }

  /** Compile the policy of the world; problems are appended to `problems`. */
  update(world: { servers: readonly ModelServer[]; routes: readonly ModelRoute[]; secrets?: readonly SecretLike[] }, problems: string[]): void {
    const now = performance.now();
    const secrets = world.secrets ?? [];
    const servers = new Map<string, ServerPolicy>();
    const routes = new Map<string, RoutePolicy>();
    const limits = new Map<string, Limit>();
    const usedRedis = new Set<RedisLimiter>();
    const usedKeys = new Set<RemoteKeys>();
    const jwt = new Map<string, JwtAuthenticator>();

    const backendOf = (
      global: { redis?: { address?: string; keyPrefix?: string }; failureMode?: string; timeout?: string } | undefined,
      owner: string,
    ): Backend => {
      const address = global?.redis?.address;
      if (!address) return LOCAL;
      let timeout = global.timeout ? parseDuration(global.timeout) : undefined;
      if (timeout === undefined || timeout <= 0) {
        if (global.timeout) problems.push(`${owner}: invalid rateLimit.global.timeout ${JSON.stringify(global.timeout)}`);
        timeout = DEFAULT_REDIS_TIMEOUT_MS;
      }
      const redis = this.redis.obtain(address, Math.ceil(timeout));
      usedRedis.add(redis);
      return { redis, failOpen: global.failureMode !== 'closed', prefix: global.redis?.keyPrefix || DEFAULT_KEY_PREFIX };
    };
    const limit = (id: string, kind: LimitKind, perUser: boolean, key: string, capacity: number, rate: number, backend: Backend): Limit => {
      const sig = `${id}\0${backend.redis?.address ?? ''}\0${backend.prefix}`;
      let l = this.#limits.get(sig);
      if (l === undefined || l.backend.redis !== backend.redis) l = new Limit(kind, perUser, key, capacity, rate, backend, now);
      else {
        l.capacity = capacity;
        l.rate = rate;
        l.backend = backend;
        l.bucket?.reconfigure(capacity, rate, now);
        l.users?.reconfigure(capacity, rate, now);
      }
      limits.set(sig, l);
      return l;
    };

    for (const ms of world.servers) {
      const spec = ms?.spec;
      if (!ms?.metadata?.name || !spec) continue;
      const ns = ms.metadata.namespace ?? 'default';
      const key = `${ns}/${ms.metadata.name}`;
      const owner = `ModelServer ${key}`;
      let auth: Authenticator | null = null;
      const a = spec.authentication;
      if (a?.enabled && a.type === 'apiKey') auth = buildApiKeys(ns, a.config, secrets, problems, key);
      else if (a?.enabled && a.type === 'jwt') {
        const c = a.config;
        if (!c?.jwksUri && !c?.issuer) {
          problems.push(`${owner}: jwt authentication needs config.jwksUri or config.issuer; every request is refused`);
        }
        const { cacheMs, clockSkewMs } = jwtDurations(c);
        const keys = this.keySets.obtain(c?.jwksUri || undefined, c?.issuer || undefined, cacheMs);
        usedKeys.add(keys);
        const sig = `${JSON.stringify(c ?? {})}\0${cacheMs}`;
        let j = jwt.get(sig) ?? this.#jwt.get(sig);
        if (j === undefined || j.keys !== keys) j = new JwtAuthenticator(keys, c, clockSkewMs);
        jwt.set(sig, j);
        auth = j;
      } else if (a?.enabled) problems.push(`${owner}: authentication.enabled without a known type; not enforced`);
      let requests: Limit | null = null;
      const rl = spec.rateLimit;
      if (rl?.enabled && typeof rl.requestsPerSecond === 'number' && rl.requestsPerSecond > 0) {
        const burst = typeof rl.burstSize === 'number' && rl.burstSize > 0 ? rl.burstSize : rl.requestsPerSecond;
        requests = limit(`server\0${key}`, 'requests', false, `server:${key}:requests`, burst, rl.requestsPerSecond / 1000, backendOf(rl.global, owner));
      }
      const tlsOnly = spec.tls?.enabled === true;
      if (auth !== null || requests !== null || tlsOnly) servers.set(key, { key, auth, requests, tlsOnly });
    }

    for (const mr of world.routes) {
      const spec = mr?.spec;
      if (!mr?.metadata?.name || !spec) continue;
      const key = `${mr.metadata.namespace ?? 'default'}/${mr.metadata.name}`;
      const list: Limit[] = [];
      const rl = spec.rateLimit;
      if (rl) {
        const unitMs = UNIT_MS[rl.unit ?? 'second'] ?? 1000;
        const backend = backendOf(rl.global, `ModelRoute ${key}`);
        const add = (kind: LimitKind, perUser: boolean, n: number | undefined): void => {
          if (typeof n !== 'number' || n <= 0) return;
          const scope = perUser ? 'user' : 'route';
          list.push(limit(`route\0${key}\0${scope}\0${kind}\0${unitMs}`, kind, perUser, `route:${key}:${scope}:${kind}`, n, n / unitMs, backend));
        };
        add('input_tokens', false, rl.inputTokensPerUnit);
        add('output_tokens', false, rl.outputTokensPerUnit);
        add('input_tokens', true, rl.perUser?.inputTokensPerUnit);
        add('output_tokens', true, rl.perUser?.outputTokensPerUnit);
      }
      const allowed = spec.authorization?.allow;
      const allow: Allow | null = allowed ? { users: new Set(allowed.users ?? []), groups: new Set(allowed.groups ?? []) } : null;
      if (list.length > 0 || allow !== null) routes.set(key, { key, limits: list, userHeader: rl?.perUser?.header?.toLowerCase() || undefined, allow });
    }

    this.servers = servers;
    this.routes = routes;
    this.#limits = limits;
    this.#jwt = jwt;
    this.redis.retain(usedRedis);
    this.keySets.retain(usedKeys);
    this.certificates.update(world.servers, secrets, problems);
  }

  close(): void {
    this.redis.close();
  }
}

// ---- per request: the pipeline's authenticate, authorize and limit stages ------------------------------------

/** What one request took from one limit, to give back or correct when it ends. */
interface Taken {
  limit: Limit;
  user: string;
  /** Local bucket (null: Redis). */
  bucket: TokenBucket | null;
  cost: number;
}

/**
 * Stage `authenticate`: the ModelServer's TLS requirement (426 on the plain listener), then its authentication
 * (API key: synchronous; JWT: synchronous once its keys and the token are cached) → `ex.user`.
 */
export function authenticate(ex: Exchange): boolean {
  const sp = ex.core.policy?.servers.get(ex.server!.key);
  if (sp === undefined) return true;
  if (sp.tlsOnly && !ex.secure) {
    refusePlainText(ex, ex.server!);
    return false;
  }
  const auth = sp.auth;
  if (auth === null) return true;
  const r = auth.authenticate(ex.headers);
  if (r instanceof Promise) {
    r.then(
      (v) => authenticated(ex, v),
      (err: Error) => authenticated(ex, { status: 503, message: `Authentication failed: ${err.message}` }),
    );
    return false;
  }
  if (isAuthFailure(r)) {
    refuseAuthentication(ex, r);
    return false;
  }
  ex.user = r.user;
  ex.groups = r.groups;
  return true;
}

function authenticated(ex: Exchange, r: Identity | AuthFailure): void {
  if (ex.done) return;
  if (isAuthFailure(r)) {
    refuseAuthentication(ex, r);
    return;
  }
  ex.user = r.user;
  ex.groups = r.groups;
  ex.resume();
}

function refuseAuthentication(ex: Exchange, r: AuthFailure): void {
  ex.errorCode = r.status === 401 ? 'unauthorized' : 'auth_unavailable';
  const body = JSON.stringify({ error: { message: r.message, type: r.status === 401 ? 'invalid_request_error' : 'server_error', code: ex.errorCode, param: null } });
  const extra: Record<string, string> = {};
  if (r.status === 401) extra['www-authenticate'] = r.challenge ? `Bearer realm="matrixinfer", error="${r.challenge}"` : 'Bearer realm="matrixinfer"';
  else extra['retry-after'] = '1';
  ex.sendJson(r.status, body, extra);
}

/**
 * Stage `authorize`: who may use the model (ModelRoute `authorization.allow`). A request on a seed path, which
 * names a ModelServer rather than a model, must be allowed by every route that targets that server, so the path
 * is no way around a route's list. No identity (the server authenticates nobody) → 401; not listed → 403.
 */
export function authorize(ex: Exchange): boolean {
  const policy = ex.core.policy;
  if (policy === undefined || policy.routes.size === 0) return true;
  const route = ex.route;
  if (route !== null) {
    const allow = policy.routes.get(route.key)?.allow;
    return allow === undefined || allow === null || admitted(ex, allow, route.key);
  }
  const keys = ex.server!.routeKeys;
  for (let i = 0; i < keys.length; i++) {
    const allow = policy.routes.get(keys[i]!)?.allow;
    if (allow !== undefined && allow !== null && !admitted(ex, allow, keys[i]!)) return false;
  }
  return true;
}

/** The exchange's identity is allowed; else 401/403 is answered. */
function admitted(ex: Exchange, allow: Allow, routeKey: string): boolean {
  const user = ex.user;
  if (user === null) {
    ex.errorCode = 'unauthorized';
    const body = JSON.stringify({
      error: { message: `ModelRoute ${routeKey} allows only listed users and groups; authenticate first.`, type: 'invalid_request_error', code: 'unauthorized', param: null },
    });
    ex.sendJson(401, body, { 'www-authenticate': 'Bearer realm="matrixinfer"' });
    return false;
  }
  if (allow.users.has(user)) return true;
  const groups = ex.groups;
  for (let i = 0; i < groups.length; i++) if (allow.groups.has(groups[i]!)) return true;
  ex.fail('forbidden', `User '${user}' may not use model '${ex.model}' (ModelRoute ${routeKey} authorization).`);
  return false;
}

/**
 * Stage `limit`, all or nothing: the server's requests bucket (1 per request), the route's input-token buckets (the
 * estimated prompt), the route's output-token buckets (must not be exhausted); route-wide and per user. Local
 * buckets are checked and taken at once; Redis ones asynchronously. What was taken is settled when the exchange
 * finishes (`Admission.settle`).
 */
export function limit(ex: Exchange): boolean {
  const policy = ex.core.policy;
  if (policy === undefined) return true;
  const requests = policy.servers.get(ex.server!.key)?.requests ?? null;
  let rp = ex.route !== null ? policy.routes.get(ex.route.key) : undefined;
  if (rp !== undefined && rp.limits.length === 0) rp = undefined;
  if (requests === null && rp === undefined) return true;
  let user = ex.user;
  if (user === null && rp?.userHeader !== undefined) {
    const h = ex.headers[rp.userHeader];
    user = typeof h === 'string' ? h : null;
  }
  const u = user ?? '';
  const now = performance.now();
  const a = (ex.traffic = new Admission(ex));
  const taken: Taken[] = [];
  if (requests !== null) taken.push({ limit: requests, user: u, bucket: null, cost: 1 });
  if (rp !== undefined) {
    const estimate = (a.estimate = estimatePromptTokens(ex.body));
    for (const l of rp.limits) taken.push({ limit: l, user: u, bucket: null, cost: l.kind === 'input_tokens' ? estimate : 0 });
  }
  // Local buckets: check all, then take all.
  let remote: Taken[] | null = null;
  let wait = 0;
  let worst: Limit | null = null;
  for (let i = 0; i < taken.length; i++) {
    const t = taken[i]!;
    const l = t.limit;
    if (l.backend.redis !== null) {
      (remote ??= []).push(t);
      continue;
    }
    const b = (t.bucket = l.localBucket(u, now));
    const w = b.wait(threshold(t), now);
    if (w > wait) {
      wait = w;
      worst = l;
    }
  }
  if (worst !== null) {
    a.reject(worst, wait);
    return false;
  }
  const local = remote === null ? taken : taken.filter((t) => t.bucket !== null);
  for (const t of local) if (t.cost !== 0) t.bucket!.add(-t.cost, now);
  a.taken = local;
  if (remote === null) return true;
  void a.takeRemote(remote);
  return false;
}

/** The limits one exchange took (`exchange.traffic`), allocated only when a limit applies. */
export class Admission {
  readonly ex: Exchange;
  /** Prompt tokens charged up front (estimate). */
  estimate = 0;
  taken: Taken[] | null = null;
  /** The limit that refused the request, for metrics. */
  rejected: LimitKind | null = null;

  constructor(ex: Exchange) {
    this.ex = ex;
  }

  async takeRemote(remote: Taken[]): Promise<void> {
    // Group by Redis client (normally one).
    const groups = new Map<RedisLimiter, Taken[]>();
    for (const t of remote) {
      const r = t.limit.backend.redis!;
      let g = groups.get(r);
      if (g === undefined) groups.set(r, (g = []));
      g.push(t);
    }
    for (const [redis, group] of groups) {
      const items: RedisTake[] = group.map((t) => ({
        key: t.limit.redisKey(t.user),
        capacity: t.limit.capacity,
        rate: t.limit.rate,
        threshold: threshold(t),
        cost: t.cost,
      }));
      let result: [number, number];
      try {
        result = await redis.take(items);
      } catch (err) {
        if (this.ex.done) return;
        if (group[0]!.limit.backend.failOpen) continue; // admitted, not counted
        this.release(false);
        this.ex.fail('rate_limiter_unavailable', `The shared rate limiter is unavailable (${(err as Error).message}).`, { retryAfter: 1 });
        return;
      }
      if (this.ex.done) {
        // The client left while Redis answered (what was taken locally is already back).
        if (result[0] === 0) giveBack(group, false, null);
        return;
      }
      if (result[0] > 0) {
        this.reject(group[result[1]]?.limit ?? group[0]!.limit, result[0]);
        return;
      }
      this.taken?.push(...group);
    }
    this.ex.resume();
  }

  reject(l: Limit, waitMs: number): void {
    this.release(false);
    this.rejected = l.kind;
    this.ex.modelMetrics.rateLimited(l.kind);
    const what = l.kind === 'requests' ? 'request rate' : l.kind === 'input_tokens' ? 'input token rate' : 'output token rate';
    const scope = l.perUser ? ' for this user' : '';
    this.ex.fail('rate_limited', `The ${what} limit${scope} is exceeded; retry later.`, { retryAfter: Math.max(1, Math.ceil(waitMs / 1000)) });
  }

  /** The exchange finished (called from `Exchange.finish`): give back or correct what was taken. */
  settle(): void {
    this.release(this.ex.reached);
  }

  release(reached: boolean): void {
    const taken = this.taken;
    if (taken === null) return;
    this.taken = null;
    giveBack(taken, reached, this.ex.usage);
  }
}

function threshold(t: Taken): number {
  return t.limit.kind === 'input_tokens' ? Math.max(1, t.cost) : 1;
}

/**
 * After a request: everything back when it never reached an engine; else the input charge corrected to the
 * engine's prompt_tokens and the completion_tokens charged as output.
 */
function giveBack(taken: readonly Taken[], reached: boolean, usage: { prompt: number; completion: number } | null): void {
  if (taken.length === 0) return;
  const now = performance.now();
  let remote: Map<RedisLimiter, RedisAdjust[]> | null = null;
  for (const t of taken) {
    const kind = t.limit.kind;
    let delta = 0;
    if (!reached) delta = t.cost;
    else if (usage !== null) {
      if (kind === 'input_tokens') delta = t.cost - usage.prompt;
      else if (kind === 'output_tokens') delta = -usage.completion;
    }
    if (delta === 0) continue;
    if (t.bucket !== null) t.bucket.add(delta, now);
    else {
      const redis = t.limit.backend.redis!;
      remote ??= new Map();
      let list = remote.get(redis);
      if (list === undefined) remote.set(redis, (list = []));
      list.push({ key: t.limit.redisKey(t.user), capacity: t.limit.capacity, rate: t.limit.rate, delta });
    }
  }
  if (remote !== null) for (const [redis, items] of remote) redis.adjust(items).catch(() => {});
}

/**
 * 426 for a request on the plain listener to a ModelServer with `tls.enabled`: its credentials and prompts must not
 * travel in clear text, and a client that sent them so should hear it rather than be served. (421 would tell it to
 * retry on another connection to the same origin, which is not the fix; the fix is https://.)
 */
function refusePlainText(ex: Exchange, server: ServerEntry): void {
  ex.errorCode = 'tls_required';
  const message = `ModelServer ${server.key} requires TLS: send this request over https:// (the gateway's TLS port)`;
  ex.sendJson(426, JSON.stringify({ error: { message, type: 'invalid_request_error', code: 'tls_required', param: null } }), { upgrade: 'TLS/1.2, HTTP/1.1' });
}
