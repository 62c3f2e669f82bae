// The engine's admin endpoint, for tests: read and change fault injection at run time. Served on the engine's own port
// under /admin/ (the gateway only forwards the OpenAI routes, so clients going through it cannot reach this).
//
//   GET    /admin/faults   {"config": {...}, "seed": n, "requests": n, "injected": {"rate_limit": n, ...}}
//   PUT    /admin/faults   replace the config: fields not given take their defaults (so `{}` clears every fault)
//   PATCH  /admin/faults   change only the fields given (POST does the same, like llm-d's /admin/config)
//   DELETE /admin/faults   clear every fault (same as PUT {})
// Bodies are the config's fields (failureRate, failureTypes, mode, modeRate, afterTokens, slowFactor; see faults.ts)
// plus an optional integer `seed` that restarts the decision sequence. A change is validated as a whole and applied
// all at once, or rejected with 400 and nothing changed. Every method answers with the state, as GET does.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { ApiError } from './errors.ts';
import type { FaultInjector } from './fault-injector.ts';
import { defaultFaultConfig, FaultConfigError, mergeFaultConfig } from './faults.ts';

export type AdminHandler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

/** Largest admin request body. */
const MAX_ADMIN_BODY = 64 * 1024;

async function readJsonBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_ADMIN_BODY) throw new ApiError(413, `Request body larger than ${MAX_ADMIN_BODY} bytes`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (text === '') return {};
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ApiError(400, `JSON decode error: ${(err as Error).message}`);
  }
}

function send(res: ServerResponse, body: unknown): void {
  const json = JSON.stringify(body, null, 2) + '\n';
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(json), 'cache-control': 'no-store' });
  res.end(json);
}

/** The /admin/faults routes, by method (HEAD is served by GET). */
export function faultAdminRoutes(faults: FaultInjector): Record<string, AdminHandler> {
  const update =
    (replace: boolean): AdminHandler =>
    async (req, res) => {
      const body = await readJsonBody(req);
      if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new ApiError(400, 'the fault config must be a JSON object');
      const { seed, ...patch } = body as Record<string, unknown>;
      if (seed !== undefined && !(typeof seed === 'number' && Number.isInteger(seed) && seed >= 0 && seed <= 0xffffffff)) {
        throw new ApiError(400, 'seed must be an integer between 0 and 4294967295', 'seed');
      }
      let config;
      try {
        config = mergeFaultConfig(replace ? defaultFaultConfig() : faults.state().config, patch);
      } catch (err) {
        if (err instanceof FaultConfigError) throw new ApiError(400, err.message);
        throw err;
      }
      faults.set(config, seed as number | undefined);
      send(res, faults.state());
    };
  return {
    GET: async (_req, res) => send(res, faults.state()),
    PUT: update(true),
    PATCH: update(false),
    POST: update(false),
    DELETE: async (req, res) => {
      req.resume();
      faults.set(defaultFaultConfig());
      send(res, faults.state());
    },
  };
}
