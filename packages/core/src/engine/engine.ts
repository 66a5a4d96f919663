// The engine: generation and teacher-forced scoring written once against the Executor contract, so
// every backend gets the same chunked prefill, sampling, stopping and streaming behaviour.
import type { DeviceSampleRequest, Executor, ForwardResult } from '../backend/backend.js';
import { AbortedError, CapacityError } from '../backend/backend-errors.js';
import { BackendResultError, ContextLengthError, EngineInputError } from './engine-errors.js';
import { argmax, createRng, resolveSamplingOptions, type SamplingOptions, sampleToken } from './sampling.js';
import { StopStringMatcher } from './stop-strings.js';

/** An incremental detokenizer: `push` returns the text that token completes (possibly ''). */
export interface DecodeStreamLike {
  push(id: number): string;
  /** Returns any text still buffered (e.g. an incomplete UTF-8 sequence) at the end of a stream. */
  flush(): string;
}

/** What the engine needs of a tokenizer: the structural shape of the project's `Tokenizer`. */
export interface TextDecoderLike {
  createDecodeStream(options?: unknown): DecodeStreamLike;
}

/** Options of {@link generate}; sampling fields are those of {@link SamplingOptions}. */
export interface GenerateOptions extends SamplingOptions {
  /** Most tokens to generate, integer >= 1. Default 128. */
  maxNewTokens?: number;
  /** Seed of the sampling generator (safe integer). Default: a random seed. */
  seed?: number;
  /** Ids that end generation; the stop token is reported (tokens, an event with text '') but not decoded. Default none. */
  stopTokenIds?: readonly number[];
  /** Generation ends when the decoded text contains one; it is NOT included in the emitted text. Needs a detokenizer. */
  stopStrings?: readonly string[];
  /** The prompt is fed in chunks of this many tokens. Default: the whole prompt in one call. */
  prefillChunkSize?: number;
  /**
   * The prompt's last this many tokens are fed one per forward call, as decode steps, after the rest
   * is prefilled (at least one token is always prefilled, so it is capped at prompt length − 1).
   * LongBench's `decoding_simulation_length` (50 in the original): streaming heads then read the
   * question through their sink + recent window even when the prompt fits one prefill chunk.
   * Default 0.
   */
  stepwisePromptTail?: number;
  /** Aborting ends generation promptly with finish reason 'aborted'; also passed to `forward`. */
  signal?: AbortSignal;
  /** Executor sequence slot (default 0); it is reset first unless `cachedPrefixLength` is given. */
  sequence?: number;
  /**
   * The sequence already holds the first this-many prompt ids (a previous turn's prompt and reply):
   * it is not reset and only the rest of the prompt is prefilled. Must equal the sequence's length
   * and be less than the prompt's length (the last prompt token must be fed to get logits). When
   * the prompt has to be truncated the cache is not reused. Default 0: reset and prefill it all.
   */
  cachedPrefixLength?: number;
  /**
   * Positions the model may use, prompt and generated tokens together. Default: the model's
   * `maxPositionEmbeddings`. Raise it only to extrapolate on purpose (e.g. RoPE scaling).
   */
  contextLength?: number;
  /**
   * When prompt + `maxNewTokens` exceeds `contextLength`: `'error'` (default) throws a
   * {@link ContextLengthError} naming both numbers; `'left'` drops the prompt's first tokens,
   * `'middle'` its middle ones (LongBench style: keeps the instructions and the question), so that
   * prompt + `maxNewTokens` fit. {@link GenerateResult.truncatedTokens} says how many went.
   */
  truncate?: PromptTruncation;
}

/** How {@link generate} fits a prompt that is too long for the context. */
export type PromptTruncation = 'error' | 'left' | 'middle';

/** One generated token, as streamed. */
export interface GeneratedToken {
  id: number;
  /** Text new since the previous event (may be ''); '' without a detokenizer. */
  text: string;
  /** 0-based index among the generated tokens. */
  index: number;
}

/** Why generation ended. */
export type FinishReason = 'stop-token' | 'stop-string' | 'length' | 'capacity' | 'aborted';

