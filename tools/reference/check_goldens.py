#!/usr/bin/env python3
"""Second, independent check of the committed DuoAttention goldens; needs only numpy.

make_goldens.py simulates the caches (streaming cache = concat then keep first S + last R). This
script never builds a cache: it writes down, for every query position, the set of visible keys
straight from DESIGN.md section 3's table and evaluates the model position by position in
float64. Both must agree on every case tensor of packages/core/fixtures/<model>/goldens.safetensors.

    python3 tools/reference/check_goldens.py [packages/core/fixtures]
"""

import json
import math
import os
import struct
import sys

import numpy as np

MODELS = ["llama-gqa", "llama-mha-llama3", "mistral"]


def load_safetensors(path):
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        s, e = info["data_offsets"]
        raw = data[8 + n + s:8 + n + e]
        if info["dtype"] == "F32":
            a = np.frombuffer(raw, "<f4")
        elif info["dtype"] == "F16":
            a = np.frombuffer(raw, "<f2")
        elif info["dtype"] == "BF16":
            a = (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            raise ValueError(f"{path}: {name} has dtype {info['dtype']}")
        out[name] = a.reshape(info["shape"]).astype(np.float64)
    return out


def load_weights(d):
    index = os.path.join(d, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            files = sorted(set(json.load(f)["weight_map"].values()))
        sd = {}
        for fn in files:
            sd.update(load_safetensors(os.path.join(d, fn)))
        return sd
    return load_safetensors(os.path.join(d, "model.safetensors"))


def inv_freq(rp, hd):
    inv = 1.0 / (rp["rope_theta"] ** (np.arange(0, hd, 2) / hd))
    if rp["rope_type"] == "llama3":
        f, lo, hi = rp["factor"], rp["low_freq_factor"], rp["high_freq_factor"]
        orig = rp["original_max_position_embeddings"]
        wl = 2 * np.pi / inv
        s = (orig / wl - lo) / (hi - lo)
        inv = np.where(wl < orig / hi, inv, np.where(wl > orig / lo, inv / f, (1 - s) * inv / f + s * inv))
    elif rp["rope_type"] != "default":
        raise ValueError(rp)
    return inv


def visible(p, c, retrieval, sink, recent):
    """DESIGN.md section 3: keys a query at position p in a chunk starting at c attends to."""
    if retrieval or c == 0:
        return list(range(p + 1))
    return sorted(set(range(min(sink, c))) | set(range(max(0, c - recent), c)) | set(range(c, p + 1)))


def logits(d, ids, mask, sink, recent, prefill, chunk):
    cfg = json.load(open(os.path.join(d, "config.json")))
    sd = load_weights(d)
    n_layers, n_heads = cfg["num_hidden_layers"], cfg["num_attention_heads"]
    n_kv, hd, eps = cfg["num_key_value_heads"], cfg["head_dim"], cfg["rms_norm_eps"]
    emb = sd["model.embed_tokens.weight"]
    lm_head = sd.get("lm_head.weight", emb)
    t = len(ids)
    ang = np.arange(t)[:, None] * inv_freq(cfg["rope_parameters"], hd)[None]
    cos, sin = np.cos(np.concatenate([ang, ang], 1)), np.sin(np.concatenate([ang, ang], 1))

    def rope(x):
        return x * cos + np.concatenate([-x[..., hd // 2:], x[..., :hd // 2]], -1) * sin

    def rms(x, w):
        return w * x / np.sqrt((x * x).mean(-1, keepdims=True) + eps)

    starts, c = [], 0
    while c < prefill:
        starts += [c] * min(chunk, prefill - c)
        c += chunk
    starts += list(range(prefill, t))

    x = emb[ids]
    for li in range(n_layers):
        def w(k):
            return sd[f"model.layers.{li}.{k}"]

        h = rms(x, w("input_layernorm.weight"))
        q = rope((h @ w("self_attn.q_proj.weight").T).reshape(t, n_heads, hd).transpose(1, 0, 2))
        k = rope((h @ w("self_attn.k_proj.weight").T).reshape(t, n_kv, hd).transpose(1, 0, 2))
        v = (h @ w("self_attn.v_proj.weight").T).reshape(t, n_kv, hd).transpose(1, 0, 2)
        out = np.zeros((n_heads, t, hd))
        for hq in range(n_heads):
            g = hq // (n_heads // n_kv)
            for p in range(t):
                vis = visible(p, starts[p], mask[li][g], sink, recent)
                sc = k[g][vis] @ q[hq][p] / math.sqrt(hd)
                e = np.exp(sc - sc.max())
                out[hq, p] = (e / e.sum()) @ v[g][vis]
        x = x + out.transpose(1, 0, 2).reshape(t, n_heads * hd) @ w("self_attn.o_proj.weight").T
        h2 = rms(x, w("post_attention_layernorm.weight"))
        gate = h2 @ w("mlp.gate_proj.weight").T
        x = x + ((gate / (1 + np.exp(-gate))) * (h2 @ w("mlp.up_proj.weight").T)) @ w("mlp.down_proj.weight").T
    return rms(x, sd["model.norm.weight"]) @ lm_head.T


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "../../packages/core/fixtures")
    ok = True
    for name in MODELS:
        d = os.path.join(root, name)
        manifest = json.load(open(os.path.join(d, "goldens.json")))
        tensors = load_safetensors(os.path.join(d, "goldens.safetensors"))
        worst = 0.0
        for case in manifest["cases"]:
            r = logits(d, manifest["inputIds"], case["mask"], case["sinkSize"], case["recentSize"],
                       case["prefillLength"], case["prefillChunkSize"])
            worst = max(worst, float(np.abs(r - tensors[case["logits"]]).max()))
        vs_hf = float(np.abs(tensors["full"] - tensors["hf_full_logits"]).max())
        good = worst < 1e-5 and vs_hf < 1e-4
        ok = ok and good
        print(f"{name}: {len(manifest['cases'])} cases, max abs diff {worst:.2e}; full vs HF {vs_hf:.2e}"
              f" {'OK' if good else 'MISMATCH'}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
