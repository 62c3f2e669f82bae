//go:build tools

// Keeps `go mod tidy` aware of the command this module builds.
package tools

import _ "go.etcd.io/etcd/server/v3"
