// Request checks every gate trainer runs before any work, so bad input gets the same typed error
// whichever backend trains.
import type { ModelConfig } from '../model/model-types.js';
import type { GateTrainingRequest } from './gate-trainer.js';
import { TrainingInputError } from './training-errors.js';

/** Throws {@link TrainingInputError} naming what is wrong with `request` for this model and size. */
export function checkGateTrainingRequest(
  config: Pick<ModelConfig, 'vocabSize' | 'numLayers' | 'numKvHeads'>,
  maxTokens: number,
  request: GateTrainingRequest,
): void {
  const { inputIds, labelPositions, gates } = request;
  if (inputIds.length === 0) throw new TrainingInputError('inputIds is empty');
  if (inputIds.length > maxTokens) {
    throw new TrainingInputError(
      `a sample of ${inputIds.length} tokens exceeds the trainer's maxTokens of ${maxTokens}`,
    );
  }
  for (let i = 0; i < inputIds.length; i++) {
    const id = inputIds[i]!;
    if (!(Number.isInteger(id) && id >= 0 && id < config.vocabSize)) {
      throw new TrainingInputError(
        `inputIds[${i}] = ${String(id)} is not a token id in [0, ${config.vocabSize})`,
      );
    }
  }
  if (labelPositions.length === 0)
    throw new TrainingInputError('labelPositions is empty: nothing to learn from');
  let previous = -1;
  for (let i = 0; i < labelPositions.length; i++) {
    const position = labelPositions[i]!;
    if (!(Number.isInteger(position) && position > previous && position < inputIds.length)) {
      throw new TrainingInputError(
        `labelPositions[${i}] = ${String(position)} must be an ascending position in [0, ${inputIds.length})`,
      );
    }
    previous = position;
  }
  const expected = config.numLayers * config.numKvHeads;
  if (gates.length !== expected) {
    throw new TrainingInputError(
      `${gates.length} gates given; the model has ${config.numLayers} layers x ${config.numKvHeads} KV heads = ${expected}`,
    );
  }
  for (let i = 0; i < gates.length; i++) {
    if (!Number.isFinite(gates[i]!)) throw new TrainingInputError(`gate ${i} is ${gates[i]}`);
  }
}
