// Gate training's elementwise and row-wise kernels (training_ops.cuh). Row kernels run one block
// per row with a block-wide sum; reductions into the gates' gradient and the loss accumulate in
// double, so summing over a 32K-token sequence loses nothing the fp32 terms carry.
#include "kernels/training_ops.cuh"

#include <cstddef>

namespace duo {
namespace training_ops_detail {

using bf16 = __nv_bfloat16;

constexpr int kRowThreads = 256;

__device__ __forceinline__ float Clamp01(float x) { return fminf(1.0f, fmaxf(0.0f, x)); }

/** Sum over the block (blockDim.x a multiple of 32, at most 1024); every thread gets the result. */
template <typename T>
__device__ __forceinline__ T BlockSum(T value, T* scratch) {
  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) value += __shfl_xor_sync(0xffffffffu, value, offset);
  __syncthreads();  // scratch may still be read by a previous call
  if (lane == 0) scratch[warp] = value;
  __syncthreads();
  if (warp == 0) {
    value = lane < static_cast<int>(blockDim.x >> 5) ? scratch[lane] : T(0);
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) value += __shfl_xor_sync(0xffffffffu, value, offset);
    if (lane == 0) scratch[0] = value;
  }
  __syncthreads();
  return scratch[0];
}

__global__ void GateMixKernel(const bf16* full, const bf16* streaming, const float* gates, int64_t total, int head_dim,
                              int num_q_heads, int group, bf16* mixed) {
  for (int64_t index = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; index < total;
       index += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int head = static_cast<int>((index / head_dim) % num_q_heads);
    const float a = Clamp01(gates[head / group]);
    mixed[index] = __float2bfloat16(a * __bfloat162float(full[index]) + (1.0f - a) * __bfloat162float(streaming[index]));
  }
}

/** Block (x: a chunk of rows, y: a KV head): d_streaming for its elements and their gradient sum. */
__global__ void GateMixBackwardKernel(const float* d_mixed, const bf16* full, const bf16* streaming, const float* gates,
                                      int tokens, int rows_per_block, int num_q_heads, int head_dim, int group,
                                      bf16* d_streaming, double* gradient) {
  __shared__ double scratch[32];
  const int kv = blockIdx.y;
  const float raw = gates[kv];
  const float a = Clamp01(raw);
  const bool passes = raw >= 0.0f && raw <= 1.0f;
  const int width = group * head_dim;  // the group's heads are contiguous in a row
  const int row_stride = num_q_heads * head_dim;
  const int first = blockIdx.x * rows_per_block;
  const int last = min(first + rows_per_block, tokens);
  double sum = 0.0;
  for (int t = first; t < last; ++t) {
    const int64_t base = static_cast<int64_t>(t) * row_stride + kv * width;
    for (int c = threadIdx.x; c < width; c += blockDim.x) {
      const float g = d_mixed[base + c];
      d_streaming[base + c] = __float2bfloat16((1.0f - a) * g);
      sum += static_cast<double>((__bfloat162float(full[base + c]) - __bfloat162float(streaming[base + c])) * g);
    }
  }
  sum = BlockSum(sum, scratch);
  if (threadIdx.x == 0 && passes) atomicAdd(gradient + kv, sum);
}

__global__ void RmsNormBackwardKernel(const float* dy, const float* x, const bf16* weight, const float* add, int hidden,
                                      float eps, float* dx) {
  __shared__ float scratch[32];
  const int64_t base = static_cast<int64_t>(blockIdx.x) * hidden;
  float squares = 0.0f;
  float dot = 0.0f;
  for (int c = threadIdx.x; c < hidden; c += blockDim.x) {
    const float xv = x[base + c];
    squares += xv * xv;
    dot += dy[base + c] * __bfloat162float(weight[c]) * xv;
  }
  squares = BlockSum(squares, scratch);
  dot = BlockSum(dot, scratch);
  const float r = rsqrtf(squares / hidden + eps);
  const float c3 = r * r * r * dot / hidden;
  for (int c = threadIdx.x; c < hidden; c += blockDim.x) {
    const float value = r * dy[base + c] * __bfloat162float(weight[c]) - c3 * x[base + c];
    dx[base + c] = add != nullptr ? add[base + c] + value : value;
  }
}

__global__ void SwiGluForwardKernel(const bf16* gate_up, int64_t total, int m, bf16* act) {
  for (int64_t index = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; index < total;
       index += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t t = index / m;
    const int j = static_cast<int>(index % m);
    const float g = __bfloat162float(gate_up[t * 2 * m + j]);
    const float u = __bfloat162float(gate_up[t * 2 * m + m + j]);
    act[index] = __float2bfloat16(g / (1.0f + expf(-g)) * u);
  }
}

