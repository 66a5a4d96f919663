#!/usr/bin/env python3
"""Golden fixtures for gate training (retrieval-head identification) in duo-attn.

For each tiny fixture checkpoint in packages/core/fixtures (llama-gqa, llama-mha-llama3, mistral),
an independent float64 torch implementation of DuoAttention's training objective computes, with
autograd, the loss and d(loss)/d(alpha) for several cases, plus a short AdamW trajectory with the
original's schedule and pre-step clamp. Writes one JSON file (--out). See tools/reference/README.md.

The objective (DESIGN.md section 3, reference spec section 2):
  * the teacher runs full causal attention everywhere (no grad);
  * the student runs, per KV head, out = a * F_teacher + (1 - a) * streaming attention of its own
    q/k/v, a = clamp(alpha, 0, 1), where F_teacher is the teacher's attention output at that layer
    (the original mixes the teacher's full output, detached); streaming attention uses the
    token-level Lambda mask (key j visible to query i iff j <= i and (j < S or j > i - R)) or the
    block version (query block b sees key blocks [0, ceil(S/B)) and (b - ceil(R/B), b], causal);
  * loss = mean over label positions of mean over hidden of (h_teacher - h_student)^2, h = final
    RMSNorm output, plus regWeight * mean(|alpha|).
Runs on CPU torch; deterministic.
"""

import argparse
import json
import math
import os

import struct

import torch

try:
    from safetensors.torch import load_file
except ImportError:  # a plain reader, so the script also runs where only torch is installed
    _DTYPES = {"F32": torch.float32, "F64": torch.float64, "BF16": torch.bfloat16, "F16": torch.float16}

    def load_file(path):
        with open(path, "rb") as f:
            data = f.read()
        (size,) = struct.unpack("<Q", data[:8])
        header = json.loads(data[8:8 + size])
        base = 8 + size
        out = {}
        for name, info in header.items():
            if name == "__metadata__":
                continue
            start, end = info["data_offsets"]
            raw = bytearray(data[base + start:base + end])
            out[name] = torch.frombuffer(raw, dtype=_DTYPES[info["dtype"]]).reshape(info["shape"]).clone()
        return out

D = torch.float64
SEED = 20261203
T = 40
LABELS = 10
SINK = 4
RECENT = 8
BLOCK = 4
REG = 0.05
LR = 0.02
ADAM_STEPS = 6
ADAM_NUM_STEPS = 20
MODELS = ["llama-gqa", "llama-mha-llama3", "mistral"]


def rope_inv_freq(rp, d):
    theta = float(rp["rope_theta"])
    inv = 1.0 / (theta ** (torch.arange(0, d, 2, dtype=D) / d))
    kind = rp.get("rope_type", rp.get("type", "default"))
    if kind == "default":
        return inv
    if kind != "llama3":
        raise ValueError(f"rope type {kind} not handled here")
    factor, lo, hi = float(rp["factor"]), float(rp["low_freq_factor"]), float(rp["high_freq_factor"])
    orig = float(rp["original_max_position_embeddings"])
    out = torch.empty_like(inv)
    for i in range(inv.numel()):
        f = inv[i].item()
        wl = 2 * math.pi / f
        if wl < orig / hi:
            out[i] = f
        elif wl > orig / lo:
            out[i] = f / factor
        else:
            s = (orig / wl - lo) / (hi - lo)
            out[i] = (1 - s) * f / factor + s * f
    return out


