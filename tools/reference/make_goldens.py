#!/usr/bin/env python3
"""Golden fixtures for the TypeScript inference stack of duo-attn.

Runs only where torch + transformers + tokenizers are installed (the GPU machine; CPU torch is
enough for these tiny models). Everything is deterministic from fixed seeds. Writes, under --out:

  tokenizer/, tokenizer-jinja/, tokenizer-goldens.json          (byte-level BPE, vocab 320)
  llama-gqa/, llama-mha-llama3/, mistral/                         (tiny random HF checkpoints)
  <model>/goldens.json + <model>/goldens.safetensors              (logits, F32)

The DuoAttention goldens come from an independent float64 implementation in this file that first
reproduces HF transformers' full-attention logits, then applies the chunked-prefill / decode
semantics of DESIGN.md section 3 (retrieval heads: all keys; streaming heads: sink + recent cache
plus the chunk's own keys; first chunk exact). See tools/reference/README.md.
"""

import argparse
import json
import math
import os
import random
import shutil
import sys
import traceback

# Python's per-process string hashing changes set iteration order (HF's shard assignment uses
# it): pin it so two runs write byte-identical files.
if os.environ.get("PYTHONHASHSEED") != "0":
    os.environ["PYTHONHASHSEED"] = "0"
    os.execv(sys.executable, [sys.executable] + sys.argv)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402
import tokenizers  # noqa: E402
import transformers  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers  # noqa: E402

SCRIPT = "tools/reference/make_goldens.py"
SEED = 20240611

SPECIAL_TOKENS = ["<|bos|>", "<|eos|>", "<|user|>", "<|assistant|>", "<|system|>", "<|end|>"]
VOCAB_SIZE = 320
NUM_SPECIAL = len(SPECIAL_TOKENS)  # ids 0..5: special tokens come FIRST in the vocabulary

T = 48  # tokens per golden sequence
P = 36  # prefill length; tokens P..T-1 are fed one at a time (decode)
SINK = 4
RECENT = 8
CHUNKS = [1, 7, 32, 36]
GREEDY_PROMPT = 20
GREEDY_NEW = 16

ERRORS = []


def log(*a):
    print(*a, flush=True)


def error(msg):
    ERRORS.append(msg)
    log("ERROR:", msg)


# --------------------------------------------------------------------------------------------
# Tokenizer
# --------------------------------------------------------------------------------------------

CHAT_TEMPLATE_INLINE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>\\n' + message['content'] + '<|end|>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}"
)

# Different text on purpose (default system prompt, trimmed content, no newlines) so tests can
# tell which template was loaded.
CHAT_TEMPLATE_JINJA_FILE = (
    "{{- bos_token -}}\n"
    "{%- for message in messages -%}\n"
    "    {%- if loop.first and message.role != 'system' -%}\n"
    "        {{- '<|system|>You are a tiny test model.<|end|>' -}}\n"
    "    {%- endif -%}\n"
    "    {{- '<|' ~ message.role ~ '|>' ~ (message.content | trim) ~ '<|end|>' -}}\n"
    "{%- endfor -%}\n"
    "{%- if add_generation_prompt -%}\n"
    "    {{- '<|assistant|>' -}}\n"
    "{%- endif -%}\n"
)


def training_text(seed):
    """A few KB of varied, deterministic English-ish text (no downloads)."""
    rng = random.Random(seed)
    subjects = ["the model", "a small cat", "our team", "the old river", "every student", "this program",
                "the weather", "my neighbour", "a quiet engine", "the library", "some people", "the city"]
    verbs = ["reads", "writes", "follows", "remembers", "builds", "finds", "answers", "watches",
             "measures", "explains", "carries", "opens", "counts", "tests", "loads"]
    objects = ["the long report", "a simple question", "three red apples", "the hidden key",
               "every token", "the next chapter", "a new recipe", "the attention heads",
               "the cache", "the final answer", "two short stories", "the evening news"]
    tails = ["before noon", "after the meeting", "with great care", "in the morning", "without a word",
             "again and again", "at the station", "for the first time", "on the table", "in a hurry"]
    lines = []
    for i in range(160):
        s = f"{rng.choice(subjects).capitalize()} {rng.choice(verbs)} {rng.choice(objects)} {rng.choice(tails)}"
        r = rng.random()
        if r < 0.2:
            s += f", and the count was {rng.randint(0, 99999)}."
        elif r < 0.35:
            s += f" on {rng.randint(1, 28)}/{rng.randint(1, 12)}/{rng.randint(1990, 2030)}?"
        elif r < 0.45:
            s = f'"{s}!" she said.'
        elif r < 0.55:
            s += f" ({rng.randint(2, 9)} times) -- really."
        else:
            s += "."
        lines.append(s)
        if i % 7 == 6:
            lines.append("")
        if i % 11 == 10:
            lines.append(f"Question: what is {rng.randint(10, 999)} plus {rng.randint(10, 999)}? Answer:")
    return "\n".join(lines)


