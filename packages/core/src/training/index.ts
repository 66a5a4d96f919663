// Public surface of the gate-training contract.
export type {
  GateTrainer,
  GateTrainerOptions,
  GateTrainingRequest,
  GateTrainingResult,
} from './gate-trainer.js';
export type { TrainingStreamingMask } from './streaming-mask.js';
export {
  checkStreamingMask,
  isKeyVisible,
  maxVisibleKeys,
  ORIGINAL_BLOCK_SIZE,
  visibleKeyRanges,
} from './streaming-mask.js';
export { TrainingInputError, TrainingMaskError } from './training-errors.js';
export { checkGateTrainingRequest } from './validate-training.js';
