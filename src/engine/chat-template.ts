// Renders OpenAI chat messages into the prompt text the model sees, as vLLM does with the model's Hugging Face chat
// template, so prompt token counts (and prefix-cache keys) match a real server.
//
// Two templates, chosen by model name:
//   llama3.1  (default; Llama-3.1/3.2/3.3 Instruct): a system turn that always carries "Cutting Knowledge Date:
//             December 2023 / Today Date: 26 Jul 2024" before the system message; tools are listed in the first user
//             message (tools_in_user_message=true, the template's default); assistant tool calls render as
//             {"name": …, "parameters": …}; tool results as an `ipython` turn.
//   llama3    (Meta-Llama-3-*-Instruct, 3.0): header + content|trim + <|eot_id|> per message, nothing else.
// Message content is trimmed (Jinja `trim`); a list of content parts is joined with "\n" (vLLM's "string" content
// format). JSON inside the template follows Python's json.dumps spacing, as Jinja's `tojson` produces it.

export interface ChatMessage {
  role: string;
  content?: unknown;
  name?: unknown;
  tool_calls?: unknown;
  tool_call_id?: unknown;
}

export type ChatTemplateKind = 'llama3.1' | 'llama3';

export interface RenderOptions {
  /** Append the assistant header (default true). */
  addGenerationPrompt?: boolean;
  /** Leave the last message open (no end-of-turn), for the model to continue it; excludes addGenerationPrompt. */
  continueFinalMessage?: boolean;
  template?: ChatTemplateKind;
}

/** The template for a model name: Llama-3.0 names get the 3.0 template, everything else Llama-3.1's. */
export function chatTemplateFor(model: string): ChatTemplateKind {
  return /llama-?3(?![.\d])/i.test(model) ? 'llama3' : 'llama3.1';
}

/** Text of a message's content: a string, or the text parts of an array of content parts joined by newlines. */
export function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    const texts: string[] = [];
    for (const part of content) {
      if (typeof part === 'string') texts.push(part);
      else if (part && typeof part === 'object') {
        const p = part as { type?: unknown; text?: unknown };
        if ((p.type === 'text' || p.type === 'input_text') && typeof p.text === 'string') texts.push(p.text);
      }
    }
    return texts.join('\n');
  }
  return '';
}

/** Python's json.dumps(value, ensure_ascii=False[, indent]): ", " and ": " separators, or "," and newlines with indent. */
export function pyJson(value: unknown, indent?: number, depth = 0): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') return Number.isFinite(value) ? JSON.stringify(value) : value > 0 ? 'Infinity' : value < 0 ? '-Infinity' : 'NaN';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  const pad = indent !== undefined ? '\n' + ' '.repeat(indent * (depth + 1)) : '';
  const close = indent !== undefined ? '\n' + ' '.repeat(indent * depth) : '';
  const sep = indent !== undefined ? ',' : ', ';
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    return '[' + value.map((v) => pad + pyJson(v, indent, depth + 1)).join(sep) + close + ']';
  }
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    if (entries.length === 0) return '{}';
    return '{' + entries.map(([k, v]) => pad + JSON.stringify(k) + ': ' + pyJson(v, indent, depth + 1)).join(sep) + close + '}';
  }
  return JSON.stringify(String(value));
}

const trim = (s: string): string => s.trim();
const header = (role: string): string => '<|start_header_id|>' + role + '<|end_header_id|>\n\n';

/** vLLM parses each tool call's `arguments` string into an object before templating. */
function toolCallJson(call: unknown): string {
  const fn = (call && typeof call === 'object' ? (call as { function?: unknown }).function : undefined) as
    | { name?: unknown; arguments?: unknown }
    | undefined;
  let args: unknown = fn?.arguments ?? {};
  if (typeof args === 'string') {
    try {
      args = JSON.parse(args);
    } catch {
      /* keep the string */
    }
  }
  return '{"name": "' + String(fn?.name ?? '') + '", "parameters": ' + pyJson(args) + '}';
}

export function renderChatPrompt(messages: readonly ChatMessage[], tools?: unknown, options: RenderOptions = {}): string {
  const template = options.template ?? 'llama3.1';
  const continueFinal = options.continueFinalMessage === true;
  const addGenerationPrompt = !continueFinal && options.addGenerationPrompt !== false;
  const closeTurn = (i: number, total: number, eot = '<|eot_id|>'): string => (continueFinal && i === total - 1 ? '' : eot);

  if (template === 'llama3') {
    let out = '<|begin_of_text|>';
    messages.forEach((m, i) => {
      out += header(m.role) + trim(contentText(m.content)) + closeTurn(i, messages.length);
    });
    return addGenerationPrompt ? out + header('assistant') : out;
  }

  // Llama-3.1
  const toolList = Array.isArray(tools) && tools.length > 0 ? tools : null;
  let rest = [...messages];
  let systemMessage = '';
  if (rest[0]?.role === 'system') {
    systemMessage = trim(contentText(rest[0].content));
    rest = rest.slice(1);
  }
  let out = '<|begin_of_text|>' + header('system');
  if (toolList) out += 'Environment: ipython\n';
  out += 'Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n' + systemMessage + '<|eot_id|>';
  if (toolList && rest.length > 0) {
    const first = trim(contentText(rest[0]!.content));
    rest = rest.slice(1);
    out +=
      header('user') +
      'Given the following functions, please respond with a JSON for a function call with its proper arguments that ' +
      'best answers the given prompt.\n\n' +
      'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' +
      'Do not use variables.\n\n';
    for (const t of toolList) out += pyJson(t, 4) + '\n\n';
    out += first + '<|eot_id|>';
  }
  rest.forEach((m, i) => {
    const calls = Array.isArray(m.tool_calls) && m.tool_calls.length > 0 ? m.tool_calls : null;
    if (m.role === 'tool' || m.role === 'ipython') {
      // Jinja's `iterable` test is true for strings too, so the template JSON-encodes every tool result.
      out += header('ipython') + (typeof m.content === 'string' || typeof m.content === 'object' ? pyJson(m.content) : String(m.content ?? ''));
      out += closeTurn(i, rest.length);
    } else if (calls) {
      out += header('assistant') + toolCallJson(calls[0]) + closeTurn(i, rest.length);
    } else {
      out += header(m.role) + trim(contentText(m.content)) + closeTurn(i, rest.length);
    }
  });
  return addGenerationPrompt ? out + header('assistant') : out;
}
