#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager and etcd from published Go modules (no downloads of prebuilt binaries) into a cache
# directory keyed by version, once; later runs find them there and return at once. Prints the directory.
# Recipe: shared/notes/real-kube-apiserver.md. Cold: ~10 min on 2 cores; warm: instant.
set -euo pipefail
KUBE_VERSION=v1.34.4
ETCD_VERSION=v3.6.4
here=$(cd "$(dirname "$0")/.." && pwd)
out="${MATRIXINFER_KUBE_CACHE:-$HOME/.cache/matrixinfer/kube-bin}/$KUBE_VERSION"
mkdir -p "$out"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod

if [ ! -x "$out/kube-apiserver" ]; then
  (cd "$here/tools/kube" && go build -trimpath -ldflags "-s -w \
      -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION \
      -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=34" \
      -o "$out/kube-apiserver.tmp.$$" k8s.io/kubernetes/cmd/kube-apiserver)
  mv "$out/kube-apiserver.tmp.$$" "$out/kube-apiserver"
fi
# kube-controller-manager: only its garbage collector and namespace controllers run in tests (cascading deletion
# is its job on a real cluster, not the API server's).
if [ ! -x "$out/kube-controller-manager" ]; then
  (cd "$here/tools/kube" && go build -trimpath -ldflags "-s -w \
      -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION \
      -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=34" \
      -o "$out/kube-controller-manager.tmp.$$" k8s.io/kubernetes/cmd/kube-controller-manager)
  mv "$out/kube-controller-manager.tmp.$$" "$out/kube-controller-manager"
fi
if [ ! -x "$out/etcd" ]; then
  (cd "$here/tools/etcd" && go build -trimpath -ldflags "-s -w" -o "$out/etcd.tmp.$$" go.etcd.io/etcd/server/v3)
  mv "$out/etcd.tmp.$$" "$out/etcd"
fi
echo "$out"
