// Needle-in-a-haystack trials: prepared once (haystacks, values and exact-length prompts, all
// checked before any model runs), then run on any number of executors, so policies are compared on
// the same prompts.
import type { Executor, Tokenizer } from '@duo-attn/core';
import { createRng, tokenizePrefix } from '@duo-attn/core';
import { EvalOptionError } from '../errors.js';
import { generateHaystack } from '../haystack/haystack-generator.js';
import { containsValue } from '../scoring/exact-match.js';
import { rouge1 } from '../scoring/rouge.js';
import { buildNeedlePrompt } from './needle-prompt.js';
import { fillTemplate, type NeedleMode, type NeedleTemplates, needleMode } from './needle-templates.js';
import { runRetrievalTrial } from './retrieval-trial.js';

/** Where haystack text comes from. */
export type HaystackSource =
  /** The deterministic generator, a different text per trial (default). */
  | { readonly kind: 'generated' }
  /** One fixed text (e.g. `readHaystackDirectory`), repeated as needed, the same for every trial. */
  | { readonly kind: 'text'; readonly text: string };

/** What to prepare. */
export interface NeedleGridOptions {
  /** Prompt lengths in tokens (BOS, haystack, needle, question and answer prefix included). */
  readonly lengths: readonly number[];
  /** Needle depths in percent of the haystack. */
  readonly depths: readonly number[];
  /** Trials per (length, depth) cell. */
  readonly trials: number;
  readonly templates: NeedleTemplates;
  /** Seed of the values and generated haystacks (default 0). */
  readonly seed?: number;
  /** Digits of each random value (default 7; the first is never 0). */
  readonly valueDigits?: number;
  readonly haystack?: HaystackSource;
}

/** One prepared trial. */
export interface NeedleTrial {
  readonly length: number;
  readonly depth: number;
  readonly trial: number;
  /** The hidden value (value mode) or the needle sentence (classic mode). */
  readonly expected: string;
  readonly ids: readonly number[];
  readonly actualDepth: number;
}

/** Trials ready to run, with their scoring mode. */
export interface PreparedNeedleGrid {
  readonly mode: NeedleMode;
  readonly trials: readonly NeedleTrial[];
}

/**
 * Builds every prompt of the grid. Throws {@link EvalOptionError} before any model work for bad
 * templates, empty grids or lengths with no room for haystack.
 */
export function prepareNeedleGrid(tokenizer: Tokenizer, options: NeedleGridOptions): PreparedNeedleGrid {
  const mode = needleMode(options.templates);
  if (options.lengths.length === 0 || options.depths.length === 0)
    throw new EvalOptionError('the grid has no lengths or no depths');
  if (!Number.isInteger(options.trials) || options.trials < 1)
    throw new EvalOptionError(`trials must be a positive integer, got ${options.trials}`);
  const seed = options.seed ?? 0;
  const digits = options.valueDigits ?? 7;
  const random = createRng(seed);
  const source = options.haystack ?? { kind: 'generated' };
  const encode = (text: string) => tokenizer.encode(text, { addSpecialTokens: false });
  const bosId = tokenizer.addBosToken ? tokenizer.bosTokenId : undefined;
  const sentenceEndIds = sentenceEnds(tokenizer);
  const longest = Math.max(...options.lengths);
  // A fixed text is tokenized once (only as much of it as the longest prompt needs) and repeated
  // until it covers the longest prompt.
  const fixedIds = source.kind === 'text' ? fixedHaystackIds(source.text, encode, longest) : undefined;
  const trials: NeedleTrial[] = [];
  let index = 0;
  for (const length of options.lengths) {
    for (const depth of options.depths) {
      for (let trial = 0; trial < options.trials; trial++) {
        const value = mode === 'value' ? randomValue(random.nextUint32, digits) : '';
        const needle = fillTemplate(options.templates.needle, value);
        const question = fillTemplate(options.templates.question + options.templates.answerPrefix, value);
        // Roughly 4 characters per token; the prompt builder cuts to the exact length.
        const haystackIds =
          fixedIds ?? encode(generateHaystack(length * 6, { seed: seed * 100_003 + index }));
        index++;
        let prompt: ReturnType<typeof buildNeedlePrompt>;
        try {
          prompt = buildNeedlePrompt(
            {
              haystackIds,
              needleIds: encode(needle),
              questionIds: encode(question),
              ...(bosId !== undefined ? { bosId } : {}),
              sentenceEndIds,
            },
            length,
            depth,
          );
        } catch (error) {
          throw new EvalOptionError(
            `cannot build a ${length}-token prompt at depth ${depth}%: ${(error as Error).message}`,
          );
        }
        trials.push({
          length,
          depth,
          trial,
          expected: mode === 'value' ? value : needle.trim(),
          ids: prompt.ids,
          actualDepth: prompt.actualDepth,
        });
      }
    }
  }
  return { mode, trials };
}

