import { describe, expect, it } from 'vitest';
import type {
  DeviceSampleRequest,
  Executor,
  ForwardOptions,
  ForwardResult,
  ForwardSampleOptions,
  MemoryReport,
} from '../backend/backend.js';
import { AbortedError, CapacityError } from '../backend/backend-errors.js';
import { DuoError } from '../errors.js';
import type { ModelConfig } from '../model/model-types.js';
import type { KvCachePolicy } from '../policy/kv-cache-policy.js';
import {
  collectGeneration,
  type GeneratedToken,
  type GenerateOptions,
  type GenerateResult,
  generate,
  score,
  type TextDecoderLike,
} from './engine.js';
import { BackendResultError, ContextLengthError, EngineInputError } from './engine-errors.js';
import { createRng, SamplingError, sampleToken } from './sampling.js';

const VOCAB = 6;
/** Greedy successor of each token in the bigram table. */
const NEXT = [2, 2, 3, 4, 5, 1];
/** Bigram logits: row = last token; the successor gets 5, every other id j gets 0.1 * j. */
const PEAKED = NEXT.map((next) => Array.from({ length: VOCAB }, (_, j) => (j === next ? 5 : 0.1 * j)));
/** A flatter table for sampling tests. */
const FLAT = NEXT.map((next, row) =>
  Array.from({ length: VOCAB }, (_, j) => (j === next ? 1 : ((row + j) % 3) * 0.4)),
);

function modelConfig(vocabSize: number): ModelConfig {
  return {
    architecture: 'LlamaForCausalLM',
    modelType: 'llama',
    vocabSize,
    hiddenSize: 8,
    intermediateSize: 16,
    numLayers: 1,
    numHeads: 1,
    numKvHeads: 1,
    headDim: 8,
    rmsNormEps: 1e-5,
    maxPositionEmbeddings: 1024,
    tieWordEmbeddings: false,
    attentionBias: false,
    mlpBias: false,
    rope: { type: 'default', theta: 10_000 },
    hiddenAct: 'silu',
    eosTokenIds: [],
    slidingWindow: null,
  };
}

const POLICY: KvCachePolicy = {
  kind: 'full',
  numLayers: 1,
  numKvHeads: 1,
  layers: [{ retrievalKvHeads: [0], streamingKvHeads: [] }],
  sinkSize: 0,
  recentSize: 0,
  cacheDtype: 'fp32',
};

interface Call {
  sequence: number;
  tokens: number[];
  allLogits: boolean;
}

/**
 * Test double of the Executor contract: the logits of a position are the bigram table's row of
 * the token at that position. It enforces capacity and records every call.
 */
class BigramExecutor implements Executor {
  readonly backendName = 'bigram-test';
  readonly config: ModelConfig;
  readonly policy = POLICY;
  readonly calls: Call[] = [];
  readonly resets: number[] = [];
  readonly #sequences = new Map<number, number[]>();

  constructor(
    readonly table: number[][],
    readonly maxTokens = 64,
    /** Runs at the start of each forward call with the call's 0-based index. */
    readonly onForward?: (callIndex: number, options: ForwardOptions) => void | Promise<void>,
  ) {
    this.config = modelConfig(table.length);
  }

  async forward(
    sequence: number,
    tokens: readonly number[],
    options: ForwardOptions = {},
  ): Promise<ForwardResult> {
    const callIndex = this.calls.length;
    this.calls.push({ sequence, tokens: [...tokens], allLogits: options.allLogits ?? false });
    await this.onForward?.(callIndex, options);
    if (tokens.length === 0) throw new Error('forward with no tokens');
    const held = this.#sequences.get(sequence) ?? [];
    if (held.length + tokens.length > this.maxTokens) throw new Error('over capacity');
    held.push(...tokens);
    this.#sequences.set(sequence, held);
    const rows = options.allLogits ? tokens : tokens.slice(-1);
    const vocabSize = this.config.vocabSize;
    const logits = new Float32Array(rows.length * vocabSize);
    rows.forEach((token, r) => {
      logits.set(this.table[token]!, r * vocabSize);
    });
    return { logits, numRows: rows.length, vocabSize };
  }

  length(sequence: number): number {
    return this.#sequences.get(sequence)?.length ?? 0;
  }

  reset(sequence: number): void {
    this.resets.push(sequence);
    this.#sequences.delete(sequence);
  }

  memory(): MemoryReport {
    return {
      kvBytesAllocated: 0,
      kvBytesUsed: 0,
      retrievalKvBytesUsed: 0,
      streamingKvBytesUsed: 0,
      weightBytes: 0,
    };
  }

  async dispose(): Promise<void> {}
}

interface SampleCall {
  sequence: number;
  tokens: number[];
  request: DeviceSampleRequest;
  signal: AbortSignal | undefined;
}

/**
 * A BigramExecutor that also samples "on its device": forwardSample runs the same forward and picks
 * the token with sampleToken on its own last row, using the request's draw as the one rng value.
 * Records which method served each call.
 */
