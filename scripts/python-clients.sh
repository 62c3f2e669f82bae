#!/usr/bin/env bash
# Installs the Python clients the gateway's Open Inference Protocol tests talk with (Triton's `tritonclient`, gRPC
# and HTTP) from PyPI into a virtualenv in a cache directory keyed by version, once; later runs find it there and
# return at once. Prints the path of the virtualenv's python. Needs python3 (with venv) and PyPI.
set -euo pipefail
TRITONCLIENT_VERSION=2.73.0
out="${MATRIXINFER_PYTHON_CLIENTS_CACHE:-$HOME/.cache/matrixinfer/python-clients}/tritonclient-$TRITONCLIENT_VERSION"
if [ ! -f "$out/.complete" ]; then
  command -v python3 >/dev/null 2>&1 || { echo "python-clients.sh: python3 is needed" >&2; exit 1; }
  rm -rf "$out"
  mkdir -p "$(dirname "$out")"
  python3 -m venv "$out" >&2
  "$out/bin/python" -m pip install --quiet --disable-pip-version-check "tritonclient[grpc,http]==$TRITONCLIENT_VERSION" >&2
  "$out/bin/python" -c 'import tritonclient.grpc, tritonclient.http' >&2
  touch "$out/.complete"
fi
echo "$out/bin/python"
