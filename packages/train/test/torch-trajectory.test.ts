// The whole loop (pre-step clamp, regulariser, AdamW, schedule) on the reference trainer against a
// torch AdamW trajectory in float64 (fixtures/train-goldens.json from tools/reference).

import { join } from 'node:path';
import { createReferenceBackend, loadModel } from '@duo-attn/core';
import { fixturesDirectory, readTrainGoldensSync } from '@duo-attn/core/testing';
import { describe, expect, it } from 'vitest';
import { trainGates } from '../src/index.js';

const goldens = readTrainGoldensSync();

describe('trainGates against torch AdamW', () => {
  for (const golden of goldens.models) {
    it(`${golden.model}: ${golden.adamw.steps.length} steps reproduce torch's gates and losses`, async () => {
      const model = await loadModel(join(fixturesDirectory(), golden.model));
      const trainer = await createReferenceBackend().loadGateTrainer!(model, {
        maxTokens: 64,
        mask: { kind: 'token', sinkSize: goldens.sinkSize, recentSize: goldens.recentSize },
      });
      // The goldens feed samples in order; a source of one index that counts its calls does that.
      let call = 0;
      const samples = {
        size: 1,
        sample: () => ({
          inputIds: golden.adamw.samples[call++ % golden.adamw.samples.length]!,
          labelPositions: golden.labelPositions,
        }),
      };
      const gatesAfter: number[][] = [];
      const { state } = await trainGates({
        trainer,
        samples,
        numSteps: golden.adamw.numSteps,
        lr: golden.adamw.lr,
        regWeight: goldens.regWeight,
        signal: undefined,
        onStep: (record, gates) => {
          const expected = golden.adamw.steps[record.step];
          if (expected === undefined) return;
          expect(record.lr).toBeCloseTo(expected.lr, 15);
          expect(Math.abs(record.loss - expected.loss) / expected.loss).toBeLessThan(1e-6);
          gatesAfter.push(Array.from(gates));
        },
      }).then(async (result) => {
        await trainer.dispose();
        return result;
      });
      expect(state.step).toBe(golden.adamw.numSteps);
      golden.adamw.steps.forEach((expected, step) => {
        const want = expected.alphaAfter.flat();
        const worst = Math.max(...want.map((w, i) => Math.abs(w - gatesAfter[step]![i]!)));
        expect(worst, `step ${step}`).toBeLessThan(1e-7);
      });
    });
  }
});
