// Simple memory-bound kernels: one block per row for the norm (two passes over a row that stays in
// L1/L2), grid-stride loops elsewhere. Correctness over cleverness; they move a few MB per decode step.
#include "kernels/fp32_activations.cuh"

#include "kernels/rms_norm.cuh"  // rms_norm_detail::BlockSum

namespace duo {
namespace {

constexpr int kThreads = 256;

__global__ void EmbeddingF32Kernel(const __nv_bfloat16* __restrict__ table, const int32_t* __restrict__ ids,
                                   int tokens, int hidden, float* __restrict__ residual) {
  for (int t = blockIdx.x; t < tokens; t += gridDim.x) {
    const __nv_bfloat16* row = table + static_cast<int64_t>(ids[t]) * hidden;
    float* out = residual + static_cast<int64_t>(t) * hidden;
    for (int j = threadIdx.x; j < hidden; j += blockDim.x) out[j] = __bfloat162float(row[j]);
  }
}

__global__ void ResidualRmsNormKernel(float* __restrict__ residual, const float* __restrict__ delta,
                                      const __nv_bfloat16* __restrict__ weight, int hidden, float eps,
                                      __nv_bfloat16* __restrict__ normed) {
  __shared__ float scratch[32];
  const int64_t offset = static_cast<int64_t>(blockIdx.x) * hidden;
  float* r = residual + offset;
  float sum = 0.0f;
  for (int j = threadIdx.x; j < hidden; j += blockDim.x) {
    float x = r[j];
    if (delta != nullptr) {
      x += delta[offset + j];
      r[j] = x;
    }
    sum += x * x;
  }
  const float inv = rsqrtf(rms_norm_detail::BlockSum(sum, scratch) / static_cast<float>(hidden) + eps);
  __nv_bfloat16* out = normed + offset;
  for (int j = threadIdx.x; j < hidden; j += blockDim.x) {
    out[j] = __float2bfloat16_rn(__bfloat162float(weight[j]) * (r[j] * inv));
  }
}

__global__ void SwiGluF32Kernel(const float* __restrict__ gate_up, int64_t count, int m,
                                __nv_bfloat16* __restrict__ out) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < count;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t t = i / m;
    const int64_t j = i - t * m;
    const float g = gate_up[t * 2 * m + j];
    const float u = gate_up[t * 2 * m + m + j];
    out[i] = __float2bfloat16_rn(g / (1.0f + expf(-g)) * u);
  }
}

__global__ void RopeF32Kernel(const float* __restrict__ qkv32, int tokens, int rotated_heads, int width,
                              int head_dim, const float* __restrict__ cos, const float* __restrict__ sin,
                              __nv_bfloat16* __restrict__ qkv16) {
  const int half = head_dim / 2;
  const int rotated = rotated_heads * head_dim;
  for (int t = blockIdx.x; t < tokens; t += gridDim.x) {
    const float* in = qkv32 + static_cast<int64_t>(t) * width;
    __nv_bfloat16* out = qkv16 + static_cast<int64_t>(t) * width;
    const float* c = cos + static_cast<int64_t>(t) * half;
    const float* s = sin + static_cast<int64_t>(t) * half;
    for (int j = threadIdx.x; j < width; j += blockDim.x) {
      float y = in[j];
      if (j < rotated) {
        const int i = j % head_dim;
        if (i < half) {
          y = in[j] * c[i] - in[j + half] * s[i];
        } else {
          y = in[j] * c[i - half] + in[j - half] * s[i - half];
        }
      }
      out[j] = __float2bfloat16_rn(y);
    }
  }
}

int Blocks(int64_t work) {
  const int64_t blocks = (work + kThreads - 1) / kThreads;
  return static_cast<int>(blocks < 65535 ? (blocks < 1 ? 1 : blocks) : 65535);
}

}  // namespace

cudaError_t LaunchEmbeddingF32(const __nv_bfloat16* table, const int32_t* ids, int tokens, int hidden,
                               float* residual, cudaStream_t stream) {
  if (tokens <= 0 || hidden <= 0) return cudaErrorInvalidValue;
  EmbeddingF32Kernel<<<tokens < 65535 ? tokens : 65535, kThreads, 0, stream>>>(table, ids, tokens, hidden, residual);
  return cudaGetLastError();
}

cudaError_t LaunchResidualRmsNorm(float* residual, const float* delta, const __nv_bfloat16* weight, int tokens,
                                  int hidden, float eps, __nv_bfloat16* normed, cudaStream_t stream) {
  if (tokens <= 0 || hidden <= 0) return cudaErrorInvalidValue;
  // One block per row: grid.x allows 2^31 - 1 rows.
  ResidualRmsNormKernel<<<tokens, kThreads, 0, stream>>>(residual, delta, weight, hidden, eps, normed);
  return cudaGetLastError();
}

cudaError_t LaunchSwiGluF32(const float* gate_up, int tokens, int m, __nv_bfloat16* out, cudaStream_t stream) {
  if (tokens <= 0 || m <= 0) return cudaErrorInvalidValue;
  const int64_t count = static_cast<int64_t>(tokens) * m;
  SwiGluF32Kernel<<<Blocks(count), kThreads, 0, stream>>>(gate_up, count, m, out);
  return cudaGetLastError();
}

cudaError_t LaunchRopeF32(const float* qkv32, int tokens, int num_q_heads, int num_kv_heads, int head_dim,
                          const float* cos, const float* sin, __nv_bfloat16* qkv16, cudaStream_t stream) {
  if (tokens <= 0 || head_dim <= 0 || head_dim % 2 != 0) return cudaErrorInvalidValue;
  const int width = (num_q_heads + 2 * num_kv_heads) * head_dim;
  RopeF32Kernel<<<tokens < 65535 ? tokens : 65535, kThreads, 0, stream>>>(qkv32, tokens, num_q_heads + num_kv_heads,
                                                                          width, head_dim, cos, sin, qkv16);
  return cudaGetLastError();
}

}  // namespace duo
