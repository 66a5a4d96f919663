#!/usr/bin/env bash
# Issue #18 on the GPU machine (an H200), in two device calls on one held machine, each under the
# 600 s command limit (see README.md here for the exact `run` calls). Run from the repo root.
#   part 1  build (sm_90), every correctness check, the conformance + toy-greedy suite on the default
#           path and on the decode-step path (graphs + fused), `duo bench decode` on the 8B shape at
#           4K/32K/128K/512K for full / DuoAttention 50% / 25% in each decode mode (eager, graphs,
#           fused, graphs+fused), and the DecodeStep + GemvNorm benchmarks (every mode per case)
#           -> $OUT/issue18-part1.tar.gz                                          (estimated 5-7 min)
#   part 2  the profile: ncu per-kernel times (and an nsys timeline where installed) of one decode
#           step for full 4K, full 128K and DuoAttention 25% 128K, eager and graphs+fused
#           -> $OUT/issue18-part2.tar.gz                                          (estimated 3-5 min)
# The build of part 1 stays on the machine (an ignored build output), so part 2 only re-checks it.
# A part stops its steps after DUO_PART_TIMEOUT_S (540 s) so that it still packs what it has (exit 124).
# Each part leaves only its tarball and summary.txt (the last lines of every step) in $OUT, since the
# device returns a limited number of files. Exit status 0 only if every step of the part passed.
set -uo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
part="${1:-}"
final_out="${OUT:?OUT must name the folder that comes back}"
work="/tmp/issue18-part$part"
rm -rf "$work"
mkdir -p "$work"
cd "$repo"
start=$(date +%s)
case "$part" in
  1)
    OUT="$work" DUO_BENCH_CONTEXTS=4096,32768,131072,524288 DUO_DECODE_STEP_CONTEXTS=4096,32768,131072,524288 \
      timeout "${DUO_PART_TIMEOUT_S:-540}" bash tools/device/run-gpu-tests.sh checks-quick suite suite-decode duo-modes decode-step > "$work/summary.txt" 2>&1
    ;;
  2)
    OUT="$work" DUO_SKIP_DECODE_STEP=1 DUO_PROFILE_CASES="full_4096 full_131072 duo25_131072" \
      DUO_PROFILE_MODES="eager graphs+fused" timeout "${DUO_PART_TIMEOUT_S:-540}" bash tools/device/run-gpu-tests.sh profile > "$work/summary.txt" 2>&1
    ;;
  *)
    echo "usage: OUT=<dir> bash tools/device/run-issue18.sh 1|2" >&2
    exit 2
    ;;
esac
status=$?
echo "part $part: exit $status after $(( $(date +%s) - start )) s" >> "$work/summary.txt"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv >> "$work/summary.txt" 2>&1
tar czf "$final_out/issue18-part$part.tar.gz" -C /tmp "issue18-part$part"
cp "$work/summary.txt" "$final_out/summary.txt"
tail -60 "$work/summary.txt"
exit $status