class SamplingBigramExecutor extends BigramExecutor {
  readonly methods: ('forward' | 'forwardSample')[] = [];
  readonly sampleCalls: SampleCall[] = [];
  /** Replaces the sampled id (tests of bad backend results). */
  replaceId?: (id: number) => number;

  override async forward(
    sequence: number,
    tokens: readonly number[],
    options: ForwardOptions = {},
  ): Promise<ForwardResult> {
    this.methods.push('forward');
    return super.forward(sequence, tokens, options);
  }

  async forwardSample(
    sequence: number,
    tokens: readonly number[],
    request: DeviceSampleRequest,
    options: ForwardSampleOptions = {},
  ): Promise<number> {
    this.methods.push('forwardSample');
    // Copied now: the engine may extend its id list after the call.
    const previous = request.previousTokens === undefined ? undefined : [...request.previousTokens];
    this.sampleCalls.push({
      sequence,
      tokens: [...tokens],
      request: { ...request, ...(previous === undefined ? {} : { previousTokens: previous }) },
      signal: options.signal,
    });
    const result = await super.forward(sequence, tokens, { signal: options.signal });
    let draws = 0;
    const rng = {
      nextFloat: () => {
        draws++;
        return request.uniform;
      },
      nextUint32: () => {
        throw new Error('sampleToken draws floats only');
      },
    };
    const id = sampleToken(result.logits, request, rng, previous ?? []);
    if (draws > 1) throw new Error('sampleToken drew twice');
    return this.replaceId ? this.replaceId(id) : id;
  }
}

/** Test detokenizer: fixed text per id; ids in `delayed` release their text only on the next push or flush. */
function detokenizer(pieces: string[], delayed: number[] = []): TextDecoderLike {
  return {
    createDecodeStream() {
      let held = '';
      return {
        push(id: number): string {
          const text = held + pieces[id]!;
          held = '';
          if (delayed.includes(id)) {
            held = text;
            return '';
          }
          return text;
        },
        flush(): string {
          const text = held;
          held = '';
          return text;
        },
      };
    },
  };
}
const PIECES = ['<s>', 'a', 'b', 'c', 'd', 'e'];

async function runAll(
  iterator: AsyncGenerator<GeneratedToken, GenerateResult, undefined>,
): Promise<{ events: GeneratedToken[]; result: GenerateResult }> {
  const events: GeneratedToken[] = [];
  for (;;) {
    const step = await iterator.next();
    if (step.done) return { events, result: step.value };
    events.push(step.value);
  }
}

function codeOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    return DuoError.isInstance(error) ? error.code : `not a DuoError: ${String(error)}`;
  }
  return undefined;
}

