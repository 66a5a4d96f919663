// The gate-training conformance suite every training backend runs: the distillation loss and
// d(loss)/d(gate) of DuoAttention's objective against torch autograd in float64
// (tools/reference/make_train_goldens.py, fixtures/train-goldens.json), on the three fixture models,
// for random gates under the token and block masks, gates at exactly 0 and 1, and all gates 1.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Backend } from '../backend/backend.js';
import { loadModel } from '../model/load-model.js';
import type { GateTrainer } from '../training/gate-trainer.js';
import { fixturesDirectory } from './golden-fixtures.js';

/** One objective case of the training goldens. */
export interface TrainGoldenCase {
  readonly name: string;
  readonly mask: 'token' | 'block';
  /** `[numLayers][numKvHeads]`. */
  readonly alpha: number[][];
  readonly distillLoss: number;
  readonly regLoss: number;
  readonly loss: number;
  /** d(loss)/d(alpha), regulariser included, `[numLayers][numKvHeads]`. */
  readonly gradient: number[][];
}

/** One fixture model's training goldens. */
export interface TrainGoldenModel {
  readonly model: string;
  readonly inputIds: number[];
  readonly labelPositions: number[];
  readonly cases: TrainGoldenCase[];
  /** A torch AdamW trajectory (schedule, pre-step clamp) from gates at 1 over `samples`. */
  readonly adamw: {
    readonly samples: number[][];
    readonly numSteps: number;
    readonly lr: number;
    readonly steps: { readonly loss: number; readonly lr: number; readonly alphaAfter: number[][] }[];
  };
}

/** fixtures/train-goldens.json. */
export interface TrainGoldens {
  readonly sinkSize: number;
  readonly recentSize: number;
  readonly blockSize: number;
  readonly regWeight: number;
  readonly models: TrainGoldenModel[];
}

/** Reads fixtures/train-goldens.json. */
export function readTrainGoldensSync(): TrainGoldens {
  return JSON.parse(readFileSync(join(fixturesDirectory(), 'train-goldens.json'), 'utf8')) as TrainGoldens;
}

/**
 * The gradient of the regulariser `regWeight * mean(|alpha|)` (torch's: sign(0) = 0), which the
 * goldens' gradients include and trainers leave to the optimizer loop.
 */
export function regulariserGradient(alpha: readonly number[], regWeight: number): number[] {
  return alpha.map((a) => (regWeight * Math.sign(a)) / alpha.length);
}

/** Options of {@link describeGateTrainerConformance}. */
export interface GateTrainerConformanceOptions {
  /**
   * Max relative error allowed, of the loss and of the gradient (max |error| / max |golden| over
   * the gates). Default 1e-6 (float64 backends).
   */
  readonly relativeTolerance?: number;
}

/** Declares the gate-training conformance tests for `backend` with vitest. */
export function describeGateTrainerConformance(
  getBackend: () => Backend | Promise<Backend>,
  options: GateTrainerConformanceOptions = {},
): void {
  const tolerance = options.relativeTolerance ?? 1e-6;
  const goldens = readTrainGoldensSync();
  for (const golden of goldens.models) {
    describe(`gate-trainer conformance: ${golden.model}`, () => {
      const open = async (kind: 'token' | 'block'): Promise<GateTrainer> => {
        const backend = await getBackend();
        if (backend.loadGateTrainer === undefined) throw new Error(`backend ${backend.name} cannot train`);
        const model = await loadModel(join(fixturesDirectory(), golden.model));
        return backend.loadGateTrainer(model, {
          maxTokens: 64,
          mask: {
            kind,
            sinkSize: goldens.sinkSize,
            recentSize: goldens.recentSize,
            blockSize: goldens.blockSize,
          },
        });
      };
      for (const goldenCase of golden.cases) {
        it(`${goldenCase.name}: loss and d(loss)/d(alpha) match torch autograd`, async () => {
          const trainer = await open(goldenCase.mask);
          try {
            const gates = goldenCase.alpha.flat();
            const result = await trainer.step({
              inputIds: golden.inputIds,
              labelPositions: golden.labelPositions,
              gates,
            });
            if (goldenCase.distillLoss === 0) {
              // Student = teacher: float64 gives exactly 0; a GPU's GEMMs may pick another summation
              // order for the two passes and leave float32 noise (about 1e-15), never a real mismatch
              // (the other cases' losses are about 0.1).
              expect(
                Math.abs(result.distillationLoss),
                `loss ${result.distillationLoss} vs 0`,
              ).toBeLessThanOrEqual(tolerance === 0 ? 0 : 1e-9);
            } else {
              expect(
                Math.abs(result.distillationLoss - goldenCase.distillLoss) / Math.abs(goldenCase.distillLoss),
                `loss ${result.distillationLoss} vs ${goldenCase.distillLoss}`,
              ).toBeLessThanOrEqual(tolerance);
            }
            const reg = regulariserGradient(gates, goldens.regWeight);
            const expected = goldenCase.gradient.flat();
            const got = Array.from(result.gradient, (g, i) => g + reg[i]!);
            const largest = Math.max(...expected.map(Math.abs));
            const worst = Math.max(...got.map((g, i) => Math.abs(g - expected[i]!)));
            expect(
              worst / largest,
              `gradient ${got.join(', ')} vs ${expected.join(', ')}`,
            ).toBeLessThanOrEqual(tolerance);
          } finally {
            await trainer.dispose();
          }
        });
      }
    });
  }
}
