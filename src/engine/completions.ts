// Runs a parsed chat/completions request on the engine: tokenize, check the context length, submit one sequence per
// choice, and turn the tokens the loop produces into a vLLM-shaped JSON body or an SSE stream.
//
// Output length: an explicit max_tokens (or max_completion_tokens) is generated in full and finishes with "length",
// as if the model ignored EOS, so benchmarks control output lengths exactly. Without it the simulated answer ends by
// itself ("stop") after a deterministic length between half and all of the default (16 for completions, 32 for chat,
// or --max-tokens-default). A stop string in the generated text ends it early with "stop".

import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { chatTemplateFor, renderChatPrompt } from './chat-template.ts';
import { ApiError, badRequest } from './errors.ts';
import type { LoraRegistry } from './lora.ts';
import type { GenerationRequest } from './openai.ts';
import { DEFAULT_MAX_TOKENS, type EngineOptions } from './options.ts';
import type { FinishReason, Scheduler, Sequence, SequenceListener } from './scheduler.ts';
import { hashString, naturalLength, pieceJson, pieceJsonBytes, pieceText, TextStream } from './textgen.ts';
import type { Tokenizer } from './tokenizer.ts';

export interface GenerationContext {
  options: EngineOptions;
  scheduler: Scheduler;
  tokenizer: Tokenizer;
  /** LoRA adapters: a request whose `model` names one runs with it. */
  loras?: LoraRegistry;
  /** P/D: identifies this engine in kv_transfer_params (remote_engine_id, remote_host, remote_port). */
  engineId?: string;
  /** Token id of each generated text piece (prefix caching of generated text); filled on first use. */
  pieceTokenIds?: number[];
}

interface PreparedPrompt {
  text: string;
  ids: number[];
  seed: number;
}

interface Choice {
  index: number;
  prompt: PreparedPrompt;
  stream: TextStream;
  seq: Sequence | null;
  /** Generated text (kept for non-streaming responses and for stop-string matching). */
  text: string;
  started: boolean;
  finishReason: FinishReason | null;
  stopReason: string | null;
  /** SSE event text before the content JSON (streaming), and its UTF-8 length. */
  head: string;
  headBytes: number;
}

interface Usage {
  prompt_tokens: number;
  total_tokens: number;
  completion_tokens: number;
  /** Always reported (vLLM only with --enable-prompt-tokens-details): prompt tokens served from the prefix cache. */
  prompt_tokens_details: { cached_tokens: number };
}

const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  'x-accel-buffering': 'no',
};

/** SSE event text after a token's content JSON when it does not finish the choice. */
const CHAT_TOKEN_TAIL = '},"logprobs":null,"finish_reason":null}]}\n\n';
const COMPLETION_TOKEN_TAIL = ',"logprobs":null,"finish_reason":null,"stop_reason":null}]}\n\n';
const CHAT_TOKEN_TAIL_BYTES = Buffer.byteLength(CHAT_TOKEN_TAIL);
const COMPLETION_TOKEN_TAIL_BYTES = Buffer.byteLength(COMPLETION_TOKEN_TAIL);

/**
 * The socket to write a streamed response's events to directly, framed as HTTP/1.1 chunks by us, or null to go
 * through res.write. Direct writes are what Node's res.write would send (one chunk per event), minus its per-write
 * work (corking, a three-buffer writev, the uncork tick): taken only once the chunked headers are on this socket and
 * nobody wraps res.write (fault injection does).
 */
function directSocket(res: ServerResponse): Socket | null {
  const sock = res.socket;
  if (sock === null || sock.destroyed || !res.headersSent || !res.chunkedEncoding || Object.hasOwn(res, 'write')) return null;
  return sock;
}

/** Told of each token a response carries, after it is written (fault injection acts mid-stream through it). */
export interface TokenTap {
  onToken(): void;
}