def build_tokenizer(seed):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    text = training_text(seed)
    tok.train_from_iterator([line + "\n" for line in text.split("\n")], trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="<|bos|> $A",
        pair="<|bos|> $A <|bos|> $B:1",
        special_tokens=[("<|bos|>", 0)],
    )
    log(f"tokenizer: trained on {len(text)} chars; vocab {tok.get_vocab_size()}")
    if tok.get_vocab_size() != VOCAB_SIZE:
        error(f"tokenizer vocab size {tok.get_vocab_size()} != {VOCAB_SIZE}")
    for i, s in enumerate(SPECIAL_TOKENS):
        if tok.token_to_id(s) != i:
            error(f"special token {s} has id {tok.token_to_id(s)}, expected {i}")
    return tok


def tokenizer_config(with_template):
    cfg = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": "<|bos|>",
        "eos_token": "<|eos|>",
        "add_bos_token": True,
        "add_eos_token": False,
        "clean_up_tokenization_spaces": False,
        "model_max_length": 4096,
        "added_tokens_decoder": {
            str(i): {
                "content": s,
                "lstrip": False,
                "normalized": False,
                "rstrip": False,
                "single_word": False,
                "special": True,
            }
            for i, s in enumerate(SPECIAL_TOKENS)
        },
    }
    if with_template:
        cfg["chat_template"] = CHAT_TEMPLATE_INLINE
    return cfg


def _fmt(o, ind):
    """JSON with 2-space indent, but lists of scalars on one line (ids, masks)."""
    pad = "  " * (ind + 1)
    if isinstance(o, dict):
        if not o:
            return "{}"
        items = [f"{pad}{json.dumps(k, ensure_ascii=False)}: {_fmt(v, ind + 1)}" for k, v in o.items()]
        return "{\n" + ",\n".join(items) + "\n" + "  " * ind + "}"
    if isinstance(o, list) and any(isinstance(x, (dict, list)) for x in o):
        if all(isinstance(x, list) and not any(isinstance(y, (dict, list)) for y in x) for x in o):
            return json.dumps(o, ensure_ascii=False, separators=(", ", ": "))
        return "[\n" + ",\n".join(pad + _fmt(x, ind + 1) for x in o) + "\n" + "  " * ind + "]"
    return json.dumps(o, ensure_ascii=False, separators=(", ", ": "))


def write_json(path, obj):
    text = _fmt(obj, 0)
    if json.loads(text) != obj:
        raise AssertionError(f"JSON formatting changed the content of {path}")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text + "\n")


def write_tokenizer_dirs(tok, out):
    d1 = os.path.join(out, "tokenizer")
    d2 = os.path.join(out, "tokenizer-jinja")
    for d in (d1, d2):
        os.makedirs(d, exist_ok=True)
        tok.save(os.path.join(d, "tokenizer.json"), pretty=True)
    write_json(os.path.join(d1, "tokenizer_config.json"), tokenizer_config(True))
    write_json(os.path.join(d2, "tokenizer_config.json"), tokenizer_config(False))
    with open(os.path.join(d2, "chat_template.jinja"), "w", encoding="utf-8") as f:
        f.write(CHAT_TEMPLATE_JINJA_FILE)
    return d1, d2


def load_hf_tokenizer(path):
    from transformers import AutoTokenizer

    try:
        t = AutoTokenizer.from_pretrained(path)
        return t, f"AutoTokenizer -> {type(t).__name__}"
    except Exception as e:  # record, then fall back
        log(f"NOTE: AutoTokenizer.from_pretrained({path}) failed: {e!r}; falling back")
        from transformers import PreTrainedTokenizerFast

        t = PreTrainedTokenizerFast.from_pretrained(path)
        return t, f"PreTrainedTokenizerFast (fallback) -> {type(t).__name__}"


ENCODE_STRINGS = [
    "Hello world",
    "The quick brown fox jumps over the lazy dog.",
    "",
    " leading space",
    "trailing space ",
    "  two  spaces  between   words   ",
    "tabs\tand\ttabs\t\t",
    "line one\nline two\n\nline four\r\n",
    "Café déjà vu, naïve façade — coöperate",
    "日本語のテキストと中文字符",
    "Emoji: 😀🎉👍🏽 and 🇫🇷 flags",
    "Numbers: 1234567890 and 3.14159 and -42",
    "A long number 98765432109876543210",
    "Version 2.0.1-beta+build.7 on 2024-06-01T12:34:56Z",
    "<|bos|>special at start",
    "text with <|eos|> inside and <|user|>role<|end|>",
    "<|assistant|>",
    "almost special <|bos| and <|notreal|>",
    "don't won't it's we're they'll I'd",
    "UPPER lower MiXeD CaSe",
    "code: def f(x):\n    return x**2  # square\n",
    "punctuation!!! ??? ... ,,, ;;; :::",
    "   ",
    "\n",
    "mixed 中文 and English 123 with émojis 🚀",
    "Ünïcödé ÅÄÖ ß ŒÆ ñ",
    "url https://example.com/path?q=1&r=two#frag",
    "a",
    "\u00a0non-breaking\u00a0space and zero\u200bwidth",
]

