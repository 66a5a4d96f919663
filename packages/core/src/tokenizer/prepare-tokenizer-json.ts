// Turns tokenizer.json + the resolved tokenizer_config into the single object @huggingface/tokenizers
// runs, applying what transformers applies on load: the config's added and special tokens join the
// added vocabulary, and explicit add_bos_token / add_eos_token rebuild the post-processor.

import type { AddedTokenSpec, ResolvedTokenizerConfig } from './tokenizer-config.js';
import { TokenizerError } from './tokenizer-error.js';
import type { JsonFile } from './tokenizer-files.js';

/** Model types `@huggingface/tokenizers` 0.2 implements the way HF `tokenizers` does. */
export const SUPPORTED_MODEL_TYPES = ['BPE', 'WordPiece', 'Unigram'] as const;

/** One of {@link SUPPORTED_MODEL_TYPES}. */
export type SupportedModelType = (typeof SUPPORTED_MODEL_TYPES)[number];

/** An added token with its id, in tokenizer.json's `added_tokens` shape. */
export interface AddedTokenJson {
  readonly id: number;
  readonly content: string;
  readonly single_word: boolean;
  readonly lstrip: boolean;
  readonly rstrip: boolean;
  readonly normalized: boolean;
  readonly special: boolean;
}

/** The object to hand to `new Tokenizer(json, config)` plus facts read on the way. */
export interface PreparedTokenizerJson {
  /** A copy of tokenizer.json with the final `added_tokens` and `post_processor`. */
  readonly json: Record<string, unknown>;
  readonly modelType: SupportedModelType;
  /** Final added tokens (tokenizer.json's plus the config's), by id. */
  readonly addedTokens: ReadonlyMap<number, AddedTokenJson>;
  /** Largest id + 1 over the model vocabulary and the added tokens. */
  readonly vocabSize: number;
  /** Id of a token string in the model vocabulary or the added tokens. */
  readonly idOf: (content: string) => number | undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Maps each token of the model vocabulary to its id. */
function modelVocabulary(
  model: Record<string, unknown>,
  type: SupportedModelType,
  file: string,
): Map<string, number> {
  const vocab = new Map<string, number>();
  if (type === 'Unigram') {
    if (!Array.isArray(model.vocab)) {
      throw new TokenizerError('invalid-config', `${file}: "model.vocab" of a Unigram model must be a list`, {
        file,
      });
    }
    model.vocab.forEach((entry: unknown, id) => {
      if (!Array.isArray(entry) || typeof entry[0] !== 'string') {
        throw new TokenizerError('invalid-config', `${file}: "model.vocab"[${id}] must be [piece, score]`, {
          file,
        });
      }
      if (!vocab.has(entry[0])) vocab.set(entry[0], id);
    });
    return vocab;
  }
  if (!isRecord(model.vocab)) {
    throw new TokenizerError(
      'invalid-config',
      `${file}: "model.vocab" of a ${type} model must be an object`,
      {
        file,
      },
    );
  }
  for (const [token, id] of Object.entries(model.vocab)) {
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0) {
      throw new TokenizerError(
        'invalid-config',
        `${file}: "model.vocab"[${JSON.stringify(token)}] is not a token id`,
        {
          file,
        },
      );
    }
    vocab.set(token, id);
  }
  return vocab;
}

function parseAddedTokens(value: unknown, file: string): AddedTokenJson[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) {
    throw new TokenizerError('invalid-config', `${file}: "added_tokens" must be a list`, { file });
  }
  return value.map((item: unknown, index) => {
    if (
      !isRecord(item) ||
      typeof item.content !== 'string' ||
      typeof item.id !== 'number' ||
      !Number.isInteger(item.id) ||
      item.id < 0
    ) {
      throw new TokenizerError(
        'invalid-config',
        `${file}: "added_tokens"[${index}] must have an integer "id" and a string "content"`,
        { file },
      );
    }
    const special = item.special === true;
    return {
      id: item.id,
      content: item.content,
      single_word: item.single_word === true,
      lstrip: item.lstrip === true,
      rstrip: item.rstrip === true,
      normalized: typeof item.normalized === 'boolean' ? item.normalized : !special,
      special,
    };
  });
}

function toJson(id: number, spec: AddedTokenSpec): AddedTokenJson {
  return {
    id,
    content: spec.content,
    single_word: spec.singleWord,
    lstrip: spec.lstrip,
    rstrip: spec.rstrip,
    normalized: spec.normalized,
    special: spec.special,
  };
}