/** The return value of a {@link generate} iterator. */
export interface GenerateResult {
  /** Every generated id, including a final stop token. */
  tokens: number[];
  /** Concatenation of the events' text. */
  text: string;
  finishReason: FinishReason;
  /** Tokens of the prompt as it was fed (after any truncation). */
  promptTokens: number;
  /** Prompt tokens taken from the sequence's cache instead of being prefilled (see `cachedPrefixLength`). */
  cachedPromptTokens: number;
  /** Prompt tokens dropped to fit the context (0 unless `truncate` is `'left'` or `'middle'`). */
  truncatedTokens: number;
  /**
   * Wall time of the prefill forward calls. With an executor that samples on its device
   * (`forwardSample`), the last prefill call also selects the first token.
   */
  prefillMs: number;
  /** Wall time of sampling and decode forward calls (time the consumer holds an event is not counted). */
  decodeMs: number;
}

/** Options of {@link score}. */
export interface ScoreOptions {
  /** Ids fed by chunked prefill (with all logits); the rest are fed one decode step each. In [1, ids.length]. */
  prefillLength: number;
  /** Prefill chunk size. Default: all `prefillLength` ids in one call. */
  prefillChunkSize?: number;
  /** Positions whose full logits are kept. */
  rows?: readonly number[];
  /** Aborting rejects with {@link AbortedError}; also passed to `forward`. */
  signal?: AbortSignal;
  /** Executor sequence slot (default 0); it is reset first. */
  sequence?: number;
  /** Positions the model may use. Default: the model's `maxPositionEmbeddings`. */
  contextLength?: number;
}

/** Teacher-forced outputs of {@link score}. */
export interface ScoreResult {
  /** Per position i of `ids`: the argmax of its logits, i.e. the predicted token i + 1. */
  argmax: number[];
  /** Logits `[vocabSize]` f32 of each requested row, by position. */
  logits: Map<number, Float32Array>;
}

function checkPositiveInteger(value: number, name: string): void {
  if (!(Number.isSafeInteger(value) && value >= 1)) {
    throw new EngineInputError(`${name} must be an integer >= 1, got ${String(value)}`);
  }
}

function checkSequence(sequence: number): void {
  if (!(Number.isSafeInteger(sequence) && sequence >= 0)) {
    throw new EngineInputError(`sequence must be an integer >= 0, got ${String(sequence)}`);
  }
}

function checkIds(ids: readonly number[], vocabSize: number, name: string): void {
  if (ids.length === 0) throw new EngineInputError(`${name} is empty`);
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i]!;
    if (!(Number.isInteger(id) && id >= 0 && id < vocabSize)) {
      throw new EngineInputError(`${name}[${i}] = ${String(id)} is not a token id in [0, ${vocabSize})`);
    }
  }
}

/** Checks a forward result's shape and returns row `row` (`[vocabSize]` f32, a view). */
function logitsRow(
  executor: Executor,
  result: ForwardResult,
  expectedRows: number,
  row: number,
): Float32Array {
  const vocabSize = executor.config.vocabSize;
  if (
    result.vocabSize !== vocabSize ||
    result.numRows !== expectedRows ||
    result.logits.length !== expectedRows * vocabSize
  ) {
    throw new BackendResultError(
      `backend '${executor.backendName}' returned logits of ${result.numRows} rows x ${result.vocabSize} ` +
        `(${result.logits.length} values); expected ${expectedRows} rows x ${vocabSize}`,
    );
  }
  return result.logits.subarray(row * vocabSize, (row + 1) * vocabSize);
}

const now = (): number => performance.now();

/**
 * Streams tokens generated from `promptIds` on `executor`. Options are checked, and the prompt
 * against `executor.maxTokens` (prompt + 1 must fit), when this is called, before anything runs;
 * iteration then resets the sequence, prefills, and samples until a stop token, a stop string,
 * `maxNewTokens`, the sequence's capacity (prompt + generated reaches `maxTokens`) or an abort.
 * The iterator's return value is the {@link GenerateResult}. Executor errors reject the iterator.
 * When the executor has `forwardSample`, the last prefill chunk and every decode step select the
 * token on the backend, fed with the same host random stream `sampleToken` would consume (one
 * draw per token, none when greedy), so a seed gives the same tokens on every backend up to the
 * float rounding the backend documents.
 */
