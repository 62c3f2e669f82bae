// POST /tokenize and /detokenize, as vLLM serves them (vllm/entrypoints/openai/serving_tokenization.py).
//
//   /tokenize    {"prompt": "...", "add_special_tokens": true}                           completion form
//                {"messages": [...], "add_generation_prompt": true, "continue_final_message": false,
//                 "add_special_tokens": false, "tools": [...]}                             chat form (chat template)
//                either with "return_token_strs": true for the tokens as the vocabulary spells them
//             →  {"count": n, "max_model_len": m, "tokens": [...], "token_strs": null | [...]}
//   /detokenize  {"tokens": [...]}  →  {"prompt": "..."}
// `model`, when given, must be a served name or a loaded LoRA adapter (404 otherwise).

import { chatTemplateFor, renderChatPrompt, type ChatMessage } from './chat-template.ts';
import { badRequest } from './errors.ts';
import { parseChatRequest, resolveModel } from './openai.ts';
import type { Tokenizer } from './tokenizer.ts';

export interface TokenizeContext {
  tokenizer: Tokenizer;
  /** The model being served (chooses the chat template). */
  model: string;
  maxModelLen: number;
  /** Served names and loaded adapters. */
  modelNames(): string[];
}

type Json = Record<string, unknown>;

function object(body: unknown): Json {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw badRequest('Request body must be a JSON object');
  return body as Json;
}

function flag(body: Json, key: string, dflt: boolean): boolean {
  const v = body[key];
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'boolean') throw badRequest(`${key} must be a boolean`, key);
  return v;
}

export function tokenize(ctx: TokenizeContext, raw: unknown): Json {
  const body = object(raw);
  const names = ctx.modelNames();
  resolveModel(body, names);
  const returnStrs = flag(body, 'return_token_strs', false);
  let tokens: number[];
  if (body.messages !== undefined) {
    const req = parseChatRequest({ ...body, stream: undefined, stream_options: undefined }, names);
    const continueFinal = flag(body, 'continue_final_message', false);
    const addGenerationPrompt = flag(body, 'add_generation_prompt', true);
    if (continueFinal && addGenerationPrompt) {
      throw badRequest('Cannot set both `continue_final_message` and `add_generation_prompt` to True.');
    }
    const text = renderChatPrompt(req.messages as ChatMessage[], req.tools, {
      addGenerationPrompt,
      continueFinalMessage: continueFinal,
      template: chatTemplateFor(ctx.model),
    });
    tokens = ctx.tokenizer.encode(text);
    // The template already starts with <|begin_of_text|>; add_special_tokens (default false here) would add another.
    if (flag(body, 'add_special_tokens', false) && ctx.tokenizer.bosTokenId !== undefined) tokens.unshift(ctx.tokenizer.bosTokenId);
  } else {
    if (typeof body.prompt !== 'string') throw badRequest('Field required: prompt (a string) or messages', 'prompt');
    tokens = ctx.tokenizer.encode(body.prompt);
    if (flag(body, 'add_special_tokens', true) && ctx.tokenizer.bosTokenId !== undefined) tokens.unshift(ctx.tokenizer.bosTokenId);
  }
  let tokenStrs: string[] | null = null;
  if (returnStrs) {
    try {
      tokenStrs = tokens.map((id) => ctx.tokenizer.idToToken(id));
    } catch (err) {
      throw badRequest((err as Error).message);
    }
  }
  return { count: tokens.length, max_model_len: ctx.maxModelLen, tokens, token_strs: tokenStrs };
}

export function detokenize(ctx: TokenizeContext, raw: unknown): Json {
  const body = object(raw);
  resolveModel(body, ctx.modelNames());
  const t = body.tokens;
  if (!Array.isArray(t) || !t.every((x) => typeof x === 'number' && Number.isInteger(x))) {
    throw badRequest('tokens must be a list of integers', 'tokens');
  }
  try {
    return { prompt: ctx.tokenizer.decode(t as number[]) };
  } catch (err) {
    throw badRequest((err as Error).message, 'tokens');
  }
}
