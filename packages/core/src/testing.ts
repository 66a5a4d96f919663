// @duo-attn/core/testing: the conformance suite every backend runs, and its golden fixtures.

export type { LogitsComparison } from './testing/compare-logits.js';
export { compareLogits, describeComparison } from './testing/compare-logits.js';
export type { ConformanceOptions } from './testing/conformance.js';
export { describeBackendConformance } from './testing/conformance.js';
export type {
  GateTrainerConformanceOptions,
  TrainGoldenCase,
  TrainGoldenModel,
  TrainGoldens,
} from './testing/gate-trainer-conformance.js';
export {
  describeGateTrainerConformance,
  readTrainGoldensSync,
  regulariserGradient,
} from './testing/gate-trainer-conformance.js';
export type { GoldenCase, GoldenManifest, GoldenModel } from './testing/golden-fixtures.js';
export {
  fixturesDirectory,
  GOLDEN_MODELS,
  openGoldenModel,
  readGoldenManifestSync,
} from './testing/golden-fixtures.js';
export { SHARED_DIR_ENV, sharedDataDirectory, sharedDataPath } from './testing/shared-data.js';
export type { ToyGreedyCase, ToyGreedyFixture } from './testing/toy-greedy-fixture.js';
export {
  readToyGreedyFixtureSync,
  TOY_GREEDY_NEAR_TIE,
  toyGreedyFixturePath,
} from './testing/toy-greedy-fixture.js';
export {
  TOY_ANSWERS,
  TOY_CHAT_TEMPLATE,
  TOY_HAYSTACK,
  toyModelVariant,
  toyQuestion,
} from './testing/toy-model.js';
