// Fault injection for the simulated engine: the configuration, its validation and the per-request decision. Pure (no
// I/O, no clock): given a config, a seeded uniform source and what a request asked for, decide what goes wrong.
// fault-injector.ts applies a decision to a live response; admin.ts changes the config at run time.
//
// Two independent knobs, drawn in this order for each generation request:
//   1. errors: with probability `failureRate` the request is answered with an OpenAI-shaped error of one of
//      `failureTypes` (chosen uniformly), before any generation work;
//   2. a mode: otherwise, with probability `modeRate`, the request gets `mode`:
//        hang   accept and never answer (afterTokens 0), or stop sending after `afterTokens` tokens without closing;
//        slow   every byte of the response is sent `slowFactor` times later than it would be;
//        kill   SIGKILL the whole engine process after `afterTokens` tokens (0: as soon as the request arrives);
//        reset  reset the TCP connection (RST) after `afterTokens` tokens (0: before any response byte).
// Every request consumes exactly three draws of the uniform source, whatever the outcome, so a seeded engine makes the
// same decisions for the same sequence of requests. A per-request header (`x-matrixinfer-fault`, parseFaultHeader)
// overrides both knobs and draws nothing.

import { InvalidArgumentError, Option, type Command } from 'commander';

export const FAULT_MODES = ['none', 'hang', 'slow', 'kill', 'reset'] as const;
export type FaultMode = (typeof FAULT_MODES)[number];

/** A named error, as in llm-d-inference-sim's --failure-types (server_error is 500 here; overloaded is its 503). */
export interface FailureSpec {
  status: number;
  /** The OpenAI-shaped error's `type` (vLLM and openai-python use the exception class name). */
  type: string;
  message: (ctx: FaultContext) => string;
}

/** What an error message may mention. */
export interface FaultContext {
  model: string;
  maxModelLen: number;
}

export const FAILURE_TYPES = {
  rate_limit: {
    status: 429,
    type: 'RateLimitError',
    message: (c) => `Rate limit reached for model ${c.model}. Please try again later.`,
  },
  server_error: { status: 500, type: 'InternalServerError', message: () => 'Internal server error' },
  overloaded: {
    status: 503,
    type: 'ServiceUnavailableError',
    message: () => 'The server is overloaded or not ready yet. Please try again later.',
  },
  invalid_api_key: { status: 401, type: 'AuthenticationError', message: () => 'Incorrect API key provided.' },
  invalid_request: { status: 400, type: 'BadRequestError', message: () => 'Invalid request.' },
  context_length: {
    status: 400,
    type: 'BadRequestError',
    message: (c) =>
      `This model's maximum context length is ${c.maxModelLen} tokens. However, you requested more tokens than ` +
      'that. Please reduce the length of the messages or completion.',
  },
  model_not_found: {
    status: 404,
    type: 'NotFoundError',
    message: (c) => `The model \`${c.model}\` does not exist.`,
  },
} as const satisfies Record<string, FailureSpec>;
export type FailureTypeName = keyof typeof FAILURE_TYPES;
export const FAILURE_TYPE_NAMES = Object.keys(FAILURE_TYPES) as FailureTypeName[];

/** A failure type: one of FAILURE_TYPES, or an HTTP status 400-599 given as a string ("502"). */
export type FailureType = FailureTypeName | `${number}`;

export interface FaultConfig {
  /** Probability in [0, 1] that a request fails with an injected error. */
  failureRate: number;
  /** Errors to choose from, uniformly. */
  failureTypes: FailureType[];
  mode: FaultMode;
  /** Probability in [0, 1] that a request (not failed by step 1) gets `mode`. */
  modeRate: number;
  /** Tokens sent before hang, kill or reset act (0: before the first). */
  afterTokens: number;
  /** Latency multiplier of mode `slow`, >= 1. */
  slowFactor: number;
}

export const DEFAULT_FAULTS: Readonly<FaultConfig> = Object.freeze({
  failureRate: 0,
  failureTypes: [...FAILURE_TYPE_NAMES],
  mode: 'none',
  modeRate: 1,
  afterTokens: 0,
  slowFactor: 4,
});

export function defaultFaultConfig(): FaultConfig {
  return { ...DEFAULT_FAULTS, failureTypes: [...DEFAULT_FAULTS.failureTypes] };
}

/** True when the config injects nothing. */
export function faultsDisabled(c: FaultConfig): boolean {
  return c.failureRate === 0 && (c.mode === 'none' || c.modeRate === 0);
}

