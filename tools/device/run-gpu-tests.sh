#!/usr/bin/env bash
# Run ON THE GPU MACHINE from the repo root (see README.md here for the exact `run` call): unpacks the
# carried node, builds packages/kernels-cuda's addon with plain cmake against the carried headers,
# then checks it with gpu-check.mjs (addon vs a JS reference) and torch_rms_norm_check.py (addon vs
# Hugging Face-style RMSNorm in PyTorch). Results land in $OUT/gpu-results.json and
# $OUT/torch-compare.json; the build log in $OUT/build.log.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
out="${OUT:-/tmp/duo-gpu-out}"
mkdir -p "$out"
cd "$repo"

xz -dc .carry/node/node.xz > /tmp/node && chmod +x /tmp/node
export PATH=/tmp:$PATH
node --version

pkg=packages/kernels-cuda
headers=.carry/native-headers
start_ns=$(date +%s%N)
{
  cmake -S "$pkg" -B "$pkg/build" -DCMAKE_BUILD_TYPE=Release \
    -DNODE_API_HEADERS_DIR="$repo/$headers/node-api" \
    -DNODE_ADDON_API_DIR="$repo/$headers/node-addon-api" \
    -DCMAKE_CUDA_ARCHITECTURES="${DUO_CUDA_ARCHITECTURES:-80;86;89;90}"
  cmake --build "$pkg/build" --parallel "$(nproc)"
} > "$out/build.log" 2>&1 || { tail -50 "$out/build.log"; exit 1; }
echo "addon built in $(( ($(date +%s%N) - start_ns) / 1000000 )) ms"

cases=/tmp/duo-rms-cases
status=0
node tools/device/gpu-check.mjs "$pkg/build/Release/duo_kernels.node" "$out/gpu-results.json" "$cases" || status=$?
python3 tools/device/torch_rms_norm_check.py "$cases" "$out/torch-compare.json" || status=$?
exit $status
