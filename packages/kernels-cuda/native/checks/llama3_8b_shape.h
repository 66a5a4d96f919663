// The model shape the benchmarks time: Llama-3-8B (32 layers, hidden 4096, 32 query / 8 KV heads of
// 128, MLP 14336, vocabulary 128256), with random weights made on the GPU.
#pragma once

#include "host/cuda_model.h"

namespace duo::checks {

inline ModelShape Llama3_8bShape() {
  ModelShape shape;
  shape.num_layers = 32;
  shape.hidden = 4096;
  shape.num_q_heads = 32;
  shape.num_kv_heads = 8;
  shape.head_dim = 128;
  shape.intermediate = 14336;
  shape.vocab = 128256;
  return shape;
}

}  // namespace duo::checks