class GatedModel:
    """A float64 Llama/Mistral decoder stack (no LM head) with per-KV-head gates."""

    def __init__(self, directory):
        with open(os.path.join(directory, "config.json")) as f:
            cfg = json.load(f)
        sd = load_file(os.path.join(directory, "model.safetensors")) if os.path.exists(
            os.path.join(directory, "model.safetensors")) else self._sharded(directory)
        self.L = cfg["num_hidden_layers"]
        self.H = cfg["num_attention_heads"]
        self.KV = cfg["num_key_value_heads"]
        self.d = cfg.get("head_dim") or cfg["hidden_size"] // self.H
        self.G = self.H // self.KV
        self.eps = cfg["rms_norm_eps"]
        rp = cfg.get("rope_parameters") or {"rope_theta": cfg.get("rope_theta", 10000.0),
                                            **(cfg.get("rope_scaling") or {})}
        self.inv_freq = rope_inv_freq(rp, self.d)
        g = lambda k: sd[k].to(D)  # noqa: E731
        self.embed = g("model.embed_tokens.weight")
        self.norm = g("model.norm.weight")
        self.layers = []
        for i in range(self.L):
            p = f"model.layers.{i}."
            self.layers.append({n: g(p + k) for n, k in [
                ("ln1", "input_layernorm.weight"), ("ln2", "post_attention_layernorm.weight"),
                ("q", "self_attn.q_proj.weight"), ("k", "self_attn.k_proj.weight"),
                ("v", "self_attn.v_proj.weight"), ("o", "self_attn.o_proj.weight"),
                ("gate", "mlp.gate_proj.weight"), ("up", "mlp.up_proj.weight"),
                ("down", "mlp.down_proj.weight")]})

    @staticmethod
    def _sharded(directory):
        with open(os.path.join(directory, "model.safetensors.index.json")) as f:
            files = sorted(set(json.load(f)["weight_map"].values()))
        sd = {}
        for name in files:
            sd.update(load_file(os.path.join(directory, name)))
        return sd

    def rms(self, x, w):
        return w * (x / torch.sqrt((x * x).mean(-1, keepdim=True) + self.eps))

    def rope(self, x, pos):
        ang = pos.to(D)[:, None] * self.inv_freq[None, :]
        emb = torch.cat([ang, ang], -1)
        half = self.d // 2
        rot = torch.cat([-x[..., half:], x[..., :half]], -1)
        return x * emb.cos() + rot * emb.sin()

    def attention(self, q, k, v, visible):
        """q [H, n, d], k/v [KV, n, d], visible [n, n] bool -> [H, n, d]."""
        out = []
        for h in range(self.H):
            g = h // self.G
            sc = (q[h] @ k[g].T) / math.sqrt(self.d)
            sc = sc.masked_fill(~visible, float("-inf"))
            out.append(torch.softmax(sc, -1) @ v[g])
        return torch.stack(out)

    def run(self, ids, visible_streaming, alpha=None, teacher_f=None):
        """Teacher when alpha is None (returns final hidden and per-layer F), else the gated student."""
        n = len(ids)
        pos = torch.arange(n)
        causal = pos[None, :] <= pos[:, None]
        x = self.embed[torch.tensor(ids)]
        fs = []
        for li, W in enumerate(self.layers):
            h = self.rms(x, W["ln1"])
            q = self.rope((h @ W["q"].T).view(n, self.H, self.d).transpose(0, 1), pos)
            k = self.rope((h @ W["k"].T).view(n, self.KV, self.d).transpose(0, 1), pos)
            v = (h @ W["v"].T).view(n, self.KV, self.d).transpose(0, 1)
            if alpha is None:
                out = self.attention(q, k, v, causal)
                fs.append(out)
            else:
                stream = self.attention(q, k, v, visible_streaming)
                a = alpha[li].clamp(0, 1).repeat_interleave(self.G)[:, None, None]
                out = a * teacher_f[li] + (1 - a) * stream
            x = x + out.transpose(0, 1).reshape(n, self.H * self.d) @ W["o"].T
            h2 = self.rms(x, W["ln2"])
            gt = h2 @ W["gate"].T
            x = x + ((gt * torch.sigmoid(gt)) * (h2 @ W["up"].T)) @ W["down"].T
        return self.rms(x, self.norm), fs