/** Validates, then runs the request, answering on `res`. Throws ApiError before anything is sent. */
export function runGeneration(ctx: GenerationContext, req: GenerationRequest, res: ServerResponse, tap?: TokenTap): void {
  const { options, scheduler, tokenizer } = ctx;
  const chat = req.endpoint === 'chat';
  const seedBase = (req.seed ?? options.seed) >>> 0;

  // Prompts and their token ids.
  const inputs = chat ? [{ text: renderChatPrompt(req.messages ?? [], req.tools, { template: chatTemplateFor(options.model) }) }] : req.prompts;
  const bos = chat ? undefined : tokenizer.bosTokenId; // vLLM tokenizes completion prompts with add_special_tokens
  const prompts: PreparedPrompt[] = inputs.map((p) => {
    let ids: number[];
    if ('tokenIds' in p && p.tokenIds) ids = p.tokenIds;
    else {
      ids = tokenizer.encode(p.text);
      if (bos !== undefined && ids.length > 0 && ids[0] !== bos) ids.unshift(bos);
    }
    const seedText = p.text !== '' ? p.text : ids.join(',');
    return { text: p.text, ids, seed: hashString(seedText, seedBase ^ 0x811c9dc5) };
  });

  // Context length and output targets, all checked before anything is submitted.
  const defaultMax = options.maxTokensDefault ?? (chat ? DEFAULT_MAX_TOKENS.chat : DEFAULT_MAX_TOKENS.completion);
  const where = chat ? 'messages' : 'prompt';
  for (const p of prompts) {
    const n = p.ids.length;
    if (n === 0) throw badRequest('The decoder prompt cannot be empty', where);
    const completion = req.maxTokens ?? defaultMax;
    if (n >= options.maxModelLen || (req.maxTokens !== undefined && n + req.maxTokens > options.maxModelLen)) {
      throw badRequest(
        `This model's maximum context length is ${options.maxModelLen} tokens. However, you requested ` +
          `${n + completion} tokens (${n} in the ${where}, ${completion} in the completion). ` +
          `Please reduce the length of the ${where} or completion.`,
        where,
      );
    }
  }

  // LoRA adapter, P/D role, and room in the waiting queue: all checked before anything is submitted or sent.
  const lora = ctx.loras?.has(req.model) ? req.model : null;
  const remoteDecode = req.kvTransferParams?.do_remote_decode === true;
  const remotePrefill = !remoteDecode && req.kvTransferParams?.do_remote_prefill === true;
  if (remoteDecode && req.stream) {
    throw badRequest('Prefill requests (kv_transfer_params.do_remote_decode) cannot be streamed', 'stream');
  }
  const numSeqs = prompts.length * req.n;
  if (!scheduler.hasRoomFor(numSeqs)) {
    throw new ApiError(
      429,
      `The waiting queue is full (${scheduler.maxWaiting} requests); please retry later.`,
      null,
      'RateLimitError',
    );
  }
  const pieceIds = (ctx.pieceTokenIds ??= pieceText.map((t) => tokenizer.encode(t)[0] ?? 0));

  const created = Math.floor(Date.now() / 1000);
  const id = (chat ? 'chatcmpl-' : 'cmpl-') + randomUUID().replaceAll('-', '');
  const modelJson = JSON.stringify(req.model);
  const chunkHead = chat
    ? `data: {"id":"${id}","object":"chat.completion.chunk","created":${created},"model":${modelJson},"choices":[{"index":`
    : `data: {"id":"${id}","object":"text_completion","created":${created},"model":${modelJson},"choices":[{"index":`;

  const choices: Choice[] = [];
  for (const [pi, prompt] of prompts.entries()) {
    for (let j = 0; j < req.n; j++) {
      const index = pi * req.n + j;
      const head = chunkHead + index + (chat ? ',"delta":{"content":' : ',"text":');
      choices.push({
        index,
        prompt,
        stream: new TextStream(hashString(String(j), prompt.seed)),
        seq: null,
        text: '',
        started: false,
        finishReason: null,
        stopReason: null,
        head,
        headBytes: Buffer.byteLength(head),
      });
    }
  }

  const stops = req.stop;
  const maxStopLen = stops.reduce((m, s) => Math.max(m, s.length), 0);
  const keepText = !req.stream || stops.length > 0;
  let remaining = choices.length;
  let done = false;

  const writable = (): boolean => !done && !res.destroyed && !res.writableEnded;

  const usage = (): Usage => {
    const promptTokens = prompts.reduce((s, p) => s + p.ids.length, 0);
    const completionTokens = choices.reduce((s, c) => s + (c.seq?.numOutputTokens ?? 0), 0);
    // Cached tokens per prompt (its first choice), as vLLM counts num_cached_tokens per request.
    const cachedTokens = choices.reduce((s, c) => s + (c.index % req.n === 0 ? (c.seq?.numCachedTokens ?? 0) : 0), 0);
    return {
      prompt_tokens: promptTokens,
      total_tokens: promptTokens + completionTokens,
      completion_tokens: completionTokens,
      prompt_tokens_details: { cached_tokens: cachedTokens },
    };
  };

  const finishResponse = (): void => {
    if (!writable()) {
      done = true;
      return;
    }
    if (req.stream) {
      if (req.includeUsage) {
        const obj = chat ? 'chat.completion.chunk' : 'text_completion';
        res.write(
          `data: {"id":"${id}","object":"${obj}","created":${created},"model":${modelJson},"choices":[],"usage":${JSON.stringify(usage())}}\n\n`,
        );
      }
      res.end('data: [DONE]\n\n');
    } else {
      const body = chat
        ? {
            id,
            object: 'chat.completion',
            created,
            model: req.model,
            choices: choices.map((c) => ({
              index: c.index,
              message: { role: 'assistant', content: c.text, tool_calls: [] },
              logprobs: null,
              finish_reason: c.finishReason,
              stop_reason: c.stopReason,
            })),
            usage: usage(),
          }
        : {
            id,
            object: 'text_completion',
            created,
            model: req.model,
            choices: choices.map((c) => ({
              index: c.index,
              text: (req.echo ? c.prompt.text : '') + c.text,
              logprobs: null,
              finish_reason: c.finishReason,
              stop_reason: c.stopReason,
              prompt_logprobs: null,
            })),
            usage: usage(),
          };
      const json = JSON.stringify(remoteDecode ? { ...body, kv_transfer_params: kvTransferParams() } : body);
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(json) });
      res.end(json);
    }
    done = true;
  };

  // Prefill side of P/D (vLLM NixlConnector.request_finished): where the decode engine pulls the prompt's KV cache.
  const kvTransferParams = (): Record<string, unknown> => ({
    do_remote_prefill: true,
    do_remote_decode: false,
    remote_block_ids: choices[0]?.seq?.remoteBlockIds ?? [],
    remote_engine_id: ctx.engineId ?? 'simulated-engine',
    remote_host: options.host,
    remote_port: options.port,
    tp_size: 1,
  });

  // Streaming writes: one SSE event per token and choice. `cork` batches what one step writes to this response (the
  // role event with the first token, several choices) into one socket write, uncorked after the step.
  const multi = choices.length > 1;
  let corked: Socket | null = null;
  const uncork = (): void => {
    corked?.uncork();
    corked = null;
  };
  const sendEvent = (event: string, bytes: number, cork: boolean): void => {
    const sock = directSocket(res);
    if (sock === null) {
      res.write(event);
      return;
    }
    if (cork && corked === null) {
      corked = sock;
      sock.cork();
      process.nextTick(uncork);
    }
    sock.write((bytes >= 0 ? bytes : Buffer.byteLength(event)).toString(16) + '\r\n' + event + '\r\n');
  };

  const listenerFor = (c: Choice): SequenceListener => ({
    onToken(seq, finishing) {
      const piece = c.stream.next();
      seq.outputTokenIds.push(pieceIds[piece]!);
      let text = pieceText[piece]!;
      let json: string | undefined = pieceJson[piece];
      let reason: FinishReason | null = finishing;
      let stopped = false;
      if (keepText) {
        const before = c.text.length;
        c.text += text;
        if (stops.length > 0) {
          const from = Math.max(0, before - maxStopLen + 1);
          let at = -1;
          for (const s of stops) {
            const k = c.text.indexOf(s, from);
            if (k >= 0 && (at < 0 || k < at)) {
              at = k;
              c.stopReason = s;
            }
          }
          if (at >= 0) {
            c.text = c.text.slice(0, at);
            text = at > before ? c.text.slice(before) : '';
            json = undefined;
            reason = 'stop';
            stopped = true;
          }
        }
      }
      if (req.stream && writable()) {
        if (!c.started) {
          if (chat) sendEvent(chunkHead + c.index + ',"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}\n\n', -1, true);
          if (req.echo && c.prompt.text !== '') {
            text = c.prompt.text + text;
            json = undefined;
          }
        }
        if (json !== undefined && reason === null) {
          // The common case: a precomputed piece, not the last token. Prefix and suffix are constants of the choice.
          if (chat) sendEvent(c.head + json + CHAT_TOKEN_TAIL, c.headBytes + pieceJsonBytes[piece]! + CHAT_TOKEN_TAIL_BYTES, !c.started || multi);
          else sendEvent(c.head + json + COMPLETION_TOKEN_TAIL, c.headBytes + pieceJsonBytes[piece]! + COMPLETION_TOKEN_TAIL_BYTES, !c.started || multi);
        } else {
          json ??= JSON.stringify(text);
          const tail = reason
            ? `${chat ? '}' : ''},"logprobs":null,"finish_reason":"${reason}","stop_reason":${JSON.stringify(c.stopReason)}}]}\n\n`
            : chat
              ? CHAT_TOKEN_TAIL
              : COMPLETION_TOKEN_TAIL;
          sendEvent(c.head + json + tail, -1, !c.started || multi);
        }
      }
      c.started = true;
      tap?.onToken();
      return stopped ? 'stop' : null;
    },
    onFinish(_seq, reason) {
      c.finishReason = reason;
      if (--remaining > 0) return;
      if (reason === 'abort' && writable()) {
        // Aborted without the client leaving (engine shutdown): cut the response.
        done = true;
        res.destroy();
        return;
      }
      finishResponse();
    },
  });

  if (req.stream) {
    res.writeHead(200, SSE_HEADERS);
    res.flushHeaders();
  }

  res.on('close', () => {
    if (done) return;
    done = true;
    // Client went away: free the slots.
    for (const c of choices) if (c.seq) scheduler.abort(c.seq);
  });

  for (const c of choices) {
    const n = c.prompt.ids.length;
    const room = options.maxModelLen - n;
    let maxTokens: number;
    let finishReasonAtMax: 'length' | 'stop';
    if (req.maxTokens !== undefined) {
      maxTokens = req.maxTokens;
      finishReasonAtMax = 'length';
    } else {
      const cap = Math.min(defaultMax, room);
      const natural = req.ignoreEos ? defaultMax : Math.max(naturalLength(c.prompt.seed ^ c.index, defaultMax), req.minTokens);
      maxTokens = Math.min(natural, cap);
      finishReasonAtMax = natural > cap || req.ignoreEos ? 'length' : 'stop';
    }
    c.seq = scheduler.submit(
      {
        promptTokens: n,
        promptTokenIds: c.prompt.ids,
        maxTokens,
        finishReasonAtMax,
        maxTokensParam: req.maxTokens ?? Math.min(defaultMax, room),
        lora,
        remotePrefill,
        remoteDecode,
      },
      listenerFor(c),
    );
  }
}
