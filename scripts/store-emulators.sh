#!/usr/bin/env bash
# Installs the real local object-store servers the downloader's tests and benchmark talk to, each into a cache
# directory keyed by version under ~/.cache/matrixinfer/, once; later runs find them there and return at once:
#  - S3: moto's server (PyPI `moto[server]`) in a virtualenv (`moto_server`);
#  - Azure Blob: Azurite (npm `azurite`), installed with `npm install --prefix`, not into the project's dependencies;
#  - GCS: fake-gcs-server built from its Go module.
# Prints the three paths (moto_server, azurite-blob, fake-gcs-server), one a line. Needs python3 (venv), npm and Go.
# Cold: a minute or two on 2 cores; warm: instant. `store-emulators.sh s3|azure|gcs` installs one.
set -euo pipefail
MOTO_VERSION=5.2.5
AZURITE_VERSION=3.37.0
FAKE_GCS_VERSION=v1.56.1
cache="${MATRIXINFER_STORE_EMULATORS_CACHE:-$HOME/.cache/matrixinfer/store-emulators}"
which="${1:-all}"

moto="$cache/moto-$MOTO_VERSION"
if [ "$which" = all ] || [ "$which" = s3 ]; then
  if [ ! -f "$moto/.complete" ]; then
    command -v python3 >/dev/null 2>&1 || { echo "store-emulators.sh: python3 is needed for moto" >&2; exit 1; }
    rm -rf "$moto"
    mkdir -p "$cache"
    python3 -m venv "$moto" >&2
    "$moto/bin/python" -m pip install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION" >&2
    "$moto/bin/moto_server" --help >/dev/null
    touch "$moto/.complete"
  fi
  echo "$moto/bin/moto_server"
fi

azurite="$cache/azurite-$AZURITE_VERSION"
if [ "$which" = all ] || [ "$which" = azure ]; then
  if [ ! -f "$azurite/.complete" ]; then
    rm -rf "$azurite"
    mkdir -p "$azurite"
    npm install --prefix "$azurite" --no-audit --no-fund --no-save --loglevel=error "azurite@$AZURITE_VERSION" >&2
    touch "$azurite/.complete"
  fi
  echo "$azurite/node_modules/.bin/azurite-blob"
fi

gcs="$cache/fake-gcs-server-$FAKE_GCS_VERSION"
if [ "$which" = all ] || [ "$which" = gcs ]; then
  if [ ! -x "$gcs/fake-gcs-server" ]; then
    command -v go >/dev/null 2>&1 || PATH="$PATH:/usr/local/go/bin"
    command -v go >/dev/null 2>&1 || { echo "store-emulators.sh: Go is needed to build fake-gcs-server" >&2; exit 1; }
    mkdir -p "$gcs"
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    GOTOOLCHAIN=local CGO_ENABLED=0 GOBIN="$tmp" go install -trimpath -ldflags "-s -w" "github.com/fsouza/fake-gcs-server@$FAKE_GCS_VERSION" >&2
    mv "$tmp/fake-gcs-server" "$gcs/fake-gcs-server"
  fi
  echo "$gcs/fake-gcs-server"
fi
