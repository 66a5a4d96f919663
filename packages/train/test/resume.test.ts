// A run killed at any point loses at most one checkpoint interval and then continues to exactly the
// gates an uninterrupted run reaches; a checkpoint of another run or a damaged file is refused.

import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRandomModel, createReferenceBackend, type GateTrainer } from '@duo-attn/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SampleSource, trainGates } from '../src/index.js';

const model = createRandomModel({ seed: 12, numLayers: 2, numKvHeads: 2, numHeads: 4 });
const samples: SampleSource = {
  size: 3,
  sample: (index, rng) => {
    const inputIds = Array.from({ length: 24 }, () => rng.nextUint32() % model.config.vocabSize);
    return { inputIds, labelPositions: [20 + (index % 2), 22, 23] };
  },
};
let root: string;
let trainer: GateTrainer;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'duo-train-resume-'));
  trainer = await createReferenceBackend().loadGateTrainer!(model, {
    maxTokens: 32,
    mask: { kind: 'token', sinkSize: 2, recentSize: 4 },
  });
});
afterAll(async () => {
  await trainer?.dispose();
  await rm(root, { recursive: true, force: true });
});

const base = { samples, numSteps: 10, lr: 0.05, checkpointEvery: 3, identity: { model: 'random-12' } };

describe('checkpoints and resume', () => {
  it('a crash mid-run resumes from the last checkpoint to the same gates as an uninterrupted run', async () => {
    const whole = await trainGates({ ...base, trainer });
    const path = join(root, 'crash.json');
    const crash = new Error('killed');
    await expect(
      trainGates({
        ...base,
        trainer,
        checkpointPath: path,
        onStep: (record) => {
          if (record.step === 7) throw crash;
        },
      }),
    ).rejects.toBe(crash);
    // Steps 0..7 ran; the last checkpoint holds 6 of them: at most one interval (3 steps) is lost.
    expect(JSON.parse(await readFile(path, 'utf8')).step).toBe(6);
    const resumed = await trainGates({ ...base, trainer, checkpointPath: path });
    expect(resumed.resumedFrom).toBe(6);
    expect(resumed.complete).toBe(true);
    expect(Array.from(resumed.state.gates)).toEqual(Array.from(whole.state.gates));
    expect(resumed.state.history.map((r) => r.loss)).toEqual(whole.state.history.map((r) => r.loss));
  });

  it('an abort stops after the step in progress and checkpoints it', async () => {
    const path = join(root, 'abort.json');
    const controller = new AbortController();
    const run = await trainGates({
      ...base,
      trainer,
      checkpointPath: path,
      signal: controller.signal,
      onStep: (record) => {
        if (record.step === 4) controller.abort();
      },
    });
    expect(run.complete).toBe(false);
    expect(run.state.step).toBe(5);
    expect(JSON.parse(await readFile(path, 'utf8')).step).toBe(5);
  });

  it('refuses a checkpoint of another run, naming what differs, and a damaged file', async () => {
    const path = join(root, 'other.json');
    await trainGates({ ...base, numSteps: 6, trainer, checkpointPath: path });
    await expect(trainGates({ ...base, trainer, checkpointPath: path })).rejects.toThrow(
      /other settings \(numSteps: checkpoint 6, this run 10\)/,
    );
    await expect(
      trainGates({ ...base, numSteps: 6, lr: 0.1, trainer, checkpointPath: path }),
    ).rejects.toThrow(/lr: checkpoint 0.05, this run 0.1/);
    await writeFile(path, '{"format": "duo-attn-gate-training", "vers');
    await expect(trainGates({ ...base, trainer, checkpointPath: path })).rejects.toMatchObject({
      code: 'E_TRAIN_CHECKPOINT',
      message: expect.stringMatching(/not valid JSON/),
    });
  });

  it('refuses bad options before any step', async () => {
    await expect(trainGates({ ...base, trainer, numSteps: 3 })).rejects.toThrow(
      /numSteps must be an integer >= 5/,
    );
    await expect(trainGates({ ...base, trainer, lr: -1 })).rejects.toThrow(/lr must be/);
    await expect(trainGates({ ...base, trainer, initialValue: 2 })).rejects.toThrow(/initialValue/);
    await expect(trainGates({ ...base, trainer, checkpointEvery: 0 })).rejects.toThrow(/checkpointEvery/);
  });
});
