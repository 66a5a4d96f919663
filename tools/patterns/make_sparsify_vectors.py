"""Writes numpy reference vectors for @duo-attn/patterns' sparsify and MT19937 (synthetic inputs only).

Reproduces the original's sparsify semantics with numpy (seed, clip, uniform noise in [0, 1e-6),
linear quantile, >=) on small synthetic gate matrices with many ties, so the TypeScript port can be
checked bit-for-bit without shipping any of the original's data.

    python3 tools/patterns/make_sparsify_vectors.py > packages/patterns/src/__fixtures__/sparsify-vectors.json
"""
import json
import sys

import numpy as np


def numpy_sparsify(gates, sparsity, seed):
    heads = np.clip(np.array(gates, dtype=np.float64), 0, 1)
    np.random.seed(seed)
    heads = heads + np.random.uniform(0, 1e-6, heads.shape)
    threshold = float(np.quantile(heads, sparsity))
    if sparsity >= 1:
        threshold = 2
    if sparsity <= 0:
        threshold = -1
    mask = (heads >= threshold).astype(int)
    return mask.tolist(), threshold


def main():
    rng = np.random.default_rng(7)
    cases = []
    shapes = [(4, 2), (6, 8), (32, 8)]
    for i, (layers, kv) in enumerate(shapes):
        raw = rng.random((layers, kv))
        raw[rng.random((layers, kv)) < 0.35] = 1.0  # many exact ties, like trained gates
        raw[rng.random((layers, kv)) < 0.05] = -1e-3  # slightly negative, clipped on load
        gates = [[float(np.float32(v)) for v in row] for row in raw]
        for sparsity in (0.0, 0.1, 0.25, 0.33, 0.5, 0.6, 0.75, 0.9, 1.0):
            for seed in (42, i + 1):
                mask, threshold = numpy_sparsify(gates, sparsity, seed)
                cases.append({"gates": gates, "sparsity": sparsity, "seed": seed, "mask": mask, "threshold": threshold})
    np.random.seed(42)
    draws = np.random.uniform(0, 1e-6, 5).tolist()
    np.random.seed(12345)
    raw_draws = np.random.random_sample(3).tolist()
    json.dump({"numpy": np.__version__, "uniformSeed42": draws, "randomSampleSeed12345": raw_draws, "cases": cases}, sys.stdout)


if __name__ == "__main__":
    main()