def streaming_visible(n, sink, recent, kind, block):
    i = torch.arange(n)[:, None]
    j = torch.arange(n)[None, :]
    causal = j <= i
    if kind == "token":
        return causal & ((j < sink) | (j > i - recent))
    sink_blocks = -(-sink // block)
    local_blocks = -(-recent // block)
    bi, bj = i // block, j // block
    return causal & ((bj < sink_blocks) | (bj > bi - local_blocks))


def objective(model, ids, labels, alpha, sink, recent, kind, block, reg_weight):
    visible = streaming_visible(len(ids), sink, recent, kind, block)
    with torch.no_grad():
        h_teacher, fs = model.run(ids, visible)
    h_student, _ = model.run(ids, visible, alpha=alpha, teacher_f=fs)
    sel = torch.tensor(labels)
    distill = ((h_teacher[sel] - h_student[sel]) ** 2).mean(-1).sum() / len(labels)
    reg = alpha.abs().mean()
    return distill, reg, distill + reg_weight * reg


def lr_multiplier(k, num_steps):
    w = num_steps // 5
    return min(1.0, max((k + 1) / w, 0.1), max((num_steps - k) / w, 0.1))


def ids_for(gen, n, vocab):
    return torch.randint(6, vocab, (n,), generator=gen).tolist()


def use_hf_rope_and_check_teacher(model, directory, ids):
    """Takes HF's float32 inverse frequencies (what every backend reproduces) and checks that the
    teacher's final hidden states are HF transformers' last_hidden_state. Without transformers
    (a local run), the float64 frequencies rounded to float32 are used and nothing is compared."""
    try:
        import transformers
    except ImportError:
        print("NOTE: transformers not installed: RoPE frequencies not taken from HF, teacher not compared", flush=True)
        model.inv_freq = model.inv_freq.to(torch.float32).to(D)
        return None
    hf = transformers.AutoModel.from_pretrained(directory, dtype=torch.float64, attn_implementation="eager")
    model.inv_freq = hf.rotary_emb.inv_freq.to(torch.float32).to(D)
    with torch.no_grad():
        want = hf(torch.tensor([ids])).last_hidden_state[0]
        got, _ = model.run(ids, None)
    diff = (want - got).abs().max().item()
    print(f"teacher vs HF float64 last_hidden_state: max abs diff {diff:.3e}", flush=True)
    # HF keeps RoPE tables and softmax in float32 internally, so agreement is at the 1e-7 level.
    if diff > 1e-5:
        raise SystemExit(f"teacher does not reproduce HF ({diff:.3e})")
    return diff


def model_cases(name, fixtures):
    model = GatedModel(os.path.join(fixtures, name))
    with open(os.path.join(fixtures, name, "config.json")) as f:
        vocab = json.load(f)["vocab_size"]
    gen = torch.Generator().manual_seed(SEED + MODELS.index(name))
    ids = ids_for(gen, T, vocab)
    labels = list(range(T - LABELS, T))
    hf_diff = use_hf_rope_and_check_teacher(model, os.path.join(fixtures, name), ids)
    shape = (model.L, model.KV)
    random_alpha = torch.rand(shape, generator=gen, dtype=D)
    edge = torch.rand(shape, generator=gen, dtype=D)
    edge.view(-1)[0::3] = 0.0
    edge.view(-1)[1::3] = 1.0
    cases = []
    for cname, alpha, kind in [
        ("random gates, token mask", random_alpha, "token"),
        ("random gates, block mask", random_alpha, "block"),
        ("gates at 0 and 1, token mask", edge, "token"),
        ("all gates 1 (student = teacher)", torch.ones(shape, dtype=D), "token"),
    ]:
        a = alpha.clone().requires_grad_(True)
        distill, reg, loss = objective(model, ids, labels, a, SINK, RECENT, kind, BLOCK, REG)
        loss.backward()
        cases.append({
            "name": cname, "mask": kind, "alpha": alpha.tolist(),
            "distillLoss": distill.item(), "regLoss": reg.item(), "loss": loss.item(),
            "gradient": a.grad.tolist(),
        })
        print(f"{name}: {cname}: loss {loss.item():.6e} |grad| {a.grad.abs().max().item():.3e}", flush=True)

    # AdamW (torch's, weight_decay 0) with the original's LambdaLR schedule and pre-step clamp.
    samples = [ids_for(gen, T, vocab) for _ in range(3)]
    alpha = torch.ones(shape, dtype=D, requires_grad=True)
    opt = torch.optim.AdamW([alpha], lr=LR, weight_decay=0.0, betas=(0.9, 0.999), eps=1e-8)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: lr_multiplier(k, ADAM_NUM_STEPS))
    trajectory = []
    for step in range(ADAM_STEPS):
        with torch.no_grad():
            alpha.clamp_(0, 1)
        sample = samples[step % len(samples)]
        _, _, loss = objective(model, sample, labels, alpha, SINK, RECENT, "token", BLOCK, REG)
        opt.zero_grad()
        loss.backward()
        lr = opt.param_groups[0]["lr"]
        opt.step()
        sched.step()
        trajectory.append({"loss": loss.item(), "lr": lr, "alphaAfter": alpha.detach().tolist()})
    return {
        "model": name, "inputIds": ids, "labelPositions": labels, "teacherVsHfMaxAbsDiff": hf_diff,
        "cases": cases,
        "adamw": {"samples": samples, "numSteps": ADAM_NUM_STEPS, "lr": LR, "steps": trajectory},
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fixtures", default="../../packages/core/fixtures")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.use_deterministic_algorithms(True)
    result = {
        "generatedBy": "tools/reference/make_train_goldens.py",
        "torch": torch.__version__,
        "sinkSize": SINK, "recentSize": RECENT, "blockSize": BLOCK, "regWeight": REG,
        "models": [model_cases(name, args.fixtures) for name in MODELS],
    }
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")
    print(f"wrote {args.out}", flush=True)


if __name__ == "__main__":
    main()
