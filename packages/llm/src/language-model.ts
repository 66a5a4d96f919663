// The entry point: a model directory loaded onto a backend under a KV-cache policy, with its
// tokenizer and decoding defaults, ready to generate, stream and chat. One object owns the
// executor; each generation holds one of its sequences (maxSequences, default 1) for its run, and
// generations beyond that wait; dispose() (or `await using`) frees it.
import {
  type Backend,
  BatchingExecutor,
  type BatchingStats,
  type ChatMessage,
  canBatchDecode,
  type Executor,
  endOfSequenceIds,
  fullPolicy,
  type GeneratedToken,
  type GenerateResult,
  type GenerationDefaults,
  generate,
  generationDefaults,
  type KvCachePolicy,
  type LoadedModel,
  loadModel,
  loadTokenizer,
  type MemoryReport,
  type ModelConfig,
  policyForBackend,
  resolveBackend,
  type Tokenizer,
  TokenizerError,
} from '@duo-attn/core';
import { hasQuantizationConfig, loadQuantizedModel } from '@duo-attn/quant';
import { ChatSession, type ChatSessionOptions } from './chat-session.js';
import { LlmOptionError, ModelDisposedError } from './errors.js';
import { engineOptions, type GenerationOptions } from './generation-options.js';
import { GenerationStream } from './generation-stream.js';
import { registerInstalledBackends } from './installed-backends.js';
import { type PolicyOptions, resolvePolicy } from './resolve-policy.js';
import { SequencePool } from './sequence-slot.js';

/** Options of {@link loadLanguageModel}: where to run, under which policy, with how much context. */
export interface LoadLanguageModelOptions extends PolicyOptions, StartOptions {}

/** Options of {@link createLanguageModel}. */
export interface CreateLanguageModelOptions extends StartOptions {
  /** The model's tokenizer; without one, prompts must be token ids. */
  readonly tokenizer?: Tokenizer;
  /** The KV-cache policy. Default: full attention. */
  readonly policy?: KvCachePolicy;
  /** What the policy is, for logs. Default: derived from the policy's kind. */
  readonly policyDescription?: string;
}

interface StartOptions {
  /**
   * Backend name (`'cpu'`, `'cuda'`, `'reference'`). Default: the best available one: cuda when
   * @duo-attn/kernels-cuda is installed and a GPU can run it, else cpu (onnxruntime-node).
   */
  readonly backend?: string;
  /**
   * Positions a prompt plus its generated tokens may use. Default: the model's
   * `max_position_embeddings`. Raise it only to extrapolate on purpose.
   */
  readonly contextLength?: number;
  /**
   * Tokens the KV cache holds (the cuda backend reserves retrieval-head memory for this many).
   * Default: `contextLength`. A generation that reaches it ends with finish reason 'capacity'.
   */
  readonly maxTokens?: number;
  /**
   * Sequences the executor holds, each with a KV cache of `maxTokens`: up to this many generations
   * run at once (a server's concurrent requests); more wait for a free sequence in arrival order.
   * Their decode steps share batched passes where the backend has them (see `batchDecode`).
   * Default 1.
   */
  readonly maxSequences?: number;
  /**
   * Continuous batching: with several sequences, the decode steps of concurrent generations run
   * together in one pass of the backend (core's `BatchingExecutor`), reading the weights once for
   * all of them. Default true where the backend has a batched pass (cpu, reference); backends
   * without one run each step alone, as with false.
   */
  readonly batchDecode?: boolean;
  /** Aborting stops loading with the signal's reason. */
  readonly signal?: AbortSignal;
}

/**
 * Loads the Hugging Face model directory `directory` (config.json, safetensors, and when present
 * tokenizer.json, tokenizer_config.json, generation_config.json) and starts it on a backend. A
 * directory written by `duo quantize` (W8A8) loads too, on backends that run W8A8 (cpu, reference).
 *
 * ```ts
 * await using model = await loadLanguageModel('models/toy-retrieval', { pattern: 'models/toy-retrieval/pattern', sparsity: 0.5 });
 * const { text } = await model.generate('The key is', { maxNewTokens: 16 });
 * ```
 *
 * @throws ModelConfigError, CheckpointError... (core) for a broken model directory; TokenizerError
 *   for a broken tokenizer; PatternFormatError/PatternOptionError for a bad pattern or sparsity;
 *   LlmOptionError for contradicting options; BackendUnavailableError naming why no backend runs.
 */
