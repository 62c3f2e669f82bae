// The HTTP layer of the simulated engine: vLLM's (or SGLang's) OpenAI-compatible routes on node:http.
//
//   POST /v1/chat/completions, /v1/completions     generation (JSON or SSE)
//   GET  /v1/models                                served names, vLLM shape
//   GET  /health, GET|POST /ping                   200, empty body
//   GET  /version                                  {"version": …}
//   GET  /metrics                                  Prometheus text
//   GET  /get_model_info, /health_generate         SGLang only
//   POST /tokenize, /detokenize                    vLLM's tokenizer endpoints (tokenize.ts)
//   POST /v1/load_lora_adapter, /v1/unload_lora_adapter   LoRA adapters at run time (lora.ts)
//   GET|PUT|PATCH|POST|DELETE /admin/faults        fault injection at run time, for tests (admin.ts)
//   POST /sleep?level=1|2, POST /wake_up, GET /is_sleeping   vLLM's sleep mode; only with VLLM_SERVER_DEV_MODE=1
//                                                  (vLLM only), working only with --enable-sleep-mode (startup.ts)
// Start-up: the server listens only after the simulated model load (--startup-seconds), as vLLM's does: until then
// connections are refused, so readiness and startup probes on /health fail (startup.ts).
// Anything else: 404 (unknown path) or 405 (known path, wrong method), in the OpenAI error shape. No request, however
// malformed, takes the engine down: handler errors become JSON errors, and a broken stream is cut, not thrown.
//
// Tracing (kube/tracing.ts, on when OTEL_EXPORTER_OTLP_ENDPOINT is set): each POST is a SERVER span continuing the
// request's `traceparent` (the gateway's attempt), with the model it asked for; probes and scrapes are not traced.
//
// Shutdown: `drain()` is what SIGTERM does, as vLLM's uvicorn does it: the listener closes (new connections are
// refused, so the readiness probe fails), idle keep-alive connections close, requests already accepted run to
// completion (answered with `connection: close`, and their connection closes as soon as it is idle), then the
// engine stops. The node agent's SIGKILL at the end of the grace period bounds it; `close()` cuts everything at once.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { faultAdminRoutes } from './admin.ts';
import { runGeneration, type GenerationContext } from './completions.ts';
import { ApiError } from './errors.ts';
import { FaultInjector } from './fault-injector.ts';
import { PagedKvCache } from './kv-cache.ts';
import { KvBlockHasher } from '../api/kv-block-hash.ts';
import { seededRandom } from './latency.ts';
import { LoraRegistry } from './lora.ts';
import { createEngineMetrics, dcgmFromEnv, type EngineMetrics } from './metrics.ts';
import { parseChatRequest, parseCompletionRequest } from './openai.ts';
import { validateEngineOptions, type EngineOptions } from './options.ts';
import { getProfile } from './profiles.ts';
import { Scheduler } from './scheduler.ts';
import { lifecyclePlan, runColdStart, SleepMode, type SleepLevel } from './startup.ts';
import { detokenize, tokenize, type TokenizeContext } from './tokenize.ts';
import { createTokenizer } from './tokenizer.ts';
import { writeRecord } from '../kube/log.ts';
import { activeSpan, serverSpan, tracing } from '../kube/tracing.ts';

/** The version reported by GET /version: the vLLM (or SGLang) release whose API this simulator follows. */
export const IMPERSONATED_VERSION = { vllm: '0.11.0', sglang: '0.5.4' } as const;
/** Largest request body accepted. */
export const MAX_BODY_BYTES = 32 * 1024 * 1024;

export interface EngineServer {
  url: string;
  port: number;
  /** Stop at once: open connections and running requests are cut. */
  close(): Promise<void>;
  /** Stop accepting, finish the requests already accepted (at most `timeoutMs`, then cut them), stop. */
  drain(timeoutMs?: number): Promise<void>;
  readonly options: EngineOptions;
  readonly scheduler: Scheduler;
  readonly metrics: EngineMetrics;
  /** vLLM's sleep mode: the level, sleep(), wakeUp() (startup.ts). */
  readonly sleepMode: SleepMode;
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void | Promise<void>;

class BodyTooLarge extends Error {}

function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        req.removeAllListeners('data');
        req.resume();
        reject(new BodyTooLarge());
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
    // A client that leaves mid-body: settle instead of leaving the handler pending (no-op after 'end').
    req.on('close', () => reject(new Error('client closed the connection')));
  });
}

