// A request's prompt as the engine's token ids, so that the gateway's block hashes equal the engine's: the same
// steps as src/engine/completions.ts — completions: the prompt's tokens with BOS in front (vLLM tokenizes them with
// add_special_tokens), token-id prompts as given; chat: the messages through the engine's chat template, no BOS
// added (the template starts with it). Only the first prompt of a batch counts (its blocks decide the pod).
// Tokenizers are loaded by the manager (manager.ts) only when some pod publishes KV events; the Llama-3 tokenizer
// memoizes pieces and whole long prompts, so a conversation's growing history costs little after its first turn.
import { chatTemplateFor, renderChatPrompt, type ChatMessage } from '../../engine/chat-template.ts';
import type { Tokenizer } from '../../engine/tokenizer.ts';

const tokenizers = new Map<string, Tokenizer>();

export function setTokenizer(name: string, tok: Tokenizer): void {
  tokenizers.set(name, tok);
}

export function tokenizerFor(name: string): Tokenizer | undefined {
  return tokenizers.get(name);
}

function isIds(v: unknown): v is number[] {
  return Array.isArray(v) && v.length > 0 && typeof v[0] === 'number';
}

/** The prompt's token ids as engine `model` with tokenizer `tok` computes them; null when there is no prompt. */
export function promptTokenIds(body: Record<string, unknown> | undefined, tok: Tokenizer, model: string): number[] | null {
  if (body === undefined) return null;
  const messages = body.messages;
  if (Array.isArray(messages)) {
    if (messages.length === 0) return null;
    for (const m of messages) if (m === null || typeof m !== 'object' || typeof (m as { role?: unknown }).role !== 'string') return null;
    return tok.encode(renderChatPrompt(messages as ChatMessage[], body.tools, { template: chatTemplateFor(model) }));
  }
  let prompt = body.prompt;
  if (Array.isArray(prompt) && !isIds(prompt)) prompt = prompt[0];
  if (isIds(prompt)) return prompt;
  if (typeof prompt !== 'string' || prompt === '') return null;
  const ids = tok.encode(prompt);
  const bos = tok.bosTokenId;
  if (bos !== undefined && ids.length > 0 && ids[0] !== bos) ids.unshift(bos);
  return ids;
}
