#!/usr/bin/env bash
# Builds Jaeger v2 (`jaeger`: an OpenTelemetry Collector distribution with OTLP/HTTP and gRPC receivers, an in-memory
# trace store and the query API /api/traces/{id}) from its published Go module (tools/jaeger wrapper; no prebuilt
# binary download) into a cache directory keyed by version, once; later runs find it there and return at once. Prints
# the binary's path. The tracing tests (test/integration/traces.test.ts) export to it and read the spans back.
# Same approach as scripts/kube-binaries.sh. Needs Go >= 1.24 and the Go module proxy. Cold: several minutes on 2
# cores (niced); warm: instant.
set -euo pipefail
# Jaeger v2.13.0 is the Go module github.com/jaegertracing/jaeger v1.76.0 (Jaeger tags each v2 release both ways).
JAEGER_VERSION=v2.13.0
here=$(cd "$(dirname "$0")/.." && pwd)
out="${MATRIXINFER_JAEGER_CACHE:-$HOME/.cache/matrixinfer/bin}/jaeger-$JAEGER_VERSION"
if [ ! -x "$out/jaeger" ]; then
  command -v go >/dev/null 2>&1 || PATH="$PATH:/usr/local/go/bin"
  command -v go >/dev/null 2>&1 || { echo "jaeger.sh: Go >= 1.24 is needed to build Jaeger" >&2; exit 1; }
  mkdir -p "$out"
  (cd "$here/tools/jaeger" && GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod nice -n 10 go build -trimpath -ldflags "-s -w" \
      -o "$out/jaeger.tmp.$$" github.com/jaegertracing/jaeger/cmd/jaeger) >&2
  mv "$out/jaeger.tmp.$$" "$out/jaeger"
fi
echo "$out/jaeger"
