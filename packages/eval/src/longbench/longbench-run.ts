// Runs one LongBench file on one executor: every sample not yet in the results file gets its prompt
// (template, chat template, middle truncation), a greedy answer and a score, and is written as it
// finishes, so an interrupted run resumes where it stopped.
import type { Executor, Tokenizer } from '@duo-attn/core';
import { runRetrievalTrial } from '../niah/retrieval-trial.js';
import type { LongBenchFile } from './longbench-data.js';
import { buildLongBenchPrompt } from './longbench-prompt.js';
import type { LongBenchRecord, LongBenchResultsFile } from './longbench-results-file.js';
import { scoreSample } from './longbench-scoring.js';
import { fillPromptTemplate } from './prompt-template.js';

/** The original's `decoding_simulation_length`: prompt tokens fed as decode steps. */
export const DEFAULT_STEPWISE_PROMPT_TAIL = 50;

/** How to run a file. */
export interface LongBenchRunOptions {
  /** The dataset's prompt template (dataset2prompt). */
  readonly promptTemplate: string;
  /** Most answer tokens (dataset2maxlen). */
  readonly maxNewTokens: number;
  /** Most prompt tokens; longer prompts lose their middle. */
  readonly maxLength: number;
  /** Use the model's chat template where LongBench does (default true). */
  readonly chatTemplate?: boolean;
  /** Prompt tokens fed one per step at the end (default 50, as the original). */
  readonly stepwisePromptTail?: number;
  /** Prefill chunk size (default: the prompt in one call, as the original). */
  readonly prefillChunkSize?: number;
  /** Positions the model may use (default its maxPositionEmbeddings). */
  readonly contextLength?: number;
  readonly signal?: AbortSignal;
  /** Called after each sample is written, with how many of the file's samples are finished. */
  readonly onSample?: (record: LongBenchRecord, finished: number, total: number) => void;
}

/** What {@link runLongBenchFile} did. */
export interface LongBenchFileRun {
  /** Samples that were already in the results file. */
  readonly resumed: number;
  /** Samples generated now. */
  readonly generated: number;
  /** True when the signal stopped the run (the sample it cut off is not written). */
  readonly interrupted: boolean;
}

/** What {@link measureLongBenchPrompts} needs: the prompt options of {@link LongBenchRunOptions}. */
export type LongBenchPromptSettings = Pick<
  LongBenchRunOptions,
  'promptTemplate' | 'maxLength' | 'chatTemplate'
>;

/**
 * The token count of each sample's prompt (template, chat template, truncation), in file order.
 * Run before any model work, it checks every prompt can be built and tells how many positions the
 * executor needs (sizing it by the longest real prompt, not the maximum length, keeps a million-token
 * model's caches from being allocated for LongBench's short prompts).
 */
export function measureLongBenchPrompts(
  tokenizer: Tokenizer,
  file: LongBenchFile,
  options: LongBenchPromptSettings,
): number[] {
  return file.samples.map((sample) => {
    const text = fillPromptTemplate(
      options.promptTemplate,
      sample.fields,
      `${file.path} (sample ${sample.id})`,
    );
    return buildLongBenchPrompt(tokenizer, file.dataset, text, {
      maxLength: options.maxLength,
      ...(options.chatTemplate !== undefined ? { chatTemplate: options.chatTemplate } : {}),
    }).ids.length;
  });
}

/**
 * Generates and scores every sample of `file` missing from `results`, in file order, writing each
 * as it finishes. Prompts are built before generation starts, so a bad template or field fails
 * before any model work. An abort ends the run after the samples finished so far.
 */
export async function runLongBenchFile(
  executor: Executor,
  tokenizer: Tokenizer,
  file: LongBenchFile,
  results: LongBenchResultsFile,
  options: LongBenchRunOptions,
): Promise<LongBenchFileRun> {
  const pending = file.samples.filter((sample) => !results.has(sample.id));
  const resumed = file.samples.length - pending.length;
  const prompts = pending.map((sample) =>
    fillPromptTemplate(options.promptTemplate, sample.fields, `${file.path} (sample ${sample.id})`),
  );
  let generated = 0;
  for (const [index, sample] of pending.entries()) {
    if (options.signal?.aborted) return { resumed, generated, interrupted: true };
    const prompt = buildLongBenchPrompt(tokenizer, file.dataset, prompts[index]!, {
      maxLength: options.maxLength,
      ...(options.chatTemplate !== undefined ? { chatTemplate: options.chatTemplate } : {}),
    });
    const answer = await runRetrievalTrial(executor, prompt.ids, {
      maxNewTokens: options.maxNewTokens,
      stopTokenIds: tokenizer.eosTokenIds,
      decode: (ids) => tokenizer.decode(ids, { skipSpecialTokens: true }),
      stepwisePromptTail: options.stepwisePromptTail ?? DEFAULT_STEPWISE_PROMPT_TAIL,
      ...(options.prefillChunkSize !== undefined ? { prefillChunkSize: options.prefillChunkSize } : {}),
      ...(options.contextLength !== undefined ? { contextLength: options.contextLength } : {}),
      ...(options.signal !== undefined ? { signal: options.signal } : {}),
    });
    if (answer.aborted) return { resumed, generated, interrupted: true };
    const record: LongBenchRecord = {
      _id: sample.id,
      pred: answer.output,
      answers: sample.answers,
      all_classes: sample.allClasses,
      length: sample.length,
      score: scoreSample(file.dataset, answer.output, sample.answers, sample.allClasses ?? []),
      prompt_tokens: prompt.ids.length,
      truncated_tokens: prompt.truncatedTokens,
      finish_reason: answer.finishReason,
    };
    await results.add(record);
    generated++;
    options.onSample?.(record, results.finished.length, file.samples.length);
  }
  return { resumed, generated, interrupted: false };
}
