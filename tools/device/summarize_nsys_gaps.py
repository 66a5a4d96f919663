"""Summarizes `nsys stats -r cuda_gpu_trace -f csv` of one profiled decode step: the span from the first
GPU activity to the last, the time some kernel was running (overlapping kernels, e.g. programmatic
dependent launches, counted once), and the rest, the idle gaps (launch latency, host work) that ncu's
per-kernel times cannot show. Issue #18's graphs remove gaps; its fusions remove kernels.
Usage: summarize_nsys_gaps.py GPU_TRACE_CSV OUT_JSON"""
import csv
import json
import sys


def column(row, *names):
    for name in names:
        if name in row and row[name] not in ("", None):
            return row[name]
    raise KeyError(names[0])


rows = list(csv.DictReader(open(sys.argv[1], encoding="utf-8", errors="replace")))
if not rows:
    sys.exit(f"no rows in {sys.argv[1]}")
events = []
for row in rows:
    start = float(column(row, "Start (ns)", "Start"))
    duration = float(column(row, "Duration (ns)", "Duration"))
    name = column(row, "Name")
    events.append((start, start + duration, name))
events.sort()
kernels = [e for e in events if not e[2].startswith("[CUDA")]
span_start, span_end = events[0][0], max(e[1] for e in events)
busy = 0.0
cursor = span_start
for start, end, _ in kernels:
    if end <= cursor:
        continue
    busy += end - max(start, cursor)
    cursor = end
gaps = []
last_end = None
for start, end, name in kernels:
    if last_end is not None and start > last_end:
        gaps.append((start - last_end, name))
    last_end = end if last_end is None else max(last_end, end)
gaps.sort(reverse=True)
summary = {
    "events": len(events),
    "kernels": len(kernels),
    "span_us": (span_end - span_start) / 1e3,
    "kernel_busy_us": busy / 1e3,
    "idle_us": (span_end - span_start - busy) / 1e3,
    "idle_share": (span_end - span_start - busy) / (span_end - span_start) if span_end > span_start else 0.0,
    "gaps_between_kernels": len(gaps),
    "mean_gap_us": sum(g for g, _ in gaps) / len(gaps) / 1e3 if gaps else 0.0,
    "largest_gaps_us": [{"us": g / 1e3, "before": n[:80]} for g, n in gaps[:10]],
}
json.dump(summary, open(sys.argv[2], "w"), indent=1)
print(json.dumps({k: summary[k] for k in ("kernels", "span_us", "kernel_busy_us", "idle_us", "idle_share")}))
