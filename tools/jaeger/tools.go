//go:build tools

// Keeps `go mod tidy` aware of the command this module builds.
package tools

import _ "github.com/jaegertracing/jaeger/cmd/jaeger"