export async function loadLanguageModel(
  directory: string,
  options: LoadLanguageModelOptions = {},
): Promise<LanguageModel> {
  options.signal?.throwIfAborted();
  // A `duo quantize` checkpoint (config.json with a quantization_config) loads as W8A8 weights,
  // checked against its checksums; backends that cannot run W8A8 refuse it by name.
  const model = (await hasQuantizationConfig(directory))
    ? await loadQuantizedModel(directory)
    : await loadModel(directory, options.signal === undefined ? {} : { signal: options.signal });
  options.signal?.throwIfAborted();
  const tokenizer = await loadTokenizerIfPresent(model.directory);
  const { policy, description } = await resolvePolicy(options, model.config);
  return createLanguageModel(model, {
    ...options,
    ...(tokenizer === undefined ? {} : { tokenizer }),
    policy,
    policyDescription: description,
  });
}

/**
 * Starts an already loaded model (core's `loadModel`) on a backend. {@link loadLanguageModel} is
 * this plus loading; use this when the weights or tokenizer are loaded anyway (as the CLI does).
 */
export async function createLanguageModel(
  model: LoadedModel,
  options: CreateLanguageModelOptions = {},
): Promise<LanguageModel> {
  options.signal?.throwIfAborted();
  const contextLength =
    positiveInteger(options.contextLength, 'contextLength') ?? model.config.maxPositionEmbeddings;
  const maxTokens = positiveInteger(options.maxTokens, 'maxTokens') ?? contextLength;
  if (maxTokens < 2)
    throw new LlmOptionError(`maxTokens must be >= 2 (a prompt token and a generated one), got ${maxTokens}`);
  const maxSequences = positiveInteger(options.maxSequences, 'maxSequences') ?? 1;
  await registerInstalledBackends();
  const backend = await resolveBackend(options.backend);
  const policy = policyForBackend(
    options.policy ?? fullPolicy({ numLayers: model.config.numLayers, numKvHeads: model.config.numKvHeads }),
    backend,
  );
  const loaded = await backend.load(model, policy, { maxTokens, maxSequences });
  const executor =
    maxSequences > 1 && options.batchDecode !== false && canBatchDecode(loaded)
      ? new BatchingExecutor(loaded)
      : loaded;
  if (options.signal?.aborted) {
    await executor.dispose();
    options.signal.throwIfAborted();
  }
  return new LanguageModel({
    model,
    backend,
    executor,
    tokenizer: options.tokenizer,
    policyDescription:
      options.policyDescription ??
      (options.policy === undefined ? 'full attention' : `${policy.kind} policy`),
    contextLength,
    maxSequences,
  });
}

/** A loaded model that generates text. Dispose it (or `await using`) to free the backend's memory. */
export class LanguageModel implements AsyncDisposable {
  /** Absolute path of the model directory. */
  readonly directory: string;
  readonly config: ModelConfig;
  /** The tokenizer, when the directory has one (else prompts must be token ids). */
  readonly tokenizer: Tokenizer | undefined;
  /** The backend the model runs on. */
  readonly backendName: string;
  /** The KV-cache policy it runs under (cache dtype as the backend keeps it). */
  readonly policy: KvCachePolicy;
  /** One line saying what the policy is, e.g. `DuoAttention: 6 of 24 KV heads retrieval (sparsity 0.75), sink 16, recent 64`. */
  readonly policyDescription: string;
  /** Positions a prompt plus generated tokens may use. */
  readonly contextLength: number;
  /** Tokens the KV cache of each sequence holds. */
  readonly maxTokens: number;
  /** Generations that can run at once (the executor's sequences). */
  readonly maxSequences: number;
  /** Sampling settings and token budget from generation_config.json, used where a generation sets none. */
  readonly defaults: GenerationDefaults;
  /** Ids that end generation (generation_config.json, config.json and the tokenizer together). */
  readonly endOfSequenceIds: readonly number[];

  readonly #executor: Executor;
  readonly #sequences: SequencePool;
  readonly #lifetime = new AbortController();
  #disposing: Promise<void> | undefined;

