// The per-token numbers of a decode step, kept in device memory so that the launches of a step do
// not depend on them: a step captured once as a CUDA graph replays for every token, the host only
// rewriting these 16 bytes (and the token id and RoPE angles) before each replay.
#pragma once

namespace duo {

struct DecodeLengths {
  int retrieval_len;  // c: tokens before this one in the retrieval cache
  int streaming_len;  // min(c, S + R): valid rows of the streaming cache
  int position;       // c: where this token's k/v are appended
  int unused;         // keeps the struct 16 bytes (one aligned copy)
};

}  // namespace duo
