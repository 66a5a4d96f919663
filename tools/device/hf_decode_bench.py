"""HF transformers decode latency on a Llama-3-8B-shaped model with random bf16 weights, batch 1:
the baseline issue #7 compares the cuda backend with. Runs on the GPU machine (torch + transformers),
in the same device call as the cuda benchmarks. For each context the KV cache (a DynamicCache) is
filled with random keys/values, then single-token forward passes are timed (median of 5 after 2
warm-up steps), exactly as `generate` would run them: PyTorch eager mode, the model's default
attention implementation, cache grown by the model itself.

usage: python3 hf_decode_bench.py OUT.json [--contexts 4096,8192,...]
"""

import json
import sys
import time

import torch
import transformers
from transformers import DynamicCache, LlamaConfig, LlamaForCausalLM


def main() -> None:
    out_path = sys.argv[1]
    contexts = [4096, 8192, 32768, 131072, 262144]
    if "--contexts" in sys.argv:
        contexts = [int(c) for c in sys.argv[sys.argv.index("--contexts") + 1].split(",")]
    config = LlamaConfig(
        hidden_size=4096,
        intermediate_size=14336,
        num_hidden_layers=32,
        num_attention_heads=32,
        num_key_value_heads=8,
        vocab_size=128256,
        max_position_embeddings=1 << 20,
        rope_theta=500000.0,
    )
    torch.manual_seed(0)
    torch.set_default_dtype(torch.bfloat16)
    with torch.device("cuda"):
        model = LlamaForCausalLM(config)
    model.eval()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.uniform_(-0.02, 0.02)
    attention = getattr(model.config, "_attn_implementation", "unknown")
    # Warm-up (CUDA context, cuBLAS handles, kernel selection) outside the timed contexts.
    with torch.no_grad():
        warm = DynamicCache()
        model(input_ids=torch.tensor([[1] * 64], device="cuda"), past_key_values=warm, use_cache=True)
        for step in range(3):
            model(input_ids=torch.tensor([[1]], device="cuda"), past_key_values=warm, use_cache=True)
        del warm
    results = []
    for context in contexts:
        cache = DynamicCache()
        try:
            with torch.no_grad():
                for layer in range(config.num_hidden_layers):
                    k = torch.empty(1, 8, context, 128, device="cuda").uniform_(-1, 1)
                    v = torch.empty(1, 8, context, 128, device="cuda").uniform_(-1, 1)
                    cache.update(k, v, layer)
                    del k, v
                times = []
                position = context
                for step in range(7):
                    ids = torch.tensor([[1]], device="cuda")
                    positions = torch.tensor([[position]], device="cuda")
                    torch.cuda.synchronize()
                    start = time.perf_counter()
                    model(input_ids=ids, position_ids=positions, past_key_values=cache, use_cache=True)
                    torch.cuda.synchronize()
                    if step >= 2:
                        times.append((time.perf_counter() - start) * 1e3)
                    position += 1
            times.sort()
            results.append({"context": context, "msPerToken": times[len(times) // 2], "minMsPerToken": times[0]})
            print(f"HF {attention} @ {context}: {times[len(times) // 2]:.2f} ms/token", flush=True)
        except torch.OutOfMemoryError as error:
            results.append({"context": context, "error": f"out of memory: {str(error)[:200]}"})
            print(f"HF @ {context}: out of memory", flush=True)
        del cache
        torch.cuda.empty_cache()
    report = {
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "device": torch.cuda.get_device_name(0),
        "attention": attention,
        "results": results,
    }
    with open(out_path, "w") as f:
        json.dump(report, f, indent=2)


if __name__ == "__main__":
    main()
