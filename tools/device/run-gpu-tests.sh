#!/usr/bin/env bash
# Run ON THE GPU MACHINE from the repo root (see README.md here for the exact `run` call). Unpacks the
# carried node, builds packages/kernels-cuda (the addon and duo_kernel_checks) with plain cmake
# against the carried headers, then runs the steps named as arguments (default: checks suite):
#   rms     gpu-check.mjs + torch_rms_norm_check.py (the one-shot RMSNorm binding vs JS and PyTorch)
#   checks  duo_kernel_checks --bench: every kernel vs a CPU reference, and its timings/floors
#   quant   only the W8A8KV4 kernels (Kv4*, Int8* checks) and their floors -> $OUT/quant-checks.jsonl
#   suite   the cuda backend's conformance, greedy-vs-cpu and error tests (bundled, no node_modules)
#   bench   copy bandwidth, then the Llama-3-8B-shape decode/memory/prefill benchmarks of the cuda backend
#   hf      HF transformers' eager decode on the same shape, for comparison
#   duo     `duo bench decode --backend cuda --shape llama3-8b` (the bundled CLI), floors included
#   batch   `duo bench decode --batch 1,8,32` on the 8B shape with DUO_CUDA_BATCH=1 (issue #14) -> $OUT/duo-bench-batch/
#   capacity  `duo bench capacity --backend cuda --shape llama3-8b`: the largest context that fits and
#           decodes for W8A8 + KV4 + DuoAttention 50% / 25% and bf16 full (issue #13), planned vs verified,
#           decode at 1M and at the largest vs the floor; what cuda cannot run yet is listed with the
#           reason (DUO_CAPACITY_ARGS replaces the combination options) -> $OUT/duo-capacity.json
#   train-goldens  tools/reference/make_train_goldens.py (torch float64 autograd) into the fixtures here
#   train-suite  only the gate-training conformance vs torch (the first part of `train`)
#   profile one 8B-shape decode step (DecodeStep check) timed, then per kernel under ncu (summarize_ncu.py)
#           for each case of DUO_PROFILE_CASES and decode mode of DUO_PROFILE_MODES, and under nsys (gaps
#           between kernels, summarize_nsys_gaps.py) where nsys is installed
# Issue #18 (decode-step path; run-issue18.sh runs them all in two calls):
#   checks-quick  duo_kernel_checks without --bench: every correctness check, no timings
#   suite-decode  the suite again with DUO_CUDA_GRAPHS=1 DUO_CUDA_FUSED=1 DUO_CUDA_BATCH=1 (the batched decode
#                 pass too) -> $OUT/suite-decode/cuda-suite.json
#   duo-modes     `duo bench decode` on the 8B shape, full / duo:0.5 / duo:0.25 at DUO_BENCH_CONTEXTS, once
#                 per decode mode of DUO_BENCH_MODES (eager graphs fused graphs+fused) -> $OUT/duo-<mode>/
#   decode-step   the DecodeStep (every mode per case), GemvNorm, DecodeAttention and Gemm benchmarks
#                 -> $OUT/decode-step.jsonl (the per-kernel ratios to the floor on this GPU)
#   train   the cuda gate trainer: gate-training conformance vs torch, then `duo train` on the toy model
#           (DUO_TRAIN_ARGS adds options) -> $OUT/toy-pattern.tar.gz, then the 8B-shape step benchmark
# Results land in $OUT: build.log, kernel-checks.jsonl, cuda-suite.json, bandwidth.jsonl, cuda-bench.json,
# hf-bench.json, and the logs of each step. Exit status 0 only if every step passed.
set -uo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
out="${OUT:-/tmp/duo-gpu-out}"
mkdir -p "$out"
cd "$repo"
steps=("$@")
[ ${#steps[@]} -eq 0 ] && steps=(checks suite)

xz -dc .carry/node/node.xz > /tmp/node && chmod +x /tmp/node
export PATH=/tmp:$PATH
echo "node $(node --version); $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader)"

pkg=packages/kernels-cuda
headers=.carry/native-headers
start_ns=$(date +%s%N)
{
  cmake -S "$pkg" -B "$pkg/build" -DCMAKE_BUILD_TYPE=Release \
    -DNODE_API_HEADERS_DIR="$repo/$headers/node-api" \
    -DNODE_ADDON_API_DIR="$repo/$headers/node-addon-api" \
    -DCMAKE_CUDA_ARCHITECTURES="${DUO_CUDA_ARCHITECTURES:-90}"
  cmake --build "$pkg/build" --parallel "$(nproc)"
} > "$out/build.log" 2>&1 || { tail -60 "$out/build.log"; exit 1; }
echo "built in $(( ($(date +%s%N) - start_ns) / 1000000 )) ms (architectures ${DUO_CUDA_ARCHITECTURES:-90})"

export DUO_KERNELS_ADDON="$repo/$pkg/build/Release/duo_kernels.node"
export DUO_FIXTURES_DIR="$repo/packages/core/fixtures"
export DUO_REPO="$repo"
export OUT="$out"
status=0
run_step() {
  local name="$1"
  shift
  local t0=$(date +%s%N)
  "$@" > "$out/$name.log" 2>&1
  local rc=$?
  echo "== $name: exit $rc in $(( ($(date +%s%N) - t0) / 1000000 )) ms"
  tail -40 "$out/$name.log"
  [ $rc -eq 0 ] || status=1
}
for step in "${steps[@]}"; do
  case "$step" in
    rms)
      run_step rms-node node tools/device/gpu-check.mjs "$DUO_KERNELS_ADDON" "$out/gpu-results.json" /tmp/duo-rms-cases
      run_step rms-torch python3 tools/device/torch_rms_norm_check.py /tmp/duo-rms-cases "$out/torch-compare.json" ;;
    checks)
      # DUO_CHECK_FILTER=<substring>[,<substring>...] runs only the matching checks.
      run_step kernel-checks "$pkg/build/Release/duo_kernel_checks" --bench ${DUO_CHECK_FILTER:+--filter "$DUO_CHECK_FILTER"} \
        --out "$out/kernel-checks.jsonl" ;;
    quant)
      # The KV4 and int8 kernels (issue #13): bit-exact codes, attention within tolerance, and the
      # KV4 decode attention / int8 GEMV against their copy-bandwidth floors.
      run_step quant-checks "$pkg/build/Release/duo_kernel_checks" --bench --filter CopyBandwidth,Kv4,Int8 \
        --out "$out/quant-checks.jsonl" ;;
    suite) run_step cuda-suite node .carry/device-bundle/cuda-suite.mjs ;;
    bench)
      run_step bandwidth "$pkg/build/Release/duo_kernel_checks" --bench --filter CopyBandwidth --out "$out/bandwidth.jsonl"
      run_step cuda-bench node .carry/device-bundle/cuda-bench.mjs ${DUO_BENCH_ARGS:-} ;;
    hf) run_step hf-bench python3 tools/device/hf_decode_bench.py "$out/hf-bench.json" ;;
    duo)
      # The same decode figures through the `duo` CLI itself (bundled): full attention up to 256K (512K
      # does not fit in 80 GB), DuoAttention 50% / 25% up to 512K.
      run_step duo-bench-full node .carry/device-bundle/duo.mjs bench decode --backend cuda --shape llama3-8b \
        --policy full --contexts 8192,32768,131072,262144 --steps 10 --out "$out/duo-bench-full"
      run_step duo-bench-duo node .carry/device-bundle/duo.mjs bench decode --backend cuda --shape llama3-8b \
        --policy duo:0.5 --policy duo:0.25 --contexts 8192,32768,131072,262144,524288 --steps 10 \
        --out "$out/duo-bench-duo" ;;
    batch)
      # Issue #14: batched decode (continuous batching) on the 8B shape at 1, 8 and 32 sequences, each
      # figure next to its floor (weights + all sequences' KV bytes read / copy bandwidth). The cuda
      # batched pass is opt-in until this run and suite-decode have verified it.
      DUO_CUDA_BATCH=1 run_step duo-bench-batch node .carry/device-bundle/duo.mjs bench decode --backend cuda \
        --shape llama3-8b --policy full --policy duo:0.5 --contexts 4096,32768 --batch 1,8,32 --steps 10 \
        --out "$out/duo-bench-batch" ;;
    capacity)
      # Issue #13's capacity acceptance on the device's whole memory (the budget is its total, less a
      # 1.5% headroom; the floor is the copy bandwidth the CLI measures in the same run). The cross
      # product of the options: rows the cuda backend cannot run yet are reported as unsupported with
      # its reason, so this one command measures whatever it supports on the day.
      run_step duo-capacity node .carry/device-bundle/duo.mjs bench capacity --backend cuda --shape llama3-8b \
        ${DUO_CAPACITY_ARGS:---weights w8a8,float --kv-dtype int4,bf16 --policy duo:0.5,duo:0.25,full} \
        --at 1048576 --steps 10 --warmup 3 --out "$out/duo-capacity"
      cp "$out/duo-capacity/results.json" "$out/duo-capacity.json" ;;
    train-goldens)
      run_step train-goldens python3 tools/reference/make_train_goldens.py --fixtures packages/core/fixtures \
        --out packages/core/fixtures/train-goldens.json
      cp packages/core/fixtures/train-goldens.json "$out/train-goldens.json" ;;
    train-suite) run_step train-suite node .carry/device-bundle/cuda-train.mjs ;;
    train)
      run_step train-suite node .carry/device-bundle/cuda-train.mjs
      rm -rf /tmp/toy-pattern
      run_step toy-train node .carry/device-bundle/duo.mjs train --backend cuda --out /tmp/toy-pattern --json \
        ${DUO_TRAIN_ARGS:-}
      tar czf "$out/toy-pattern.tar.gz" -C /tmp toy-pattern
      run_step train-bench "$pkg/build/Release/duo_kernel_checks" --bench --filter GateTrainerStep \
        --out "$out/train-bench.jsonl" ;;
    profile)
      # One decode step of the 8B shape: host-timed steps and floors for full / 50% / 25% at 4K and
      # 128K in every decode mode, then ncu's per-kernel times of one step (kernels run one at a time
      # under ncu) per case and mode.
      # DUO_SKIP_DECODE_STEP=1 skips the timed run (run-issue18.sh's second call: the first timed it).
      [ "${DUO_SKIP_DECODE_STEP:-0}" = 1 ] || run_step decode-step "$pkg/build/Release/duo_kernel_checks" --bench \
        --filter DecodeStep --out "$out/decode-step.jsonl"
      ncu_bin="$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu /usr/local/cuda/bin/ncu 2>/dev/null | head -1)"
      nsys_bin="$(command -v nsys || ls /opt/nvidia/nsight-systems/*/bin/nsys /usr/local/cuda/bin/nsys 2>/dev/null | head -1)"
      for c in ${DUO_PROFILE_CASES:-full_4096 duo25_131072}; do
        for m in ${DUO_PROFILE_MODES:-eager}; do
          tag="$c-$m"
          [ "$m" = eager ] && tag="$c"  # the names earlier sessions used
          context="${c##*_}"
          DUO_DECODE_STEP_CONTEXTS=$context DUO_DECODE_STEP_MODES=$m DUO_DECODE_STEP_CASE=$c DUO_PROFILE_STEP=1 \
            run_step "ncu-$tag" "$ncu_bin" --clock-control none --profile-from-start off \
            --csv --page raw --metrics gpu__time_duration.sum "$pkg/build/Release/duo_kernel_checks" --bench --filter DecodeStep
          python3 tools/device/summarize_ncu.py "$out/ncu-$tag.log" "$out/ncu-$tag.json"
          if [ -n "$nsys_bin" ]; then
            # The same step on a timeline: kernel time vs the step's span = the launch gaps ncu cannot see.
            DUO_DECODE_STEP_CONTEXTS=$context DUO_DECODE_STEP_MODES=$m DUO_DECODE_STEP_CASE=$c DUO_PROFILE_STEP=1 \
              run_step "nsys-$tag" "$nsys_bin" profile --capture-range=cudaProfilerApi --capture-range-end=stop -t cuda \
              --force-overwrite true -o "/tmp/nsys-$tag" "$pkg/build/Release/duo_kernel_checks" --bench --filter DecodeStep
            "$nsys_bin" stats -r cuda_gpu_trace -f csv --force-export true -o "/tmp/nsys-$tag" "/tmp/nsys-$tag.nsys-rep" \
              > /dev/null 2>&1
            python3 tools/device/summarize_nsys_gaps.py /tmp/nsys-"$tag"_cuda_gpu_trace.csv "$out/nsys-$tag.json" \
              || echo "nsys summary failed for $tag"
          fi
        done
      done ;;
    checks-quick)
      run_step kernel-checks-quick "$pkg/build/Release/duo_kernel_checks" ${DUO_CHECK_FILTER:+--filter "$DUO_CHECK_FILTER"} \
        --out "$out/kernel-checks-quick.jsonl" ;;
    suite-decode)
      mkdir -p "$out/suite-decode"
      # Every opt-in path at once: graphs, fused kernels and the batched decode pass (forwardBatch,
      # checked by the conformance suite's batched case).
      DUO_CUDA_GRAPHS=1 DUO_CUDA_FUSED=1 DUO_CUDA_BATCH=1 OUT="$out/suite-decode" run_step cuda-suite-decode node .carry/device-bundle/cuda-suite.mjs ;;
    duo-modes)
      for mode in ${DUO_BENCH_MODES:-eager graphs fused graphs+fused}; do
        case "$mode" in
          eager) graphs=0 fused=0 ;; graphs) graphs=1 fused=0 ;; fused) graphs=0 fused=1 ;; graphs+fused) graphs=1 fused=1 ;;
          *) echo "unknown decode mode $mode"; status=1; continue ;;
        esac
        DUO_CUDA_GRAPHS=$graphs DUO_CUDA_FUSED=$fused run_step "duo-$mode" node .carry/device-bundle/duo.mjs bench decode \
          --backend cuda --shape llama3-8b --policy full --policy duo:0.5 --policy duo:0.25 \
          --contexts "${DUO_BENCH_CONTEXTS:-4096,32768,131072,524288}" --steps 10 --out "$out/duo-$mode"
      done ;;
    decode-step)
      DUO_DECODE_STEP_CONTEXTS="${DUO_DECODE_STEP_CONTEXTS:-4096,32768,131072,524288}" run_step decode-step \
        "$pkg/build/Release/duo_kernel_checks" --bench --filter DecodeStep,GemvNorm,DecodeAttention,Gemm --out "$out/decode-step.jsonl" ;;
    *) echo "unknown step $step"; status=1 ;;
  esac
done
exit $status