describe('generate', () => {
  it('prefills in chunks, then decodes one token per call', async () => {
    const executor = new BigramExecutor(PEAKED);
    const { result } = await runAll(
      generate(executor, [0, 1, 2, 3, 4, 1, 2], {
        greedy: true,
        maxNewTokens: 3,
        prefillChunkSize: 3,
        sequence: 2,
      }),
    );
    expect(executor.resets).toEqual([2]);
    expect(executor.calls).toEqual([
      { sequence: 2, tokens: [0, 1, 2], allLogits: false },
      { sequence: 2, tokens: [3, 4, 1], allLogits: false },
      { sequence: 2, tokens: [2], allLogits: false },
      { sequence: 2, tokens: [3], allLogits: false },
      { sequence: 2, tokens: [4], allLogits: false },
    ]);
    expect(result.tokens).toEqual([3, 4, 5]);
    expect(result.promptTokens).toBe(7);
    expect(result.finishReason).toBe('length');
    expect(result.prefillMs).toBeGreaterThanOrEqual(0);
    expect(result.decodeMs).toBeGreaterThanOrEqual(0);
  });

  it('feeds the last stepwisePromptTail prompt tokens one per call, after the chunked prefill', async () => {
    const executor = new BigramExecutor(PEAKED);
    const tailed = await collectGeneration(
      generate(executor, [0, 1, 2, 3, 4, 1, 2], {
        greedy: true,
        maxNewTokens: 2,
        prefillChunkSize: 2,
        stepwisePromptTail: 3,
      }),
    );
    expect(executor.calls.map((call) => call.tokens)).toEqual([[0, 1], [2, 3], [4], [1], [2], [3]]);
    // The same answer as one prefill: only how the prompt is fed changes.
    const plain = await collectGeneration(
      generate(new BigramExecutor(PEAKED), [0, 1, 2, 3, 4, 1, 2], { greedy: true, maxNewTokens: 2 }),
    );
    expect(tailed.tokens).toEqual(plain.tokens);
    expect(tailed.promptTokens).toBe(7);
    // A tail as long as the prompt still prefills its first token; an empty tail changes nothing.
    const short = new BigramExecutor(PEAKED);
    await collectGeneration(
      generate(short, [0, 1, 2], { greedy: true, maxNewTokens: 1, stepwisePromptTail: 50 }),
    );
    expect(short.calls.map((call) => call.tokens)).toEqual([[0], [1], [2]]);
    const none = new BigramExecutor(PEAKED);
    await collectGeneration(
      generate(none, [0, 1, 2], { greedy: true, maxNewTokens: 1, stepwisePromptTail: 0 }),
    );
    expect(none.calls.map((call) => call.tokens)).toEqual([[0, 1, 2]]);
    expect(() => generate(none, [0], { stepwisePromptTail: -1 })).toThrow(EngineInputError);
    expect(() => generate(none, [0], { stepwisePromptTail: 1.5 })).toThrow(/stepwisePromptTail/);
  });

  it('feeds the whole prompt in one call by default', async () => {
    const executor = new BigramExecutor(PEAKED);
    await collectGeneration(generate(executor, [0, 1, 2], { greedy: true, maxNewTokens: 1 }));
    expect(executor.calls.map((call) => call.tokens)).toEqual([[0, 1, 2]]);
  });

  it('follows the greedy chain and streams indexed events with text', async () => {
    const executor = new BigramExecutor(PEAKED);
    const { events, result } = await runAll(
      generate(executor, [0], { greedy: true, maxNewTokens: 5, detokenizer: detokenizer(PIECES) }),
    );
    expect(events).toEqual([
      { id: 2, text: 'b', index: 0 },
      { id: 3, text: 'c', index: 1 },
      { id: 4, text: 'd', index: 2 },
      { id: 5, text: 'e', index: 3 },
      { id: 1, text: 'a', index: 4 },
    ]);
    expect(result).toMatchObject({ tokens: [2, 3, 4, 5, 1], text: 'bcdea', finishReason: 'length' });
  });

  it('gives empty text without a detokenizer', async () => {
    const { events, result } = await runAll(
      generate(new BigramExecutor(PEAKED), [0], { greedy: true, maxNewTokens: 2 }),
    );
    expect(events.map((event) => event.text)).toEqual(['', '']);
    expect(result.text).toBe('');
  });

  it('flushes the detokenizer into the last event', async () => {
    const executor = new BigramExecutor(PEAKED);
    const { events, result } = await runAll(
      generate(executor, [0], { greedy: true, maxNewTokens: 3, detokenizer: detokenizer(PIECES, [4]) }),
    );
    expect(events.map((event) => event.text)).toEqual(['b', 'c', 'd']);
    expect(result.text).toBe('bcd');
  });

  it('gives the same chain whatever the prefill chunk size', async () => {
    const prompt = [0, 3, 1, 4, 2];
    const tokensFor = async (prefillChunkSize?: number) =>
      (
        await collectGeneration(
          generate(new BigramExecutor(PEAKED), prompt, { greedy: true, maxNewTokens: 4, prefillChunkSize }),
        )
      ).tokens;
    expect(await tokensFor(1)).toEqual([3, 4, 5, 1]);
    expect(await tokensFor(2)).toEqual(await tokensFor(undefined));
  });

  it('samples reproducibly per seed; different seeds differ', async () => {
    const sample = async (options: GenerateOptions) =>
      (await collectGeneration(generate(new BigramExecutor(FLAT), [0], { maxNewTokens: 40, ...options })))
        .tokens;
    const a = await sample({ seed: 1 });
    expect(a).toHaveLength(40);
    expect(await sample({ seed: 1 })).toEqual(a);
    expect(await sample({ seed: 2 })).not.toEqual(a);
    // Sampling really departs from the greedy chain on this flat table.
    expect(a).not.toEqual(await sample({ greedy: true }));
  });

  it('top-k = 1 reproduces greedy', async () => {
    const greedy = await collectGeneration(
      generate(new BigramExecutor(FLAT), [0], { greedy: true, maxNewTokens: 20 }),
    );
    const topK1 = await collectGeneration(
      generate(new BigramExecutor(FLAT), [0], { topK: 1, temperature: 2, seed: 9, maxNewTokens: 20 }),
    );
    expect(topK1.tokens).toEqual(greedy.tokens);
  });

  it('applies the repetition penalty over the prompt too', async () => {
    // After 2 the greedy successor is 3, but 3 is in the prompt; the best unseen id is 5 (0.5).
    const plain = await collectGeneration(
      generate(new BigramExecutor(PEAKED), [3, 2], { greedy: true, maxNewTokens: 1 }),
    );
    const penalised = await collectGeneration(
      generate(new BigramExecutor(PEAKED), [3, 2], { greedy: true, maxNewTokens: 1, repetitionPenalty: 100 }),
    );
    expect(plain.tokens).toEqual([3]);
    expect(penalised.tokens).toEqual([5]);
  });

  it('stops at a stop token, which is reported but not decoded', async () => {
    const executor = new BigramExecutor(PEAKED);
    const { events, result } = await runAll(
      generate(executor, [0], { greedy: true, stopTokenIds: [5], detokenizer: detokenizer(PIECES) }),
    );
    expect(events.map((event) => [event.id, event.text])).toEqual([
      [2, 'b'],
      [3, 'c'],
      [4, 'd'],
      [5, ''],
    ]);
    expect(result).toMatchObject({ tokens: [2, 3, 4, 5], text: 'bcd', finishReason: 'stop-token' });
    // The stop token is never fed back.
    expect(executor.calls.map((call) => call.tokens)).toEqual([[0], [2], [3], [4]]);
  });

  it('cuts a stop string spanning several tokens without ever emitting it', async () => {
    const executor = new BigramExecutor(PEAKED);
    const { events, result } = await runAll(
      generate(executor, [0], { greedy: true, stopStrings: ['cde'], detokenizer: detokenizer(PIECES) }),
    );
    expect(events.map((event) => event.text)).toEqual(['b', '', '', '']);
    expect(result).toMatchObject({ tokens: [2, 3, 4, 5], text: 'b', finishReason: 'stop-string' });
    expect(executor.calls).toHaveLength(4);
  });

  it('releases held-back text when the stop string does not complete', async () => {
    const { events, result } = await runAll(
      generate(new BigramExecutor(PEAKED), [0], {
        greedy: true,
        maxNewTokens: 5,
        stopStrings: ['cdx', 'ab'],
        detokenizer: detokenizer(PIECES),
      }),
    );
    // 'c', 'cd' are held until 'e' rules out 'cdx'; the final 'a' is held as a prefix of 'ab' and released at the end.
    expect(events.map((event) => event.text)).toEqual(['b', '', '', 'cde', 'a']);
    expect(result).toMatchObject({ text: 'bcdea', finishReason: 'length' });
  });

  it('cuts a stop string in the middle of one token and drops the rest', async () => {
    const pieces = ['<s>', 'a', 'b', 'c', 'dXY', 'e'];
    const { events, result } = await runAll(
      generate(new BigramExecutor(PEAKED), [0], {
        greedy: true,
        stopStrings: ['X'],
        detokenizer: detokenizer(pieces),
      }),
    );
    expect(events.map((event) => event.text)).toEqual(['b', 'c', 'd']);
    expect(result).toMatchObject({ text: 'bcd', finishReason: 'stop-string' });
  });

  it("ends with 'capacity' when prompt + generated reaches maxTokens", async () => {
    const executor = new BigramExecutor(PEAKED, 4);
    const result = await collectGeneration(generate(executor, [0, 1], { greedy: true, maxNewTokens: 10 }));
    expect(result).toMatchObject({ tokens: [2, 3], finishReason: 'capacity' });
    expect(executor.calls.map((call) => call.tokens)).toEqual([[0, 1], [2]]);
    // When maxNewTokens is met at the same time, it is 'length'.
    const exact = await collectGeneration(
      generate(new BigramExecutor(PEAKED, 4), [0, 1], { greedy: true, maxNewTokens: 2 }),
    );
    expect(exact.finishReason).toBe('length');
    // The largest prompt that fits generates exactly one token.
    const one = await collectGeneration(generate(new BigramExecutor(PEAKED, 3), [0, 1], { greedy: true }));
    expect(one).toMatchObject({ tokens: [2], finishReason: 'capacity' });
  });

  it('rejects a prompt that leaves no room, before touching the executor', () => {
    const executor = new BigramExecutor(PEAKED, 3);
    expect(() => generate(executor, [0, 1, 2], {})).toThrow(CapacityError);
    expect(() => generate(executor, [0, 1, 2], {})).toThrow(/3 tokens.*maxTokens of 3/);
    expect(executor.calls).toEqual([]);
    expect(executor.resets).toEqual([]);
  });

  it("refuses a prompt + maxNewTokens beyond the model's context, naming both numbers", () => {
    const executor = new BigramExecutor(PEAKED, 64);
    (executor.config as { maxPositionEmbeddings: number }).maxPositionEmbeddings = 8;
    const refuse = () => generate(executor, [0, 1, 2, 3, 4, 5], { maxNewTokens: 3 });
    expect(refuse).toThrow(ContextLengthError);
    expect(refuse).toThrow(/6 tokens and 3 new tokens were asked for \(9 in all\).*context is 8 tokens/);
    expect(codeOf(refuse)).toBe('E_CONTEXT_LENGTH');
    // A prompt past the context is refused even with one new token; exactly at it, it runs.
    expect(() => generate(executor, Array(8).fill(1), { maxNewTokens: 1 })).toThrow(/context is 8/);
    expect(() => generate(executor, Array(7).fill(1), { maxNewTokens: 1 })).not.toThrow();
    // A caller that extrapolates on purpose raises the limit.
    expect(() => generate(executor, [0, 1, 2, 3, 4, 5], { maxNewTokens: 3, contextLength: 9 })).not.toThrow();
    expect(() => generate(executor, [0], { contextLength: 0 })).toThrow(EngineInputError);
    expect(executor.calls).toEqual([]);
  });

  it('truncates a prompt from the left or the middle when asked, and says how much', async () => {
    const executor = new BigramExecutor(PEAKED, 64);
    (executor.config as { maxPositionEmbeddings: number }).maxPositionEmbeddings = 6;
    const prompt = [1, 2, 3, 4, 5, 0, 1];
    const left = await collectGeneration(
      generate(executor, prompt, { greedy: true, maxNewTokens: 2, truncate: 'left' }),
    );
    expect(executor.calls[0]!.tokens).toEqual([4, 5, 0, 1]);
    expect(left).toMatchObject({ promptTokens: 4, truncatedTokens: 3, tokens: [2, 3] });
    executor.calls.length = 0;
    const middle = await collectGeneration(
      generate(executor, prompt, { greedy: true, maxNewTokens: 2, truncate: 'middle' }),
    );
    expect(executor.calls[0]!.tokens).toEqual([1, 2, 0, 1]);
    expect(middle.truncatedTokens).toBe(3);
    // No room at all for the prompt: refused even when truncating.
    expect(() => generate(executor, prompt, { maxNewTokens: 6, truncate: 'left' })).toThrow(
      ContextLengthError,
    );
    expect(() => generate(executor, prompt, { truncate: 'both' as 'left' })).toThrow(EngineInputError);
    const fits = await collectGeneration(generate(executor, [1], { greedy: true, maxNewTokens: 2 }));
    expect(fits.truncatedTokens).toBe(0);
  });

  it("continues a sequence that holds the prompt's prefix: no reset, only the new ids are fed", async () => {
    const executor = new BigramExecutor(PEAKED);
    const first = await collectGeneration(generate(executor, [0, 1], { greedy: true, maxNewTokens: 2 }));
    // The last generated token is never fed: the cache holds the prompt and all but the last.
    expect(executor.length(0)).toBe(3);
    executor.calls.length = 0;
    executor.resets.length = 0;
    const prompt = [0, 1, first.tokens[0]!, first.tokens[1]!, 5];
    const second = await collectGeneration(
      generate(executor, prompt, {
        greedy: true,
        maxNewTokens: 1,
        cachedPrefixLength: 3,
        prefillChunkSize: 1,
      }),
    );
    expect(executor.resets).toEqual([]);
    expect(executor.calls.map((call) => call.tokens)).toEqual([[first.tokens[1]!], [5]]);
    expect(second).toMatchObject({ promptTokens: 5, cachedPromptTokens: 3, tokens: [1] });
    // The same prompt from scratch gives the same token (the bigram executor has no streaming heads).
    const fresh = await collectGeneration(
      generate(new BigramExecutor(PEAKED), prompt, { greedy: true, maxNewTokens: 1 }),
    );
    expect(fresh).toMatchObject({ tokens: [1], cachedPromptTokens: 0 });
  });

  it('refuses a cached prefix the sequence does not hold, or one that leaves nothing to feed', async () => {
    const executor = new BigramExecutor(PEAKED);
    await collectGeneration(generate(executor, [0, 1], { greedy: true, maxNewTokens: 1 }));
    expect(executor.length(0)).toBe(2);
    expect(() => generate(executor, [0, 1, 2], { cachedPrefixLength: 1 })).toThrow(/holds 2 tokens/);
    expect(() => generate(executor, [0, 1], { cachedPrefixLength: 2 })).toThrow(EngineInputError);
    expect(() => generate(executor, [0, 1, 2], { cachedPrefixLength: -1 })).toThrow(EngineInputError);
    // A prompt truncated to fit does not start with the cached ids any more: the cache is reset.
    (executor.config as { maxPositionEmbeddings: number }).maxPositionEmbeddings = 4;
    const cut = await collectGeneration(
      generate(executor, [0, 1, 2, 3, 4], {
        greedy: true,
        maxNewTokens: 1,
        truncate: 'left',
        cachedPrefixLength: 2,
      }),
    );
    expect(cut).toMatchObject({ truncatedTokens: 2, cachedPromptTokens: 0 });
    expect(executor.resets.length).toBe(2);
  });

  it('validates its inputs with typed errors', () => {
    const executor = new BigramExecutor(PEAKED);
    expect(codeOf(() => generate(executor, []))).toBe('E_ENGINE_INPUT');
    expect(codeOf(() => generate(executor, [0, 6]))).toBe('E_ENGINE_INPUT');
    expect(codeOf(() => generate(executor, [0, 1.5]))).toBe('E_ENGINE_INPUT');
    expect(codeOf(() => generate(executor, [0], { maxNewTokens: 0 }))).toBe('E_ENGINE_INPUT');
    expect(codeOf(() => generate(executor, [0], { prefillChunkSize: 0 }))).toBe('E_ENGINE_INPUT');
    expect(codeOf(() => generate(executor, [0], { sequence: -1 }))).toBe('E_ENGINE_INPUT');
    expect(codeOf(() => generate(executor, [0], { stopTokenIds: [7] }))).toBe('E_ENGINE_INPUT');
    expect(codeOf(() => generate(executor, [0], { stopStrings: ['x'] }))).toBe('E_ENGINE_INPUT');
    expect(
      codeOf(() => generate(executor, [0], { stopStrings: [''], detokenizer: detokenizer(PIECES) })),
    ).toBe('E_ENGINE_INPUT');
    expect(codeOf(() => generate(executor, [0], { topP: 0 }))).toBe('E_SAMPLING');
    expect(() => generate(executor, [0], { seed: 0.5 })).toThrow(SamplingError);
    expect(() => generate(executor, [0, 9])).toThrow(EngineInputError);
    expect(() => generate(executor, [0, 9])).toThrow(/prompt\[1\] = 9/);
    expect(executor.calls).toEqual([]);
  });

  it('stops promptly when aborted between tokens', async () => {
    const executor = new BigramExecutor(PEAKED);
    const controller = new AbortController();
    const iterator = generate(executor, [0], { greedy: true, maxNewTokens: 50, signal: controller.signal });
    const events: number[] = [];
    let result: GenerateResult | undefined;
    for (;;) {
      const step = await iterator.next();
      if (step.done) {
        result = step.value;
        break;
      }
      events.push(step.value.id);
      if (events.length === 3) controller.abort();
    }
    expect(events).toEqual([2, 3, 4]);
    expect(result).toMatchObject({ tokens: [2, 3, 4], finishReason: 'aborted' });
    // Prefill and two decode steps; nothing after the abort.
    expect(executor.calls).toHaveLength(3);
  });

  it('passes the signal to forward and reports an abort raised inside it', async () => {
    const controller = new AbortController();
    const seen: (AbortSignal | undefined)[] = [];
    const executor = new BigramExecutor(PEAKED, 64, (callIndex, options) => {
      seen.push(options.signal);
      if (callIndex === 2) {
        controller.abort();
        throw new DOMException('aborted', 'AbortError');
      }
    });
    const result = await collectGeneration(
      generate(executor, [0], { greedy: true, maxNewTokens: 50, signal: controller.signal }),
    );
    expect(seen.every((signal) => signal === controller.signal)).toBe(true);
    expect(result).toMatchObject({ tokens: [2, 3], finishReason: 'aborted' });
  });

  it('runs nothing when the signal is already aborted', async () => {
    const executor = new BigramExecutor(PEAKED);
    const result = await collectGeneration(generate(executor, [0], { signal: AbortSignal.abort() }));
    expect(result).toMatchObject({ tokens: [], finishReason: 'aborted' });
    expect(executor.calls).toEqual([]);
  });

  it('rejects the iterator when the executor fails mid-generation', async () => {
    const executor = new BigramExecutor(PEAKED, 64, (callIndex) => {
      if (callIndex === 2) throw new Error('device lost');
    });
    const iterator = generate(executor, [0], { greedy: true, maxNewTokens: 50 });
    expect((await iterator.next()).value).toMatchObject({ id: 2 });
    expect((await iterator.next()).value).toMatchObject({ id: 3 });
    await expect(iterator.next()).rejects.toThrow('device lost');
  });

  it('rejects logits of the wrong shape from a backend', async () => {
    const executor = new BigramExecutor(PEAKED);
    executor.forward = async () => ({ logits: new Float32Array(5), numRows: 1, vocabSize: 5 });
    await expect(collectGeneration(generate(executor, [0]))).rejects.toThrow(BackendResultError);
  });
});