CHAT_CONVERSATIONS = [
    [{"role": "user", "content": "Hello there!"}],
    [
        {"role": "system", "content": "You answer briefly."},
        {"role": "user", "content": "What is 2 + 2?"},
        {"role": "assistant", "content": "4"},
        {"role": "user", "content": "  And 3 + 3?  "},
    ],
    [
        {"role": "user", "content": "Write a haiku\nabout caches."},
        {"role": "assistant", "content": "Sinks hold the first words,\nrecent tokens slide along -\nretrieval keeps all."},
    ],
    [{"role": "user", "content": "Unicode: café 日本 😀"}],
]


def tokenizer_goldens(tok, d1, d2, out):
    hf1, how1 = load_hf_tokenizer(d1)
    hf2, how2 = load_hf_tokenizer(d2)
    log(f"tokenizer: loaded {d1} with {how1}; {d2} with {how2}")
    log(f"tokenizer: hf1.chat_template starts {str(hf1.chat_template)[:40]!r}")
    log(f"tokenizer: hf2.chat_template starts {str(hf2.chat_template)[:40]!r}")
    if hf1.chat_template != CHAT_TEMPLATE_INLINE:
        error("tokenizer: inline chat template not loaded verbatim")
    if (hf2.chat_template or "").strip() != CHAT_TEMPLATE_JINJA_FILE.strip():
        error("tokenizer-jinja: chat_template.jinja not loaded")

    enc = []
    for text in ENCODE_STRINGS:
        for add in (True, False):
            ids = list(hf1.encode(text, add_special_tokens=add))
            raw = tok.encode(text, add_special_tokens=add).ids
            if ids != raw:
                error(f"tokenizer: HF ids differ from tokenizers ids for {text!r} add={add}: {ids} vs {raw}")
            enc.append({"tokenizer": "tokenizer", "text": text, "addSpecialTokens": add, "ids": ids})
    if enc[0]["ids"][0] != 0:
        error("tokenizer: HF did not add <|bos|> with add_special_tokens=True")

    dec_inputs = []
    for e in enc:
        if e["addSpecialTokens"]:
            dec_inputs.append(e["ids"])
    rng = random.Random(SEED + 7)
    emoji_ids = tok.encode("😀", add_special_tokens=False).ids
    dec_inputs += [
        [],
        list(range(NUM_SPECIAL)),
        emoji_ids[:1],  # a lone UTF-8 lead byte -> replacement character
        emoji_ids,
        [0] + tok.encode("<|user|>hi<|end|>", add_special_tokens=False).ids + [1],
        [rng.randrange(NUM_SPECIAL, VOCAB_SIZE) for _ in range(24)],
        [rng.randrange(0, VOCAB_SIZE) for _ in range(24)],
    ]
    dec = []
    for ids in dec_inputs:
        for skip in (False, True):
            text = hf1.decode(ids, skip_special_tokens=skip)
            raw = tok.decode(ids, skip_special_tokens=skip)
            if text != raw:
                error(f"tokenizer: HF decode differs from tokenizers decode for {ids} skip={skip}: {text!r} vs {raw!r}")
            dec.append({"tokenizer": "tokenizer", "ids": ids, "skipSpecialTokens": skip, "text": text})

    chat = []
    for name, hf in (("tokenizer", hf1), ("tokenizer-jinja", hf2)):
        for msgs in CHAT_CONVERSATIONS:
            for gen in (False, True):
                text = hf.apply_chat_template(msgs, tokenize=False, add_generation_prompt=gen)
                ids = list(hf.encode(text, add_special_tokens=False))
                try:
                    direct = hf.apply_chat_template(msgs, tokenize=True, add_generation_prompt=gen)
                    if hasattr(direct, "keys") and "input_ids" in direct:
                        direct = direct["input_ids"]
                    if hasattr(direct, "tolist"):
                        direct = direct.tolist()
                    if direct and isinstance(direct[0], list):
                        direct = direct[0]
                    if list(direct) != ids:
                        log(f"NOTE: apply_chat_template(tokenize=True) ids differ from encode(text, add_special_tokens=False) "
                            f"for {name}: {list(direct)} vs {ids}")
                except Exception as e:
                    log(f"NOTE: apply_chat_template(tokenize=True) failed: {e!r}")
                chat.append({"tokenizer": name, "messages": msgs, "addGenerationPrompt": gen, "text": text, "ids": ids})
    t1 = [c["text"] for c in chat if c["tokenizer"] == "tokenizer"]
    t2 = [c["text"] for c in chat if c["tokenizer"] == "tokenizer-jinja"]
    if any(a == b for a, b in zip(t1, t2)):
        error("tokenizer: the two chat templates rendered the same text")
    log("tokenizer: sample chat render (inline):", repr(t1[3]))
    log("tokenizer: sample chat render (jinja):", repr(t2[3]))

    goldens = {
        "generator": {
            "script": SCRIPT,
            "transformers": transformers.__version__,
            "tokenizers": tokenizers.__version__,
            "seed": SEED,
            "hfTokenizerClass": {"tokenizer": how1, "tokenizer-jinja": how2},
        },
        "vocabSize": VOCAB_SIZE,
        "specialTokens": {s: i for i, s in enumerate(SPECIAL_TOKENS)},
        "specialTokensPlacement": "start (ids 0..5), then the 256 byte-level symbols, then merges",
        "bosTokenId": 0,
        "eosTokenId": 1,
        "encode": enc,
        "decode": dec,
        "chat": chat,
    }
    write_json(os.path.join(out, "tokenizer-goldens.json"), goldens)
    log(f"tokenizer: {len(enc)} encode, {len(dec)} decode, {len(chat)} chat goldens")
    return hf1


