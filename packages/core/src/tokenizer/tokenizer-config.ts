// Validates tokenizer_config.json and extracts what transformers takes from it (special tokens, BOS/EOS
// flags, extra added tokens, cleanup and chat template settings), so later steps need no guessing.

import { TokenizerError } from './tokenizer-error.js';
import type { JsonFile } from './tokenizer-files.js';

/** An added token as tokenizer.json and tokenizer_config.json describe one (minus the id). */
export interface AddedTokenSpec {
  readonly content: string;
  readonly special: boolean;
  readonly lstrip: boolean;
  readonly rstrip: boolean;
  readonly singleWord: boolean;
  readonly normalized: boolean;
}

/** Names of the special tokens transformers keeps in `special_tokens_map`, in its order. */
export const NAMED_SPECIAL_TOKENS = [
  'bos_token',
  'eos_token',
  'unk_token',
  'sep_token',
  'pad_token',
  'cls_token',
  'mask_token',
] as const;

/** One of {@link NAMED_SPECIAL_TOKENS}. */
export type NamedSpecialToken = (typeof NAMED_SPECIAL_TOKENS)[number];

/** Where the chat template comes from and what it is. */
export type ChatTemplateChoice =
  | { readonly kind: 'none' }
  | { readonly kind: 'template'; readonly source: string; readonly file: string }
  /** A list/map of named templates without a "default" one. */
  | { readonly kind: 'no-default'; readonly names: readonly string[]; readonly file: string };

/** What tokenizer_config.json says, validated. Everything is optional: the file itself is. */
export interface ResolvedTokenizerConfig {
  /** Named special tokens that are set (string or `{content}` in the file). */
  readonly specialTokens: ReadonlyMap<NamedSpecialToken, AddedTokenSpec>;
  /** `additional_special_tokens` / `extra_special_tokens`. */
  readonly extraSpecialTokens: readonly AddedTokenSpec[];
  /** `added_tokens_decoder`, sorted by id. */
  readonly addedTokensDecoder: readonly { readonly id: number; readonly token: AddedTokenSpec }[];
  /** True when `add_bos_token` or `add_eos_token` appears in the file (transformers then rebuilds the post-processor). */
  readonly explicitBosEos: boolean;
  readonly addBosToken: boolean;
  readonly addEosToken: boolean;
  /** `clean_up_tokenization_spaces` (transformers' default: false). */
  readonly cleanUpTokenizationSpaces: boolean;
  /** `clean_up_tokenization_spaces_for_bpe_even_though_it_will_corrupt_output` (default false). */
  readonly cleanUpForBpe: boolean;
  /** The chat template of tokenizer_config.json (chat_template.jinja is handled by the caller). */
  readonly chatTemplate: ChatTemplateChoice;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Reads `object[key]` as a boolean (absent or null: `fallback`); `context` prefixes the key in errors. */
function optionalBoolean(
  object: Record<string, unknown>,
  key: string,
  fallback: boolean,
  file: string,
  context = '',
): boolean {
  const value = object[key];
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'boolean') {
    throw new TokenizerError(
      'invalid-config',
      `${file}: ${context}"${key}" must be a boolean, got ${JSON.stringify(value)}`,
      { file },
    );
  }
  return value;
}

/**
 * Parses a token given as a string or as an AddedToken object (`{content, special, lstrip, ...}`).
 * `defaultSpecial` is what a bare string means.
 */
export function parseAddedTokenSpec(
  value: unknown,
  defaultSpecial: boolean,
  file: string,
  what: string,
): AddedTokenSpec {
  if (typeof value === 'string') {
    // transformers: AddedToken(content, special=True) has normalized = not special.
    return {
      content: value,
      special: defaultSpecial,
      lstrip: false,
      rstrip: false,
      singleWord: false,
      normalized: !defaultSpecial,
    };
  }
  if (isRecord(value) && typeof value.content === 'string') {
    const context = `${what}.`;
    const special = optionalBoolean(value, 'special', defaultSpecial, file, context);
    return {
      content: value.content,
      special,
      lstrip: optionalBoolean(value, 'lstrip', false, file, context),
      rstrip: optionalBoolean(value, 'rstrip', false, file, context),
      singleWord: optionalBoolean(value, 'single_word', false, file, context),
      normalized: optionalBoolean(value, 'normalized', !special, file, context),
    };
  }
  throw new TokenizerError(
    'invalid-config',
    `${file}: ${what} must be a string or an object with a string "content", got ${JSON.stringify(value)}`,
    { file },
  );
}

