"""Trains duo-attn's bundled toy retrieval model from scratch (GPU machine only).

A Llama-architecture model (GQA, ~6M parameters) with its own byte-level BPE tokenizer (digits
split into single tokens), trained on long-context retrieval sequences: haystack prose from
@duo-attn/eval's deterministic generator (the corpus is carried in, see README.md), one target
key/value needle plus distractor needles at random depths, a question at the end. Contexts up to
8192 tokens. Writes an HF model directory (bf16 safetensors) and a JSON report.

The prompt format here must match packages/eval's NIAH defaults for the toy model:
  needle    " The secret code of the {key} is {value}."   (inserted after a sentence end)
  question  "\n\nQuestion: What is the secret code of the {key}?\nAnswer: The secret code of the {key} is"
  answer    " {value}." then <|eos|>
"""

import argparse
import json
import math
import os
import random
import time

import torch
import torch.nn.functional as F
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import LlamaConfig, LlamaForCausalLM

ADJECTIVES = (
    "red blue green yellow black white silver golden bronze copper purple orange crimson amber "
    "quiet loud hidden secret ancient modern northern southern eastern western frozen burning "
    "broken painted wooden stone iron glass velvet marble lonely busy narrow wide hollow bright "
    "dark gentle stormy sunny misty sandy rusty shiny dusty"
).split()
NOUNS = (
    "door gate bridge tower garden river lake mountain valley forest harbor lighthouse castle "
    "library museum market station temple cabin cottage chapel fountain island canyon desert "
    "meadow orchard vault cellar attic workshop bakery studio theater arena palace village "
    "kingdom compass lantern mirror clock piano violin ship train engine rocket falcon tiger wolf"
).split()
SPECIALS = ["<|bos|>", "<|eos|>"]


def needle_text(key, value):
    return f" The secret code of the {key} is {value}."


def question_text(key):
    return f"\n\nQuestion: What is the secret code of the {key}?\nAnswer: The secret code of the {key} is"


def answer_text(value):
    return f" {value}."


def train_tokenizer(corpus_text, vocab_size, out_dir):
    tokenizer = Tokenizer(models.BPE(unk_token=None))
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    rng = random.Random(0)
    extra = []
    for _ in range(2000):  # the needle/question vocabulary, so its words get their own tokens
        key = f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS)}"
        value = str(rng.randrange(1_000_000, 10_000_000))
        extra.append(needle_text(key, value) + question_text(key) + answer_text(value))
    paragraphs = corpus_text.split("\n\n")
    tokenizer.train_from_iterator(paragraphs + extra, trainer=trainer)
    bos = tokenizer.token_to_id("<|bos|>")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<|bos|> $A", pair="<|bos|> $A <|bos|> $B", special_tokens=[("<|bos|>", bos)]
    )
    tokenizer.save(os.path.join(out_dir, "tokenizer.json"))
    with open(os.path.join(out_dir, "tokenizer_config.json"), "w") as f:
        json.dump(
            {
                "tokenizer_class": "PreTrainedTokenizerFast",
                "bos_token": "<|bos|>",
                "eos_token": "<|eos|>",
                "add_bos_token": True,
                "add_eos_token": False,
                "model_max_length": 8192,
                "clean_up_tokenization_spaces": False,
            },
            f,
            indent=2,
        )
    return tokenizer