# --------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------

MODEL_SPECS = [
    {
        "name": "llama-gqa",
        "arch": "llama",
        "dtype": torch.float32,
        "shard": "200KB",
        "config": dict(
            vocab_size=VOCAB_SIZE, hidden_size=64, intermediate_size=128, num_hidden_layers=3,
            num_attention_heads=4, num_key_value_heads=2, head_dim=16, max_position_embeddings=256,
            rms_norm_eps=1e-5, tie_word_embeddings=False,
            rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
        ),
        # layer 0 all retrieval, layer 1 none, layer 2 partial with a non-prefix retrieval head
        "mixed": [[1, 1], [0, 0], [0, 1]],
    },
    {
        "name": "llama-mha-llama3",
        "arch": "llama",
        "dtype": torch.bfloat16,
        "shard": None,
        "config": dict(
            vocab_size=VOCAB_SIZE, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=4, head_dim=32, max_position_embeddings=256,
            rms_norm_eps=1e-5, tie_word_embeddings=True,
            # original 32 with theta 1e4 and head_dim 32 puts rotary frequencies in all three
            # llama3 bands (high: unchanged, medium: smoothed, low: divided by factor)
            rope_parameters={
                "rope_type": "llama3", "rope_theta": 10000.0, "factor": 8.0, "low_freq_factor": 1.0,
                "high_freq_factor": 4.0, "original_max_position_embeddings": 32,
            },
        ),
        "mixed": [[0, 1, 1, 0], [1, 0, 1, 1]],
    },
    {
        "name": "mistral",
        "arch": "mistral",
        "dtype": torch.float16,
        "shard": None,
        "config": dict(
            vocab_size=VOCAB_SIZE, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=1, head_dim=16, max_position_embeddings=256,
            rms_norm_eps=1e-6, tie_word_embeddings=False, sliding_window=None,
            rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
        ),
        "mixed": [[1], [0]],
    },
]


def classes_for(arch):
    if arch == "llama":
        from transformers import LlamaConfig, LlamaForCausalLM

        return LlamaConfig, LlamaForCausalLM
    from transformers import MistralConfig, MistralForCausalLM

    return MistralConfig, MistralForCausalLM


def make_config(cls, kw):
    common = dict(bos_token_id=0, eos_token_id=1, pad_token_id=None)
    if cls.__name__ == "LlamaConfig":
        common["attention_bias"] = False
        common["mlp_bias"] = False
    try:
        return cls(**kw, **common), "rope_parameters"
    except Exception as e:
        # older config style: rope_theta + rope_scaling
        log(f"NOTE: {cls.__name__}(rope_parameters=...) failed ({e!r}); using rope_theta/rope_scaling")
        kw = dict(kw)
        rp = dict(kw.pop("rope_parameters"))
        theta = rp.pop("rope_theta")
        scaling = rp if rp.get("rope_type") != "default" else None
        return cls(**kw, **common, rope_theta=theta, rope_scaling=scaling), "rope_scaling"


def init_weights(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight") or "layernorm" in name:
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.1 * torch.randn(p.shape, generator=g))


def save_model(model, d, shard):
    kwargs = {}
    if shard:
        kwargs["max_shard_size"] = shard
    try:
        model.save_pretrained(d, safe_serialization=True, **kwargs)
    except TypeError:
        model.save_pretrained(d, **kwargs)
    files = sorted(os.listdir(d))
    if shard and "model.safetensors.index.json" not in files:
        error(f"{d}: save_pretrained did not shard (files {files})")
    if any(f.endswith(".bin") for f in files):
        error(f"{d}: save_pretrained wrote .bin files")
    return files


def load_raw_weights(d):
    """Reads the saved safetensors (sharded or not) the way a TS loader would."""
    idx = os.path.join(d, "model.safetensors.index.json")
    if os.path.exists(idx):
        with open(idx) as f:
            wm = json.load(f)["weight_map"]
        sd = {}
        for fn in sorted(set(wm.values())):
            sd.update(load_file(os.path.join(d, fn)))
        if set(sd) != set(wm):
            error(f"{d}: index weight_map keys differ from shard contents")
        return sd
    return load_file(os.path.join(d, "model.safetensors"))


