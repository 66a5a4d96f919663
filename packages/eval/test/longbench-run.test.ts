// runLongBenchFile on the bundled toy model: resumable results (an interrupted run keeps the samples
// that finished and the next run completes exactly what an uninterrupted run gives), and scores.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createCpuBackend,
  defaultModelDirectory,
  type Executor,
  fullPolicy,
  loadModel,
  loadTokenizer,
  type Tokenizer,
} from '@duo-attn/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  formatLongBenchMarkdown,
  LongBenchResultsFile,
  readLongBenchFile,
  readLongBenchTables,
  runLongBenchFile,
  scoreLongBenchRecords,
  writeToyLongBench,
} from '../src/index.js';

let root: string;
let executor: Executor;
let tokenizer: Tokenizer;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'duo-longbench-run-'));
  await writeToyLongBench(join(root, 'data'), join(root, 'tables'));
  const directory = defaultModelDirectory();
  const model = await loadModel(directory);
  tokenizer = await loadTokenizer(directory);
  executor = await createCpuBackend().load(model, fullPolicy(model.config), { maxTokens: 1024 });
});
afterAll(async () => {
  await executor?.dispose();
  await rm(root, { recursive: true, force: true });
});

describe('runLongBenchFile on the toy model', () => {
  it('resumes an interrupted run to the same results as an uninterrupted one', async () => {
    const tables = await readLongBenchTables(join(root, 'tables'));
    const file = await readLongBenchFile(join(root, 'data'), 'hotpotqa');
    const options = { promptTemplate: tables.prompts.hotpotqa!, maxNewTokens: 20, maxLength: 1000 };
    const settings = { dataset: 'hotpotqa', policy: 'full' };

    const whole = await LongBenchResultsFile.open(join(root, 'whole.jsonl'), settings);
    const complete = await runLongBenchFile(executor, tokenizer, file, whole, options);
    expect(complete).toEqual({ resumed: 0, generated: 3, interrupted: false });

    const path = join(root, 'resumed.jsonl');
    const controller = new AbortController();
    const first = await runLongBenchFile(
      executor,
      tokenizer,
      file,
      await LongBenchResultsFile.open(path, settings),
      {
        ...options,
        signal: controller.signal,
        onSample: (_, finished) => finished === 1 && controller.abort(),
      },
    );
    expect(first).toEqual({ resumed: 0, generated: 1, interrupted: true });
    expect((await readFile(path, 'utf8')).trimEnd().split('\n')).toHaveLength(1);
    const second = await runLongBenchFile(
      executor,
      tokenizer,
      file,
      await LongBenchResultsFile.open(path, settings),
      options,
    );
    expect(second).toEqual({ resumed: 1, generated: 2, interrupted: false });
    expect(await readFile(path, 'utf8')).toBe(await readFile(join(root, 'whole.jsonl'), 'utf8'));

    // The toy finds the hidden code with full attention; the answer is a sentence, so F1 < 1.
    for (const record of whole.finished) {
      expect(record.pred).toContain(record.answers[0]);
      expect(record.score).toBeGreaterThan(0);
      expect(record).toMatchObject({ truncated_tokens: 0, finish_reason: 'stop-token' });
    }
    const row = scoreLongBenchRecords('full', 'hotpotqa', false, whole.finished);
    expect(row).toMatchObject({ metric: 'qa_f1', samples: 3 });
    expect(row.score).toBeGreaterThan(0);
    expect(formatLongBenchMarkdown([row])).toContain(`| hotpotqa | qa_f1 | 3 | ${row.score.toFixed(2)} |`);
  });

  it('cuts long prompts in the middle to maxLength and fails bad templates before any generation', async () => {
    const file = await readLongBenchFile(join(root, 'data'), 'passage_count');
    const results = await LongBenchResultsFile.open(join(root, 'short.jsonl'), {});
    await runLongBenchFile(executor, tokenizer, file, results, {
      promptTemplate: '{context}\n\nQuestion: {input}\nAnswer:',
      maxNewTokens: 4,
      maxLength: 64,
    });
    for (const record of results.finished) {
      expect(record.prompt_tokens).toBe(64);
      expect(record.truncated_tokens).toBeGreaterThan(0);
    }
    const untouched = await LongBenchResultsFile.open(join(root, 'bad.jsonl'), {});
    await expect(
      runLongBenchFile(executor, tokenizer, file, untouched, {
        promptTemplate: '{question}',
        maxNewTokens: 4,
        maxLength: 64,
      }),
    ).rejects.toThrow(/passage_count\.jsonl \(sample pc-1\): the template needs a string field "question"/);
    expect(untouched.finished).toHaveLength(0);
  });
});