export type FaultDecision =
  | { kind: 'none' }
  | {
      kind: 'error';
      status: number;
      type: string;
      message: string;
      /** The failure type, or `status_<code>` for a bare status: the metric label. */
      label: string;
    }
  | { kind: 'hang' | 'kill' | 'reset'; afterTokens: number }
  | { kind: 'slow'; factor: number };

/** What the per-request header asked for. */
export interface FaultOverride {
  /** `none`: no fault for this request whatever the config. */
  none?: boolean;
  status?: number;
  failureType?: FailureType;
  mode?: Exclude<FaultMode, 'none'>;
  afterTokens?: number;
  slowFactor?: number;
}

export class FaultConfigError extends Error {}

/** The request header that forces a fault; see parseFaultHeader. */
export const FAULT_HEADER = 'x-matrixinfer-fault';
/** llm-d-inference-sim's header: `X-Return-Error: 503` is `x-matrixinfer-fault: status=503`. */
export const RETURN_ERROR_HEADER = 'x-return-error';

const OPENAI_TYPE_BY_STATUS: Readonly<Record<number, string>> = {
  400: 'BadRequestError',
  401: 'AuthenticationError',
  403: 'PermissionDeniedError',
  404: 'NotFoundError',
  405: 'MethodNotAllowedError',
  409: 'ConflictError',
  413: 'BadRequestError',
  422: 'UnprocessableEntityError',
  429: 'RateLimitError',
  503: 'ServiceUnavailableError',
};

/** The error for a failure type (or a bare status), shaped for ApiError. */
export function failureError(t: FailureType, ctx: FaultContext, status?: number): Extract<FaultDecision, { kind: 'error' }> {
  if (t in FAILURE_TYPES) {
    const spec: FailureSpec = FAILURE_TYPES[t as FailureTypeName];
    return { kind: 'error', status: status ?? spec.status, type: spec.type, message: spec.message(ctx), label: t };
  }
  return statusError(status ?? Number(t));
}

function statusError(status: number): Extract<FaultDecision, { kind: 'error' }> {
  const type = OPENAI_TYPE_BY_STATUS[status] ?? (status >= 500 ? 'InternalServerError' : 'BadRequestError');
  const message =
    status === 429
      ? 'Rate limit reached. Please try again later.'
      : status === 503
        ? 'The server is overloaded or not ready yet. Please try again later.'
        : status >= 500
          ? 'Internal server error'
          : 'Invalid request.';
  return { kind: 'error', status, type, message, label: `status_${status}` };
}

/**
 * Decide the fault for one request. `random` yields uniform [0, 1); exactly three values are drawn unless the
 * override decides (then none).
 */
export function decideFault(
  config: FaultConfig,
  random: () => number,
  ctx: FaultContext,
  override?: FaultOverride,
): FaultDecision {
  if (override) {
    const d = overrideDecision(config, ctx, override);
    if (d) return d;
  }
  const failDraw = random();
  const typeDraw = random();
  const modeDraw = random();
  if (failDraw < config.failureRate && config.failureTypes.length > 0) {
    const i = Math.min(Math.floor(typeDraw * config.failureTypes.length), config.failureTypes.length - 1);
    return failureError(config.failureTypes[i]!, ctx);
  }
  if (config.mode !== 'none' && modeDraw < config.modeRate) return modeDecision(config.mode, config);
  return { kind: 'none' };
}

function modeDecision(mode: Exclude<FaultMode, 'none'>, p: { afterTokens: number; slowFactor: number }): FaultDecision {
  return mode === 'slow' ? { kind: 'slow', factor: p.slowFactor } : { kind: mode, afterTokens: p.afterTokens };
}

/** The decision a header forces, or null when it forces nothing (only parameters, e.g. `after-tokens=3`). */
function overrideDecision(config: FaultConfig, ctx: FaultContext, o: FaultOverride): FaultDecision | null {
  if (o.none) return { kind: 'none' };
  if (o.failureType !== undefined || o.status !== undefined) {
    return o.failureType !== undefined ? failureError(o.failureType, ctx, o.status) : statusError(o.status!);
  }
  if (o.mode) {
    return modeDecision(o.mode, {
      afterTokens: o.afterTokens ?? config.afterTokens,
      slowFactor: o.slowFactor ?? config.slowFactor,
    });
  }
  return null;
}

// ---- parsing and validation ----

function isStatus(n: number): boolean {
  return Number.isInteger(n) && n >= 400 && n <= 599;
}

