"""Summarizes an `ncu --csv --page raw --metrics gpu__time_duration.sum` log of one decode step:
time per kernel name (count, total and mean microseconds, share of the step's kernel time), as JSON.
Usage: summarize_ncu.py NCU_CSV_LOG OUT_JSON"""
import csv
import io
import json
import sys

text = open(sys.argv[1], encoding="utf-8", errors="replace").read().splitlines()
start = next((i for i, line in enumerate(text) if line.startswith('"ID"')), None)
if start is None:
    sys.exit(f"no ncu CSV header in {sys.argv[1]}")
rows = [r for r in csv.DictReader(io.StringIO("\n".join(l for l in text[start:] if l.startswith('"'))))]
kernels = {}
total = 0.0
for row in rows:
    value = row.get("gpu__time_duration.sum", "")
    try:
        ns = float(value.replace(",", ""))
    except ValueError:
        continue  # the units row
    name = row.get("Kernel Name", "?").split("(")[0].split("<")[0]
    entry = kernels.setdefault(name, {"count": 0, "us": 0.0})
    entry["count"] += 1
    entry["us"] += ns / 1e3
    total += ns / 1e3
summary = {
    "kernels": sum(e["count"] for e in kernels.values()),
    "total_us": total,
    "by_kernel": sorted(
        ({"name": k, **v, "mean_us": v["us"] / v["count"], "share": v["us"] / total} for k, v in kernels.items()),
        key=lambda e: -e["us"],
    ),
}
json.dump(summary, open(sys.argv[2], "w"), indent=1)
print(json.dumps({k: summary[k] for k in ("kernels", "total_us")}))
for e in summary["by_kernel"]:
    print(f'{e["name"][:60]:60s} {e["count"]:5d} {e["us"]:10.1f} us  {e["mean_us"]:8.2f} us each  {100 * e["share"]:5.1f}%')
