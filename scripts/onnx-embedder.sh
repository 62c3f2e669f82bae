#!/usr/bin/env bash
# Builds the test model of the semantic cache's `onnx` embedder (the static embedder's WordLlama weights as an ONNX
# graph, with its tokenizer.json: scripts/build-onnx-embedder.py) into a cache directory keyed by the `onnx` version
# and the asset's checksum, once; later runs find it there and return at once. Prints the model's path. The PyPI
# package `onnx` is installed into a virtualenv beside it. Needs python3 (with venv) and PyPI. The tests that use the
# model (src/gateway/cache/embedder/onnx.test.ts, test/integration/gateway-cache-onnx.test.ts) are skipped, with
# one line naming this script, when it is absent.
set -euo pipefail
ONNX_VERSION=1.23.2
here=$(cd "$(dirname "$0")/.." && pwd)
sum=$(cat "$here/assets/embedder/wordllama-l2-128.bin" "$here/assets/embedder/tokenizer.json.gz" "$here/scripts/build-onnx-embedder.py" | sha256sum | cut -c1-12)
cache="${MATRIXINFER_ONNX_EMBEDDER_CACHE:-$HOME/.cache/matrixinfer/onnx-embedder}"
venv="$cache/venv-onnx-$ONNX_VERSION"
out="$cache/wordllama-l2-128-$sum"
if [ ! -f "$out/.complete" ]; then
  command -v python3 >/dev/null 2>&1 || { echo "onnx-embedder.sh: python3 is needed" >&2; exit 1; }
  if [ ! -f "$venv/.complete" ]; then
    rm -rf "$venv"
    mkdir -p "$cache"
    python3 -m venv "$venv" >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "onnx==$ONNX_VERSION" >&2
    touch "$venv/.complete"
  fi
  rm -rf "$out"
  "$venv/bin/python" "$here/scripts/build-onnx-embedder.py" "$out" >&2
  touch "$out/.complete"
fi
echo "$out/model.onnx"
