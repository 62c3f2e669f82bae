// The request pipeline: every stage a request passes through, in order, in this one file. Read it first.
//
//   parse → match route → authenticate → authorize → limit → cache lookup → schedule → proxy
//   and, when the exchange finishes (http/exchange.ts finish): settle limits → cache store (cache/stages.ts) → account
//
// Rules:
//  - A stage is a module-level function of the exchange (no per-request closures). It returns true to go on to the
//    next stage at once, or false when it answered the client (an error, a cache hit) or continues asynchronously;
//    an asynchronous stage (a JWT key fetch, a Redis limit, a hold while a model starts from zero) calls
//    `ex.resume()`, which runs the pipeline on from the next stage.
//  - State travels on the exchange (`body`, `model`, `route`, `server`, `payload`, `upstreamPath`, `pick`, …), each
//    field set by one stage; a stage reads only what earlier stages set.
//  - What differs between APIs (OpenAI, the seed's infer path, the Open Inference Protocol) is the front
//    (protocols/front.ts): how the body is parsed and how the engine's answer is written back. The stages are
//    shared, so every API gets the same routing, policy, scheduling, retries and accounting.
//  - Match route comes before authenticate because authentication is configured per ModelServer, which the route
//    chooses; nothing reaches an engine before both ran.
//
// Pipelines: INFERENCE for requests that go to an engine; DESCRIBE for a GET of a ModelServer's metadata (seed path),
// which needs the same authentication and authorization but nothing after them; DESCRIBE_MODEL the same for a model
// named in the path (the Open Inference Protocol's model metadata and readiness), whose route chooses the server.
import type { Exchange, Stage } from './http/exchange.ts';
import { selectIdle, selectRoute, type RouteSelection } from './routing/select.ts';
import { servingEndpoints, type ModelEntry } from './routing/table.ts';
import { shown } from './protocols/front.ts';
import { requestUsage } from './accounting/usage.ts';
import { authenticate, authorize, limit } from './policy/traffic.ts';
import { schedulePair, twoPhase } from './scheduling/pd.ts';
import { startAttempt } from './proxy/upstream.ts';
import { proxyPrefillDecode } from './proxy/prefill-decode.ts';
import { cacheLookup, onCachedRoute } from './cache/stages.ts';

/** The body (read whole) → `body`, `model`, `payload`, `upstreamPath`, as the front defines them. */
function parse(ex: Exchange): boolean {
  const raw = ex.raw!;
  ex.raw = null;
  return ex.front!.parse(ex, raw);
}

/**
 * The model's routes → `route` and the target `server` (weighted), or the ModelServer the path named (seed path);
 * the upstream body names the server's model and asks a streaming engine for usage (accounting/usage.ts).
 */
function matchRoute(ex: Exchange): boolean {
  if (ex.server !== null) return synced(ex); // a per-ModelServer path chose it
  const entry = modelEntry(ex);
  if (entry === undefined) return false;
  let sel = firstMatch(ex, entry);
  if (sel === undefined) return false;
  const core = ex.core;
  const model = ex.model;
  if (sel === 'no_upstream') {
    // A target at zero replicas may start for this request: it goes on, and waits in `schedule`.
    const idle = selectIdle(entry, ex.headers, ex.path);
    if (idle === undefined || !core.holds.canHold(idle.server)) {
      ex.fail('no_healthy_upstream', `No ready engine serves model '${shown(model)}' right now.`, { retryAfter: 1 });
      return false;
    }
    sel = idle;
  }
  ex.route = sel.route;
  onCachedRoute(ex);
  const server = (ex.server = sel.server);
  const body = ex.body!;
  if (!entry.lora && server.model !== undefined && server.model !== model) {
    body.model = server.model;
    ex.payload = Buffer.from(JSON.stringify(body));
  }
  ex.payload = requestUsage(ex, body, ex.payload);
  return true;
}

/**
 * A model named by the path, without a body → `route` and `server`, chosen as for an inference (the first matching
 * rule's weighted targets; at zero replicas the target that would start), so the same authentication and
 * authorization apply; nothing is held or started.
 */
