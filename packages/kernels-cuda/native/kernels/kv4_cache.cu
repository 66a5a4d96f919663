// KV4 quantize (one warp per group, the rules in kv4_cache.cuh) and append (a copy of staging groups
// into the caches). Every float operation of the quantizer is an explicitly rounded intrinsic
// (__fsub_rn, __fdiv_rn, __fadd_rn): no contraction, no fast-math division, so the codes are the
// ones kv4-codec.ts computes (the original's kernel used fast-math and could differ by one code).
#include "kernels/kv4_cache.cuh"

#include <algorithm>
#include <cstdint>

namespace duo {
namespace {

constexpr float kMaxCode = 15.0f;
constexpr float kScaleEpsilon = 1e-8f;  // Math.fround(1e-8)

struct QuantizeParams {
  const __nv_bfloat16* qkv;
  int tokens;
  int num_q_heads;
  int num_kv_heads;
  Kv4Cache staging_k;
  Kv4Cache staging_v;
};

/** (value, index) that comes first under kv4-codec.ts's scan: a strictly smaller (larger) value, or an equal one earlier. */
__device__ __forceinline__ void TakeMin(float& value, int& index, float other, int other_index) {
  if (other < value || (other == value && other_index < index)) {
    value = other;
    index = other_index;
  }
}
__device__ __forceinline__ void TakeMax(float& value, int& index, float other, int other_index) {
  if (other > value || (other == value && other_index < index)) {
    value = other;
    index = other_index;
  }
}

/** One warp per (token, KV head, K|V) group; lane l holds elements [E l, E l + E), E = D / 32. */
template <int D>
__global__ void Kv4QuantizeKernel(const QuantizeParams p) {
  constexpr int E = D / 32;
  const int lane = threadIdx.x & 31;
  const long long warp = (static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x) >> 5;
  const long long groups = static_cast<long long>(p.tokens) * p.num_kv_heads;
  if (warp >= 2 * groups) return;
  const bool is_value = warp >= groups;
  const long long group = is_value ? warp - groups : warp;
  const long long token = group / p.num_kv_heads;
  const int head = static_cast<int>(group - token * p.num_kv_heads);
  const std::size_t row_stride = static_cast<std::size_t>(p.num_q_heads + 2 * p.num_kv_heads) * D;
  const __nv_bfloat16* source = p.qkv + token * row_stride +
                                static_cast<std::size_t>(p.num_q_heads + (is_value ? p.num_kv_heads : 0) + head) * D +
                                lane * E;
  float x[E];
#pragma unroll
  for (int e = 0; e < E; ++e) x[e] = __bfloat162float(source[e]);

  float min_value = x[0];
  int min_index = lane * E;
  float max_value = x[0];
  int max_index = lane * E;
#pragma unroll
  for (int e = 1; e < E; ++e) {
    TakeMin(min_value, min_index, x[e], lane * E + e);
    TakeMax(max_value, max_index, x[e], lane * E + e);
  }
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) {
    const float other_min = __shfl_xor_sync(0xffffffffu, min_value, offset);
    const int other_min_index = __shfl_xor_sync(0xffffffffu, min_index, offset);
    const float other_max = __shfl_xor_sync(0xffffffffu, max_value, offset);
    const int other_max_index = __shfl_xor_sync(0xffffffffu, max_index, offset);
    TakeMin(min_value, min_index, other_min, other_min_index);
    TakeMax(max_value, max_index, other_max, other_max_index);
  }
  const float scale = __fadd_rn(__fdiv_rn(__fsub_rn(max_value, min_value), kMaxCode), kScaleEpsilon);