class SampleMaker:
    """Builds token sequences of an exact length: BOS, haystack with needles, question, answer, EOS."""

    def __init__(self, tokenizer, corpus_ids, seed):
        self.tok = tokenizer
        self.ids = corpus_ids
        self.rng = random.Random(seed)
        self.bos = tokenizer.token_to_id("<|bos|>")
        self.eos = tokenizer.token_to_id("<|eos|>")
        vocab = tokenizer.get_vocab()
        ends = {i for t, i in vocab.items() if tokenizer.decode([i]).rstrip().endswith((".", "!", "?"))}
        self.sentence_end = torch.zeros(tokenizer.get_vocab_size(), dtype=torch.bool)
        self.sentence_end[list(ends)] = True

    def encode(self, text):
        return self.tok.encode(text, add_special_tokens=False).ids

    def make(self, length):
        rng = self.rng
        num_needles = rng.randint(1, 4)
        keys = set()
        while len(keys) < num_needles:
            keys.add(f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS)}")
        keys = list(keys)
        values = [str(rng.randrange(1_000_000, 10_000_000)) for _ in keys]
        target = rng.randrange(num_needles)
        needles = [self.encode(needle_text(k, v)) for k, v in zip(keys, values)]
        question = self.encode(question_text(keys[target]))
        answer = self.encode(answer_text(values[target])) + [self.eos]
        hay_len = length - 1 - sum(map(len, needles)) - len(question) - len(answer)
        if hay_len < 16:
            raise ValueError(f"length {length} too short for the needles")
        start = rng.randrange(0, len(self.ids) - hay_len - 1)
        hay = self.ids[start : start + hay_len]
        # Needle insertion points: just after a sentence end at the chosen depth (or the very start).
        ends = torch.nonzero(self.sentence_end[hay]).flatten().tolist()
        points = []
        for _ in needles:
            depth = rng.random()
            if depth < 0.03 or not ends:
                points.append(0)
            else:
                wanted = int(depth * hay_len)
                after = [e + 1 for e in ends if e + 1 >= wanted]
                points.append(after[0] if after else hay_len)
        order = sorted(range(num_needles), key=lambda i: points[i])
        out, last = [self.bos], 0
        for i in order:
            out += hay[last : points[i]].tolist() + needles[i]
            last = points[i]
        out += hay[last:].tolist() + question
        answer_start = len(out)
        out += answer
        assert len(out) == length, (len(out), length)
        return out, answer_start, points[target] / max(1, hay_len)


def length_schedule(progress, max_len):
    """Longest context allowed at this point of training: grows from 1024 to max_len by 40%."""
    top = 1024 * (max_len / 1024) ** min(1.0, progress / 0.4)
    buckets = [b for b in (512, 1024, 2048, 4096, 8192) if b <= max(1024, top) and b <= max_len]
    return buckets