async function readJson(req: http.IncomingMessage): Promise<unknown> {
  let raw: Buffer;
  try {
    raw = await readBody(req);
  } catch (err) {
    if (err instanceof BodyTooLarge) throw new ApiError(413, `Request body larger than ${MAX_BODY_BYTES} bytes`);
    throw err;
  }
  if (raw.length === 0) throw new ApiError(400, 'Request body is empty; expected a JSON object');
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch (err) {
    throw new ApiError(400, `JSON decode error: ${(err as Error).message}`);
  }
}

function sendJson(res: http.ServerResponse, status: number, body: unknown, headers: http.OutgoingHttpHeaders = {}): void {
  const json = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(json), ...headers });
  res.end(json);
}

function sendEmpty(res: http.ServerResponse): void {
  res.writeHead(200, { 'content-length': 0 });
  res.end();
}

export async function startEngine(options: EngineOptions): Promise<EngineServer> {
  validateEngineOptions(options);
  const publicName = options.servedModelNames[0]!;
  // KV events (--kv-events-config): the publisher binds before the engine serves, so no event is missed.
  const kvEvents = options.kvEvents ? await (await import('./kv-events.ts')).KvEventPublisher.start(options.kvEvents, options.host, (m) => writeRecord('warn', 'engine', m)) : null;
  const kv = new PagedKvCache({
    numBlocks: options.numGpuBlocks,
    blockSize: options.blockSize,
    prefixCaching: options.enablePrefixCaching,
    hasher: new KvBlockHasher({ algo: options.kvHashAlgo, seed: options.kvHashSeed }),
    events: kvEvents,
  });
  const loras = new LoraRegistry(options.loraModules, options.servedModelNames);
  const modelNames = (): string[] => [...options.servedModelNames, ...loras.names()];
  let scheduler: Scheduler | undefined;
  const profile = getProfile(options.profile);
  const plan = lifecyclePlan(profile.startup, options.startupSeconds);
  const sleepMode = new SleepMode(plan, {
    discardKvCache: () => {
      scheduler!.abortAll();
      kv.resetPrefixCache();
    },
  });
  const metrics = createEngineMetrics({
    engine: options.engine,
    modelName: publicName,
    maxModelLen: options.maxModelLen,
    blockSize: options.blockSize,
    numGpuBlocks: options.numGpuBlocks,
    state: {
      running: () => scheduler?.numRunning ?? 0,
      waiting: () => scheduler?.numWaiting ?? 0,
      kvUsage: () => kv.usage(),
      usedTokens: () => scheduler?.usedTokens() ?? 0,
      queuedPromptTokens: () => scheduler?.queuedPromptTokens() ?? 0,
      loras: () => ({ max: options.maxLoras, running: scheduler?.runningLoras() ?? [], waiting: scheduler?.waitingLoras() ?? [] }),
      sleepLevel: () => sleepMode.level,
      gpuUtilization: () => scheduler?.gpuUtilization() ?? 0,
    },
    prefixCaching: options.enablePrefixCaching,
    sleepMode: options.enableSleepMode,
    dcgm: dcgmFromEnv(profile.gpu, `${options.host}:${options.port}`),
    ...(options.speculative ? { speculative: { numSpeculativeTokens: options.speculative.numSpeculativeTokens } } : {}),
  });
  scheduler = new Scheduler({
    maxNumSeqs: options.maxNumSeqs,
    maxNumBatchedTokens: options.maxNumBatchedTokens,
    latency: options.latency,
    kv,
    observer: metrics,
    random: seededRandom(options.seed ^ 0x9e3779b9),
    maxLoras: options.maxLoras,
    maxWaiting: options.maxWaitingQueueLength,
    ...(options.speculative ? { speculative: options.speculative, acceptRandom: seededRandom(options.seed ^ 0x5bd1e995) } : {}),
  });
  // The tokenizer loads its vocabulary here (≈ 0.15 s), before the engine reports ready, as vLLM does.
  const tokenizer = createTokenizer(options.tokenizer);
  const ctx: GenerationContext = { options, scheduler, tokenizer, loras, engineId: `${options.host}:${options.port}` };
  const tokenizeCtx: TokenizeContext = { tokenizer, model: options.model, maxModelLen: options.maxModelLen, modelNames };
  // Fault injection (faults.ts): decided per request after it validates; changed at run time via /admin/faults.
  const faults = new FaultInjector({ config: options.faults, seed: options.seed, maxModelLen: options.maxModelLen, registry: metrics.registry });
  const started = Math.floor(Date.now() / 1000);

  const generate =
    (parse: typeof parseChatRequest): Handler =>
    async (req, res) => {
      const body = await readJson(req);
      if (sleepMode.sleeping) throw new ApiError(503, 'The model is sleeping; POST /wake_up first.');
      const request = parse(body, modelNames());
      activeSpan()?.setAttribute('gen_ai.request.model', request.model);
      const fault = faults.intercept(req, res, request.model);
      if (fault) runGeneration(ctx, request, res, fault.tap);
    };

  const models: Handler = (_req, res) => {
    sendJson(res, 200, {
      object: 'list',
      data: options.servedModelNames.map((id): Record<string, unknown> => ({
        id,
        object: 'model',
        created: started,
        owned_by: options.engine,
        root: options.model,
        parent: null,
        max_model_len: options.maxModelLen,
        permission: [
          {
            id: `modelperm-${id}`,
            object: 'model_permission',
            created: started,
            allow_create_engine: false,
            allow_sampling: true,
            allow_logprobs: true,
            allow_search_indices: false,
            allow_view: true,
            allow_fine_tuning: false,
            organization: '*',
            group: null,
            is_blocking: false,
          },
        ],
      })).concat(
        loras.list().map((m): Record<string, unknown> => ({
          id: m.name,
          object: 'model',
          created: started,
          owned_by: options.engine,
          root: m.path,
          parent: m.baseModelName ?? publicName,
          max_model_len: null,
          permission: [],
        })),
      ),
    });
  };
  const json =
    (fn: (body: unknown) => unknown): Handler =>
    async (req, res) =>
      sendJson(res, 200, fn(await readJson(req)));
  const text =
    (fn: (body: unknown) => { status: number; text: string }): Handler =>
    async (req, res) => {
      const { status, text: t } = fn(await readJson(req));
      res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(t) });
      res.end(t);
    };

  const routes: Record<string, Record<string, Handler>> = {
    '/v1/chat/completions': { POST: generate(parseChatRequest) },
    '/v1/completions': { POST: generate(parseCompletionRequest) },
    '/v1/models': { GET: models },
    '/tokenize': { POST: json((b) => tokenize(tokenizeCtx, b)) },
    '/detokenize': { POST: json((b) => detokenize(tokenizeCtx, b)) },
    '/v1/load_lora_adapter': { POST: text((b) => loras.load(b)) },
    '/v1/unload_lora_adapter': { POST: text((b) => loras.unload(b)) },
    '/health': { GET: (_q, res) => sendEmpty(res) },
    '/ping': { GET: (_q, res) => sendEmpty(res), POST: (_q, res) => sendEmpty(res) },
    '/version': { GET: (_q, res) => sendJson(res, 200, { version: IMPERSONATED_VERSION[options.engine] }) },
    '/metrics': {
      GET: async (_q, res) => {
        const text = await metrics.render();
        res.writeHead(200, { 'content-type': metrics.contentType, 'content-length': Buffer.byteLength(text) });
        res.end(text);
      },
    },
  };
  routes['/admin/faults'] = faultAdminRoutes(faults);
  if (options.engine === 'vllm' && options.serverDevMode) Object.assign(routes, sleepRoutes(options, sleepMode));
  if (options.engine === 'sglang') {
    routes['/get_model_info'] = {
      GET: (_q, res) => sendJson(res, 200, { model_path: options.model, tokenizer_path: options.model, is_generation: true }),
    };
    routes['/health_generate'] = { GET: (_q, res) => sendEmpty(res) };
  }

  // Responses not yet finished, so that a drain can tell those without a head to close their connection after.
  const inflight = new Set<http.ServerResponse>();
  let draining = false;
  let drainStep: (() => void) | undefined;
  function responseClosed(this: http.ServerResponse): void {
    inflight.delete(this);
    drainStep?.();
  }

  const serve = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    inflight.add(res);
    res.on('close', responseClosed);
    // A request that raced the drain on an open connection is served, and its connection closes after.
    if (draining) res.shouldKeepAlive = false;
    try {
      const path = (req.url ?? '/').split('?', 1)[0]!;
      const route = routes[path];
      if (!route) throw new ApiError(404, `Not Found: ${path}`);
      const method = req.method === 'HEAD' ? 'GET' : (req.method ?? 'GET');
      const handler = route[method];
      if (!handler) {
        res.setHeader('allow', Object.keys(route).join(', '));
        throw new ApiError(405, `Method Not Allowed: ${req.method} ${path}`);
      }
      await handler(req, res);
    } catch (err) {
      if (res.headersSent || res.destroyed) {
        res.destroy();
        return;
      }
      if (err instanceof ApiError) {
        sendJson(res, err.status, err.body());
      } else {
        writeRecord('error', 'engine', 'internal error', { error: (err as Error)?.stack ?? String(err) });
        sendJson(res, 500, new ApiError(500, 'Internal server error').body());
      }
    }
  };
  const server = http.createServer((req, res) => {
    if (req.method !== 'POST' || tracing() === null) {
      void serve(req, res);
      return;
    }
    const path = (req.url ?? '/').split('?', 1)[0]!;
    const name = routes[path] !== undefined ? `POST ${path}` : 'POST';
    void serverSpan(req, res, name, { 'http.request.method': 'POST', 'url.path': path }, () => serve(req, res));
  });
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n');
    else socket.destroy();
  });

  await runColdStart(plan, (line) => writeRecord('info', 'engine', line));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;

  const serverClosed = new Promise<void>((resolve) => server.once('close', () => resolve()));
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (() => {
      scheduler!.stop();
      if (server.listening) server.close();
      server.closeAllConnections();
      return Promise.all([serverClosed, kvEvents?.close()]).then(() => undefined);
    })();
    return closing;
  };
  let drained: Promise<void> | undefined;
  const drain = (timeoutMs = Infinity): Promise<void> => {
    drained ??= new Promise<void>((resolve) => {
      draining = true;
      server.close(); // stops listening and closes the idle keep-alive connections
      for (const res of inflight) if (!res.headersSent) res.shouldKeepAlive = false;
      const timer = Number.isFinite(timeoutMs) ? setTimeout(() => void close().then(resolve), timeoutMs) : undefined;
      drainStep = () => {
        // A stream whose head went out with keep-alive leaves an idle connection behind when it ends.
        server.closeIdleConnections();
        if (inflight.size > 0) return;
        drainStep = undefined;
        clearTimeout(timer);
        void close().then(resolve);
      };
      drainStep();
    });
    return drained;
  };
  return { url: `http://${host}:${port}`, port, options, scheduler, metrics, sleepMode, close, drain };
}

