// One bf16 Llama/Mistral decoder resident on one GPU under a DuoAttention policy: weights, the KV
// caches of every sequence (preallocated for maxTokens), scratch, and the forward pass that runs
// every layer without returning to the host. Plain C++ (no Node-API) so the checks can drive it too.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "host/device_allocation.h"
#include "host/gemm.h"
#include "host/status.h"
#include "kernels/sampling.cuh"

namespace duo {

/** The architecture numbers the kernels need (HF config names in comments). */
struct ModelShape {
  int num_layers = 0;        // num_hidden_layers
  int hidden = 0;            // hidden_size
  int num_q_heads = 0;       // num_attention_heads
  int num_kv_heads = 0;      // num_key_value_heads
  int head_dim = 0;          // head_dim
  int intermediate = 0;      // intermediate_size
  int vocab = 0;             // vocab_size
  float rms_eps = 1e-5f;     // rms_norm_eps
  bool tied_embeddings = false;  // tie_word_embeddings: lm_head is embed_tokens
};

/** The policy as the kernels see it: retrieval KV heads per layer (a prefix after reordering). */
struct PolicyShape {
  std::vector<int> retrieval_kv_heads;  // [num_layers]
  int sink = 0;                         // S
  int recent = 0;                       // R
};

struct ModelOptions {
  int device = 0;
  int max_tokens = 0;     // per sequence
  int max_sequences = 1;
  // Issue #18's decode-step work, opt-in until it has been verified on a GPU (both off by default;
  // ApplyDecodeEnvironment reads DUO_CUDA_GRAPHS=1 and DUO_CUDA_FUSED=1). Either one routes
  // single-token forwards (head_dim 32/64/128) through the decode-step path, whose kernels read the
  // position and lengths from device memory.
  bool decode_graphs = false;  // capture each sequence's decode step as a CUDA graph, replay it per token
  bool fused_decode = false;   // norm in the GEMV prologues, SwiGLU in the gate|up epilogue, KV append in attention
};

/** Sets options->decode_graphs / fused_decode from DUO_CUDA_GRAPHS / DUO_CUDA_FUSED ("1" on, "0" off, unset: keep). */
void ApplyDecodeEnvironment(ModelOptions* options);

/** What the decode-step path did so far (benchmarks and checks report it). */
struct DecodeStats {
  int64_t eager_steps = 0;     // decode steps launched kernel by kernel (the first after a change, or no graphs)
  int64_t graph_captures = 0;  // graphs captured and instantiated
  int64_t graph_replays = 0;   // decode steps run as one graph launch
  std::string graph_error;     // why graphs were given up for this model (empty while they work)
};

/** Which weight tensor an upload is for. Shapes are bf16, row-major, heads already reordered. */
enum class WeightKind : int {
  kEmbed = 0,      // [vocab, hidden]
  kFinalNorm = 1,  // [hidden]
  kLmHead = 2,     // [vocab, hidden] (absent when tied)
  kInputNorm = 3,  // per layer [hidden]
  kQkv = 4,        // per layer [(Hq + 2 Hkv) d, hidden]: q rows, then k rows, then v rows
  kO = 5,          // per layer [hidden, Hq d]
  kPostNorm = 6,   // per layer [hidden]
  kGateUp = 7,     // per layer [2 m, hidden]: gate rows, then up rows
  kDown = 8,       // per layer [hidden, m]
};

/**
 * How ForwardSample picks the token after the last row (sampling.cuh; packages/core's sampleToken
 * with `uniform` as its one random draw).
 */
struct SampleRequest {
  bool greedy = true;          // argmax after the penalty; params' temperature, top_k, top_p ignored
  SamplingParams params{1.0f, 0, 1.0f, 1.0f};  // temperature > 0 unless greedy
  float uniform = 0.0f;        // in [0, 1]; ignored when greedy
  // Host [num_previous] int32 ids the repetition penalty applies to (repeats count once), each in
  // [0, vocab); read only when params.repetition_penalty != 1.
  const int32_t* previous_tokens = nullptr;
  int num_previous = 0;
};

/** What a negative ForwardSample result (kSampleNaN, ...) means, for error messages. */
std::string DescribeSampleCode(int32_t code);

/** Device bytes by purpose. */
struct ModelMemory {
  std::size_t weight_bytes = 0;
  std::size_t retrieval_cache_bytes = 0;  // allocated, all sequences
  std::size_t streaming_cache_bytes = 0;  // allocated, all sequences
  std::size_t scratch_bytes = 0;
};

class CudaModel {
 public:
  /** Validates the shapes, selects the device and allocates weights, caches and decode scratch. */
  static Status Create(const ModelShape& shape, const PolicyShape& policy, const ModelOptions& options,
                       std::unique_ptr<CudaModel>* out);
  ~CudaModel();
  CudaModel(const CudaModel&) = delete;
  CudaModel& operator=(const CudaModel&) = delete;