def hf_from_pretrained(cls, d, dtype):
    try:
        return cls.from_pretrained(d, dtype=dtype, attn_implementation="eager").eval()
    except TypeError:
        return cls.from_pretrained(d, torch_dtype=dtype, attn_implementation="eager").eval()


# ---------------------------- independent float64 implementation ----------------------------

class F64Model:
    def __init__(self, sd, cfg):
        D = torch.float64
        self.L = cfg["num_hidden_layers"]
        self.H = cfg["num_attention_heads"]
        self.KV = cfg["num_key_value_heads"]
        self.d = cfg["head_dim"]
        self.eps = cfg["rms_norm_eps"]
        self.group = self.H // self.KV
        g = lambda k: sd[k].to(D)  # noqa: E731
        self.embed = g("model.embed_tokens.weight")
        if "lm_head.weight" in sd:
            self.lm_head = g("lm_head.weight")
            if cfg["tie_word_embeddings"] and not torch.equal(self.lm_head, self.embed):
                error("tied model stores a different lm_head.weight")
        else:
            if not cfg["tie_word_embeddings"]:
                error("untied model has no lm_head.weight")
            self.lm_head = self.embed
        self.norm = g("model.norm.weight")
        self.layers = []
        for i in range(self.L):
            p = f"model.layers.{i}."
            self.layers.append({
                "ln1": g(p + "input_layernorm.weight"),
                "ln2": g(p + "post_attention_layernorm.weight"),
                "q": g(p + "self_attn.q_proj.weight"),
                "k": g(p + "self_attn.k_proj.weight"),
                "v": g(p + "self_attn.v_proj.weight"),
                "o": g(p + "self_attn.o_proj.weight"),
                "gate": g(p + "mlp.gate_proj.weight"),
                "up": g(p + "mlp.up_proj.weight"),
                "down": g(p + "mlp.down_proj.weight"),
            })
        self.inv_freq = rope_inv_freq(cfg["rope"], self.d)

    def rms(self, x, w):
        return w * (x / torch.sqrt((x * x).mean(-1, keepdim=True) + self.eps))

    def rope(self, x, pos):
        # x [heads, n, d]; rotate-half convention, absolute positions
        ang = pos.to(torch.float64)[:, None] * self.inv_freq[None, :]  # [n, d/2]
        emb = torch.cat([ang, ang], -1)
        cos, sin = emb.cos(), emb.sin()
        half = self.d // 2
        rot = torch.cat([-x[..., half:], x[..., :half]], -1)
        return x * cos + rot * sin

    def new_state(self):
        e = lambda: torch.zeros(self.KV, 0, self.d, dtype=torch.float64)  # noqa: E731
        return {
            "n": 0,
            "Kf": [e() for _ in range(self.L)], "Vf": [e() for _ in range(self.L)],
            "Ks": [e() for _ in range(self.L)], "Vs": [e() for _ in range(self.L)],
            "Ps": [[] for _ in range(self.L)],
        }

    def forward(self, state, ids, mask, S, R):
        """Appends `ids` at positions state.n.. and returns logits [n, vocab] (float64)."""
        c = state["n"]
        n = len(ids)
        pos = torch.arange(c, c + n)
        x = self.embed[torch.tensor(ids)]
        scale = 1.0 / math.sqrt(self.d)
        for li, W in enumerate(self.layers):
            h = self.rms(x, W["ln1"])
            q = (h @ W["q"].T).view(n, self.H, self.d).transpose(0, 1)
            k = (h @ W["k"].T).view(n, self.KV, self.d).transpose(0, 1)
            v = (h @ W["v"].T).view(n, self.KV, self.d).transpose(0, 1)
            q = self.rope(q, pos)
            k = self.rope(k, pos)
            # the streaming cache must hold exactly [0, S) U [c-R, c) before this chunk
            expect = sorted(set(range(min(S, c))) | set(range(max(0, c - R), c)))
            if state["Ps"][li] != expect:
                error(f"streaming cache positions {state['Ps'][li]} != {expect} at c={c}")
            Kf = torch.cat([state["Kf"][li], k], 1)
            Vf = torch.cat([state["Vf"][li], v], 1)
            Ks = torch.cat([state["Ks"][li], k], 1)
            Vs = torch.cat([state["Vs"][li], v], 1)
            Ps = state["Ps"][li] + list(range(c, c + n))
            pf = torch.arange(0, c + n)
            ps = torch.tensor(Ps)
            out = torch.zeros(self.H, n, self.d, dtype=torch.float64)
            for hq in range(self.H):
                gk = hq // self.group
                if mask[li][gk]:
                    keys, vals, kpos = Kf[gk], Vf[gk], pf
                else:
                    keys, vals, kpos = Ks[gk], Vs[gk], ps
                sc = (q[hq] @ keys.T) * scale
                sc = sc.masked_fill(kpos[None, :] > pos[:, None], float("-inf"))
                out[hq] = torch.softmax(sc, -1) @ vals
            x = x + out.transpose(0, 1).reshape(n, self.H * self.d) @ W["o"].T
            h2 = self.rms(x, W["ln2"])
            g_ = h2 @ W["gate"].T
            x = x + ((g_ * torch.sigmoid(g_)) * (h2 @ W["up"].T)) @ W["down"].T
            state["Kf"][li], state["Vf"][li] = Kf, Vf
            if Ks.shape[1] > S + R:
                keep = list(range(S)) + list(range(Ks.shape[1] - R, Ks.shape[1]))
                Ks, Vs, Ps = Ks[:, keep], Vs[:, keep], [Ps[i] for i in keep]
            state["Ks"][li], state["Vs"][li], state["Ps"][li] = Ks, Vs, Ps
        state["n"] = c + n
        return self.rms(x, self.norm) @ self.lm_head.T

    def run(self, ids, mask, S, R, prefill, chunk):
        st = self.new_state()
        outs = []
        for c in range(0, prefill, chunk):
            outs.append(self.forward(st, ids[c:min(c + chunk, prefill)], mask, S, R))
        for t in range(prefill, len(ids)):
            outs.append(self.forward(st, ids[t:t + 1], mask, S, R))
        return torch.cat(outs, 0)