describe('generate with an executor that samples on its device (forwardSample)', () => {
  it('samples in the last prefill call and every decode step; earlier chunks use forward', async () => {
    const executor = new SamplingBigramExecutor(PEAKED);
    const result = await collectGeneration(
      generate(executor, [0, 1, 2, 3, 4, 1, 2], {
        greedy: true,
        maxNewTokens: 3,
        prefillChunkSize: 3,
        sequence: 1,
      }),
    );
    expect(executor.methods).toEqual([
      'forward',
      'forward',
      'forwardSample',
      'forwardSample',
      'forwardSample',
    ]);
    expect(executor.calls.map((call) => [call.sequence, call.tokens])).toEqual([
      [1, [0, 1, 2]],
      [1, [3, 4, 1]],
      [1, [2]],
      [1, [3]],
      [1, [4]],
    ]);
    expect(executor.sampleCalls.map((call) => call.tokens)).toEqual([[2], [3], [4]]);
    expect(result.tokens).toEqual([3, 4, 5]);
    expect(result.prefillMs).toBeGreaterThanOrEqual(0);
    expect(result.decodeMs).toBeGreaterThanOrEqual(0);
    // With a stepwise tail the last one-token prompt call samples.
    const tailed = new SamplingBigramExecutor(PEAKED);
    await collectGeneration(
      generate(tailed, [0, 1, 2, 3], { greedy: true, maxNewTokens: 1, stepwisePromptTail: 2 }),
    );
    expect(tailed.methods).toEqual(['forward', 'forward', 'forwardSample']);
    expect(tailed.calls.map((call) => call.tokens)).toEqual([[0, 1], [2], [3]]);
    // A one-chunk prompt samples in its only call; greedy requests carry no draw and no ids.
    const single = new SamplingBigramExecutor(PEAKED);
    await collectGeneration(generate(single, [0], { greedy: true, maxNewTokens: 2 }));
    expect(single.methods).toEqual(['forwardSample', 'forwardSample']);
    expect(single.sampleCalls[0]!.request).toEqual({
      greedy: true,
      temperature: 1,
      topK: 0,
      topP: 1,
      repetitionPenalty: 1,
      uniform: 0,
    });
  });

  const settings: [string, GenerateOptions][] = [
    ['plain softmax', {}],
    ['temperature 0.75', { temperature: 0.75 }],
    ['top-k 3 + top-p 0.8', { topK: 3, topP: 0.8 }],
    ['penalty 1.5 + temperature 1.25', { repetitionPenalty: 1.5, temperature: 1.25 }],
    ['greedy + penalty 1.5', { greedy: true, repetitionPenalty: 1.5 }],
  ];
  for (const [name, options] of settings) {
    it(`${name}: the same tokens as host sampling, consuming the seeded stream one draw per token`, async () => {
      for (const seed of [1, 2, 77]) {
        const run = { maxNewTokens: 30, seed, stopTokenIds: [], ...options };
        const host = await collectGeneration(generate(new BigramExecutor(FLAT), [0, 4], run));
        const device = new SamplingBigramExecutor(FLAT);
        const onDevice = await collectGeneration(generate(device, [0, 4], run));
        expect(onDevice.tokens).toEqual(host.tokens);
        expect(onDevice.tokens).toHaveLength(30);
        const draws = device.sampleCalls.map((call) => call.request.uniform);
        if (options.greedy) {
          expect(draws.every((u) => u === 0)).toBe(true);
        } else {
          const rng = createRng(seed);
          expect(draws).toEqual(Array.from({ length: 30 }, () => rng.nextFloat()));
        }
        // The penalty's ids are the prompt plus every token generated before the call, once each.
        device.sampleCalls.forEach((call, step) => {
          const expected = options.repetitionPenalty
            ? [...new Set([0, 4, ...onDevice.tokens.slice(0, step)])].sort((a, b) => a - b)
            : undefined;
          const previous = call.request.previousTokens;
          expect(previous === undefined ? undefined : [...previous].sort((a, b) => a - b)).toEqual(expected);
        });
      }
    });
  }

  it('a sampling run really departs from greedy, so the comparison above can fail', async () => {
    const device = await collectGeneration(
      generate(new SamplingBigramExecutor(FLAT), [0], { seed: 1, maxNewTokens: 30 }),
    );
    const greedy = await collectGeneration(
      generate(new BigramExecutor(FLAT), [0], { greedy: true, maxNewTokens: 30 }),
    );
    expect(device.tokens).not.toEqual(greedy.tokens);
  });

  it('stops, aborts and fails like the logits path', async () => {
    const stopped = new SamplingBigramExecutor(PEAKED);
    const result = await collectGeneration(generate(stopped, [0], { greedy: true, stopTokenIds: [5] }));
    expect(result).toMatchObject({ tokens: [2, 3, 4, 5], finishReason: 'stop-token' });
    expect(stopped.sampleCalls.map((call) => call.tokens)).toEqual([[0], [2], [3], [4]]);

    const controller = new AbortController();
    const aborting = new SamplingBigramExecutor(PEAKED, 64, (callIndex) => {
      if (callIndex === 2) {
        controller.abort();
        throw new DOMException('aborted', 'AbortError');
      }
    });
    const aborted = await collectGeneration(
      generate(aborting, [0], { greedy: true, maxNewTokens: 50, signal: controller.signal }),
    );
    expect(aborted).toMatchObject({ tokens: [2, 3], finishReason: 'aborted' });
    expect(aborting.sampleCalls.every((call) => call.signal === controller.signal)).toBe(true);

    const failing = new SamplingBigramExecutor(PEAKED, 64, (callIndex) => {
      if (callIndex === 1) throw new SamplingError('logits contain NaN at token id 3');
    });
    await expect(collectGeneration(generate(failing, [0], { greedy: true }))).rejects.toThrow(SamplingError);
  });

  it('rejects a sampled id outside the vocabulary', async () => {
    for (const bad of [VOCAB, -1, 1.5]) {
      const executor = new SamplingBigramExecutor(PEAKED);
      executor.replaceId = () => bad;
      await expect(collectGeneration(generate(executor, [0]))).rejects.toThrow(BackendResultError);
    }
  });

  it('score never uses forwardSample', async () => {
    const executor = new SamplingBigramExecutor(PEAKED);
    await score(executor, [0, 2, 3], { prefillLength: 2 });
    expect(executor.methods).toEqual(['forward', 'forward']);
  });
});