function parseFailureType(s: string): FailureType {
  const v = s.trim();
  if (v in FAILURE_TYPES) return v as FailureType;
  if (/^\d{3}$/.test(v) && isStatus(Number(v))) return v as FailureType;
  throw new FaultConfigError(
    `unknown failure type "${v}"; expected one of ${FAILURE_TYPE_NAMES.join(', ')} or an HTTP status 400-599`,
  );
}

/** "0.1", "10%" or a number → a probability in [0, 1]. */
export function parseRate(v: unknown, name: string): number {
  let n: number;
  if (typeof v === 'number') n = v;
  else if (typeof v === 'string' && v.trim() !== '') {
    const s = v.trim();
    n = s.endsWith('%') ? Number(s.slice(0, -1)) / 100 : Number(s);
  } else n = NaN;
  if (!(Number.isFinite(n) && n >= 0 && n <= 1)) throw new FaultConfigError(`${name} must be a fraction between 0 and 1 (or a percentage like "10%")`);
  return n;
}

function parseCount(v: unknown, name: string): number {
  const n = typeof v === 'string' && /^\s*\d+\s*$/.test(v) ? Number(v) : v;
  if (!(typeof n === 'number' && Number.isInteger(n) && n >= 0)) throw new FaultConfigError(`${name} must be an integer >= 0`);
  return n;
}

function parseFactor(v: unknown, name: string): number {
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  if (!(typeof n === 'number' && Number.isFinite(n) && n >= 1)) throw new FaultConfigError(`${name} must be a number >= 1`);
  return n;
}

function parseMode(v: unknown, name: string): FaultMode {
  if (typeof v === 'string' && (FAULT_MODES as readonly string[]).includes(v)) return v as FaultMode;
  throw new FaultConfigError(`${name} must be one of ${FAULT_MODES.join(', ')}`);
}

function parseTypes(v: unknown, name: string): FailureType[] {
  const list = typeof v === 'string' ? v.split(',').filter((s) => s.trim() !== '') : v;
  if (!Array.isArray(list) || list.some((t) => typeof t !== 'string' && typeof t !== 'number')) {
    throw new FaultConfigError(`${name} must be a list of failure types`);
  }
  if (list.length === 0) throw new FaultConfigError(`${name} must name at least one failure type`);
  return list.map((t) => parseFailureType(String(t)));
}

const CONFIG_KEYS: Readonly<Record<keyof FaultConfig, (v: unknown, name: string) => unknown>> = {
  failureRate: parseRate,
  failureTypes: parseTypes,
  mode: parseMode,
  modeRate: parseRate,
  afterTokens: parseCount,
  slowFactor: parseFactor,
};

/**
 * Validate a partial config (JSON from the admin API) and apply it on top of `base`, all or nothing. Unknown keys are
 * errors, so a typo is not silently ignored.
 */
export function mergeFaultConfig(base: FaultConfig, patch: unknown): FaultConfig {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) throw new FaultConfigError('the fault config must be a JSON object');
  const out: FaultConfig = { ...base, failureTypes: [...base.failureTypes] };
  for (const [k, v] of Object.entries(patch)) {
    const parse = (CONFIG_KEYS as Record<string, ((v: unknown, name: string) => unknown) | undefined>)[k];
    if (!parse) throw new FaultConfigError(`unknown fault setting "${k}"; known: ${Object.keys(CONFIG_KEYS).join(', ')}`);
    (out as unknown as Record<string, unknown>)[k] = parse(v, k);
  }
  return out;
}

/**
 * The per-request header. Items separated by commas or semicolons, each `key=value` or a bare word:
 *   none | off                       no fault for this request, whatever the config
 *   status=<400-599> | <400-599>     an error with this status
 *   type=<failure type> | <type>     that error (rate_limit, overloaded, …); with status=, the status wins
 *   mode=<hang|slow|kill|reset> | <mode>
 *   after-tokens=<n> | after=<n>     for hang, kill, reset (default: the config's)
 *   factor=<x> | slow-factor=<x>     for slow (default: the config's)
 * e.g. `status=503`, `rate_limit`, `kill, after-tokens=3`, `slow; factor=10`.
 */