/** vLLM's development endpoints for sleep mode: POST /sleep?level=N (default 1), POST /wake_up, GET /is_sleeping. */
function sleepRoutes(options: EngineOptions, sleepMode: SleepMode): Record<string, Record<string, Handler>> {
  const enabled = (): void => {
    if (!options.enableSleepMode) throw new ApiError(400, 'Sleep mode is not enabled. Start the engine with --enable-sleep-mode.');
  };
  return {
    '/sleep': {
      POST: async (req, res) => {
        enabled();
        const raw = new URL(req.url ?? '/', 'http://engine').searchParams.get('level') ?? '1';
        if (raw !== '1' && raw !== '2') throw new ApiError(400, `Invalid sleep level ${JSON.stringify(raw)}; expected 1 or 2`, 'level');
        await sleepMode.sleep(Number(raw) as SleepLevel);
        sendEmpty(res);
      },
    },
    '/wake_up': {
      // vLLM's `tags` (weights, kv_cache) wake parts separately; here a wake-up always restores both.
      POST: async (_req, res) => {
        enabled();
        await sleepMode.wakeUp();
        sendEmpty(res);
      },
    },
    '/is_sleeping': { GET: (_req, res) => sendJson(res, 200, { is_sleeping: sleepMode.sleeping }) },
  };
}
