// Named model shapes for benchmarks with random weights (`duo bench --shape NAME`): the published
// architectures' sizes, plus a ~0.5B Llama for CPU runs.
import type { RandomModelSourceOptions } from '@duo-attn/core';

/** Shapes by name. Head dim is hidden / heads unless given. */
export const MODEL_SHAPES = {
  /** The bundled toy model's shape. */
  toy: { numLayers: 6, hiddenSize: 256, numHeads: 8, numKvHeads: 4, intermediateSize: 768, vocabSize: 2048 },
  /** About 0.5B parameters (506M), GQA 20/4, for CPU benchmarks. */
  'llama-0.5b': {
    numLayers: 24,
    hiddenSize: 1280,
    numHeads: 20,
    numKvHeads: 4,
    intermediateSize: 3584,
    vocabSize: 32000,
  },
  'llama2-7b': {
    numLayers: 32,
    hiddenSize: 4096,
    numHeads: 32,
    numKvHeads: 32,
    intermediateSize: 11008,
    vocabSize: 32000,
  },
  'llama3-8b': {
    numLayers: 32,
    hiddenSize: 4096,
    numHeads: 32,
    numKvHeads: 8,
    intermediateSize: 14336,
    vocabSize: 128256,
  },
  'mistral-7b': {
    numLayers: 32,
    hiddenSize: 4096,
    numHeads: 32,
    numKvHeads: 8,
    intermediateSize: 14336,
    vocabSize: 32000,
  },
} as const satisfies Record<string, RandomModelSourceOptions>;

export type ModelShapeName = keyof typeof MODEL_SHAPES;

export function isModelShapeName(name: string): name is ModelShapeName {
  return Object.hasOwn(MODEL_SHAPES, name);
}