def evaluate(model, maker, lengths, depths, trials, device):
    """Greedy exact match of the value, full attention, HF generate (a preview of the TS measurement)."""
    model.eval()
    results = {}
    rng = random.Random(1234)
    with torch.no_grad():
        for length in lengths:
            for depth in depths:
                hits = 0
                for _ in range(trials):
                    key = f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS)}"
                    value = str(rng.randrange(1_000_000, 10_000_000))
                    needle = maker.encode(needle_text(key, value))
                    question = maker.encode(question_text(key))
                    hay_len = length - 1 - len(needle) - len(question)
                    start = rng.randrange(0, len(maker.ids) - hay_len - 1)
                    hay = maker.ids[start : start + hay_len].tolist()
                    point = int(depth / 100 * hay_len)
                    ids = [maker.bos] + hay[:point] + needle + hay[point:] + question
                    x = torch.tensor([ids], device=device)
                    out = model.generate(x, max_new_tokens=10, do_sample=False, eos_token_id=maker.eos, pad_token_id=maker.eos)
                    text = maker.tok.decode(out[0, len(ids) :].tolist())
                    hits += int(text.strip().startswith(value))
                results[f"{length}@{depth}"] = hits / trials
    model.train()
    return results


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--minutes", type=float, default=6.0)
    parser.add_argument("--max-len", type=int, default=8192)
    parser.add_argument("--tokens-per-step", type=int, default=65536)
    parser.add_argument("--vocab", type=int, default=2048)
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--kv-heads", type=int, default=4)
    parser.add_argument("--mlp", type=int, default=768)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval-trials", type=int, default=4)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.manual_seed(args.seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    t0 = time.time()
    log = lambda *a: print(f"[{time.time() - t0:7.1f}s]", *a, flush=True)

    with open(args.corpus, encoding="ascii") as f:
        corpus = f.read()
    log(f"corpus {len(corpus):,} chars")
    tokenizer = train_tokenizer(corpus[:8_000_000], args.vocab, args.out)
    encodings = tokenizer.encode_batch(corpus.split("\n\n"), add_special_tokens=False)
    sep = tokenizer.encode("\n\n", add_special_tokens=False).ids
    flat = []
    for e in encodings:
        flat.extend(e.ids)
        flat.extend(sep)
    corpus_ids = torch.tensor(flat, dtype=torch.long)
    log(f"tokenizer vocab {tokenizer.get_vocab_size()}, corpus {len(corpus_ids):,} tokens ({len(corpus) / len(corpus_ids):.2f} chars/token)")

    config = LlamaConfig(
        vocab_size=tokenizer.get_vocab_size(),
        hidden_size=args.hidden,
        intermediate_size=args.mlp,
        num_hidden_layers=args.layers,
        num_attention_heads=args.heads,
        num_key_value_heads=args.kv_heads,
        head_dim=args.hidden // args.heads,
        max_position_embeddings=args.max_len,
        rope_theta=100000.0,
        rms_norm_eps=1e-5,
        tie_word_embeddings=False,
        bos_token_id=tokenizer.token_to_id("<|bos|>"),
        eos_token_id=tokenizer.token_to_id("<|eos|>"),
        attn_implementation="sdpa",
    )
    model = LlamaForCausalLM(config).to(device)
    params = sum(p.numel() for p in model.parameters())
    log(f"model {params:,} parameters")
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.95), weight_decay=0.05)
    maker = SampleMaker(tokenizer, corpus_ids, args.seed + 1)

    budget = args.minutes * 60
    train_start = time.time()
    step, tokens_seen, history = 0, 0, []
    while True:
        progress = (time.time() - train_start) / budget
        if progress >= 1:
            break
        lr = args.lr * min(1.0, (step + 1) / 100) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))
        for group in optimizer.param_groups:
            group["lr"] = lr
        length = random.Random(step).choice(length_schedule(progress, args.max_len))
        batch = max(1, args.tokens_per_step // length)
        rows, weights = [], []
        for _ in range(batch):
            ids, answer_start, _ = maker.make(length)
            rows.append(ids)
            w = torch.ones(length - 1)
            w[answer_start - 1 :] = 20.0  # the answer is what matters; the prose teaches reading
            weights.append(w)
        x = torch.tensor(rows, device=device)
        w = torch.stack(weights).to(device)
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=device == "cuda"):
            logits = model(x[:, :-1]).logits
        loss_all = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1), reduction="none")
        loss = (loss_all * w.reshape(-1)).sum() / w.sum()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        step += 1
        tokens_seen += batch * length
        if step % 50 == 0:
            answer_loss = (loss_all.reshape(batch, -1)[:, -10:]).mean().item()
            history.append({"step": step, "length": length, "loss": loss.item(), "answerLoss": answer_loss, "lr": lr})
            log(f"step {step} len {length} loss {loss.item():.4f} answer-loss {answer_loss:.4f} lr {lr:.2e} tokens {tokens_seen:,}")
    train_seconds = time.time() - train_start
    log(f"trained {step} steps, {tokens_seen:,} tokens in {train_seconds:.0f} s")

    model = model.to(torch.bfloat16)
    model.config.torch_dtype = torch.bfloat16
    model.save_pretrained(args.out, safe_serialization=True)
    log("saved")
    lengths = [length for length in (1024, 2048, 4096, 8192) if length <= args.max_len]
    preview = evaluate(model, maker, lengths, [0, 25, 50, 75, 100], args.eval_trials, device)
    log("HF bf16 full-attention exact match:", json.dumps(preview))
    with open(os.path.join(args.out, "training-report.json"), "w") as f:
        json.dump(
            {
                "parameters": params,
                "steps": step,
                "tokens": tokens_seen,
                "trainSeconds": round(train_seconds, 1),
                "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
                "torch": torch.__version__,
                "args": vars(args),
                "history": history,
                "hfBf16FullAttentionExactMatch": preview,
            },
            f,
            indent=2,
        )
    log("done")


if __name__ == "__main__":
    main()