__global__ void SwiGluBackwardKernel(const bf16* gate_up, const float* d_act, int64_t total, int m, bf16* d_gate_up) {
  for (int64_t index = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; index < total;
       index += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t t = index / m;
    const int j = static_cast<int>(index % m);
    const float g = __bfloat162float(gate_up[t * 2 * m + j]);
    const float u = __bfloat162float(gate_up[t * 2 * m + m + j]);
    const float s = 1.0f / (1.0f + expf(-g));
    const float da = d_act[index];
    d_gate_up[t * 2 * m + j] = __float2bfloat16(da * u * s * (1.0f + g * (1.0f - s)));
    d_gate_up[t * 2 * m + m + j] = __float2bfloat16(da * g * s);
  }
}

/** One thread per (token, head, pair): heads [0, Hq) from dq, [Hq, Hq + Hkv) from dk, then dv copied. */
__global__ void RopeBackwardKernel(const float* dq, const float* dk, const float* dv, const float* cos, const float* sin,
                                   int tokens, int num_q_heads, int num_kv_heads, int head_dim, bf16* d_qkv) {
  const int half = head_dim / 2;
  const int heads = num_q_heads + 2 * num_kv_heads;
  const int64_t total = static_cast<int64_t>(tokens) * heads * half;
  for (int64_t index = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; index < total;
       index += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int i = static_cast<int>(index % half);
    const int head = static_cast<int>((index / half) % heads);
    const int64_t t = index / (static_cast<int64_t>(half) * heads);
    const float* src;
    if (head < num_q_heads) {
      src = dq + (t * num_q_heads + head) * head_dim;
    } else if (head < num_q_heads + num_kv_heads) {
      src = dk + (t * num_kv_heads + (head - num_q_heads)) * head_dim;
    } else {
      src = dv + (t * num_kv_heads + (head - num_q_heads - num_kv_heads)) * head_dim;
    }
    bf16* dst = d_qkv + (t * heads + head) * head_dim;
    const float a = src[i];
    const float b = src[i + half];
    if (head >= num_q_heads + num_kv_heads) {
      dst[i] = __float2bfloat16(a);
      dst[i + half] = __float2bfloat16(b);
    } else {
      const float c = cos[t * half + i];
      const float s = sin[t * half + i];
      // Forward: (a, b) -> (a c - b s, b c + a s); its transpose rotates by -angle.
      dst[i] = __float2bfloat16(a * c + b * s);
      dst[i + half] = __float2bfloat16(b * c - a * s);
    }
  }
}

__global__ void DistillationLossKernel(const float* xs, const float* xt, const bf16* weight, const uint8_t* labels,
                                       int num_labels, int hidden, float eps, float* dx, double* loss) {
  __shared__ float scratch[32];
  __shared__ double dscratch[32];
  const int64_t base = static_cast<int64_t>(blockIdx.x) * hidden;
  if (labels[blockIdx.x] == 0) {
    for (int c = threadIdx.x; c < hidden; c += blockDim.x) dx[base + c] = 0.0f;
    return;
  }
  float ss = 0.0f;
  float st = 0.0f;
  for (int c = threadIdx.x; c < hidden; c += blockDim.x) {
    ss += xs[base + c] * xs[base + c];
    st += xt[base + c] * xt[base + c];
  }
  ss = BlockSum(ss, scratch);
  st = BlockSum(st, scratch);
  const float rs = rsqrtf(ss / hidden + eps);
  const float rt = rsqrtf(st / hidden + eps);
  const float scale = 2.0f / (static_cast<float>(hidden) * num_labels);
  double squared = 0.0;
  float dot = 0.0f;  // sum(dh * w * xs)
  for (int c = threadIdx.x; c < hidden; c += blockDim.x) {
    const float w = __bfloat162float(weight[c]);
    const float diff = w * xs[base + c] * rs - w * xt[base + c] * rt;
    squared += static_cast<double>(diff) * diff;
    dot += scale * diff * w * xs[base + c];
  }
  squared = BlockSum(squared, dscratch);
  dot = BlockSum(dot, scratch);
  const float c3 = rs * rs * rs * dot / hidden;
  for (int c = threadIdx.x; c < hidden; c += blockDim.x) {
    const float w = __bfloat162float(weight[c]);
    const float diff = w * xs[base + c] * rs - w * xt[base + c] * rt;
    dx[base + c] = rs * scale * diff * w - c3 * xs[base + c];
  }
  if (threadIdx.x == 0) atomicAdd(loss, squared / (static_cast<double>(hidden) * num_labels));
}

__global__ void F32ToBf16Kernel(const float* in, std::size_t n, bf16* out) {
  for (std::size_t index = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; index < n;
       index += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
    out[index] = __float2bfloat16(in[index]);
  }
}

int GridFor(int64_t total, int threads) {
  const int64_t blocks = (total + threads - 1) / threads;
  return static_cast<int>(blocks < 65535 * 8 ? blocks : 65535 * 8);
}

}  // namespace training_ops_detail

using namespace training_ops_detail;

