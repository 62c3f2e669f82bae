// A tiny OpenAI-ish upstream for gateway tests. Behaviour is chosen per request by the `x-fake` header:
//   (none)        answer at once (chat: one message; completions: text " ok"; SSE when body.stream)
//   slow-headers  wait 1 s before answering (timeouts)
//   break         SSE: two events, then destroy the socket
//   hang          SSE: one event, then wait for the client to go away
//   status-500    answer 500 with an OpenAI error body
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeRequest {
  path: string;
  headers: IncomingMessage['headers'];
  body: Record<string, unknown>;
}

export interface FakeEngine {
  name: string;
  server: Server;
  ip: string;
  port: number;
  requests: FakeRequest[];
  /** Requests whose client (the gateway) went away before the response ended. */
  aborted: number;
  close(): Promise<void>;
}

function sse(res: ServerResponse, data: unknown): void {
  res.write(`data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`);
}

function chunk(id: string, model: string, content: string, finish: string | null = null) {
  return { id, object: 'chat.completion.chunk', created: 1, model, choices: [{ index: 0, delta: { content }, finish_reason: finish }] };
}

export async function startFakeEngine(name: string, ip = '127.0.0.1', port = 0): Promise<FakeEngine> {
  const engine: FakeEngine = {
    name,
    server: undefined as unknown as Server,
    ip,
    port: 0,
    requests: [],
    aborted: 0,
    close: async () => {
      engine.server.closeAllConnections();
      await new Promise<void>((r) => engine.server.close(() => r()));
    },
  };
  engine.server = createServer(async (req, res) => {
    const parts: Buffer[] = [];
    for await (const c of req) parts.push(c as Buffer);
    let body: Record<string, unknown> = {};
    try {
      body = JSON.parse(Buffer.concat(parts).toString() || '{}');
    } catch {
      body = {};
    }
    engine.requests.push({ path: req.url ?? '', headers: req.headers, body });
    res.on('close', () => {
      if (!res.writableFinished) engine.aborted++;
    });
    const mode = req.headers['x-fake'];
    const model = String(body.model);
    const id = `${name}-${engine.requests.length}`;
    if (mode === 'slow-headers') await new Promise((r) => setTimeout(r, 1000));
    if (mode === 'status-500') {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: 'engine exploded', type: 'server_error', code: 'boom', param: null } }));
      return;
    }
    if (body.stream === true) {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      sse(res, chunk(id, model, 'Hello'));
      if (mode === 'hang') return;
      await new Promise((r) => setTimeout(r, 30));
      sse(res, chunk(id, model, ` from ${name}`));
      if (mode === 'break') {
        await new Promise((r) => setTimeout(r, 20));
        res.socket?.destroy();
        return;
      }
      await new Promise((r) => setTimeout(r, 30));
      sse(res, chunk(id, model, '', 'stop'));
      sse(res, '[DONE]');
      res.end();
      return;
    }
    let out: unknown;
    if (req.url === '/v1/completions') {
      out = {
        id,
        object: 'text_completion',
        created: 1,
        model,
        choices: [{ index: 0, text: ` ok from ${name}`, finish_reason: 'length', logprobs: null }],
        usage: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 },
      };
    } else if (req.url === '/v1/chat/completions') {
      out = {
        id,
        object: 'chat.completion',
        created: 1,
        model,
        choices: [{ index: 0, message: { role: 'assistant', content: `Hello from ${name}` }, finish_reason: 'stop' }],
        usage: { prompt_tokens: 5, completion_tokens: 3, total_tokens: 8 },
      };
    } else {
      out = { object: 'list', path: req.url, model, from: name };
    }
    const text = JSON.stringify(out);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  });
  await new Promise<void>((resolve, reject) => {
    engine.server.once('error', reject);
    engine.server.listen(port, ip, () => resolve());
  });
  engine.port = (engine.server.address() as AddressInfo).port;
  return engine;
}
