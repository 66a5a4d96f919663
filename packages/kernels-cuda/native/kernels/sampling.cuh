// Next-token selection on the GPU from one row of fp32 logits, following the TypeScript sampler
// (packages/core/src/engine/sampling.ts) step for step: repetition penalty, then greedy argmax or
// temperature, top-k (ties -> lower ids), top-p (the fewest most probable tokens reaching top_p,
// ordered by (probability desc, id asc)) and an inverse-CDF draw walking the kept ids in ascending
// order. The result is one int32 written to device memory, so decoding never copies logits back.
//
// Precision. Scores (penalty and temperature) are formed with the TS operations: fp32 keys equal to
// the float64 score rounded to fp32, ties and near-ties re-ranked in float64, so the top-k set is
// exactly the TS one for top_k <= kSampleSmallTopK. From there:
//  * top_k in [1, kSampleSmallTopK]: the <= top_k candidates are processed in float64 in TS's order
//    (weights exp(score - max), nucleus sums in (weight desc, id asc) order, the draw in id order);
//    only exp's last bit and the order of the first `total` sum differ from V8.
//  * otherwise (top_k off or larger): weights are expf of fp32 score differences, in 31-bit fixed
//    point relative to the top token (weights below 2^-31 of it count as 0), summed exactly in
//    integers, so the result is deterministic; top-p ties in that fixed-point weight go to the lower
//    id, and top-k ties in the fp32 key go to the lower id.
// Either way the drawn token can differ from TS only when `uniform` lies within float rounding
// (~1e-6 relative) of a boundary of the normalised CDF, or when the top-p partial sum lies that close
// to top_p * total. `uniform`, temperature, top_p and the penalty arrive as fp32: the CPU sampler
// agrees only when it is given the same (fp32-representable) values.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

namespace duo {

/** As sampling.ts's ResolvedSamplingOptions; temperature 0 means greedy. */
struct SamplingParams {
  float temperature;         // >= 0 and finite; 0 = greedy argmax after the penalty
  int top_k;                 // >= 0; 0 (or >= vocab) = off
  float top_p;               // in (0, 1]; 1 = off
  float repetition_penalty;  // > 0 and finite; 1 = off
};

/** Values written to *out_id instead of a token id; the host turns them into SamplingErrors. */
constexpr int32_t kSampleNaN = -1;          // a logit (score) is NaN
constexpr int32_t kSampleAllNegInf = -2;    // every candidate has score -Infinity (sampling only)
constexpr int32_t kSampleNoMass = -3;       // no kept token has positive probability (defensive)
/** top_k at or below this takes the float64 candidate path. */
constexpr int kSampleSmallTopK = 1024;

/**
 * Argmax over logits[0, vocab) (device fp32), ties -> lowest id, written to *out_id (device);
 * kSampleNaN if any logit is NaN. One block of 1024 threads.
 */
cudaError_t LaunchArgmax(const float* logits, int vocab, int32_t* out_id, cudaStream_t stream);

/** Device workspace LaunchSample needs for `vocab` (keys and the repetition bitmap). */
std::size_t SampleWorkspaceBytes(int vocab);

/**
 * Samples one token from logits[0, vocab) (device fp32, not modified) and writes its id (or one of
 * the negative codes above) to *out_id (device). previous_tokens: device [num_previous] int32, the
 * ids the repetition penalty applies to (prompt + generated; repeats count once); may be null when
 * num_previous == 0 or the penalty is 1. The host validates them (0 <= id < vocab, as sampling.ts
 * throws otherwise); the kernel ignores ids out of range rather than reading out of bounds.
 * uniform: the host's seeded draw in [0, 1) (1 is tolerated: it selects the last kept token).
 * workspace: 16-byte aligned device memory of at least SampleWorkspaceBytes(vocab) bytes.
 * Two launches: a many-block pass computing the keys (ceil(vocab / 4096) blocks), then one block
 * of 512 threads for the selection. Returns cudaErrorInvalidValue for invalid parameters.
 * Measured on an H100 at vocab 128256 (incl. ~5 us of event overhead): top_k 50 + top_p 0.9 85 us,
 * plain temperature 60 us, greedy + penalty 45 us, top_k 2000 128 us, top_p 0.9 alone 240 us.
 */
cudaError_t LaunchSample(const float* logits, int vocab, const SamplingParams& params, const int32_t* previous_tokens,
                         int num_previous, float uniform, void* workspace, std::size_t workspace_bytes,
                         int32_t* out_id, cudaStream_t stream);

}  // namespace duo