  /** @internal Use {@link loadLanguageModel} or {@link createLanguageModel}. */
  constructor(parts: {
    model: LoadedModel;
    backend: Backend;
    executor: Executor;
    tokenizer: Tokenizer | undefined;
    policyDescription: string;
    contextLength: number;
    maxSequences: number;
  }) {
    this.directory = parts.model.directory;
    this.config = parts.model.config;
    this.tokenizer = parts.tokenizer;
    this.backendName = parts.backend.name;
    this.#executor = parts.executor;
    this.policy = parts.executor.policy;
    this.policyDescription = parts.policyDescription;
    this.contextLength = parts.contextLength;
    this.maxTokens = parts.executor.maxTokens;
    this.maxSequences = parts.maxSequences;
    this.#sequences = new SequencePool(parts.maxSequences);
    this.defaults = generationDefaults(parts.model.generationConfig);
    this.endOfSequenceIds = endOfSequenceIds(parts.model, parts.tokenizer);
  }

  /** Token ids of `text` as a prompt (with the BOS token when the tokenizer adds one). */
  encode(text: string): number[] {
    return this.#requireTokenizer('encode text').encode(text);
  }

  /** Generates a completion of `prompt` (text, or token ids) and returns it whole. */
  async generate(
    prompt: string | readonly number[],
    options: GenerationOptions = {},
  ): Promise<GenerateResult> {
    return this.stream(prompt, options).collect();
  }

  /**
   * Streams a completion of `prompt`: `for await (const { text } of model.stream(prompt))`. The
   * stream's `result` resolves when the loop ends. Each call starts from an empty cache.
   */
  stream(prompt: string | readonly number[], options: GenerationOptions = {}): GenerationStream {
    const ids = typeof prompt === 'string' ? this.encode(prompt) : [...prompt];
    return this._stream(undefined, () => ids, options);
  }

