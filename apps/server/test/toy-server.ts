// The bundled toy model (trained to answer "The secret code of the <key> is" with 7 digits and
// <|eos|>) behind a server on a free loopback port, and an OpenAI client for it.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { defaultModelDirectory } from '@duo-attn/core';
import {
  TOY_ANSWERS,
  TOY_CHAT_TEMPLATE,
  TOY_HAYSTACK,
  toyModelVariant,
  toyQuestion,
} from '@duo-attn/core/testing';
import { type LanguageModel, type LoadLanguageModelOptions, loadLanguageModel } from '@duo-attn/llm';
import OpenAI from 'openai';
import { createServer, type DuoServer, type ServerOptions } from '../src/index.js';

export const TOY = defaultModelDirectory();
export const HAYSTACK = TOY_HAYSTACK;
export const ANSWERS = TOY_ANSWERS;
export const question = toyQuestion;

/** A copy of the toy model whose tokenizer_config.json has a chat template (the toy ships none). */
export async function chattyToy(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const config = JSON.parse(await readFile(join(TOY, 'tokenizer_config.json'), 'utf8')) as Record<
    string,
    unknown
  >;
  return toyModelVariant({
    'tokenizer_config.json': JSON.stringify({ ...config, chat_template: TOY_CHAT_TEMPLATE }),
  });
}

export interface ToyServer {
  readonly model: LanguageModel;
  readonly server: DuoServer;
  readonly url: string;
  readonly client: OpenAI;
  close(): Promise<void>;
}

/** Starts a server for `modelDir` on 127.0.0.1 (a free port), with an OpenAI client for it. */
export async function startToyServer(
  modelDir: string,
  load: LoadLanguageModelOptions = {},
  options: Omit<ServerOptions, 'model'> = {},
): Promise<ToyServer> {
  const model = await loadLanguageModel(modelDir, { maxSequences: 2, ...load });
  const server = await createServer({ model, logger: false, modelId: 'toy', ...options });
  const url = await server.listen(0);
  const apiKey = options.apiKeys?.[0] ?? 'unused';
  const client = new OpenAI({ baseURL: `${url}/v1`, apiKey, maxRetries: 0, timeout: 600_000 });
  return {
    model,
    server,
    url,
    client,
    async close() {
      await server.close(1000);
      await model.dispose();
    },
  };
}