export function parseFaultHeader(value: string): FaultOverride {
  const o: FaultOverride = {};
  const items = value.split(/[,;]/).map((s) => s.trim()).filter((s) => s !== '');
  if (items.length === 0) throw new FaultConfigError('empty value');
  for (const item of items) {
    const eq = item.indexOf('=');
    const key = (eq >= 0 ? item.slice(0, eq) : item).trim().toLowerCase().replaceAll('_', '-');
    const val = eq >= 0 ? item.slice(eq + 1).trim() : undefined;
    if (val === undefined) {
      if (key === 'none' || key === 'off') o.none = true;
      else if (/^\d+$/.test(key)) o.status = parseStatus(key);
      else if ((FAULT_MODES as readonly string[]).includes(key) && key !== 'none') o.mode = key as FaultOverride['mode'];
      else if (key.replaceAll('-', '_') in FAILURE_TYPES) o.failureType = key.replaceAll('-', '_') as FailureType;
      else throw new FaultConfigError(`unknown item "${item}"`);
      continue;
    }
    switch (key) {
      case 'status':
        o.status = parseStatus(val);
        break;
      case 'type':
        o.failureType = parseFailureType(val.replaceAll('-', '_'));
        break;
      case 'mode': {
        const m = parseMode(val, 'mode');
        if (m === 'none') o.none = true;
        else o.mode = m;
        break;
      }
      case 'after-tokens':
      case 'after':
        o.afterTokens = parseCount(val, key);
        break;
      case 'factor':
      case 'slow-factor':
        o.slowFactor = parseFactor(val, key);
        break;
      default:
        throw new FaultConfigError(`unknown key "${key}"`);
    }
  }
  return o;
}

function parseStatus(v: string): number {
  const n = Number(v);
  if (!/^\d{3}$/.test(v) || !isStatus(n)) throw new FaultConfigError(`status must be an HTTP status 400-599, got "${v}"`);
  return n;
}

// ---- command-line flags ----

function flag<T>(parse: (v: unknown, name: string) => T, name: string): (v: string) => T {
  return (v) => {
    try {
      return parse(v, name);
    } catch (err) {
      throw new InvalidArgumentError((err as Error).message);
    }
  };
}

/** Adds the fault flags to the engine's command line. */
export function addFaultOptions(p: Command): Command {
  return p
    .option('--failure-rate <fraction>', 'fault injection: fraction of requests answered with an injected error, 0-1 or "N%"', flag(parseRate, '--failure-rate'))
    .option('--failure-injection-rate <percent>', "llm-d-inference-sim's spelling of --failure-rate, in percent 0-100", flag((v, n) => parseRate(`${String(v)}%`, n), '--failure-injection-rate'))
    .option('--failure-types <list>', `comma-separated errors to inject: ${FAILURE_TYPE_NAMES.join(', ')} or HTTP statuses (default: all names)`, flag(parseTypes, '--failure-types'))
    .addOption(new Option('--fault-mode <mode>', 'fault injection: hang, slow, kill (the process) or reset (the connection)').choices(FAULT_MODES))
    .option('--fault-rate <fraction>', 'fraction of requests that get --fault-mode (default 1)', flag(parseRate, '--fault-rate'))
    .option('--fault-after-tokens <n>', 'tokens sent before hang, kill or reset act; 0 = before the first (default 0)', flag(parseCount, '--fault-after-tokens'))
    .option('--fault-slow-factor <x>', `latency multiplier of --fault-mode slow (default ${DEFAULT_FAULTS.slowFactor})`, flag(parseFactor, '--fault-slow-factor'))
    .addHelpText(
      'after',
      '\nFault injection (for tests): the flags set the initial faults; GET/PUT/PATCH/DELETE /admin/faults changes them\n' +
        `at run time; a request header \`${FAULT_HEADER}: status=503\` (or rate_limit, hang, \`kill, after-tokens=3\`, none, …)\n` +
        'forces one request\'s fault. Decisions are deterministic for a given --seed. See src/engine/README.md.',
    );
}

/** The fault config from the parsed flags (commander's camelCase option values). */
export function faultConfigFromFlags(o: {
  failureRate?: number;
  failureInjectionRate?: number;
  failureTypes?: FailureType[];
  faultMode?: FaultMode;
  faultRate?: number;
  faultAfterTokens?: number;
  faultSlowFactor?: number;
}): FaultConfig {
  const c = defaultFaultConfig();
  const rate = o.failureRate ?? o.failureInjectionRate;
  if (rate !== undefined) c.failureRate = rate;
  if (o.failureTypes !== undefined) c.failureTypes = o.failureTypes;
  if (o.faultMode !== undefined) c.mode = o.faultMode;
  if (o.faultRate !== undefined) c.modeRate = o.faultRate;
  if (o.faultAfterTokens !== undefined) c.afterTokens = o.faultAfterTokens;
  if (o.faultSlowFactor !== undefined) c.slowFactor = o.faultSlowFactor;
  return c;
}