def rope_inv_freq(rp, d):
    D = torch.float64
    theta = float(rp["rope_theta"])
    inv = 1.0 / (theta ** (torch.arange(0, d, 2, dtype=D) / d))
    t = rp.get("rope_type", rp.get("type", "default"))
    if t == "default":
        return inv
    if t == "llama3":
        factor = float(rp["factor"])
        lo = float(rp["low_freq_factor"])
        hi = float(rp["high_freq_factor"])
        orig = float(rp["original_max_position_embeddings"])
        lo_wl, hi_wl = orig / lo, orig / hi
        out = torch.empty_like(inv)
        bands = []
        for i in range(inv.numel()):
            f = inv[i].item()
            wl = 2 * math.pi / f
            if wl < hi_wl:
                out[i] = f
                bands.append("high")
            elif wl > lo_wl:
                out[i] = f / factor
                bands.append("low")
            else:
                s = (orig / wl - lo) / (hi - lo)
                out[i] = (1 - s) * f / factor + s * f
                bands.append("medium")
        log(f"llama3 rope bands: {bands}")
        return out
    raise ValueError(f"rope type {t} not implemented here")


def max_abs(a, b):
    return (a.to(torch.float64) - b.to(torch.float64)).abs().max().item()


def hf_forward(model, ids):
    with torch.no_grad():
        return model(input_ids=torch.tensor([ids]), use_cache=False).logits[0]


def greedy_manual(model, prompt, n):
    seq = list(prompt)
    margins = []
    for _ in range(n):
        lg = hf_forward(model, seq)[-1].to(torch.float64)
        top = torch.topk(lg, 2)
        margins.append((top.values[0] - top.values[1]).item())
        seq.append(int(top.indices[0]))
    return seq[len(prompt):], margins


def hf_generate(model, prompt, n):
    gc = model.generation_config
    gc.eos_token_id = None
    gc.pad_token_id = 0
    gc.do_sample = False
    ids = torch.tensor([prompt])
    with torch.no_grad():
        out = model.generate(
            input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=n, do_sample=False,
            eos_token_id=None, pad_token_id=0,
        )
    return out[0, len(prompt):].tolist()


def build_model(spec, out, seed):
    name = spec["name"]
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    Cfg, Model = classes_for(spec["arch"])
    cfg, style = make_config(Cfg, spec["config"])
    torch.manual_seed(seed)
    model = Model(cfg).eval()
    init_weights(model, seed)
    model = model.to(spec["dtype"])
    try:
        model.config.dtype = spec["dtype"]
    except Exception as e:
        log(f"NOTE: could not set config.dtype: {e!r}")
    files = save_model(model, d, spec["shard"])
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(os.path.join(out, "tokenizer", f), os.path.join(d, f))
    with open(os.path.join(d, "config.json")) as f:
        saved_cfg = json.load(f)
    log(f"{name}: saved {files}; config.json keys: {sorted(saved_cfg)}")
    try:
        from transformers import AutoTokenizer

        mt = AutoTokenizer.from_pretrained(d)
        got = list(mt.encode("Hello world 123"))
        want = load_hf_tokenizer(os.path.join(out, "tokenizer"))[0].encode("Hello world 123")
        log(f"{name}: AutoTokenizer from model dir -> {type(mt).__name__}, ids {got}")
        if got != list(want):
            error(f"{name}: tokenizer loaded from the model dir encodes differently: {got} vs {list(want)}")
    except Exception as e:
        error(f"{name}: AutoTokenizer from model dir failed: {e!r}")
    return d, Model, saved_cfg, style


