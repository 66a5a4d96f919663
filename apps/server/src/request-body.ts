// The fields of /v1/completions and /v1/chat/completions bodies this server honours, checked with
// OpenAI-style errors that name the field (`param`), and turned into the library's generation
// options. Fields that change the answer but are not implemented (n > 1, logprobs, echo, penalties)
// are refused rather than silently ignored.
import type { ChatMessage } from '@duo-attn/core';
import type { GenerationOptions } from '@duo-attn/llm';
import { invalidRequest, OpenAiHttpError } from './openai-error.js';

/** What a completion request asks for, whatever its endpoint. */
export interface CompletionRequest {
  /** `model` as sent (checked against the served model's id by the route). */
  readonly model: string | undefined;
  /** Text or token ids (completions) or messages (chat). */
  readonly prompt:
    | { readonly text: string }
    | { readonly ids: readonly number[] }
    | { readonly messages: readonly ChatMessage[] };
  /** Tokens to generate at most; undefined: the endpoint's default. */
  readonly maxTokens: number | undefined;
  readonly stream: boolean;
  readonly includeUsage: boolean;
  readonly stop: readonly string[];
  /** Generation options without maxNewTokens and signal (the route sets those). */
  readonly options: Omit<GenerationOptions, 'maxNewTokens' | 'signal'>;
}

type Body = Record<string, unknown>;

/** Parses a /v1/completions body. */
export function parseCompletionBody(body: unknown): CompletionRequest {
  const b = object(body);
  const prompt = b.prompt;
  let parsed: CompletionRequest['prompt'];
  if (typeof prompt === 'string') parsed = { text: prompt };
  else if (Array.isArray(prompt) && prompt.length === 1 && typeof prompt[0] === 'string')
    parsed = { text: prompt[0] };
  else if (
    Array.isArray(prompt) &&
    prompt.length > 0 &&
    prompt.every((id) => Number.isSafeInteger(id) && id >= 0)
  ) {
    parsed = { ids: prompt as number[] };
  } else if (Array.isArray(prompt) && prompt.length > 1) {
    throw invalidRequest('only one prompt per request is supported (send several requests)', 'prompt');
  } else {
    throw invalidRequest(
      'prompt must be a string, an array of one string, or an array of token ids',
      'prompt',
    );
  }
  if (b.echo === true) throw invalidRequest('echo is not supported', 'echo');
  if (b.suffix !== undefined && b.suffix !== null) throw invalidRequest('suffix is not supported', 'suffix');
  if (b.best_of !== undefined && b.best_of !== null && b.best_of !== 1) {
    throw invalidRequest('best_of other than 1 is not supported', 'best_of');
  }
  return common(b, parsed, integerField(b, 'max_tokens'));
}

/** Parses a /v1/chat/completions body. */
export function parseChatBody(body: unknown): CompletionRequest {
  const b = object(body);
  if (!Array.isArray(b.messages) || b.messages.length === 0) {
    throw invalidRequest('messages must be a non-empty array', 'messages');
  }
  const messages = b.messages.map((message, i) => chatMessage(message, i));
  if (b.tools !== undefined && b.tools !== null) throw invalidRequest('tools are not supported', 'tools');
  if (b.response_format !== undefined && b.response_format !== null) {
    const type = (b.response_format as Body)?.type;
    if (type !== 'text')
      throw invalidRequest('only response_format { type: "text" } is supported', 'response_format');
  }
  const maxCompletion = integerField(b, 'max_completion_tokens');
  return common(b, { messages }, maxCompletion ?? integerField(b, 'max_tokens'));
}