/** One finished trial. */
export interface NeedleTrialRecord {
  readonly length: number;
  readonly depth: number;
  readonly trial: number;
  readonly expected: string;
  readonly output: string;
  /** 1/0 exact match (value mode) or ROUGE-1 recall of the needle (classic mode). */
  readonly score: number;
  readonly actualDepth: number;
}

/** Mean score of one (length, depth) cell. */
export interface NeedleCell {
  readonly length: number;
  readonly depth: number;
  readonly trials: number;
  /** Trials scored 1. */
  readonly correct: number;
  /** Mean score in [0, 1]. */
  readonly score: number;
}

export interface RunNeedleOptions {
  readonly maxNewTokens: number;
  readonly prefillChunkSize?: number;
  readonly signal?: AbortSignal;
  /**
   * Positions the model may use, prompt and answer together (default: its maxPositionEmbeddings).
   * Raise it to let answers to prompts at the trained length run past it, as the original's grid does.
   */
  readonly contextLength?: number;
  readonly onTrial?: (record: NeedleTrialRecord, done: number, total: number) => void;
}

/** What {@link runNeedleGrid} returns. */
export interface NeedleGridRun {
  /** Mean scores of the cells with at least one finished trial, in (length, depth) order. */
  readonly cells: NeedleCell[];
  /** Every finished trial, in grid order. */
  readonly records: NeedleTrialRecord[];
  /**
   * True when the signal stopped the run: `records` holds only the trials that finished before it
   * (a trial cut off mid-answer is dropped, never scored as a miss).
   */
  readonly interrupted: boolean;
}

/**
 * Runs prepared trials on `executor` with greedy decoding; cells come back in (length, depth)
 * order. An abort through `signal` ends the run after the trials finished so far.
 */
export async function runNeedleGrid(
  executor: Executor,
  tokenizer: Tokenizer,
  grid: PreparedNeedleGrid,
  options: RunNeedleOptions,
): Promise<NeedleGridRun> {
  const records: NeedleTrialRecord[] = [];
  let interrupted = false;
  for (const trial of grid.trials) {
    if (options.signal?.aborted) {
      interrupted = true;
      break;
    }
    const result = await runRetrievalTrial(executor, trial.ids, {
      maxNewTokens: options.maxNewTokens,
      stopTokenIds: tokenizer.eosTokenIds,
      decode: (ids) => tokenizer.decode(ids, { skipSpecialTokens: true }),
      ...(options.prefillChunkSize !== undefined ? { prefillChunkSize: options.prefillChunkSize } : {}),
      ...(options.signal !== undefined ? { signal: options.signal } : {}),
      ...(options.contextLength !== undefined ? { contextLength: options.contextLength } : {}),
    });
    if (result.aborted) {
      interrupted = true;
      break;
    }
    const score =
      grid.mode === 'value'
        ? containsValue(result.output, trial.expected)
          ? 1
          : 0
        : rouge1(trial.expected, result.output).recall;
    const record = {
      length: trial.length,
      depth: trial.depth,
      trial: trial.trial,
      expected: trial.expected,
      output: result.output,
      score,
      actualDepth: trial.actualDepth,
    };
    records.push(record);
    options.onTrial?.(record, records.length, grid.trials.length);
  }
  return { cells: cellsOf(records), records, interrupted };
}

function cellsOf(records: readonly NeedleTrialRecord[]): NeedleCell[] {
  const cells = new Map<string, { length: number; depth: number; scores: number[] }>();
  for (const record of records) {
    const key = `${record.length}:${record.depth}`;
    const cell = cells.get(key) ?? { length: record.length, depth: record.depth, scores: [] };
    cell.scores.push(record.score);
    cells.set(key, cell);
  }
  return [...cells.values()].map(({ length, depth, scores }) => ({
    length,
    depth,
    trials: scores.length,
    correct: scores.filter((s) => s === 1).length,
    score: scores.reduce((a, b) => a + b, 0) / scores.length,
  }));
}

function randomValue(next: () => number, digits: number): string {
  let value = String(1 + (next() % 9));
  for (let i = 1; i < digits; i++) value += String(next() % 10);
  return value;
}

/**
 * The first `count` token ids of `text`, repeated from its start when the text is shorter; only the
 * part of a long text that is needed gets tokenized (see `tokenizePrefix`).
 */
export function fixedHaystackIds(text: string, encode: (text: string) => number[], count: number): number[] {
  const ids = tokenizePrefix(text, encode, count);
  if (ids.length === 0) throw new EvalOptionError('the haystack text is empty');
  if (ids.length >= count) return ids;
  const repeated = new Array<number>(count);
  for (let i = 0; i < count; i++) repeated[i] = ids[i % ids.length]!;
  return repeated;
}

/** Ids of tokens whose text ends a sentence (., ! or ? before any trailing whitespace). */
export function sentenceEnds(tokenizer: Tokenizer): Set<number> {
  const ends = new Set<number>();
  for (let id = 0; id < tokenizer.vocabSize; id++) {
    if (tokenizer.isSpecialToken(id)) continue;
    if (/[.!?]\s*$/.test(tokenizer.decode([id]))) ends.add(id);
  }
  return ends;
}