def model_goldens(spec, out, idx):
    name = spec["name"]
    seed = SEED + 100 * (idx + 1)
    d, Model, saved_cfg, style = build_model(spec, out, seed)
    kw = spec["config"]

    rope_saved = {k: saved_cfg[k] for k in ("rope_parameters", "rope_scaling", "rope_theta") if k in saved_cfg}
    rope_style = "rope_parameters" if "rope_parameters" in saved_cfg else "rope_theta+rope_scaling"
    log(f"{name}: rope as saved: {rope_saved} (style {rope_style})")
    # the float64 implementation reads RoPE parameters back from the SAVED config.json
    if "rope_parameters" in saved_cfg and saved_cfg["rope_parameters"]:
        rp = dict(saved_cfg["rope_parameters"])
    else:
        rp = dict(saved_cfg.get("rope_scaling") or {"rope_type": "default"})
        rp["rope_theta"] = saved_cfg.get("rope_theta", 10000.0)
    f64cfg = {
        "num_hidden_layers": saved_cfg["num_hidden_layers"],
        "num_attention_heads": saved_cfg["num_attention_heads"],
        "num_key_value_heads": saved_cfg["num_key_value_heads"],
        "head_dim": saved_cfg.get("head_dim") or saved_cfg["hidden_size"] // saved_cfg["num_attention_heads"],
        "rms_norm_eps": saved_cfg["rms_norm_eps"],
        "tie_word_embeddings": saved_cfg.get("tie_word_embeddings", False),
        "rope": rp,
    }
    if f64cfg["head_dim"] != kw["head_dim"]:
        error(f"{name}: saved head_dim {f64cfg['head_dim']} != {kw['head_dim']}")

    g = torch.Generator().manual_seed(seed + 1)
    ids = torch.randint(NUM_SPECIAL, VOCAB_SIZE, (T,), generator=g).tolist()

    hf32 = hf_from_pretrained(Model, d, torch.float32)
    hf_logits = hf_forward(hf32, ids).float()
    log(f"{name}: HF f32 logits: shape {tuple(hf_logits.shape)} mean {hf_logits.mean():.4f} "
        f"std {hf_logits.std():.4f} maxabs {hf_logits.abs().max():.4f}")

    # HF float64 as an extra diagnostic (HF keeps RoPE and softmax in float32 internally)
    try:
        hf64 = hf_from_pretrained(Model, d, torch.float64)
        hf64_logits = hf_forward(hf64, ids)
        hf64_vs_hf32 = max_abs(hf64_logits, hf_logits)
        log(f"{name}: HF f64 vs HF f32 max abs diff {hf64_vs_hf32:.3e}")
    except Exception as e:
        hf64_logits = None
        log(f"NOTE: {name}: HF float64 load/forward failed: {e!r}")

    sd = load_raw_weights(d)
    hf_sd = hf32.state_dict()
    for k, v in sd.items():
        if k in hf_sd and not torch.equal(hf_sd[k].float(), v.float()):
            error(f"{name}: weight {k} differs between file and HF model")
    m = F64Model(sd, f64cfg)

    full_mask = [[1] * m.KV for _ in range(m.L)]
    stream_mask = [[0] * m.KV for _ in range(m.L)]
    mixed_mask = spec["mixed"]

    full_one = m.run(ids, full_mask, SINK, RECENT, T, T)  # one chunk of 48: plain full attention
    diff_hf = max_abs(full_one, hf_logits)
    log(f"{name}: float64 vs HF f32 max abs diff {diff_hf:.3e}")
    if hf64_logits is not None:
        log(f"{name}: float64 vs HF f64 max abs diff {max_abs(full_one, hf64_logits):.3e}")
    if not diff_hf < 1e-4:
        error(f"{name}: float64 implementation does not reproduce HF (max abs diff {diff_hf:.3e})")

    # greedy
    prompt = ids[:GREEDY_PROMPT]
    gen_tokens = None
    try:
        gen_tokens = hf_generate(hf32, prompt, GREEDY_NEW)
    except Exception as e:
        error(f"{name}: HF generate failed: {e!r}")
        traceback.print_exc()
    manual, margins = greedy_manual(hf32, prompt, GREEDY_NEW)
    log(f"{name}: generate {gen_tokens}\n{name}: manual   {manual}\n{name}: min top1-top2 margin {min(margins):.4f}")
    if gen_tokens is None or len(gen_tokens) != GREEDY_NEW:
        error(f"{name}: generate returned {gen_tokens}")
    elif gen_tokens != manual:
        error(f"{name}: generate and manual greedy disagree")
    seq = list(prompt)
    for _ in range(GREEDY_NEW):
        seq.append(int(m.run(seq, full_mask, SINK, RECENT, len(seq), len(seq))[-1].argmax()))
    if seq[GREEDY_PROMPT:] != manual:
        error(f"{name}: float64 greedy {seq[GREEDY_PROMPT:]} differs from HF {manual}")

    tensors = {"hf_full_logits": hf_logits.float().contiguous(), "full": full_one.float().contiguous()}
    cases = []
    results = {}
    for policy, mask in (("full", full_mask), ("streaming", stream_mask), ("mixed", mixed_mask)):
        for C in CHUNKS:
            r = m.run(ids, mask, SINK, RECENT, P, C)
            results[(policy, C)] = r
            if policy == "full":
                dd = max_abs(r, full_one)
                log(f"{name}: full-c{C} vs one-chunk full: {dd:.3e}")
                if not dd < 1e-9:
                    error(f"{name}: chunked full attention c{C} differs from full ({dd:.3e})")
                tname = "full"
            else:
                tname = f"{policy}_c{C}"
                tensors[tname] = r.float().contiguous()
            cases.append({
                "name": f"{policy}-c{C}", "policy": policy, "mask": mask, "sinkSize": SINK,
                "recentSize": RECENT, "prefillLength": P, "prefillChunkSize": C, "logits": tname,
            })

    # sanity: what the goldens can detect
    sanity = {}
    for policy in ("streaming", "mixed"):
        for C in CHUNKS:
            r = results[(policy, C)]
            dpre = max_abs(r[:P], full_one[:P])
            ddec = max_abs(r[P:], full_one[P:])
            first = next((t for t in range(T) if max_abs(r[t], full_one[t]) > 1e-9), None)
            sanity[f"{policy}-c{C}"] = {"maxAbsDiffVsFullPrefill": dpre, "maxAbsDiffVsFullDecode": ddec,
                                        "firstDifferingPosition": first}
            log(f"{name}: {policy}-c{C}: vs full prefill {dpre:.3e} decode {ddec:.3e} first diff at {first}")
            if C == P and dpre > 1e-12:
                error(f"{name}: {policy}-c{P} differs from full in prefill ({dpre:.3e})")
            if C == P and ddec < 1e-3:
                error(f"{name}: {policy}-c{P} hardly differs from full at decode ({ddec:.3e})")
    if max_abs(results[("streaming", 1)], full_one) < 1e-2:
        error(f"{name}: streaming-c1 hardly differs from full")
    for C in CHUNKS[:-1]:
        a, b = results[("streaming", C)], results[("streaming", CHUNKS[CHUNKS.index(C) + 1])]
        log(f"{name}: streaming-c{C} vs next chunk size: {max_abs(a, b):.3e}")

    save_file(tensors, os.path.join(d, "goldens.safetensors"),
              metadata={"generator": SCRIPT, "note": "logits [48, vocab] F32, see goldens.json"})

    manifest = {
        "model": name,
        "generator": {
            "script": SCRIPT, "torch": torch.__version__, "transformers": transformers.__version__,
            "tokenizers": tokenizers.__version__, "seed": seed,
        },
        "architecture": saved_cfg.get("architectures", [None])[0],
        "checkpointDtype": str(spec["dtype"]).replace("torch.", ""),
        "ropeConfigStyle": rope_style,
        "ropeConfig": rope_saved,
        "inputIds": ids,
        "prefillLength": P,
        "hf": {
            "fullLogits": "hf_full_logits",
            "greedy": {"promptIds": prompt, "tokens": gen_tokens if gen_tokens is not None else manual,
                       "minTop1Top2Margin": min(margins)},
        },
        "float64VsHfMaxAbsDiff": diff_hf,
        "hfFloat64VsHfFloat32MaxAbsDiff": hf64_vs_hf32,
        "logitsShape": [T, VOCAB_SIZE],
        "cases": cases,
        "sanity": sanity,
        "notes": "Keys cached after RoPE at absolute positions; prefill tokens 0..35 in chunks of "
                 "prefillChunkSize, then tokens 36..47 one at a time; logits of every position. mask is "
                 "[layer][kvHead] in original head order, 1 = retrieval. 'full' = float64 reference (F32 "
                 "stored); 'hf_full_logits' = HF transformers float32 eager forward.",
    }
    write_json(os.path.join(d, "goldens.json"), manifest)
    return {"model": name, "float64VsHf": diff_hf, "minMargin": min(margins)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    out = os.path.abspath(args.out)
    if os.path.exists(out):
        shutil.rmtree(out)
    os.makedirs(out)
    torch.manual_seed(SEED)
    log(f"python {sys.version.split()[0]} torch {torch.__version__} transformers {transformers.__version__} "
        f"tokenizers {tokenizers.__version__}")

    tok = build_tokenizer(SEED)
    d1, d2 = write_tokenizer_dirs(tok, out)
    try:
        tokenizer_goldens(tok, d1, d2, out)
    except Exception as e:
        error(f"tokenizer goldens failed: {e!r}")
        traceback.print_exc()

    summary = []
    for i, spec in enumerate(MODEL_SPECS):
        try:
            summary.append(model_goldens(spec, out, i))
        except Exception as e:
            error(f"{spec['name']} failed: {e!r}")
            traceback.print_exc()

    log("SUMMARY", json.dumps(summary))
    total = 0
    for root, _, files in os.walk(out):
        for f in sorted(files):
            p = os.path.join(root, f)
            total += os.path.getsize(p)
            log(f"  {os.path.relpath(p, out):55s} {os.path.getsize(p):>9d}")
    log(f"total bytes {total}")
    if ERRORS:
        log(f"{len(ERRORS)} ERROR(S):")
        for e in ERRORS:
            log("  -", e)
        sys.exit(1)
    log("OK")


if __name__ == "__main__":
    main()
