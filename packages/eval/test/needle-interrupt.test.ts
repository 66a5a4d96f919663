// An interrupted NIAH run keeps the trials that finished and drops the one it cut off: an aborted
// answer is not a miss.
import {
  createCpuBackend,
  defaultModelDirectory,
  type Executor,
  fullPolicy,
  loadModel,
  loadTokenizer,
} from '@duo-attn/core';
import { describe, expect, it } from 'vitest';
import { prepareNeedleGrid, runNeedleGrid, TOY_NEEDLE_TEMPLATES } from '../src/index.js';

describe('runNeedleGrid with an abort', () => {
  it('stops after the finished trials and never scores a cut-off answer', async () => {
    const directory = defaultModelDirectory();
    const [model, tokenizer] = await Promise.all([loadModel(directory), loadTokenizer(directory)]);
    const grid = prepareNeedleGrid(tokenizer, {
      lengths: [200],
      depths: [0, 50, 100],
      trials: 1,
      templates: TOY_NEEDLE_TEMPLATES,
    });
    const executor = await createCpuBackend().load(model, fullPolicy(model.config), { maxTokens: 256 });
    try {
      // Between trials: the run ends before the next one starts.
      const between = new AbortController();
      const first = await runNeedleGrid(executor, tokenizer, grid, {
        maxNewTokens: 10,
        signal: between.signal,
        onTrial: (_, done) => done === 1 && between.abort(),
      });
      expect(first.interrupted).toBe(true);
      expect(first.records).toHaveLength(1);
      expect(first.cells).toHaveLength(1);

      // Inside a trial: the second trial's answer is cut off after its first decode step.
      const inside = new AbortController();
      let prefills = 0;
      const interrupting: Executor = Object.create(executor, {
        forward: {
          value: (sequence: number, tokens: readonly number[], options?: object) => {
            if (tokens.length > 1) prefills++;
            // The second trial's first decode step: its answer is cut off mid-way.
            else if (prefills === 2) inside.abort();
            return executor.forward(sequence, tokens, options);
          },
        },
      });
      const second = await runNeedleGrid(interrupting, tokenizer, grid, {
        maxNewTokens: 10,
        signal: inside.signal,
      });
      expect(second.interrupted).toBe(true);
      expect(second.records).toHaveLength(1);
      expect(second.records[0]).toEqual(first.records[0]);

      const whole = await runNeedleGrid(executor, tokenizer, grid, { maxNewTokens: 10 });
      expect(whole.interrupted).toBe(false);
      expect(whole.records).toHaveLength(3);
    } finally {
      await executor.dispose();
    }
  });
});
