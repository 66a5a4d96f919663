// The reference gate trainer against torch autograd in float64 (the shared gate-training suite; the
// issue asks for 1e-6, it agrees to better than 1e-11 with the committed goldens), plus
// its own request checks.
import { describe, expect, it } from 'vitest';
import { createRandomModel } from '../model/random-model-source.js';
import { describeGateTrainerConformance } from '../testing/gate-trainer-conformance.js';
import { createReferenceBackend } from './reference-backend.js';

describeGateTrainerConformance(() => createReferenceBackend(), { relativeTolerance: 1e-9 });

describe('reference gate trainer', () => {
  const model = createRandomModel({ seed: 4 });
  const load = () =>
    createReferenceBackend().loadGateTrainer!(model, {
      maxTokens: 32,
      mask: { kind: 'token', sinkSize: 2, recentSize: 4 },
    });

  it('refuses bad requests with typed errors naming the field', async () => {
    const trainer = await load();
    const gates = new Array(model.config.numLayers * model.config.numKvHeads).fill(0.5);
    const ok = { inputIds: [1, 2, 3, 4], labelPositions: [2, 3], gates };
    await expect(trainer.step({ ...ok, inputIds: [] })).rejects.toMatchObject({ code: 'E_TRAINING_INPUT' });
    await expect(trainer.step({ ...ok, inputIds: new Array(33).fill(1) })).rejects.toThrow(/maxTokens of 32/);
    await expect(trainer.step({ ...ok, inputIds: [1, 99999] })).rejects.toThrow(/inputIds\[1\]/);
    await expect(trainer.step({ ...ok, labelPositions: [] })).rejects.toThrow(/nothing to learn/);
    await expect(trainer.step({ ...ok, labelPositions: [3, 2] })).rejects.toThrow(/ascending/);
    await expect(trainer.step({ ...ok, labelPositions: [4] })).rejects.toThrow(
      /ascending position in \[0, 4\)/,
    );
    await expect(trainer.step({ ...ok, gates: [0.5] })).rejects.toThrow(/layers x/);
    await expect(trainer.step({ ...ok, gates: gates.map(() => Number.NaN) })).rejects.toThrow(
      /gate 0 is NaN/,
    );
    const result = await trainer.step(ok);
    expect(result.gradient).toHaveLength(gates.length);
    await trainer.dispose();
    await expect(trainer.step(ok)).rejects.toMatchObject({ code: 'E_DISPOSED' });
  });

  it('refuses bad masks and sizes at load', async () => {
    const backend = createReferenceBackend();
    await expect(
      backend.loadGateTrainer!(model, {
        maxTokens: 32,
        mask: { kind: 'token', sinkSize: -1, recentSize: 4 },
      }),
    ).rejects.toMatchObject({ code: 'E_TRAINING_MASK' });
    await expect(
      backend.loadGateTrainer!(model, { maxTokens: 0, mask: { kind: 'token', sinkSize: 1, recentSize: 4 } }),
    ).rejects.toMatchObject({ code: 'E_LOAD_OPTIONS' });
  });

  it('a gate of 1 everywhere gives the teacher exactly, and a lower gate a positive loss', async () => {
    const trainer = await load();
    const n = model.config.numLayers * model.config.numKvHeads;
    const sample = {
      inputIds: Array.from({ length: 20 }, (_, i) => (i * 7) % 60),
      labelPositions: [17, 18, 19],
    };
    const ones = await trainer.step({ ...sample, gates: new Array(n).fill(1) });
    expect(ones.distillationLoss).toBe(0);
    const half = await trainer.step({ ...sample, gates: new Array(n).fill(0.5) });
    expect(half.distillationLoss).toBeGreaterThan(0);
    // Gates outside [0, 1] are clamped in the forward: 1.5 behaves as 1.
    const clamped = await trainer.step({ ...sample, gates: new Array(n).fill(1.5) });
    expect(clamped.distillationLoss).toBe(0);
    await trainer.dispose();
  });
});