  unsigned codes[E];
#pragma unroll
  for (int e = 0; e < E; ++e) {
    const float code = roundf(__fdiv_rn(__fsub_rn(x[e], min_value), scale));  // ties away from zero
    codes[e] = static_cast<unsigned>(fminf(fmaxf(code, 0.0f), kMaxCode));
  }
  const Kv4Cache& target = is_value ? p.staging_v : p.staging_k;
  uint8_t* const out = target.codes + group * (D / 2);
  if constexpr (E == 1) {
    const unsigned next = __shfl_down_sync(0xffffffffu, codes[0], 1);
    if ((lane & 1) == 0) out[lane / 2] = static_cast<uint8_t>((codes[0] << 4) | next);
  } else {
    // E / 2 bytes, byte i = (element 2i << 4) | element 2i + 1, stored little-endian in one word.
    uint32_t word = 0;
#pragma unroll
    for (int i = 0; i < E / 2; ++i) word |= ((codes[2 * i] << 4) | codes[2 * i + 1]) << (8 * i);
    uint8_t* const dst = out + lane * (E / 2);
    if constexpr (E == 2) {
      *dst = static_cast<uint8_t>(word);
    } else if constexpr (E == 4) {
      *reinterpret_cast<uint16_t*>(dst) = static_cast<uint16_t>(word);
    } else {
      *reinterpret_cast<uint32_t*>(dst) = word;
    }
  }
  if (lane == 0) target.params[group] = __halves2half2(__float2half_rn(scale), __float2half_rn(min_value));
}

struct AppendParams {
  Kv4ConstCache staging_k;
  Kv4ConstCache staging_v;
  int tokens;
  long long start;
  int num_kv_heads;
  int num_retrieval;
  int head_dim;
  Kv4Cache retrieval_k;
  Kv4Cache retrieval_v;
  Kv4Cache streaming_k;
  Kv4Cache streaming_v;
  long long sink;
  long long recent;
};

/** One thread per (token, K|V, KV head, 4-byte chunk of codes); chunk 0 also copies the params. */
__global__ void Kv4AppendKernel(const AppendParams p) {
  const int chunks = p.head_dim / 8;  // 4-byte words of codes per group
  const long long work = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
  const long long per_token = 2LL * p.num_kv_heads * chunks;
  if (work >= per_token * p.tokens) return;
  const int token = static_cast<int>(work / per_token);
  const int rest = static_cast<int>(work - token * per_token);
  const int chunk = rest % chunks;
  const int head = (rest / chunks) % p.num_kv_heads;
  const bool is_value = rest >= p.num_kv_heads * chunks;
  const long long position = p.start + token;
  const long long end = p.start + p.tokens;
  Kv4Cache target;
  long long row;
  if (head < p.num_retrieval) {
    target = is_value ? p.retrieval_v : p.retrieval_k;
    row = position * p.num_retrieval + head;
  } else {
    long long slot;
    if (position < p.sink) {
      slot = position;
    } else if (p.recent > 0 && position >= end - p.recent) {
      slot = p.sink + (position - p.sink) % p.recent;
    } else {
      return;  // overwritten later in this call, or no ring at all (R == 0)
    }
    target = is_value ? p.streaming_v : p.streaming_k;
    row = slot * (p.num_kv_heads - p.num_retrieval) + (head - p.num_retrieval);
  }
  const Kv4ConstCache& source = is_value ? p.staging_v : p.staging_k;
  const long long from = static_cast<long long>(token) * p.num_kv_heads + head;
  reinterpret_cast<uint32_t*>(target.codes + row * (p.head_dim / 2))[chunk] =
      reinterpret_cast<const uint32_t*>(source.codes + from * (p.head_dim / 2))[chunk];
  if (chunk == 0) target.params[row] = source.params[from];
}

bool Aligned(const void* pointer, unsigned bytes) { return (reinterpret_cast<std::uintptr_t>(pointer) % bytes) == 0; }

}  // namespace

