#!/usr/bin/env bash
# Installs the peer routers the routing benchmark compares against — SGLang's router (`sglang-router`) and vLLM's
# Rust router (`vllm-router`), both from PyPI (Rust binaries shipped in manylinux wheels) — into one virtualenv in a
# cache directory keyed by their versions, once; later runs find it there and return at once. Prints the virtualenv's
# bin directory (where bench/routing.ts looks for their launchers). Needs python3 (with venv) and PyPI.
set -euo pipefail
SGLANG_ROUTER_VERSION=0.3.2
VLLM_ROUTER_VERSION=0.1.17
out="${MATRIXINFER_PEER_ROUTERS_CACHE:-$HOME/.cache/matrixinfer/peer-routers}/sglang-router-$SGLANG_ROUTER_VERSION-vllm-router-$VLLM_ROUTER_VERSION"
if [ ! -f "$out/.complete" ]; then
  command -v python3 >/dev/null 2>&1 || { echo "peer-routers.sh: python3 is needed" >&2; exit 1; }
  rm -rf "$out"
  mkdir -p "$(dirname "$out")"
  python3 -m venv "$out" >&2
  "$out/bin/python" -m pip install --quiet --disable-pip-version-check \
    "sglang-router==$SGLANG_ROUTER_VERSION" "vllm-router==$VLLM_ROUTER_VERSION" >&2
  # Both must start: a wheel whose binary cannot run here fails now, not in the middle of a benchmark.
  "$out/bin/python" -m sglang_router.launch_router --help >/dev/null
  "$out/bin/python" -m vllm_router.launch_router --help >/dev/null
  touch "$out/.complete"
fi
echo "$out/bin"