  /** Copies one weight tensor (bf16 bits) to the device; `layer` is ignored for model-level kinds. */
  Status UploadWeight(WeightKind kind, int layer, const uint16_t* data, std::size_t count);

  /** Benchmarks: every weight seeded-random on the device (norm weights near 1), none from the host. */
  Status FillRandomWeights(uint64_t seed);

  /**
   * Appends `tokens` ids of `sequence` at positions start..start+tokens-1 and writes float32
   * logits of the last row (or every row with all_logits) to `logits` ([rows, vocab]).
   * cos/sin: [tokens, head_dim/2] f32 for those positions, RoPE attention scaling included.
   * `start` is the caller's idea of the sequence length: 0 starts the sequence afresh (whatever it
   * held), anything else must equal its current length. Ids must be in [0, vocab) and
   * start + tokens <= max_tokens (checked, with the numbers).
   */
  Status Forward(int sequence, int start, const int32_t* ids, int tokens, const float* cos, const float* sin, bool all_logits,
                 float* logits);

  /**
   * The same forward as Forward, but the last row's logits stay on the device: the token is
   * selected there (LaunchArgmax when greedy without a penalty, else LaunchSample) and only its id
   * comes back, in `*sampled`. The request is checked before anything runs. When the forward
   * succeeds the sequence advances even if the logits cannot be sampled from: `*sampled` is then
   * one of the negative codes of sampling.cuh (kSampleNaN, ...; see DescribeSampleCode).
   */
  Status ForwardSample(int sequence, int start, const int32_t* ids, int tokens, const float* cos, const float* sin,
                       const SampleRequest& request, int32_t* sampled);

  /**
   * One decode step on each of `batch` distinct sequences in one pass (continuous batching): the
   * linears run as GEMMs over the batch rows (the weights are read once), RoPE per row (cos/sin
   * [batch, head_dim/2] are each row's position), and each row's attention and KV append on its own
   * sequence's caches, with the kernels of a one-token forward. starts[i] must equal sequence i's
   * length. Logits [batch, vocab] f32 go to `logits`. Every row is checked before anything runs.
   */
  Status ForwardBatch(const int* sequences, const int* starts, const int32_t* ids, int batch, const float* cos,
                      const float* sin, float* logits);

  /** Benchmarks: the sequence holds `length` tokens of seeded-random keys/values, as after a prefill. */
  Status FillSyntheticCache(int sequence, int length, uint64_t seed);

  /**
   * Switches the decode-step path (ModelOptions::decode_graphs / fused_decode) for the next calls,
   * dropping captured graphs; sequences and caches are kept. Checks and benchmarks A/B with it.
   */
  Status SetDecodeOptions(bool decode_graphs, bool fused_decode);
  DecodeStats decode_stats() const;

  /** Device bytes as of the end of the last finished call (readable while a forward runs). */
  ModelMemory Memory() const;
  const ModelShape& shape() const { return shape_; }

 private:
  struct LayerWeights {
    DeviceAllocation input_norm, qkv, o, post_norm, gate_up, down;
  };
  struct LayerCache {
    __nv_bfloat16* retrieval_k = nullptr;  // [max_tokens, Fr, d]
    __nv_bfloat16* retrieval_v = nullptr;
    __nv_bfloat16* streaming_k = nullptr;  // [S + R, Fs, d]
    __nv_bfloat16* streaming_v = nullptr;
  };
  struct Sequence {
    DeviceAllocation retrieval;  // every layer's retrieval K and V
    DeviceAllocation streaming;  // every layer's streaming K and V
    std::vector<LayerCache> layers;
    int length = 0;
    // Set when a forward failed after writing into the caches: the ring slots may hold tokens past
    // `length`, so the sequence must be reset before it is used again.
    std::string broken;
    // The decode step captured for this sequence (its cache pointers are baked in), valid while
    // graph_generation == scratch_generation_.
    cudaGraphExec_t graph = nullptr;
    uint64_t graph_generation = 0;
  };

