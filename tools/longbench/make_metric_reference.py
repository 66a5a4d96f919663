"""Reference values of LongBench's metrics, computed by the libraries the original uses.

Writes packages/eval/src/longbench/__fixtures__/metric-reference.json: for deterministic pseudo-random
English, Chinese and code-like strings, the values of qa_f1 / qa_f1_zh (written out here as in
LongBench's metrics.py, on jieba's segmentation), ROUGE-L F of the `rouge` package (pltrdy 1.0.1),
difflib.SequenceMatcher(None, a, b).ratio() and fuzzywuzzy's fuzz.ratio on python-Levenshtein.
@duo-attn/eval's tests check its TypeScript metrics against these numbers exactly.

Needs: jieba 0.42.1, rouge 1.0.1 (with six), fuzzywuzzy 0.18 and python-Levenshtein (Debian:
python3-jieba python3-fuzzywuzzy python3-levenshtein; rouge from PyPI or a checkout on PYTHONPATH).
Run: python3 tools/longbench/make_metric_reference.py
"""

import difflib
import json
import logging
import random
import re
import string
from collections import Counter
from pathlib import Path

import jieba
import Levenshtein
from fuzzywuzzy import fuzz
from rouge import Rouge

jieba.setLogLevel(logging.WARNING)
OUT = Path(__file__).resolve().parents[2] / "packages/eval/src/longbench/__fixtures__/metric-reference.json"

EN_WORDS = ("the a an The cat dog sat on mat Cat. quick brown fox, jumps over lazy and then; it ran! "
            "away? café naïve über 123 4,5 x_y state-of-the-art").split()
ZH_WORDS = "我 来到 北京 清华大学 他 的 会议 总结 问题 答案 。 ， 《 》 “ ” 数据 模型 1 2 A b 南京市 长江大桥".split()
CODE_CHARS = list("abcdefxyz_()[]{}=+-*/ .,:;#`'\"\n\t0123456789")


def normalize_answer(s):
    s = "".join(ch for ch in s.lower() if ch not in set(string.punctuation))
    return " ".join(re.sub(r"\b(a|an|the)\b", " ", s).split())


def normalize_zh_answer(s):
    cn = "！？｡。＂＃＄％＆＇（）＊＋，－／：；＜＝＞＠［＼］＾＿｀｛｜｝～｟｠｢｣､、〃》「」『』【】〔〕〖〗〘〙〚〛〜〝〞〟〰〾〿–—‘’‛“”„‟…‧﹏."
    drop = set(string.punctuation + cn)
    return "".join("".join(ch for ch in s.lower() if ch not in drop).split())


def f1(prediction, reference):
    same = sum((Counter(prediction) & Counter(reference)).values())
    if same == 0:
        return 0
    p, r = same / len(prediction), same / len(reference)
    return (2 * p * r) / (p + r)


def rouge_l(prediction, reference):
    try:
        return Rouge().get_scores([prediction], [reference], avg=True)["rouge-l"]["f"]
    except Exception:  # LongBench scores any failure as 0
        return 0.0


def zh_tokens(text):
    return [t for t in (normalize_zh_answer(x) for x in jieba.cut(text, cut_all=False)) if t]


def main():
    rng = random.Random(20261207)
    cases = []
    for _ in range(60):
        a = " ".join(rng.choice(EN_WORDS) for _ in range(rng.randint(0, 18))) + rng.choice(["", ".", " .", "\n"])
        b = " ".join(rng.choice(EN_WORDS) for _ in range(rng.randint(0, 14)))
        cases.append({"kind": "en", "prediction": a, "answer": b,
                      "qa_f1": f1(normalize_answer(a).split(), normalize_answer(b).split()),
                      "rouge": rouge_l(a, b)})
    for _ in range(40):
        a = "".join(rng.choice(ZH_WORDS) for _ in range(rng.randint(0, 20)))
        b = "".join(rng.choice(ZH_WORDS) for _ in range(rng.randint(0, 20)))
        cases.append({"kind": "zh", "prediction": a, "answer": b,
                      "qa_f1_zh": f1(zh_tokens(a), zh_tokens(b)),
                      "rouge_zh": rouge_l(" ".join(jieba.cut(a, cut_all=False)), " ".join(jieba.cut(b, cut_all=False)))})
    for k in range(60):
        # Every fifth pair is long enough (>= 200) for difflib's autojunk to matter.
        la = rng.randint(0, 260 if k % 5 == 0 else 50)
        lb = rng.randint(200, 260) if k % 5 == 0 else rng.randint(0, 50)
        a = "".join(rng.choice(CODE_CHARS[: rng.randint(3, len(CODE_CHARS))]) for _ in range(la))
        b = "".join(rng.choice(CODE_CHARS[: rng.randint(3, len(CODE_CHARS))]) for _ in range(lb))
        cases.append({"kind": "code", "prediction": a, "answer": b,
                      "difflib_ratio": difflib.SequenceMatcher(None, a, b).ratio(),
                      "levenshtein_ratio": Levenshtein.ratio(a, b),
                      "fuzz_ratio_levenshtein": fuzz.ratio(a, b)})
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"generator": "tools/longbench/make_metric_reference.py",
                               "libraries": {"jieba": jieba.__version__, "rouge": "1.0.1", "fuzzywuzzy": "0.18.0"},
                               "cases": cases}, ensure_ascii=False, indent=1) + "\n")
    print(f"wrote {len(cases)} cases to {OUT}")


if __name__ == "__main__":
    main()