cudaError_t LaunchGateMix(const __nv_bfloat16* full, const __nv_bfloat16* streaming, const float* gates, int tokens,
                          int num_q_heads, int num_kv_heads, int head_dim, __nv_bfloat16* mixed, cudaStream_t stream) {
  if (tokens < 0 || num_kv_heads < 1 || num_q_heads % num_kv_heads != 0 || head_dim < 1) return cudaErrorInvalidValue;
  const int64_t total = static_cast<int64_t>(tokens) * num_q_heads * head_dim;
  if (total == 0) return cudaSuccess;
  GateMixKernel<<<GridFor(total, 256), 256, 0, stream>>>(full, streaming, gates, total, head_dim, num_q_heads,
                                                          num_q_heads / num_kv_heads, mixed);
  return cudaGetLastError();
}

cudaError_t LaunchGateMixBackward(const float* d_mixed, const __nv_bfloat16* full, const __nv_bfloat16* streaming,
                                  const float* gates, int tokens, int num_q_heads, int num_kv_heads, int head_dim,
                                  __nv_bfloat16* d_streaming, double* gradient, cudaStream_t stream) {
  if (tokens < 1 || num_kv_heads < 1 || num_q_heads % num_kv_heads != 0 || head_dim < 1) return cudaErrorInvalidValue;
  const int rows_per_block = 16;
  const dim3 grid((tokens + rows_per_block - 1) / rows_per_block, num_kv_heads);
  GateMixBackwardKernel<<<grid, kRowThreads, 0, stream>>>(d_mixed, full, streaming, gates, tokens, rows_per_block,
                                                          num_q_heads, head_dim, num_q_heads / num_kv_heads,
                                                          d_streaming, gradient);
  return cudaGetLastError();
}

cudaError_t LaunchRmsNormBackward(const float* dy, const float* x, const __nv_bfloat16* weight, const float* add,
                                  int tokens, int hidden, float eps, float* dx, cudaStream_t stream) {
  if (tokens < 0 || hidden < 1) return cudaErrorInvalidValue;
  if (tokens == 0) return cudaSuccess;
  RmsNormBackwardKernel<<<tokens, kRowThreads, 0, stream>>>(dy, x, weight, add, hidden, eps, dx);
  return cudaGetLastError();
}

cudaError_t LaunchSwiGluForward(const __nv_bfloat16* gate_up, int tokens, int m, __nv_bfloat16* act,
                                cudaStream_t stream) {
  if (tokens < 0 || m < 1) return cudaErrorInvalidValue;
  const int64_t total = static_cast<int64_t>(tokens) * m;
  if (total == 0) return cudaSuccess;
  SwiGluForwardKernel<<<GridFor(total, 256), 256, 0, stream>>>(gate_up, total, m, act);
  return cudaGetLastError();
}

cudaError_t LaunchSwiGluBackward(const __nv_bfloat16* gate_up, const float* d_act, int tokens, int m,
                                 __nv_bfloat16* d_gate_up, cudaStream_t stream) {
  if (tokens < 0 || m < 1) return cudaErrorInvalidValue;
  const int64_t total = static_cast<int64_t>(tokens) * m;
  if (total == 0) return cudaSuccess;
  SwiGluBackwardKernel<<<GridFor(total, 256), 256, 0, stream>>>(gate_up, d_act, total, m, d_gate_up);
  return cudaGetLastError();
}

cudaError_t LaunchRopeBackward(const float* dq, const float* dk, const float* dv, const float* cos, const float* sin,
                               int tokens, int num_q_heads, int num_kv_heads, int head_dim, __nv_bfloat16* d_qkv,
                               cudaStream_t stream) {
  if (tokens < 0 || head_dim < 2 || head_dim % 2 != 0 || num_kv_heads < 1) return cudaErrorInvalidValue;
  const int64_t total = static_cast<int64_t>(tokens) * (num_q_heads + 2 * num_kv_heads) * (head_dim / 2);
  if (total == 0) return cudaSuccess;
  RopeBackwardKernel<<<GridFor(total, 256), 256, 0, stream>>>(dq, dk, dv, cos, sin, tokens, num_q_heads, num_kv_heads,
                                                              head_dim, d_qkv);
  return cudaGetLastError();
}

cudaError_t LaunchDistillationLoss(const float* x_student, const float* x_teacher, const __nv_bfloat16* weight,
                                   const uint8_t* labels, int num_labels, int tokens, int hidden, float eps,
                                   float* dx, double* loss, cudaStream_t stream) {
  if (tokens < 1 || hidden < 1 || num_labels < 1) return cudaErrorInvalidValue;
  DistillationLossKernel<<<tokens, kRowThreads, 0, stream>>>(x_student, x_teacher, weight, labels, num_labels, hidden,
                                                             eps, dx, loss);
  return cudaGetLastError();
}

cudaError_t LaunchF32ToBf16(const float* in, std::size_t n, __nv_bfloat16* out, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  F32ToBf16Kernel<<<GridFor(static_cast<int64_t>(n), 256), 256, 0, stream>>>(in, n, out);
  return cudaGetLastError();
}

}  // namespace duo
