"""Compares the addon's bf16 RMSNorm outputs (written by gpu-check.mjs) with Hugging Face
LlamaRMSNorm semantics computed by PyTorch on the GPU. Usage: torch_rms_norm_check.py <casesDir> <out.json>
"""

import json
import sys
from pathlib import Path

import numpy as np
import torch


def load_bf16(path: Path, shape: tuple[int, ...]) -> torch.Tensor:
    bits = np.fromfile(path, dtype=np.uint16).astype(np.int32) << 16
    return torch.from_numpy(bits.view(np.float32).reshape(shape)).to(torch.bfloat16)


def hf_rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    # The computation of transformers' LlamaRMSNorm.forward, written out here.
    hidden = x.to(torch.float32)
    variance = hidden.pow(2).mean(-1, keepdim=True)
    hidden = hidden * torch.rsqrt(variance + eps)
    return weight * hidden.to(x.dtype)


def main() -> int:
    cases_dir, out_path = Path(sys.argv[1]), Path(sys.argv[2])
    manifest = json.loads((cases_dir / "manifest.json").read_text())
    results = {"torch": torch.__version__, "device": torch.cuda.get_device_name(0), "cases": [], "ok": True}
    for case in manifest:
        rows, cols, eps, stem = case["rows"], case["cols"], case["eps"], case["stem"]
        x = load_bf16(cases_dir / f"{stem}_x.bin", (rows, cols)).cuda()
        w = load_bf16(cases_dir / f"{stem}_w.bin", (cols,)).cuda()
        ours = load_bf16(cases_dir / f"{stem}_y.bin", (rows, cols)).cuda().float()
        want = hf_rms_norm(x, w, eps).float()
        diff = (ours - want).abs()
        rel = (diff / want.abs().clamp_min(1e-3)).max().item()
        exact = (diff == 0).float().mean().item()
        passed = rel <= 1e-2 and exact > 0.95
        results["ok"] = results["ok"] and passed
        entry = {"shape": [rows, cols], "maxAbs": diff.max().item(), "maxRel": rel, "exactFraction": exact, "pass": passed}
        results["cases"].append(entry)
        print(json.dumps(entry))
    out_path.write_text(json.dumps(results, indent=2) + "\n")
    print(f"torch compare: {'PASS' if results['ok'] else 'FAIL'} -> {out_path}")
    return 0 if results["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
