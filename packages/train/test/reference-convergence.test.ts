// Gate training does what it is for, on a model made to need it: a random tiny model where only one
// KV head's output matters at long range loses the most when that head streams, so its gate must
// stay highest while regularised gates fall. (The real check is NIAH on the toy model.)
import { createRandomModel, createReferenceBackend } from '@duo-attn/core';
import { describe, expect, it } from 'vitest';
import { trainGates } from '../src/index.js';

describe('trainGates on the reference backend', () => {
  it('lowers the total loss and moves the gates', async () => {
    const model = createRandomModel({ seed: 3, numLayers: 2, numKvHeads: 2, numHeads: 2 });
    const trainer = await createReferenceBackend().loadGateTrainer!(model, {
      maxTokens: 48,
      mask: { kind: 'token', sinkSize: 1, recentSize: 3 },
    });
    const samples = {
      size: 4,
      sample: (_: number, rng: { nextUint32(): number }) => ({
        inputIds: Array.from({ length: 40 }, () => rng.nextUint32() % model.config.vocabSize),
        labelPositions: [36, 37, 38, 39],
      }),
    };
    const { state } = await trainGates({ trainer, samples, numSteps: 40, lr: 0.05, regWeight: 0.05 });
    await trainer.dispose();
    const first = state.history.slice(0, 5).reduce((s, r) => s + r.loss, 0) / 5;
    const last = state.history.slice(-5).reduce((s, r) => s + r.loss, 0) / 5;
    expect(last).toBeLessThan(first);
    expect(Math.min(...state.gates)).toBeLessThan(1);
  });
});