function matchModel(ex: Exchange): boolean {
  const entry = modelEntry(ex);
  if (entry === undefined) return false;
  const sel = firstMatch(ex, entry);
  if (sel === undefined) return false;
  const model = ex.model;
  const chosen = sel === 'no_upstream' ? selectIdle(entry, ex.headers, ex.path) : sel;
  if (chosen === undefined) {
    ex.fail('no_healthy_upstream', `No ModelServer serves model '${shown(model)}' right now.`, { retryAfter: 1 });
    return false;
  }
  ex.route = chosen.route;
  ex.server = chosen.server;
  return true;
}

/** The routing table is built (503 before the gateway's first sync). */
function synced(ex: Exchange): boolean {
  if (ex.core.synced) return true;
  ex.fail('gateway_not_ready', 'The gateway has not synced its routing table yet.', { retryAfter: 1 });
  return false;
}

/** The routing-table entry of `ex.model` (with its metrics on the exchange), or undefined after answering. */
function modelEntry(ex: Exchange): ModelEntry | undefined {
  if (!synced(ex)) return undefined;
  const model = ex.model;
  const entry = ex.core.table.models.get(model);
  if (entry === undefined) {
    ex.fail('model_not_found', `The model '${shown(model)}' does not exist.`, { param: 'model' });
    return undefined;
  }
  ex.lora = entry.lora;
  ex.modelMetrics = ex.core.metrics.forModel(model);
  return entry;
}

/** The first matching rule's weighted target, or 'no_upstream' when its targets have no ready pod; undefined after answering 404. */
function firstMatch(ex: Exchange, entry: ModelEntry): RouteSelection | 'no_upstream' | undefined {
  const sel = selectRoute(entry, ex.headers, ex.path);
  if (sel !== 'no_rule') return sel;
  ex.fail('route_not_found', `No rule of the routes for model '${shown(ex.model)}' matches this request.`, { param: 'model' });
  return undefined;
}

/** The pod (or the prefill/decode pair) for the first attempt → `pick` / `pair`; at zero replicas, wait here. */
function schedule(ex: Exchange): boolean {
  const core = ex.core;
  const server = ex.server!;
  if (server.scheduling.pd !== null && twoPhase(ex)) {
    const pair = schedulePair(ex, server);
    if (pair.kind === 'pair') {
      ex.pair = pair;
      return true;
    }
    if (pair.kind === 'no-decode') ex.fail('no_healthy_upstream', `ModelServer ${server.key} has no ready decode pod with a prefill pod.`, { retryAfter: 1 });
    else ex.fail('no_healthy_upstream', `ModelServer ${server.key} has no ready prefill pod in group '${pair.group}'.`, { retryAfter: 1 });
    return false;
  }
  const ep = core.scheduler.schedule(ex, servingEndpoints(server, ex.model, ex.lora), server);
  if (ep !== undefined) {
    ex.pick = ep;
    return true;
  }
  if (server.endpoints.length === 0 && core.holds.hold(ex, server)) {
    // Held while the ModelServer starts from zero (activation/hold.ts): this stage runs again when it has a pod.
    ex.stage--;
    return false;
  }
  ex.fail('no_healthy_upstream', `${server.kind} ${server.key} has no ready endpoint.`, { retryAfter: 1 });
  return false;
}

/** The request goes to the engine; retries, the relay or translation and the end of the exchange are proxy/'s. */
function proxy(ex: Exchange): boolean {
  const pair = ex.pair;
  if (pair !== null) proxyPrefillDecode(ex, pair.prefill, pair.decode);
  else startAttempt(ex, ex.pick!);
  return false;
}

/** A model's metadata, written by the front. */
function describe(ex: Exchange): boolean {
  ex.front!.describe!(ex);
  return false;
}

export const INFERENCE: readonly Stage[] = [parse, matchRoute, authenticate, authorize, limit, cacheLookup, schedule, proxy];
export const DESCRIBE: readonly Stage[] = [authenticate, authorize, describe];
export const DESCRIBE_MODEL: readonly Stage[] = [matchModel, authenticate, authorize, describe];

/** Start `pipeline` for the exchange (its body, if any, is in `ex.raw`). */
export function runPipeline(ex: Exchange, pipeline: readonly Stage[]): void {
  ex.pipeline = pipeline;
  ex.stage = 0;
  ex.resume();
}
