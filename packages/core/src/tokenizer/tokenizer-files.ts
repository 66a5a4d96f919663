// Reads the files of an HF tokenizer directory, turning every I/O or JSON problem into a
// TokenizerError that names the file, so the rest of the tokenizer code works on parsed objects only.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TokenizerError } from './tokenizer-error.js';

/** A parsed JSON object and the path it came from. */
export interface JsonFile {
  readonly path: string;
  readonly value: Readonly<Record<string, unknown>>;
}

/** The raw contents of a tokenizer directory. */
export interface TokenizerFiles {
  readonly dir: string;
  /** `tokenizer.json` (required). */
  readonly tokenizer: JsonFile;
  /** `tokenizer_config.json`, when present. */
  readonly config: JsonFile | undefined;
  /** `chat_template.jinja`, when present. */
  readonly chatTemplate: { readonly path: string; readonly source: string } | undefined;
  /** `generation_config.json`, when present (it may list extra end-of-sequence ids). */
  readonly generationConfig: JsonFile | undefined;
}

/** File names transformers uses in a tokenizer directory. */
export const TOKENIZER_FILE_NAMES = {
  tokenizer: 'tokenizer.json',
  config: 'tokenizer_config.json',
  chatTemplate: 'chat_template.jinja',
  generationConfig: 'generation_config.json',
} as const;

/** Reads a text file; `undefined` when it does not exist. Other read errors are typed. */
async function readOptionalText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new TokenizerError('invalid-json', `cannot read ${path}: ${(error as Error).message}`, {
      file: path,
      cause: error,
    });
  }
}

/** Parses `text` as a JSON object, naming `path` when it is not one. */
export function parseJsonObject(text: string, path: string): Readonly<Record<string, unknown>> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new TokenizerError('invalid-json', `${path} is not valid JSON: ${(error as Error).message}`, {
      file: path,
      cause: error,
    });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TokenizerError('invalid-json', `${path} must hold a JSON object at the top level`, {
      file: path,
    });
  }
  return value as Record<string, unknown>;
}

async function readOptionalJson(path: string): Promise<JsonFile | undefined> {
  const text = await readOptionalText(path);
  return text === undefined ? undefined : { path, value: parseJsonObject(text, path) };
}

/**
 * Reads `tokenizer.json` (required), and `tokenizer_config.json`, `chat_template.jinja` and
 * `generation_config.json` (each optional) from `dir`.
 */
export async function readTokenizerFiles(dir: string): Promise<TokenizerFiles> {
  const tokenizerPath = join(dir, TOKENIZER_FILE_NAMES.tokenizer);
  const tokenizerText = await readOptionalText(tokenizerPath);
  if (tokenizerText === undefined) {
    throw new TokenizerError(
      'missing-file',
      `${tokenizerPath} not found: a tokenizer directory needs a tokenizer.json (HF tokenizers format)`,
      { file: tokenizerPath },
    );
  }
  const tokenizer = { path: tokenizerPath, value: parseJsonObject(tokenizerText, tokenizerPath) };
  const [config, chatTemplateSource, generationConfig] = await Promise.all([
    readOptionalJson(join(dir, TOKENIZER_FILE_NAMES.config)),
    readOptionalText(join(dir, TOKENIZER_FILE_NAMES.chatTemplate)),
    readOptionalJson(join(dir, TOKENIZER_FILE_NAMES.generationConfig)),
  ]);
  const chatTemplatePath = join(dir, TOKENIZER_FILE_NAMES.chatTemplate);
  return {
    dir,
    tokenizer,
    config,
    chatTemplate:
      chatTemplateSource === undefined ? undefined : { path: chatTemplatePath, source: chatTemplateSource },
    generationConfig,
  };
}
