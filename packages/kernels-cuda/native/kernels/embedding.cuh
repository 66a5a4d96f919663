// Token embedding lookup: out[t, :] = table[ids[t], :] (a bf16 row copy, so bit-exact with
// Hugging Face's nn.Embedding).
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include <cstdint>

namespace duo {

/**
 * Enqueues the lookup on `stream`. table: [vocab, hidden] bf16; ids: device [tokens] int32;
 * out: [tokens, hidden] bf16. The kernel is not told `vocab`, so it cannot check ids: the HOST must
 * guarantee 0 <= ids[t] < vocab (it validates token ids before uploading them); an id outside
 * that range reads outside the table. Returns cudaErrorInvalidValue for negative sizes.
 */
cudaError_t LaunchEmbedding(const __nv_bfloat16* table, const int32_t* ids, int tokens, int hidden,
                            __nv_bfloat16* out, cudaStream_t stream);

}  // namespace duo