export function generate(
  executor: Executor,
  promptIds: readonly number[],
  options: GenerateOptions & { detokenizer?: TextDecoderLike } = {},
): AsyncGenerator<GeneratedToken, GenerateResult, undefined> {
  const vocabSize = executor.config.vocabSize;
  const sampling = resolveSamplingOptions(options);
  const maxNewTokens = options.maxNewTokens ?? 128;
  checkPositiveInteger(maxNewTokens, 'maxNewTokens');
  const sequence = options.sequence ?? 0;
  checkSequence(sequence);
  const chunkSize = options.prefillChunkSize ?? promptIds.length;
  if (options.prefillChunkSize !== undefined) checkPositiveInteger(chunkSize, 'prefillChunkSize');
  const stepwiseTail = options.stepwisePromptTail ?? 0;
  if (!(Number.isSafeInteger(stepwiseTail) && stepwiseTail >= 0)) {
    throw new EngineInputError(`stepwisePromptTail must be an integer >= 0, got ${String(stepwiseTail)}`);
  }
  checkIds(promptIds, vocabSize, 'prompt');
  const stopTokenIds = options.stopTokenIds ?? [];
  stopTokenIds.forEach((id, i) => {
    if (!(Number.isInteger(id) && id >= 0 && id < vocabSize)) {
      throw new EngineInputError(`stopTokenIds[${i}] = ${String(id)} is not a token id in [0, ${vocabSize})`);
    }
  });
  const stopStrings = options.stopStrings ?? [];
  stopStrings.forEach((stop, i) => {
    if (typeof stop !== 'string' || stop.length === 0) {
      throw new EngineInputError(`stopStrings[${i}] must be a non-empty string`);
    }
  });
  if (stopStrings.length > 0 && options.detokenizer === undefined) {
    throw new EngineInputError('stopStrings need a detokenizer to match decoded text');
  }
  const contextLength = resolveContextLength(executor, options.contextLength);
  const truncation = options.truncate ?? 'error';
  if (truncation !== 'error' && truncation !== 'left' && truncation !== 'middle') {
    throw new EngineInputError(`truncate must be 'error', 'left' or 'middle', got ${String(truncation)}`);
  }
  let prompt: number[] = [...promptIds];
  let truncatedTokens = 0;
  if (prompt.length + maxNewTokens > contextLength) {
    const room = contextLength - maxNewTokens;
    if (truncation === 'error' || room < 1) {
      throw new ContextLengthError(promptIds.length, maxNewTokens, contextLength);
    }
    truncatedTokens = prompt.length - room;
    prompt = truncatePrompt(prompt, room, truncation);
  }
  // A truncated prompt no longer starts with what the cache holds.
  const cachedPrefixLength = truncatedTokens > 0 ? 0 : (options.cachedPrefixLength ?? 0);
  if (cachedPrefixLength !== 0) {
    if (
      !(
        Number.isSafeInteger(cachedPrefixLength) &&
        cachedPrefixLength > 0 &&
        cachedPrefixLength < prompt.length
      )
    ) {
      throw new EngineInputError(
        `cachedPrefixLength must be an integer in [0, ${prompt.length - 1}] (below the prompt's length), got ${String(cachedPrefixLength)}`,
      );
    }
    const held = executor.length(sequence);
    if (held !== cachedPrefixLength) {
      throw new EngineInputError(
        `cachedPrefixLength is ${cachedPrefixLength} but sequence ${sequence} holds ${held} tokens`,
      );
    }
  }
  if (prompt.length + 1 > executor.maxTokens) {
    throw new CapacityError(
      `prompt of ${prompt.length} tokens plus 1 generated token exceeds the executor's maxTokens ` +
        `of ${executor.maxTokens}`,
    );
  }
  const seed = options.seed ?? Math.floor(Math.random() * 0x1_0000_0000);
  const rng = createRng(seed);
  return run(executor, prompt, {
    truncatedTokens,
    cachedPrefixLength,
    sampling,
    rng,
    maxNewTokens,
    sequence,
    chunks: promptChunks(cachedPrefixLength, prompt.length, chunkSize, stepwiseTail),
    stopTokens: new Set(stopTokenIds),
    stopStrings,
    signal: options.signal,
    detokenizer: options.detokenizer,
  });
}

/** The context length to enforce: `requested`, or the model's `maxPositionEmbeddings`. */
function resolveContextLength(executor: Executor, requested: number | undefined): number {
  if (requested === undefined) return executor.config.maxPositionEmbeddings;
  checkPositiveInteger(requested, 'contextLength');
  return requested;
}

/**
 * [start, end) ranges the prompt is fed in after the `from` ids the cache holds: chunks of
 * `chunkSize` over all but the last `tail` tokens (capped so one token is prefilled), then one
 * range per tail token.
 */
function promptChunks(from: number, length: number, chunkSize: number, tail: number): [number, number][] {
  const prefillEnd = Math.max(from + 1, length - tail);
  const chunks: [number, number][] = [];
  for (let start = from; start < prefillEnd; start += chunkSize) {
    chunks.push([start, Math.min(start + chunkSize, prefillEnd)]);
  }
  for (let position = prefillEnd; position < length; position++) chunks.push([position, position + 1]);
  return chunks;
}

