// Renders OpenAI chat messages into the prompt text the model sees, so prompt token counts include the template's
// overhead as on a real server. The template is Llama-3's (header and end-of-turn special tokens, generation prompt
// for the assistant); tools, when given, are rendered as JSON in a system preamble.

export interface ChatMessage {
  role: string;
  content?: unknown;
  name?: unknown;
  tool_calls?: unknown;
  tool_call_id?: unknown;
}

/** Text of a message's content: a string, or the text parts of an array of content parts. */
export function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    let out = '';
    for (const part of content) {
      if (part && typeof part === 'object') {
        const p = part as { type?: unknown; text?: unknown };
        if ((p.type === 'text' || p.type === 'input_text') && typeof p.text === 'string') out += p.text;
      }
    }
    return out;
  }
  return '';
}

export function renderChatPrompt(messages: readonly ChatMessage[], tools?: unknown): string {
  let out = '<|begin_of_text|>';
  if (Array.isArray(tools) && tools.length > 0) {
    out += '<|start_header_id|>system<|end_header_id|>\n\nYou can call these tools:\n' + JSON.stringify(tools) + '<|eot_id|>';
  }
  for (const m of messages) {
    out += '<|start_header_id|>' + m.role + '<|end_header_id|>\n\n' + contentText(m.content);
    if (m.tool_calls !== undefined && m.tool_calls !== null) out += JSON.stringify(m.tool_calls);
    out += '<|eot_id|>';
  }
  return out + '<|start_header_id|>assistant<|end_header_id|>\n\n';
}
