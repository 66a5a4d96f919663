// Runs needle-retrieval trials over a grid of context lengths × needle depths on one executor:
// each trial draws a fresh value, builds an exact-length prompt and scores the greedy answer.
import { createRng, type Executor, type Tokenizer } from '@duo-attn/core';
import { generateHaystack } from '../haystack/haystack-generator.js';
import { buildNeedlePrompt } from './needle-prompt.js';
import { fillTemplate, type NeedleTemplates } from './needle-templates.js';
import { runRetrievalTrial } from './retrieval-trial.js';

/** What to run. */
export interface RetrievalGridOptions {
  /** Prompt lengths in tokens (BOS, haystack, needle and question included). */
  readonly lengths: readonly number[];
  /** Needle depths in percent of the haystack. */
  readonly depths: readonly number[];
  /** Trials per (length, depth) cell. */
  readonly trials: number;
  readonly templates: NeedleTemplates;
  /** Seed of the values and of the haystack texts (default 0). */
  readonly seed?: number;
  /** Digits of each random value (default 7; the first digit is never 0). */
  readonly valueDigits?: number;
  readonly maxNewTokens?: number;
  readonly prefillChunkSize?: number;
  readonly signal?: AbortSignal;
  /** Called after every trial (progress display). */
  readonly onTrial?: (trial: RetrievalTrialRecord) => void;
}

/** One finished trial. */
export interface RetrievalTrialRecord {
  readonly length: number;
  readonly depth: number;
  readonly trial: number;
  readonly value: string;
  readonly output: string;
  readonly correct: boolean;
  readonly actualDepth: number;
}

/** Accuracy of one grid cell. */
export interface RetrievalCell {
  readonly length: number;
  readonly depth: number;
  readonly trials: number;
  readonly correct: number;
  /** correct / trials. */
  readonly score: number;
}

/** Runs the grid; cells come back in (length, depth) order. */
export async function runRetrievalGrid(
  executor: Executor,
  tokenizer: Tokenizer,
  options: RetrievalGridOptions,
): Promise<{ cells: RetrievalCell[]; trials: RetrievalTrialRecord[] }> {
  const seed = options.seed ?? 0;
  const random = createRng(seed);
  const digits = options.valueDigits ?? 7;
  const sentenceEndIds = sentenceEnds(tokenizer);
  const bosId = tokenizer.addBosToken ? tokenizer.bosTokenId : undefined;
  const cells: RetrievalCell[] = [];
  const records: RetrievalTrialRecord[] = [];
  let haystackIndex = 0;
  for (const length of options.lengths) {
    for (const depth of options.depths) {
      let correct = 0;
      for (let trial = 0; trial < options.trials; trial++) {
        const value = randomValue(random.nextUint32, digits);
        // Roughly 4 characters per token; the builder cuts to the exact length.
        const text = generateHaystack(length * 6, { seed: seed * 100_003 + haystackIndex++ });
        const prompt = buildNeedlePrompt(
          {
            haystackIds: tokenizer.encode(text, { addSpecialTokens: false }),
            needleIds: tokenizer.encode(fillTemplate(options.templates.needle, value), {
              addSpecialTokens: false,
            }),
            questionIds: tokenizer.encode(fillTemplate(options.templates.question, value), {
              addSpecialTokens: false,
            }),
            ...(bosId !== undefined ? { bosId } : {}),
            sentenceEndIds,
          },
          length,
          depth,
        );
        const result = await runRetrievalTrial(executor, prompt.ids, {
          value,
          maxNewTokens: options.maxNewTokens ?? digits + 4,
          stopTokenIds: tokenizer.eosTokenIds,
          decode: (ids) => tokenizer.decode(ids, { skipSpecialTokens: true }),
          ...(options.prefillChunkSize !== undefined ? { prefillChunkSize: options.prefillChunkSize } : {}),
          ...(options.signal !== undefined ? { signal: options.signal } : {}),
        });
        if (result.correct) correct++;
        const record = {
          length,
          depth,
          trial,
          value,
          output: result.output,
          correct: result.correct,
          actualDepth: prompt.actualDepth,
        };
        records.push(record);
        options.onTrial?.(record);
      }
      cells.push({ length, depth, trials: options.trials, correct, score: correct / options.trials });
    }
  }
  return { cells, trials: records };
}

function randomValue(next: () => number, digits: number): string {
  let value = String(1 + (next() % 9));
  for (let i = 1; i < digits; i++) value += String(next() % 10);
  return value;
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
