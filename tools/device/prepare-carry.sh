#!/usr/bin/env bash
# Run HERE (not on the GPU machine), from anywhere in the repo, after `pnpm install`: copies the
# Node-API C headers and node-addon-api's C++ headers into the git-ignored .carry/native-headers/,
# so the GPU machine (no node_modules, no internet) can build the addon with plain cmake.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
pkg="$repo/packages/kernels-cuda"
dest="$repo/.carry/native-headers"
api_dir="$(cd "$pkg" && node -p "require('node-api-headers').include_dir")"
addon_dir="$(cd "$pkg" && node -p "require('node-addon-api').include.replace(/\"/g, '')")"
rm -rf "$dest"
mkdir -p "$dest/node-api" "$dest/node-addon-api"
cp "$api_dir"/*.h "$dest/node-api/"
cp "$addon_dir"/*.h "$dest/node-addon-api/"
test -f "$repo/.carry/node/node.xz" || {
  echo "missing .carry/node/node.xz: run  mkdir -p .carry/node && xz -c \$(command -v node) > .carry/node/node.xz" >&2
  exit 1
}
du -sh "$dest" "$repo/.carry/node"