function common(
  b: Body,
  prompt: CompletionRequest['prompt'],
  maxTokens: number | undefined,
): CompletionRequest {
  if (maxTokens !== undefined && maxTokens < 1) throw invalidRequest('max_tokens must be >= 1', 'max_tokens');
  if (b.model !== undefined && typeof b.model !== 'string')
    throw invalidRequest('model must be a string', 'model');
  const n = integerField(b, 'n');
  if (n !== undefined && n !== 1) throw invalidRequest('n other than 1 is not supported', 'n');
  if (b.logprobs !== undefined && b.logprobs !== null && b.logprobs !== false) {
    throw invalidRequest('logprobs are not supported', 'logprobs');
  }
  for (const name of ['presence_penalty', 'frequency_penalty']) {
    const value = numberField(b, name);
    if (value !== undefined && value !== 0) throw invalidRequest(`${name} is not supported (only 0)`, name);
  }
  if (
    b.logit_bias !== undefined &&
    b.logit_bias !== null &&
    Object.keys(object(b.logit_bias, 'logit_bias')).length > 0
  ) {
    throw invalidRequest('logit_bias is not supported', 'logit_bias');
  }
  const temperature = numberField(b, 'temperature');
  if (temperature !== undefined && !(temperature >= 0 && temperature <= 2)) {
    throw invalidRequest('temperature must be in [0, 2]', 'temperature');
  }
  const topP = numberField(b, 'top_p');
  if (topP !== undefined && !(topP > 0 && topP <= 1))
    throw invalidRequest('top_p must be in (0, 1]', 'top_p');
  const seed = integerField(b, 'seed');
  if (seed !== undefined && seed < 0) throw invalidRequest('seed must be >= 0', 'seed');
  const stream = booleanField(b, 'stream') ?? false;
  let includeUsage = false;
  if (b.stream_options !== undefined && b.stream_options !== null) {
    if (!stream) throw invalidRequest('stream_options is only allowed with stream: true', 'stream_options');
    includeUsage =
      booleanField(
        object(b.stream_options, 'stream_options'),
        'include_usage',
        'stream_options.include_usage',
      ) ?? false;
  }
  const stop = stopField(b.stop);
  // vLLM's extension, for benchmarks that need a fixed number of tokens.
  const ignoreEos = booleanField(b, 'ignore_eos') ?? false;
  // temperature 0 is greedy decoding; unset fields follow the model's generation_config.json.
  const options: CompletionRequest['options'] = {
    ...(temperature === 0 ? { greedy: true } : temperature !== undefined ? { temperature } : {}),
    ...(topP !== undefined && topP !== 1 ? { topP } : {}),
    ...(seed !== undefined ? { seed } : {}),
    ...(stop.length > 0 ? { stopStrings: stop } : {}),
    ...(ignoreEos ? { ignoreEos } : {}),
  };
  return {
    model: b.model as string | undefined,
    prompt,
    maxTokens,
    stream,
    includeUsage,
    stop,
    options,
  };
}

function chatMessage(value: unknown, i: number): ChatMessage {
  const param = `messages[${i}]`;
  const message = object(value, param);
  const role = message.role;
  if (role !== 'system' && role !== 'user' && role !== 'assistant' && role !== 'developer') {
    throw invalidRequest(`${param}.role must be system, developer, user or assistant`, `${param}.role`);
  }
  let content: string;
  if (typeof message.content === 'string') content = message.content;
  else if (Array.isArray(message.content)) {
    // The content-parts form: only text parts can be served by a text model.
    content = message.content
      .map((part, j) => {
        const p = object(part, `${param}.content[${j}]`);
        if (p.type !== 'text' || typeof p.text !== 'string') {
          throw invalidRequest('only text content parts are supported', `${param}.content[${j}]`);
        }
        return p.text;
      })
      .join('');
  } else {
    throw invalidRequest(`${param}.content must be a string or an array of text parts`, `${param}.content`);
  }
  // 'developer' is OpenAI's newer name for the system role.
  return { role: role === 'developer' ? 'system' : role, content };
}

function stopField(value: unknown): string[] {
  if (value === undefined || value === null) return [];
  const list = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(list) || list.length > 4 || !list.every((s) => typeof s === 'string' && s.length > 0)) {
    throw invalidRequest('stop must be a non-empty string or an array of at most 4 of them', 'stop');
  }
  return list;
}

function object(value: unknown, param: string | null = null): Body {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw param === null
      ? new OpenAiHttpError(400, 'invalid_request_error', 'the request body must be a JSON object')
      : invalidRequest(`${param} must be an object`, param);
  }
  return value as Body;
}

function numberField(b: Body, name: string): number | undefined {
  const value = b[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value))
    throw invalidRequest(`${name} must be a number`, name);
  return value;
}

function integerField(b: Body, name: string): number | undefined {
  const value = numberField(b, name);
  if (value !== undefined && !Number.isSafeInteger(value))
    throw invalidRequest(`${name} must be an integer`, name);
  return value;
}

function booleanField(b: Body, name: string, param = name): boolean | undefined {
  const value = b[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean') throw invalidRequest(`${param} must be a boolean`, param);
  return value;
}
