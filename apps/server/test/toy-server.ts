// The bundled toy model (trained to answer "The secret code of the <key> is" with 7 digits and
// <|eos|>) behind a server on a free loopback port, and an OpenAI client for it.
import { copyFile, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultModelDirectory } from '@duo-attn/core';
import { type LanguageModel, type LoadLanguageModelOptions, loadLanguageModel } from '@duo-attn/llm';
import OpenAI from 'openai';
import { createServer, type DuoServer, type ServerOptions } from '../src/index.js';

export const TOY = defaultModelDirectory();

export const HAYSTACK =
  'The river runs past the old mill. The secret code of the silver lantern is 4512876. Farmers bring ' +
  'grain every autumn and the wheel turns slowly. The secret code of the frozen harbor is 9031245. ' +
  'Children play by the water until dusk.';
export const ANSWERS = { 'silver lantern': ' 4512876.', 'frozen harbor': ' 9031245.' } as const;

export function question(key: keyof typeof ANSWERS): string {
  return `\n\nQuestion: What is the secret code of the ${key}?\nAnswer: The secret code of the ${key} is`;
}

/** A chat template for the toy (it has none): BOS, then the messages' text. */
const CHAT_TEMPLATE =
  "{{ bos_token }}{% for m in messages %}{{ m.content }}{% if m.role == 'assistant' %}{{ eos_token }}{% endif %}{% endfor %}";

/** A copy of the toy model whose tokenizer_config.json has {@link CHAT_TEMPLATE}. */
export async function chattyToy(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'duo-server-toy-'));
  for (const name of await readdir(TOY)) {
    if (name === 'pattern' || name === 'tokenizer_config.json') continue;
    if (name === 'model.safetensors') await symlink(join(TOY, name), join(dir, name));
    else await copyFile(join(TOY, name), join(dir, name));
  }
  const config = JSON.parse(await readFile(join(TOY, 'tokenizer_config.json'), 'utf8')) as Record<
    string,
    unknown
  >;
  await writeFile(
    join(dir, 'tokenizer_config.json'),
    JSON.stringify({ ...config, chat_template: CHAT_TEMPLATE }),
  );
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
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