  /**
   * A conversation with this model, rendered by the model's chat template. Later turns reuse the
   * KV cache of earlier ones when the conversation's tokens extend what the cache holds.
   *
   * @throws TokenizerError (reason 'no-chat-template' or 'missing-file') when the model cannot chat.
   */
  createChatSession(options: ChatSessionOptions = {}): ChatSession {
    this.#checkLive('create a chat session');
    return new ChatSession(this, this.#requireChatTemplate(), options);
  }

  /**
   * Token ids of `messages` rendered by the model's chat template with the assistant's turn
   * opened (the template places BOS and every other special token itself), as a stateless
   * chat request (a server's) needs them.
   *
   * @throws TokenizerError (reason 'no-chat-template' or 'missing-file') when the model cannot chat.
   */
  encodeChat(messages: readonly ChatMessage[]): number[] {
    const tokenizer = this.#requireChatTemplate();
    const rendered = tokenizer.applyChatTemplate(messages, { addGenerationPrompt: true });
    return tokenizer.encode(rendered, { addSpecialTokens: false });
  }

  /**
   * Continuous batching so far: batched passes, the decode steps they ran, and the steps that ran
   * alone. Undefined when decode steps are not batched (one sequence, `batchDecode: false`, or a
   * backend without a batched pass).
   */
  decodeBatching(): BatchingStats | undefined {
    return this.#executor instanceof BatchingExecutor ? this.#executor.stats : undefined;
  }

  /** KV-cache and weight bytes of the executor. */
  memory(): MemoryReport {
    return this.#executor.memory();
  }

  /** Generations running now (each holds a sequence) and generations waiting for one. */
  load(): { readonly running: number; readonly waiting: number } {
    return { running: this.#sequences.busy, waiting: this.#sequences.waiting };
  }

  /** True once {@link dispose} was called. */
  get disposed(): boolean {
    return this.#disposing !== undefined;
  }

  /**
   * Stops any running generation (it ends with finish reason 'aborted') and frees the backend's
   * memory. Calling it again is harmless.
   */
  dispose(): Promise<void> {
    this.#disposing ??= (async () => {
      this.#lifetime.abort(new ModelDisposedError('generate'));
      const release = await this.#sequences.acquireAll();
      try {
        await this.#executor.dispose();
      } finally {
        release();
      }
    })();
    return this.#disposing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }

  /** The resolved `maxNewTokens` of `options` (the model's default when unset). */
  maxNewTokensOf(options: GenerationOptions): number {
    return options.maxNewTokens ?? this.defaults.maxNewTokens;
  }

  /**
   * @internal A generation on one of the model's sequences for `owner` (a chat session, which gets
   * its own sequence back when that is free; undefined: nobody, start from an empty cache).
   * `prompt` runs once a sequence is held, so it can depend on the previous turn; `onEnd` runs with
   * the result before the sequence is released.
   */
  _stream(
    owner: object | undefined,
    prompt: () => readonly number[],
    options: GenerationOptions,
    onEnd?: (result: GenerateResult) => void,
  ): GenerationStream {
    this.#checkLive('generate');
    return new GenerationStream((stop) => this.#run(owner, prompt, options, stop, onEnd));
  }

  async *#run(
    owner: object | undefined,
    buildPrompt: () => readonly number[],
    options: GenerationOptions,
    stop: AbortSignal,
    onEnd: ((result: GenerateResult) => void) | undefined,
  ): AsyncGenerator<GeneratedToken, GenerateResult, undefined> {
    const { slot, release } = await this.#sequences.acquire(owner);
    const sequence = slot.sequence;
    const executor = this.#executor;
    let started = false;
    let done = false;
    try {
      this.#checkLive('generate');
      const prompt = buildPrompt();
      const cachedPrefixLength = slot.reusableLength(owner, prompt, executor.length(sequence));
      const signals = [
        stop,
        this.#lifetime.signal,
        ...(options.signal === undefined ? [] : [options.signal]),
      ];
      const iterator = generate(executor, prompt, {
        ...engineOptions(options, this.defaults, this.endOfSequenceIds, this.contextLength),
        sequence,
        signal: AbortSignal.any(signals),
        ...(cachedPrefixLength > 0 ? { cachedPrefixLength } : {}),
        ...(this.tokenizer === undefined ? {} : { detokenizer: this.tokenizer }),
      });
      // generate() checked every option before running anything, so a refused request keeps the
      // cache's record; from here until the generation ends cleanly, its content is not known.
      slot.forget();
      started = true;
      const tokens: number[] = [];
      let result: GenerateResult;
      for (;;) {
        const step = await iterator.next();
        if (step.done) {
          result = step.value;
          break;
        }
        tokens.push(step.value.id);
        yield step.value;
      }
      // The cache holds the prompt and the generated tokens that were fed back (all but the last,
      // or all when an abort came after the last one was fed): as many as the sequence's length.
      // A truncated prompt's fed ids are not `prompt`, so that cache is never reused.
      if (result.truncatedTokens === 0) {
        slot.remember(owner, [...prompt, ...tokens].slice(0, executor.length(sequence)));
      }
      onEnd?.(result);
      done = true;
      return result;
    } finally {
      // A cache nobody can reuse is freed now, so memory reports count only what serves someone
      // (a generation that failed midway leaves a cache of unknown content: freed too).
      if (started && (!done || slot.owner === undefined) && !this.disposed) {
        slot.forget();
        executor.reset(sequence);
      }
      release();
    }
  }

  #checkLive(what: string): void {
    if (this.#disposing !== undefined) throw new ModelDisposedError(what);
  }

  /** The tokenizer, when it has a chat template; else the precise reason as a TokenizerError. */
  #requireChatTemplate(): Tokenizer {
    const tokenizer = this.#requireTokenizer('chat');
    if (!tokenizer.hasChatTemplate) {
      // Rendering names the precise reason (no chat_template.jinja, no chat_template key...).
      try {
        tokenizer.applyChatTemplate([]);
      } catch (error) {
        if (error instanceof TokenizerError) {
          throw new TokenizerError(
            'no-chat-template',
            `${this.directory} cannot be used for chat (sessions or messages): ${error.message}. ` +
              'Plain text generation (model.generate, model.stream) still works.',
            error.file === undefined ? { cause: error } : { file: error.file, cause: error },
          );
        }
        throw error;
      }
    }
    return tokenizer;
  }

  #requireTokenizer(what: string): Tokenizer {
    if (this.tokenizer !== undefined) return this.tokenizer;
    throw new TokenizerError(
      'missing-file',
      `cannot ${what}: ${this.directory} has no tokenizer (tokenizer.json not found); pass the prompt as token ids`,
    );
  }
}

/** The tokenizer of `directory`, or undefined when it has no tokenizer.json (a broken one still throws). */
async function loadTokenizerIfPresent(directory: string): Promise<Tokenizer | undefined> {
  try {
    return await loadTokenizer(directory);
  } catch (error) {
    if (error instanceof TokenizerError && error.reason === 'missing-file') return undefined;
    throw error;
  }
}

function positiveInteger(value: number | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (!(Number.isSafeInteger(value) && value >= 1)) {
    throw new LlmOptionError(`${name} must be an integer >= 1, got ${String(value)}`);
  }
  return value;
}

export type { ChatMessage };