cudaError_t LaunchKv4Quantize(const __nv_bfloat16* qkv, int tokens, int num_q_heads, int num_kv_heads,
                              int head_dim, Kv4Cache staging_k, Kv4Cache staging_v, cudaStream_t stream) {
  if (tokens < 0 || num_q_heads < 0 || num_kv_heads < 0) return cudaErrorInvalidValue;
  if (head_dim != 32 && head_dim != 64 && head_dim != 128 && head_dim != 256) return cudaErrorInvalidValue;
  if (tokens == 0 || num_kv_heads == 0) return cudaSuccess;
  if (qkv == nullptr || staging_k.codes == nullptr || staging_k.params == nullptr || staging_v.codes == nullptr ||
      staging_v.params == nullptr || !Aligned(qkv, 4) || !Aligned(staging_k.codes, 4) || !Aligned(staging_v.codes, 4) ||
      !Aligned(staging_k.params, 4) || !Aligned(staging_v.params, 4))
    return cudaErrorInvalidValue;
  const QuantizeParams params{qkv, tokens, num_q_heads, num_kv_heads, staging_k, staging_v};
  constexpr int kThreads = 256;
  const long long warps = 2LL * tokens * num_kv_heads;
  const long long blocks = (warps * 32 + kThreads - 1) / kThreads;
  if (blocks > 0x7fffffffLL) return cudaErrorInvalidValue;
  const dim3 grid(static_cast<unsigned>(blocks));
  switch (head_dim) {
    case 32: Kv4QuantizeKernel<32><<<grid, kThreads, 0, stream>>>(params); break;
    case 64: Kv4QuantizeKernel<64><<<grid, kThreads, 0, stream>>>(params); break;
    case 128: Kv4QuantizeKernel<128><<<grid, kThreads, 0, stream>>>(params); break;
    default: Kv4QuantizeKernel<256><<<grid, kThreads, 0, stream>>>(params); break;
  }
  return cudaGetLastError();
}

cudaError_t LaunchKv4Append(Kv4ConstCache staging_k, Kv4ConstCache staging_v, int tokens, int start,
                            int num_kv_heads, int num_retrieval_kv_heads, int head_dim, Kv4Cache retrieval_k,
                            Kv4Cache retrieval_v, Kv4Cache streaming_k, Kv4Cache streaming_v, int sink,
                            int recent, cudaStream_t stream) {
  const int fr = num_retrieval_kv_heads;
  if (tokens < 0 || start < 0 || num_kv_heads < 0 || fr < 0 || fr > num_kv_heads || sink < 0 || recent < 0)
    return cudaErrorInvalidValue;
  if (head_dim <= 0 || head_dim % 8 != 0) return cudaErrorInvalidValue;
  if (tokens == 0 || num_kv_heads == 0) return cudaSuccess;
  auto usable = [](const uint8_t* codes, const __half2* params) {
    return codes != nullptr && params != nullptr && Aligned(codes, 4) && Aligned(params, 4);
  };
  if (!usable(staging_k.codes, staging_k.params) || !usable(staging_v.codes, staging_v.params))
    return cudaErrorInvalidValue;
  if (fr > 0 && (!usable(retrieval_k.codes, retrieval_k.params) || !usable(retrieval_v.codes, retrieval_v.params)))
    return cudaErrorInvalidValue;
  if (fr < num_kv_heads &&
      (!usable(streaming_k.codes, streaming_k.params) || !usable(streaming_v.codes, streaming_v.params)))
    return cudaErrorInvalidValue;
  const AppendParams params{staging_k,   staging_v,   tokens,      start,       num_kv_heads, fr, head_dim,
                            retrieval_k, retrieval_v, streaming_k, streaming_v, sink,         recent};
  constexpr int kThreads = 256;
  const long long work = 2LL * num_kv_heads * (head_dim / 8) * tokens;
  const long long blocks = (work + kThreads - 1) / kThreads;
  if (blocks > 0x7fffffffLL) return cudaErrorInvalidValue;
  Kv4AppendKernel<<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(params);
  return cudaGetLastError();
}

}  // namespace duo