describe('score', () => {
  it('prefills with all logits in chunks, then decodes; argmax per position, requested rows kept', async () => {
    const executor = new BigramExecutor(PEAKED);
    const ids = [0, 2, 3, 1, 4];
    const result = await score(executor, ids, {
      prefillLength: 3,
      prefillChunkSize: 2,
      rows: [0, 4, 4],
      sequence: 1,
    });
    expect(executor.resets).toEqual([1]);
    expect(executor.calls).toEqual([
      { sequence: 1, tokens: [0, 2], allLogits: true },
      { sequence: 1, tokens: [3], allLogits: true },
      { sequence: 1, tokens: [1], allLogits: false },
      { sequence: 1, tokens: [4], allLogits: false },
    ]);
    expect(result.argmax).toEqual(ids.map((id) => NEXT[id]));
    expect([...result.logits.keys()].sort()).toEqual([0, 4]);
    expect(Array.from(result.logits.get(0)!)).toEqual(Array.from(Float32Array.from(PEAKED[0]!)));
    expect(Array.from(result.logits.get(4)!)).toEqual(Array.from(Float32Array.from(PEAKED[4]!)));
  });

  it('prefills everything in one call by default', async () => {
    const executor = new BigramExecutor(PEAKED);
    const result = await score(executor, [1, 2, 3], { prefillLength: 3 });
    expect(executor.calls).toEqual([{ sequence: 0, tokens: [1, 2, 3], allLogits: true }]);
    expect(result.argmax).toEqual([2, 3, 4]);
    expect(result.logits.size).toBe(0);
  });

  it('validates its inputs with typed errors', async () => {
    const executor = new BigramExecutor(PEAKED, 4);
    const codeOfAsync = async (promise: Promise<unknown>): Promise<string | undefined> =>
      promise.then(
        () => undefined,
        (error: unknown) => (DuoError.isInstance(error) ? error.code : 'not a DuoError'),
      );
    expect(await codeOfAsync(score(executor, [], { prefillLength: 1 }))).toBe('E_ENGINE_INPUT');
    expect(await codeOfAsync(score(executor, [0, 1], { prefillLength: 0 }))).toBe('E_ENGINE_INPUT');
    expect(await codeOfAsync(score(executor, [0, 1], { prefillLength: 3 }))).toBe('E_ENGINE_INPUT');
    expect(await codeOfAsync(score(executor, [0, 1], { prefillLength: 1.5 }))).toBe('E_ENGINE_INPUT');
    expect(await codeOfAsync(score(executor, [0, 1], { prefillLength: 1, rows: [2] }))).toBe(
      'E_ENGINE_INPUT',
    );
    expect(await codeOfAsync(score(executor, [0, 1], { prefillLength: 1, rows: [-1] }))).toBe(
      'E_ENGINE_INPUT',
    );
    expect(await codeOfAsync(score(executor, [0, 8], { prefillLength: 1 }))).toBe('E_ENGINE_INPUT');
    const short = new BigramExecutor(PEAKED, 64);
    (short.config as { maxPositionEmbeddings: number }).maxPositionEmbeddings = 3;
    expect(await codeOfAsync(score(short, [0, 1, 2, 3], { prefillLength: 1 }))).toBe('E_CONTEXT_LENGTH');
    await expect(score(short, [0, 1, 2, 3], { prefillLength: 1 })).rejects.toThrow(
      /the id list has 4 tokens, but the model's context is 3 tokens/,
    );
    await expect(score(short, [0, 1, 2, 3], { prefillLength: 1, contextLength: 4 })).resolves.toBeDefined();
    expect(await codeOfAsync(score(executor, [0, 1], { prefillLength: 1, prefillChunkSize: 0 }))).toBe(
      'E_ENGINE_INPUT',
    );
    expect(await codeOfAsync(score(executor, [0, 1, 2, 3, 4], { prefillLength: 1 }))).toBe('E_CAPACITY');
    await expect(score(executor, [0, 1], { prefillLength: 1, rows: [5] })).rejects.toThrow(/rows\[0\] = 5/);
    expect(executor.calls).toEqual([]);
  });

  it('rejects when aborted and propagates executor errors', async () => {
    const controller = new AbortController();
    const executor = new BigramExecutor(PEAKED, 64, (callIndex) => {
      if (callIndex === 1) controller.abort();
    });
    await expect(
      score(executor, [0, 1, 2, 3], { prefillLength: 1, signal: controller.signal }),
    ).rejects.toThrow(AbortedError);
    expect(executor.calls).toHaveLength(2);

    const failing = new BigramExecutor(PEAKED, 64, (callIndex) => {
      if (callIndex === 1) throw new Error('kernel fault');
    });
    await expect(score(failing, [0, 1, 2], { prefillLength: 1 })).rejects.toThrow('kernel fault');
  });

  it('rejects a backend that returns the wrong number of rows', async () => {
    const executor = new BigramExecutor(PEAKED);
    const forward = executor.forward.bind(executor);
    executor.forward = (sequence, tokens) => forward(sequence, tokens); // drops allLogits
    await expect(score(executor, [0, 1, 2], { prefillLength: 3 })).rejects.toThrow(
      /1 rows x 6.*expected 3 rows/,
    );
  });
});