/** The prompt cut to `room` tokens: its last ones (`left`), or its first and last halves (`middle`). */
function truncatePrompt(prompt: readonly number[], room: number, how: 'left' | 'middle'): number[] {
  if (how === 'left') return prompt.slice(prompt.length - room);
  const head = Math.floor(room / 2);
  return [...prompt.slice(0, head), ...prompt.slice(prompt.length - (room - head))];
}

interface RunSettings {
  truncatedTokens: number;
  cachedPrefixLength: number;
  sampling: ReturnType<typeof resolveSamplingOptions>;
  rng: ReturnType<typeof createRng>;
  maxNewTokens: number;
  sequence: number;
  /** [start, end) ranges of the prompt, one forward call each. */
  chunks: readonly (readonly [number, number])[];
  stopTokens: ReadonlySet<number>;
  stopStrings: readonly string[];
  signal: AbortSignal | undefined;
  detokenizer: TextDecoderLike | undefined;
}

async function* run(
  executor: Executor,
  prompt: readonly number[],
  settings: RunSettings,
): AsyncGenerator<GeneratedToken, GenerateResult, undefined> {
  const { sampling, rng, maxNewTokens, sequence, chunks, stopTokens, signal } = settings;
  const tokens: number[] = [];
  let text = '';
  let prefillMs = 0;
  let decodeMs = 0;
  const finish = (finishReason: FinishReason): GenerateResult => ({
    tokens,
    text,
    finishReason,
    promptTokens: prompt.length,
    cachedPromptTokens: settings.cachedPrefixLength,
    truncatedTokens: settings.truncatedTokens,
    prefillMs,
    decodeMs,
  });
  // Ids seen so far, for the repetition penalty (kept only when the penalty is on).
  const seen = sampling.repetitionPenalty === 1 ? undefined : new Set(prompt);

  // Runs one forward call; undefined means it was aborted.
  const forward = async (ids: readonly number[]): Promise<Float32Array | undefined> => {
    if (signal?.aborted) return undefined;
    try {
      const result = await executor.forward(sequence, ids, { signal });
      return logitsRow(executor, result, 1, 0);
    } catch (error) {
      if (signal?.aborted) return undefined;
      throw error;
    }
  };
  // The same call selecting the next token on the executor; undefined means it was aborted. The
  // draw is taken here, where sampleToken would take it: once per token and only when not greedy.
  const forwardSample = executor.forwardSample?.bind(executor);
  const forwardSampled = async (ids: readonly number[]): Promise<number | undefined> => {
    if (signal?.aborted || forwardSample === undefined) return undefined;
    const request: DeviceSampleRequest = {
      ...sampling,
      uniform: sampling.greedy ? 0 : rng.nextFloat(),
      ...(seen === undefined ? {} : { previousTokens: seen }),
    };
    let id: number;
    try {
      id = await forwardSample(sequence, ids, request, { signal });
    } catch (error) {
      if (signal?.aborted) return undefined;
      throw error;
    }
    if (!(Number.isInteger(id) && id >= 0 && id < executor.config.vocabSize)) {
      throw new BackendResultError(
        `backend '${executor.backendName}' sampled token ${String(id)}, outside the vocabulary [0, ${executor.config.vocabSize})`,
      );
    }
    return id;
  };

  if (settings.cachedPrefixLength === 0) executor.reset(sequence);
  const decoder = settings.detokenizer?.createDecodeStream();
  const matcher = new StopStringMatcher(settings.stopStrings);

  const prefillStart = now();
  // What the last call produced: logits to sample on the host, or the id the executor sampled.
  let logits: Float32Array | undefined;
  let sampled: number | undefined;
  for (const [start, end] of chunks) {
    const chunk = prompt.slice(start, end);
    let done: boolean;
    if (forwardSample !== undefined && end === prompt.length) {
      sampled = await forwardSampled(chunk);
      done = sampled !== undefined;
    } else {
      logits = await forward(chunk);
      done = logits !== undefined;
    }
    if (!done) {
      prefillMs = now() - prefillStart;
      return finish('aborted');
    }
  }
  prefillMs = now() - prefillStart;

  // Flushes the decoder and the stop-string hold-back at the end of the stream.
  const endText = (): { text: string; stopped: boolean } => {
    const step = matcher.push(decoder?.flush() ?? '');
    return step.stopped ? step : { text: step.text + matcher.flush(), stopped: false };
  };

  for (;;) {
    const stepStart = now();
    const id = sampled ?? sampleToken(logits!, sampling, rng, seen ?? []);
    tokens.push(id);
    seen?.add(id);
    let reason: FinishReason | undefined;
    let piece: string;
    if (stopTokens.has(id)) {
      reason = 'stop-token';
      piece = endText().text;
    } else {
      const step = matcher.push(decoder?.push(id) ?? '');
      piece = step.text;
      if (step.stopped) reason = 'stop-string';
      else if (tokens.length >= maxNewTokens) reason = 'length';
      else if (executor.length(sequence) + 1 >= executor.maxTokens) reason = 'capacity';
      if (reason === 'length' || reason === 'capacity') {
        const end = endText();
        piece += end.text;
        if (end.stopped) reason = 'stop-string';
      }
    }
    text += piece;
    decodeMs += now() - stepStart;
    yield { id, text: piece, index: tokens.length - 1 };
    if (reason !== undefined) return finish(reason);

    const forwardStart = now();
    if (forwardSample !== undefined) {
      sampled = await forwardSampled([id]);
      decodeMs += now() - forwardStart;
      if (sampled === undefined) return finish('aborted');
    } else {
      logits = await forward([id]);
      decodeMs += now() - forwardStart;
      if (logits === undefined) return finish('aborted');
    }
  }
}

