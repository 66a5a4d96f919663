// The cuda gate trainer's acceptance tests on the GPU machine (bundled by bundle.mjs): core's
// gate-training suite (loss and d(loss)/d(alpha) against torch autograd in float64, within 2e-2 of
// the largest value), plus a report of every case's actual errors and step times, so the margins
// are on record. Writes $OUT/cuda-train-suite.json.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel } from '../../../packages/core/src/index.js';
import {
  describeGateTrainerConformance,
  fixturesDirectory,
  readTrainGoldensSync,
  regulariserGradient,
} from '../../../packages/core/src/testing.js';
import { createCudaBackend } from '../../../packages/kernels-cuda/src/index.js';
import { runDeclaredTests } from './vitest-shim.js';

const out = process.env.OUT ?? '/tmp';

describeGateTrainerConformance(() => createCudaBackend(), { relativeTolerance: 2e-2 });

const goldens = readTrainGoldensSync();
const errors: Record<string, unknown>[] = [];
for (const golden of goldens.models) {
  const model = await loadModel(join(fixturesDirectory(), golden.model));
  for (const goldenCase of golden.cases) {
    const trainer = await createCudaBackend().loadGateTrainer(model, {
      maxTokens: 64,
      mask: {
        kind: goldenCase.mask,
        sinkSize: goldens.sinkSize,
        recentSize: goldens.recentSize,
        blockSize: goldens.blockSize,
      },
    });
    const gates = goldenCase.alpha.flat();
    const result = await trainer.step({
      inputIds: golden.inputIds,
      labelPositions: golden.labelPositions,
      gates,
    });
    await trainer.dispose();
    const reg = regulariserGradient(gates, goldens.regWeight);
    const want = goldenCase.gradient.flat();
    const got = Array.from(result.gradient, (g, i) => g + reg[i]!);
    const largest = Math.max(...want.map(Math.abs));
    errors.push({
      model: golden.model,
      case: goldenCase.name,
      loss: result.distillationLoss,
      goldenLoss: goldenCase.distillLoss,
      lossRelativeError:
        goldenCase.distillLoss === 0
          ? result.distillationLoss
          : Math.abs(result.distillationLoss / goldenCase.distillLoss - 1),
      gradientRelativeError: Math.max(...got.map((g, i) => Math.abs(g - want[i]!))) / largest,
      timings: result.timings,
    });
  }
}
console.log(JSON.stringify(errors, null, 1));
const results = await runDeclaredTests();
const failed = results.filter((r) => r.status === 'failed');
const summary = {
  passed: results.filter((r) => r.status === 'passed').length,
  failed: failed.length,
  total: results.length,
};
console.log(JSON.stringify(summary));
writeFileSync(
  join(out, 'cuda-train-suite.json'),
  `${JSON.stringify({ summary, errors, results }, null, 2)}\n`,
);
if (failed.length > 0) process.exitCode = 1;
