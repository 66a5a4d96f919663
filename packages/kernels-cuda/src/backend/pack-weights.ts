// Lays out a model's float32 weights the way the cuda backend's kernels read them: heads reordered
// (retrieval first), q|k|v and gate|up fused into one matrix each, everything rounded to bf16.
import {
  float32ToBfloat16Array,
  type KvCachePolicy,
  type ModelConfig,
  type ModelWeights,
  reorderWeights,
} from '@duo-attn/core';
import { WeightKind } from '../binding.js';

/** One tensor to upload: which weight, its layer (-1 for model-level ones) and its bf16 bits. */
export interface PackedWeight {
  readonly kind: WeightKind;
  readonly layer: number;
  readonly data: Uint16Array;
}

function concat(parts: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/**
 * Yields the upload list one tensor at a time (so at most one fused bf16 copy is alive besides the
 * float32 source). Tied embeddings yield no lm_head. Biases are not supported by the cuda kernels;
 * the backend rejects such configs before calling this.
 */
export function* packWeights(
  weights: ModelWeights,
  config: ModelConfig,
  policy: KvCachePolicy,
): Generator<PackedWeight> {
  const reordered = reorderWeights(weights, config, policy);
  yield { kind: WeightKind.embed, layer: -1, data: float32ToBfloat16Array(reordered.embedTokens) };
  yield { kind: WeightKind.finalNorm, layer: -1, data: float32ToBfloat16Array(reordered.norm) };
  if (!config.tieWordEmbeddings) {
    yield { kind: WeightKind.lmHead, layer: -1, data: float32ToBfloat16Array(reordered.lmHead) };
  }
  for (const [layer, w] of reordered.layers.entries()) {
    yield { kind: WeightKind.inputNorm, layer, data: float32ToBfloat16Array(w.inputNorm) };
    yield { kind: WeightKind.qkv, layer, data: float32ToBfloat16Array(concat([w.qProj, w.kProj, w.vProj])) };
    yield { kind: WeightKind.o, layer, data: float32ToBfloat16Array(w.oProj) };
    yield { kind: WeightKind.postNorm, layer, data: float32ToBfloat16Array(w.postAttentionNorm) };
    yield { kind: WeightKind.gateUp, layer, data: float32ToBfloat16Array(concat([w.gateProj, w.upProj])) };
    yield { kind: WeightKind.down, layer, data: float32ToBfloat16Array(w.downProj) };
  }
}
