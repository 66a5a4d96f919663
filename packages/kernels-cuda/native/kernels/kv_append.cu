// KV append: a 2-D grid (work blocks x tokens, looping past the grid's y limit); each thread moves
// kVec elements (16 bytes when head_dim and the pointers allow) of one (token, KV head, k|v).
#include "kernels/kv_append.cuh"

#include <algorithm>
#include <cstdint>

#include "kernels/dependent_launch.cuh"

namespace duo {
namespace {

template <int kVec>
struct alignas(2 * kVec) Bf16Pack {
  __nv_bfloat16 v[kVec];
};

struct KvAppendArgs {
  const __nv_bfloat16* qkv;
  int tokens;
  int64_t start;
  int num_q_heads;
  int num_kv_heads;
  int num_retrieval;  // Fr
  int head_dim;
  __nv_bfloat16* retrieval_k;
  __nv_bfloat16* retrieval_v;
  __nv_bfloat16* streaming_k;
  __nv_bfloat16* streaming_v;
  int64_t sink;
  int64_t recent;
  const DecodeLengths* lengths;  // LaunchKvAppendAt: start is lengths->position
};

template <int kVec, bool kDeviceStart>
__global__ void KvAppendKernel(KvAppendArgs a) {
  if constexpr (kDeviceStart) a.start = a.lengths->position;
  using P = Bf16Pack<kVec>;
  AllowDependentLaunch();  // the o_proj GEMV after it may stream its weights while this one runs
  const int chunks = a.head_dim / kVec;
  // Work item w = ((is_value * Hkv) + kv_head) * chunks + chunk, for one token.
  const int w = blockIdx.x * blockDim.x + threadIdx.x;
  if (w >= 2 * a.num_kv_heads * chunks) return;
  const int chunk = w % chunks;
  const int head_kv = (w / chunks) % a.num_kv_heads;
  const bool is_value = w >= a.num_kv_heads * chunks;
  const int row_stride = (a.num_q_heads + 2 * a.num_kv_heads) * a.head_dim;
  const int source_column = (a.num_q_heads + (is_value ? a.num_kv_heads : 0) + head_kv) * a.head_dim + chunk * kVec;
  const int streaming_heads = a.num_kv_heads - a.num_retrieval;
  const int64_t end = a.start + a.tokens;
  for (int t = blockIdx.y; t < a.tokens; t += gridDim.y) {
    const int64_t position = a.start + t;
    __nv_bfloat16* target;
    if (head_kv < a.num_retrieval) {
      const int64_t row = position * a.num_retrieval + head_kv;
      target = (is_value ? a.retrieval_v : a.retrieval_k) + row * a.head_dim;
    } else {
      int64_t slot;
      if (position < a.sink) {
        slot = position;
      } else if (a.recent > 0 && position >= end - a.recent) {
        slot = a.sink + (position - a.sink) % a.recent;
      } else {
        continue;  // overwritten later in this call, or no ring at all (R == 0)
      }
      const int64_t row = slot * streaming_heads + (head_kv - a.num_retrieval);
      target = (is_value ? a.streaming_v : a.streaming_k) + row * a.head_dim;
    }
    *reinterpret_cast<P*>(target + chunk * kVec) =
        *reinterpret_cast<const P*>(a.qkv + static_cast<int64_t>(t) * row_stride + source_column);
  }
}

bool Aligned16(const void* pointer) { return (reinterpret_cast<std::uintptr_t>(pointer) & 15u) == 0; }

/** Both launchers; lengths non-null: tokens is 1 and start is read on the device. */
cudaError_t LaunchAppend(const __nv_bfloat16* qkv, int tokens, int start, const DecodeLengths* lengths,
                         int num_q_heads, int num_kv_heads, int num_retrieval_kv_heads, int head_dim,
                         __nv_bfloat16* retrieval_k, __nv_bfloat16* retrieval_v, __nv_bfloat16* streaming_k,
                         __nv_bfloat16* streaming_v, int sink, int recent, cudaStream_t stream) {
  const int fr = num_retrieval_kv_heads;
  if (tokens < 0 || start < 0 || num_q_heads < 0 || num_kv_heads < 0 || fr < 0 || fr > num_kv_heads ||
      head_dim <= 0 || sink < 0 || recent < 0)
    return cudaErrorInvalidValue;
  const bool has_streaming = fr < num_kv_heads;
  if ((fr > 0 && (retrieval_k == nullptr || retrieval_v == nullptr)) ||
      (has_streaming && (streaming_k == nullptr || streaming_v == nullptr)))
    return cudaErrorInvalidValue;
  if ((static_cast<int64_t>(num_q_heads) + 2 * static_cast<int64_t>(num_kv_heads)) * head_dim > INT32_MAX)
    return cudaErrorInvalidValue;
  if (tokens == 0 || num_kv_heads == 0) return cudaSuccess;
  const KvAppendArgs args{qkv,         tokens,      start,       num_q_heads, num_kv_heads, fr,     head_dim,
                          retrieval_k, retrieval_v, streaming_k, streaming_v, sink,         recent, lengths};
  // A null pointer of an absent group is never dereferenced, so it does not affect alignment.
  auto aligned = [](const void* p) { return p == nullptr || Aligned16(p); };
  const bool vectorised = head_dim % 8 == 0 && Aligned16(qkv) && aligned(retrieval_k) && aligned(retrieval_v) &&
                          aligned(streaming_k) && aligned(streaming_v);
  const int work = 2 * num_kv_heads * (vectorised ? head_dim / 8 : head_dim);
  const int threads = std::min(256, ((work + 31) / 32) * 32);
  const dim3 grid(static_cast<unsigned>((work + threads - 1) / threads), static_cast<unsigned>(std::min(tokens, 65535)));
  if (lengths != nullptr) {
    if (vectorised) {
      KvAppendKernel<8, true><<<grid, threads, 0, stream>>>(args);
    } else {
      KvAppendKernel<1, true><<<grid, threads, 0, stream>>>(args);
    }
  } else if (vectorised) {
    KvAppendKernel<8, false><<<grid, threads, 0, stream>>>(args);
  } else {
    KvAppendKernel<1, false><<<grid, threads, 0, stream>>>(args);
  }
  return cudaGetLastError();
}

}  // namespace

cudaError_t LaunchKvAppend(const __nv_bfloat16* qkv, int tokens, int start, int num_q_heads, int num_kv_heads,
                           int num_retrieval_kv_heads, int head_dim, __nv_bfloat16* retrieval_k,
                           __nv_bfloat16* retrieval_v, __nv_bfloat16* streaming_k, __nv_bfloat16* streaming_v,
                           int sink, int recent, cudaStream_t stream) {
  return LaunchAppend(qkv, tokens, start, nullptr, num_q_heads, num_kv_heads, num_retrieval_kv_heads, head_dim,
                      retrieval_k, retrieval_v, streaming_k, streaming_v, sink, recent, stream);
}

cudaError_t LaunchKvAppendAt(const __nv_bfloat16* qkv, const DecodeLengths* lengths, int num_q_heads, int num_kv_heads,
                             int num_retrieval_kv_heads, int head_dim, __nv_bfloat16* retrieval_k,
                             __nv_bfloat16* retrieval_v, __nv_bfloat16* streaming_k, __nv_bfloat16* streaming_v,
                             int sink, int recent, cudaStream_t stream) {
  if (lengths == nullptr) return cudaErrorInvalidValue;
  return LaunchAppend(qkv, 1, 0, lengths, num_q_heads, num_kv_heads, num_retrieval_kv_heads, head_dim, retrieval_k,
                      retrieval_v, streaming_k, streaming_v, sink, recent, stream);
}

}  // namespace duo