function parseExtraSpecialTokens(config: Record<string, unknown>, file: string): AddedTokenSpec[] {
  const tokens: AddedTokenSpec[] = [];
  for (const key of ['additional_special_tokens', 'extra_special_tokens']) {
    const value = config[key];
    if (value === undefined || value === null) continue;
    // transformers v5 accepts extra_special_tokens as a list or a {name: token} map.
    const items = Array.isArray(value) ? value : isRecord(value) ? Object.values(value) : undefined;
    if (items === undefined) {
      throw new TokenizerError('invalid-config', `${file}: "${key}" must be a list of tokens`, { file });
    }
    items.forEach((item, index) => {
      tokens.push(parseAddedTokenSpec(item, true, file, `"${key}"[${index}]`));
    });
  }
  return tokens;
}

function parseAddedTokensDecoder(
  config: Record<string, unknown>,
  file: string,
): { id: number; token: AddedTokenSpec }[] {
  const value = config.added_tokens_decoder;
  if (value === undefined || value === null) return [];
  if (!isRecord(value)) {
    throw new TokenizerError(
      'invalid-config',
      `${file}: "added_tokens_decoder" must be an object keyed by id`,
      {
        file,
      },
    );
  }
  const entries = Object.entries(value).map(([key, token]) => {
    const id = Number(key);
    if (!Number.isInteger(id) || id < 0 || String(id) !== key) {
      throw new TokenizerError(
        'invalid-config',
        `${file}: "added_tokens_decoder" key "${key}" is not a token id`,
        {
          file,
        },
      );
    }
    return { id, token: parseAddedTokenSpec(token, false, file, `"added_tokens_decoder"["${key}"]`) };
  });
  return entries.sort((a, b) => a.id - b.id);
}

/**
 * Picks the chat template of tokenizer_config.json: a string, or a list of `{name, template}`
 * (or a `{name: template}` map) from which transformers uses "default".
 */
export function selectConfigChatTemplate(value: unknown, file: string): ChatTemplateChoice {
  if (value === undefined || value === null) return { kind: 'none' };
  if (typeof value === 'string') return { kind: 'template', source: value, file };
  const named = new Map<string, string>();
  if (Array.isArray(value)) {
    value.forEach((item, index) => {
      if (!isRecord(item) || typeof item.name !== 'string' || typeof item.template !== 'string') {
        throw new TokenizerError(
          'invalid-config',
          `${file}: "chat_template"[${index}] must be an object with string "name" and "template"`,
          { file },
        );
      }
      named.set(item.name, item.template);
    });
  } else if (isRecord(value)) {
    for (const [name, template] of Object.entries(value)) {
      if (typeof template !== 'string') {
        throw new TokenizerError('invalid-config', `${file}: "chat_template"["${name}"] must be a string`, {
          file,
        });
      }
      named.set(name, template);
    }
  } else {
    throw new TokenizerError(
      'invalid-config',
      `${file}: "chat_template" must be a string or a list of templates`,
      {
        file,
      },
    );
  }
  const chosen = named.get('default');
  if (chosen !== undefined) return { kind: 'template', source: chosen, file };
  return { kind: 'no-default', names: [...named.keys()], file };
}

/** Validates tokenizer_config.json (or its absence) into a {@link ResolvedTokenizerConfig}. */
export function resolveTokenizerConfig(file: JsonFile | undefined): ResolvedTokenizerConfig {
  const config = file?.value ?? {};
  const path = file?.path ?? 'tokenizer_config.json';
  const specialTokens = new Map<NamedSpecialToken, AddedTokenSpec>();
  for (const name of NAMED_SPECIAL_TOKENS) {
    const value = config[name];
    if (value === undefined || value === null) continue;
    specialTokens.set(name, parseAddedTokenSpec(value, true, path, `"${name}"`));
  }
  return {
    specialTokens,
    extraSpecialTokens: parseExtraSpecialTokens(config, path),
    addedTokensDecoder: parseAddedTokensDecoder(config, path),
    explicitBosEos: 'add_bos_token' in config || 'add_eos_token' in config,
    addBosToken: optionalBoolean(config, 'add_bos_token', false, path),
    addEosToken: optionalBoolean(config, 'add_eos_token', false, path),
    cleanUpTokenizationSpaces: optionalBoolean(config, 'clean_up_tokenization_spaces', false, path),
    cleanUpForBpe: optionalBoolean(
      config,
      'clean_up_tokenization_spaces_for_bpe_even_though_it_will_corrupt_output',
      false,
      path,
    ),
    chatTemplate: selectConfigChatTemplate(config.chat_template, path),
  };
}