/** The post-processor transformers installs for explicit `add_bos_token` / `add_eos_token`. */
function bosEosTemplate(
  bos: { content: string; id: number } | undefined,
  eos: { content: string; id: number } | undefined,
): Record<string, unknown> {
  const special = (content: string, typeId: number) => ({ SpecialToken: { id: content, type_id: typeId } });
  const sequence = (id: 'A' | 'B', typeId: number) => ({ Sequence: { id, type_id: typeId } });
  const around = (id: 'A' | 'B', typeId: number) => [
    ...(bos ? [special(bos.content, typeId)] : []),
    sequence(id, typeId),
    ...(eos ? [special(eos.content, typeId)] : []),
  ];
  const specialTokens: Record<string, unknown> = {};
  for (const token of [bos, eos]) {
    if (token) specialTokens[token.content] = { id: token.content, ids: [token.id], tokens: [token.content] };
  }
  return {
    type: 'TemplateProcessing',
    single: around('A', 0),
    pair: [...around('A', 0), ...around('B', 1)],
    special_tokens: specialTokens,
  };
}

/**
 * Validates tokenizer.json and merges tokenizer_config's tokens and BOS/EOS settings into a copy.
 * Throws {@link TokenizerError} naming the file for malformed or unsupported content.
 */
export function prepareTokenizerJson(file: JsonFile, config: ResolvedTokenizerConfig): PreparedTokenizerJson {
  const path = file.path;
  const source = file.value;
  const model = source.model;
  if (!isRecord(model)) {
    throw new TokenizerError('invalid-config', `${path}: "model" must be an object`, { file: path });
  }
  const type = model.type;
  if (!SUPPORTED_MODEL_TYPES.includes(type as SupportedModelType)) {
    throw new TokenizerError(
      'unsupported',
      `${path}: tokenizer model type ${JSON.stringify(type ?? null)} is not supported ` +
        `(supported: ${SUPPORTED_MODEL_TYPES.join(', ')})`,
      { file: path },
    );
  }
  const modelType = type as SupportedModelType;
  const vocab = modelVocabulary(model, modelType, path);

  const added = new Map<string, AddedTokenJson>();
  for (const token of parseAddedTokens(source.added_tokens, path)) added.set(token.content, token);
  let nextId = 0;
  for (const id of vocab.values()) nextId = Math.max(nextId, id + 1);
  for (const token of added.values()) nextId = Math.max(nextId, token.id + 1);
  const idOf = (content: string) => added.get(content)?.id ?? vocab.get(content);

  // transformers adds (or, when present, re-flags) added_tokens_decoder entries, then named and
  // extra special tokens missing from the added vocabulary; the backend keeps existing ids.
  const addToken = (spec: AddedTokenSpec, replaceFlags: boolean) => {
    const existing = added.get(spec.content);
    if (existing !== undefined && !replaceFlags) return;
    let id = idOf(spec.content);
    if (id === undefined) id = nextId++;
    added.set(spec.content, toJson(id, spec));
  };
  for (const { token } of config.addedTokensDecoder) addToken(token, true);
  for (const spec of config.specialTokens.values()) addToken(spec, false);
  for (const spec of config.extraSpecialTokens) addToken(spec, false);

  let postProcessor = source.post_processor ?? null;
  if (config.explicitBosEos) {
    const resolve = (name: 'bos_token' | 'eos_token', wanted: boolean) => {
      const content = config.specialTokens.get(name)?.content;
      const id = content === undefined ? undefined : idOf(content);
      return wanted && content !== undefined && id !== undefined ? { content, id } : undefined;
    };
    postProcessor = bosEosTemplate(
      resolve('bos_token', config.addBosToken),
      resolve('eos_token', config.addEosToken),
    );
  }

  const addedTokens = new Map<number, AddedTokenJson>();
  for (const token of added.values()) addedTokens.set(token.id, token);
  const json: Record<string, unknown> = {
    ...source,
    normalizer: source.normalizer ?? null,
    pre_tokenizer: source.pre_tokenizer ?? null,
    decoder: source.decoder ?? null,
    post_processor: postProcessor,
    added_tokens: [...addedTokens.values()].sort((a, b) => a.id - b.id),
  };
  return { json, modelType, addedTokens, vocabSize: nextId, idOf };
}
