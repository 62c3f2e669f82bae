//go:build tools

// Keeps `go mod tidy` aware of the command this module builds.
package tools

import _ "helm.sh/helm/v3/cmd/helm"
