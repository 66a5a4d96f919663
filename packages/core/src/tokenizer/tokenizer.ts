// The tokenizer the engine uses: HF tokenizer files run by @huggingface/tokenizers (ids identical to
// Python `tokenizers`), with the transformers behaviours on top that ids and chat prompts depend on.

import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { ChatTemplate } from './chat-template.js';
import { type DecodeStream, WindowedDecodeStream } from './decode-stream.js';
import { prepareTokenizerJson, type SupportedModelType } from './prepare-tokenizer-json.js';
import {
  NAMED_SPECIAL_TOKENS,
  type ResolvedTokenizerConfig,
  resolveTokenizerConfig,
} from './tokenizer-config.js';
import { TokenizerError } from './tokenizer-error.js';
import { type JsonFile, readTokenizerFiles, type TokenizerFiles } from './tokenizer-files.js';

export type { DecodeStream } from './decode-stream.js';

/** One chat turn, as chat templates expect it. */
export interface ChatMessage {
  role: string;
  content: string;
}

/** Text <-> token ids for one model, with its chat template. */
export interface Tokenizer {
  /** Largest token id + 1, added tokens included (HF `len(tokenizer)` for contiguous ids). */
  readonly vocabSize: number;
  /** Id of `bos_token`, when the tokenizer has one. */
  readonly bosTokenId?: number;
  /**
   * Ids that end generation: `eos_token`, then those of generation_config.json's `eos_token_id`
   * (when that file is in the directory), without duplicates.
   */
  readonly eosTokenIds: readonly number[];
  /**
   * Whether `encode(text)` (special tokens on) starts with BOS. Equal to transformers' effective
   * behaviour: tokenizer_config's `add_bos_token` when set there (which rebuilds the post-processor,
   * as transformers does), otherwise whatever tokenizer.json's post-processor does.
   */
  readonly addBosToken: boolean;
  /** Whether {@link applyChatTemplate} can work. */
  readonly hasChatTemplate: boolean;
  /**
   * Text to ids. `addSpecialTokens` (default true, like HF) runs the post-processor (BOS/EOS);
   * special tokens written in `text` are always matched as single tokens. Characters the vocabulary
   * cannot represent are dropped when the model has no unknown token (as HF `tokenizers` does).
   */
  encode(text: string, options?: { addSpecialTokens?: boolean }): number[];
  /** Ids to text. Throws {@link TokenizerError} (`token-id`) for an id outside the vocabulary. */
  decode(ids: readonly number[], options?: { skipSpecialTokens?: boolean }): string;
  /**
   * Renders the chat template, as transformers' `apply_chat_template(tokenize=False)`. Encode the
   * result with `addSpecialTokens: false`, as transformers does: templates write BOS themselves.
   */
  applyChatTemplate(messages: readonly ChatMessage[], options?: { addGenerationPrompt?: boolean }): string;
  /** Token string of an id (byte-level tokens in their mapped form), or undefined. */
  idToToken(id: number): string | undefined;
  /** Id of a token string, or undefined. */
  tokenToId(token: string): number | undefined;
  /** True for added tokens marked special (those `skipSpecialTokens` drops). */
  isSpecialToken(id: number): boolean;
  /** Starts incremental decoding for streaming output. */
  createDecodeStream(options?: { skipSpecialTokens?: boolean }): DecodeStream;
}

/** Collects generation_config.json's `eos_token_id` (a number or a list of numbers). */
function generationEosIds(file: JsonFile | undefined): number[] {
  if (file === undefined) return [];
  const value = file.value.eos_token_id;
  if (value === undefined || value === null) return [];
  const ids = Array.isArray(value) ? value : [value];
  for (const id of ids) {
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0) {
      throw new TokenizerError(
        'invalid-config',
        `${file.path}: "eos_token_id" must be a token id or a list of them, got ${JSON.stringify(value)}`,
        { file: file.path },
      );
    }
  }
  return ids as number[];
}

/** transformers' `clean_up_tokenization`: drops the space WordPiece decoding puts before punctuation. */
function cleanUpTokenization(text: string): string {
  return text
    .replaceAll(' .', '.')
    .replaceAll(' ?', '?')
    .replaceAll(' !', '!')
    .replaceAll(' ,', ',')
    .replaceAll(" ' ", "'")
    .replaceAll(" n't", "n't")
    .replaceAll(" 'm", "'m")
    .replaceAll(" 's", "'s")
    .replaceAll(" 've", "'ve")
    .replaceAll(" 're", "'re");
}

class LoadedTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly bosTokenId?: number;
  readonly eosTokenIds: readonly number[];
  readonly addBosToken: boolean;
  readonly hasChatTemplate: boolean;
  private readonly backend: HfTokenizer;
  private readonly tokenizerPath: string;
  private readonly specialIds: ReadonlySet<number>;
  private readonly cleanUp: boolean;
  private readonly chatTemplate: ChatTemplate | undefined;
  private readonly noTemplateReason: string;
  private readonly templateTokens: Readonly<Record<string, string>>;

  constructor(files: TokenizerFiles) {
    const config: ResolvedTokenizerConfig = resolveTokenizerConfig(files.config);
    const prepared = prepareTokenizerJson(files.tokenizer, config);
    this.tokenizerPath = files.tokenizer.path;
    const named = (name: (typeof NAMED_SPECIAL_TOKENS)[number]) => config.specialTokens.get(name)?.content;
    try {
      // Cleanup is applied here (transformers' rule), so the backend must not do its own.
      this.backend = new HfTokenizer(prepared.json, {
        clean_up_tokenization_spaces: false,
        bos_token: named('bos_token'),
        eos_token: named('eos_token'),
        unk_token: named('unk_token'),
        pad_token: named('pad_token'),
      });
    } catch (error) {
      throw new TokenizerError(
        'unsupported',
        `${files.tokenizer.path}: @huggingface/tokenizers cannot build this tokenizer: ${(error as Error).message}`,
        { file: files.tokenizer.path, cause: error },
      );
    }
    this.vocabSize = prepared.vocabSize;
    this.specialIds = new Set([...prepared.addedTokens.values()].filter((t) => t.special).map((t) => t.id));
    this.cleanUp = config.cleanUpTokenizationSpaces && (prepared.modelType !== 'BPE' || config.cleanUpForBpe);

    const bos = named('bos_token');
    const bosId = bos === undefined ? undefined : prepared.idOf(bos);
    if (bosId !== undefined) this.bosTokenId = bosId;
    const eos = named('eos_token');
    const eosId = eos === undefined ? undefined : prepared.idOf(eos);
    this.eosTokenIds = [
      ...new Set([...(eosId === undefined ? [] : [eosId]), ...generationEosIds(files.generationConfig)]),
    ];
    const probe = this.encode('', { addSpecialTokens: true });
    this.addBosToken = bosId !== undefined && probe[0] === bosId;

    const templateTokens: Record<string, string> = {};
    for (const name of NAMED_SPECIAL_TOKENS) {
      const content = named(name);
      if (content !== undefined) templateTokens[name] = content;
    }
    this.templateTokens = templateTokens;
    // chat_template.jinja wins over tokenizer_config.json's chat_template, as in transformers.
    const choice = config.chatTemplate;
    if (files.chatTemplate !== undefined) {
      this.chatTemplate = new ChatTemplate(files.chatTemplate.source, files.chatTemplate.path);
    } else if (choice.kind === 'template') {
      this.chatTemplate = new ChatTemplate(choice.source, choice.file);
    }
    this.hasChatTemplate = this.chatTemplate !== undefined;
    this.noTemplateReason =
      choice.kind === 'no-default'
        ? `${choice.file} has named chat templates (${choice.names.join(', ')}) but none called "default"`
        : `the tokenizer in ${files.dir} has no chat template (no chat_template.jinja, and no "chat_template" ` +
          `in tokenizer_config.json); use plain encode() for base models`;
  }

  encode(text: string, options?: { addSpecialTokens?: boolean }): number[] {
    const encoding = this.backend.encode(text, { add_special_tokens: options?.addSpecialTokens ?? true });
    // A BPE model without an unknown token yields `undefined` for bytes it cannot represent;
    // HF `tokenizers` drops those.
    return (encoding.ids as (number | undefined)[]).filter((id): id is number => id !== undefined);
  }

  decode(ids: readonly number[], options?: { skipSpecialTokens?: boolean }): string {
    if (ids.length === 0) return '';
    for (const id of ids) this.checkId(id);
    const text = this.backend.decode([...ids], {
      skip_special_tokens: options?.skipSpecialTokens ?? false,
      clean_up_tokenization_spaces: false,
    });
    return this.cleanUp ? cleanUpTokenization(text) : text;
  }

  applyChatTemplate(messages: readonly ChatMessage[], options?: { addGenerationPrompt?: boolean }): string {
    if (this.chatTemplate === undefined) {
      throw new TokenizerError('no-chat-template', `cannot apply a chat template: ${this.noTemplateReason}`);
    }
    return this.chatTemplate.render({
      messages: messages.map((message) => ({ ...message })),
      tools: null,
      documents: null,
      add_generation_prompt: options?.addGenerationPrompt ?? false,
      ...this.templateTokens,
    });
  }

  idToToken(id: number): string | undefined {
    if (!Number.isInteger(id) || id < 0) return undefined;
    return this.backend.id_to_token(id);
  }

  tokenToId(token: string): number | undefined {
    return this.backend.token_to_id(token);
  }

  isSpecialToken(id: number): boolean {
    return this.specialIds.has(id);
  }

  createDecodeStream(options?: { skipSpecialTokens?: boolean }): DecodeStream {
    return new WindowedDecodeStream((ids) => this.decode(ids, options));
  }

  private checkId(id: number): void {
    if (
      !Number.isInteger(id) ||
      id < 0 ||
      id >= this.vocabSize ||
      this.backend.id_to_token(id) === undefined
    ) {
      throw new TokenizerError(
        'token-id',
        `token id ${id} is not in the vocabulary of ${this.tokenizerPath} (vocab size ${this.vocabSize})`,
        { file: this.tokenizerPath },
      );
    }
  }
}

/** Model types {@link loadTokenizer} accepts in tokenizer.json. */
export type TokenizerModelType = SupportedModelType;

/**
 * Loads the tokenizer of an HF model directory: tokenizer.json (required), tokenizer_config.json,
 * chat_template.jinja and generation_config.json (optional). Throws {@link TokenizerError} naming the
 * file for a missing tokenizer.json, invalid JSON, malformed fields or an unsupported model type.
 */
export async function loadTokenizer(dir: string): Promise<Tokenizer> {
  return new LoadedTokenizer(await readTokenizerFiles(dir));
}
