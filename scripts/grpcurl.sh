#!/usr/bin/env bash
# Builds grpcurl (the gRPC command-line client the gateway's gRPC tests use: reflection, health, inference calls)
# from its published Go module into a cache directory keyed by version, once; later runs find it there and return at
# once. Prints the path of the binary. Needs Go and the Go module proxy. Cold: about a minute on 2 cores; warm: instant.
set -euo pipefail
GRPCURL_VERSION=v1.9.4
out="${MATRIXINFER_GRPCURL_CACHE:-$HOME/.cache/matrixinfer/grpcurl}/$GRPCURL_VERSION"
if [ ! -x "$out/grpcurl" ]; then
  command -v go >/dev/null 2>&1 || PATH="$PATH:/usr/local/go/bin"
  command -v go >/dev/null 2>&1 || { echo "grpcurl.sh: Go is needed to build grpcurl" >&2; exit 1; }
  mkdir -p "$out"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  GOTOOLCHAIN=local CGO_ENABLED=0 GOBIN="$tmp" go install -trimpath -ldflags "-s -w" "github.com/fullstorydev/grpcurl/cmd/grpcurl@$GRPCURL_VERSION" >&2
  mv "$tmp/grpcurl" "$out/grpcurl"
fi
echo "$out/grpcurl"