/** Drains a {@link generate} iterator and returns its result (the streamed events are dropped). */
export async function collectGeneration(
  iterator: AsyncGenerator<GeneratedToken, GenerateResult, undefined>,
): Promise<GenerateResult> {
  for (;;) {
    const step = await iterator.next();
    if (step.done) return step.value;
  }
}

/**
 * Teacher-forced pass over `ids`: resets the sequence, prefills the first `prefillLength` ids in
 * chunks with all logits, then feeds each remaining id as a one-token decode step. Returns the
 * argmax of every position and the full logits of the requested `rows`.
 */
export async function score(
  executor: Executor,
  ids: readonly number[],
  options: ScoreOptions,
): Promise<ScoreResult> {
  const vocabSize = executor.config.vocabSize;
  checkIds(ids, vocabSize, 'ids');
  const { prefillLength, signal } = options;
  if (!(Number.isSafeInteger(prefillLength) && prefillLength >= 1 && prefillLength <= ids.length)) {
    throw new EngineInputError(
      `prefillLength must be an integer in [1, ${ids.length}] (the number of ids), got ${String(prefillLength)}`,
    );
  }
  const chunkSize = options.prefillChunkSize ?? prefillLength;
  if (options.prefillChunkSize !== undefined) checkPositiveInteger(chunkSize, 'prefillChunkSize');
  const sequence = options.sequence ?? 0;
  checkSequence(sequence);
  const rows = new Set<number>();
  (options.rows ?? []).forEach((row, i) => {
    if (!(Number.isInteger(row) && row >= 0 && row < ids.length)) {
      throw new EngineInputError(`rows[${i}] = ${String(row)} is not a position in [0, ${ids.length})`);
    }
    rows.add(row);
  });
  const contextLength = resolveContextLength(executor, options.contextLength);
  if (ids.length > contextLength) throw new ContextLengthError(ids.length, 0, contextLength, 'the id list');
  if (ids.length > executor.maxTokens) {
    throw new CapacityError(`${ids.length} ids exceed the executor's maxTokens of ${executor.maxTokens}`);
  }

  const checkAbort = (): void => {
    if (signal?.aborted) throw new AbortedError('score', signal.reason);
  };
  const argmaxes: number[] = [];
  const logits = new Map<number, Float32Array>();
  const take = (position: number, row: Float32Array): void => {
    argmaxes.push(argmax(row));
    if (rows.has(position)) logits.set(position, row.slice());
  };

  executor.reset(sequence);
  for (let start = 0; start < prefillLength; start += chunkSize) {
    checkAbort();
    const chunk = ids.slice(start, Math.min(start + chunkSize, prefillLength));
    const result = await executor.forward(sequence, chunk, { allLogits: true, signal });
    for (let r = 0; r < chunk.length; r++) take(start + r, logitsRow(executor, result, chunk.length, r));
  }
  for (let position = prefillLength; position < ids.length; position++) {
    checkAbort();
    const result = await executor.forward(sequence, [ids[position]!], { signal });
    take(position, logitsRow(executor, result, 1, 0));
  }
  return { argmax: argmaxes, logits };
}
