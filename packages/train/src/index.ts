// @duo-attn/train: gate training, the step that identifies retrieval heads. Synthetic multi-passkey
// data, the original's schedule and AdamW, checkpoints that resume after a kill, and pattern
// directories the original can read. The expensive part (teacher, student and backward pass) runs
// on any backend that implements core's GateTrainer contract.
export type { AdamWOptions, AdamWState } from './adamw.js';
export { adamWStep, clampGates, createAdamWState } from './adamw.js';
export type { RunIdentity, StepRecord, TrainingState } from './checkpoint.js';
export { CHECKPOINT_FORMAT, CHECKPOINT_VERSION, loadCheckpoint, saveCheckpoint } from './checkpoint.js';
export { float32Linspace, integerLinspace } from './context-grid.js';
export { TrainCheckpointError, TrainDataError, TrainOptionError } from './errors.js';
export { learningRateMultiplier } from './lr-schedule.js';
export type { PasskeyDatasetOptions, PasskeySample, PasskeyTokenizer } from './passkey-dataset.js';
export { PasskeyDataset } from './passkey-dataset.js';
export type { KeyScheme, PasskeyScheme, PasskeyTemplates, TemplatePiece } from './passkey-templates.js';
export {
  NATO_WORDS,
  ORDINALS,
  ORIGINAL_PASSKEY_TEMPLATES,
  PASSKEY_TEMPLATES,
  TOY_KEY_ADJECTIVES,
  TOY_KEY_NOUNS,
  TOY_PASSKEY_TEMPLATES,
} from './passkey-templates.js';
export type { TrainedPatternConfig } from './pattern-output.js';
export { trainedPattern, writeTrainedPattern } from './pattern-output.js';
export type { SampleSource, TrainGatesOptions, TrainGatesResult } from './train-gates.js';
export { sampleIndexOfStep, sampleRngOfStep, trainGates } from './train-gates.js';