  CudaModel(const ModelShape& shape, const PolicyShape& policy, const ModelOptions& options);
  Status Allocate();
  Status EnsureScratch(int tokens);
  Status CheckSequence(int sequence, const char* what) const;
  /**
   * The checks of appending `tokens` ids to `sequence` at `start` (0 begins it afresh, anything else
   * must equal its length; ids in the vocabulary; within max_tokens); `*out` is the sequence.
   */
  Status PrepareAppend(int sequence, int start, const int32_t* ids, int tokens, const char* what, Sequence** out);
  int QkvWidth() const { return (shape_.num_q_heads + 2 * shape_.num_kv_heads) * shape_.head_dim; }
  int RetrievalHeads(int layer) const { return policy_.retrieval_kv_heads[layer]; }
  int StreamingHeads(int layer) const { return shape_.num_kv_heads - policy_.retrieval_kv_heads[layer]; }
  /** Copies `rows` ids and their cos/sin rows to the device and embeds them into residual_. */
  Status UploadRows(const int32_t* ids, int rows, const float* cos, const float* sin);
  Status RunLayers(Sequence& sequence, int tokens, int start);
  /**
   * The layer stack over `tokens` rows in residual_ (embedded): norms, GEMMs and RoPE over all rows;
   * `attend(layer, qkv, attention)` runs each layer's attention (reading q|k|v [tokens, QkvWidth]
   * bf16, writing [tokens, num_q_heads * d] bf16) and its KV append.
   */
  Status RunLayerStack(int tokens, const std::function<Status(int, __nv_bfloat16*, __nv_bfloat16*)>& attend);
  /**
   * Fills what the decode and prefill attention kernels share: layer `layer`'s caches of `cache`,
   * the model's head counts and softmax scale, this call's q|k|v and output, and the cache lengths.
   */
  template <typename AttentionArgs>
  void DescribeAttention(AttentionArgs& args, const LayerCache& cache, int layer, __nv_bfloat16* qkv,
                         __nv_bfloat16* attention, int retrieval_len, int streaming_len) const;
  /** One layer's attention + KV append for `tokens` rows of one sequence at positions start.. */
  Status AttendSequence(Sequence& sequence, int layer, int tokens, int start, __nv_bfloat16* qkv,
                        __nv_bfloat16* attention);
  /** Whether a forward of `tokens` rows takes the decode-step path. */
  bool UsesDecodeStep(int tokens) const;
  /** Copies the token id, lengths and RoPE angles of a decode step into decode_inputs_. */
  Status WriteDecodeInputs(int start, int32_t id, const float* cos, const float* sin);
  /** One decode step up to the logits in logits_: a graph replay, or the kernels one by one. */
  Status RunDecodeStep(Sequence& sequence);
  /** Enqueues the decode step's kernels (embedding .. lm_head); capturable: no host-dependent values. */
  Status LaunchDecodeKernels(Sequence& sequence);
  /** Captures sequence's decode step; on failure records graph_error_ and leaves no graph. */
  void CaptureDecodeGraph(Sequence& sequence);
  void DropDecodeGraphs();
  /** Where a forward's result goes: host logits (Forward) or an id selected on the device (ForwardSample). */
  struct ForwardOutput {
    bool all_logits = false;
    float* logits = nullptr;               // host [rows, vocab] f32, or null when sampling
    const SampleRequest* sample = nullptr;  // non-null: select the last row's token
    int32_t* sampled = nullptr;
  };
  /** The body both forwards share (the mutex held by the caller). */
  Status RunForward(int sequence, int start, const int32_t* ids, int tokens, const float* cos, const float* sin,
                    const ForwardOutput& output);
  /** Allocates what the selection needs and uploads the penalty ids (before the caches change). */
  Status PrepareSelection(const SampleRequest& request);
  /** Launches the selection of the token of `logits` ([vocab] f32 on the device) into sample_id_. */
  Status LaunchSelection(const float* logits, const SampleRequest& request);

  ModelShape shape_;
  PolicyShape policy_;
  ModelOptions options_;
  int num_sms_ = 0;
  cudaStream_t stream_ = nullptr;
  std::unique_ptr<Gemm> gemm_;
  mutable std::mutex mutex_;  // one call at a time per model (calls come from libuv worker threads)
  // Memory as of the end of the last call, readable while a forward runs (the JS thread asks for it
  // without waiting on the GPU). Sequence lengths are the caller's: Forward checks they agree.
  mutable std::mutex stats_mutex_;
  ModelMemory memory_snapshot_;
  void UpdateSnapshot();

  DeviceAllocation embed_, final_norm_, lm_head_;
  std::vector<LayerWeights> layers_;
  std::vector<Sequence> sequences_;

  // Scratch for up to scratch_tokens_ rows.
  int scratch_tokens_ = 0;
  DeviceAllocation residual_, normed_, qkv32_, qkv_, attention_, delta_, gate_up_, activation_, logits_;
  DeviceAllocation ids_, cos_, sin_;
  DeviceAllocation decode_workspace_;
  std::size_t decode_workspace_bytes_ = 0;
  // On-device sampling, allocated on first use: the selected id, LaunchSample's workspace and the
  // repetition-penalty ids (grown geometrically).
  DeviceAllocation sample_id_, sample_workspace_, sample_previous_;

  // The decode-step path (issue #18). decode_inputs_: DecodeLengths (16 bytes), the token id (16
  // bytes with padding), cos and sin [head_dim / 2] f32 each, written by one copy per step.
  // residual_alt_: the fused path's second residual row (the fused GEMVs read one and write the other).
  DeviceAllocation decode_inputs_, residual_alt_;
  std::vector<unsigned char> decode_staging_;
  // Bumped whenever a buffer a captured graph points at is reallocated (scratch, logits).
  uint64_t scratch_generation_ = 1;
  bool decode_warm_ = false;  // an eager decode step ran since the last change (lazy launcher setup done)
  bool fused_supported_ = false;
  DecodeStats decode_stats_;
};

}  // namespace duo
