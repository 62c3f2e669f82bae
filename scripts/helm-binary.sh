#!/usr/bin/env bash
# Builds the helm CLI from its published Go module (tools/helm wrapper; no prebuilt binary download) into a cache
# directory keyed by version, once; later runs find it there and return at once. Prints the binary's path.
# Same approach as scripts/kube-binaries.sh. Cold: ~5 min on 2 cores (niced); warm: instant.
set -euo pipefail
HELM_VERSION=v3.19.5
here=$(cd "$(dirname "$0")/.." && pwd)
out="${MATRIXINFER_KUBE_CACHE:-$HOME/.cache/matrixinfer/kube-bin}/helm-$HELM_VERSION"
mkdir -p "$out"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod

if [ ! -x "$out/helm" ]; then
  (cd "$here/tools/helm" && nice -n 10 go build -trimpath -ldflags "-s -w \
      -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION \
      -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=34 \
      -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=34" \
      -o "$out/helm.tmp" helm.sh/helm/v3/cmd/helm) >&2
  mv "$out/helm.tmp" "$out/helm"
fi
echo "$out/helm"
