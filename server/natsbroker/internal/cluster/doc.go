// Package cluster runs a local Duet cluster for the end-to-end test and for
// `go tool task cluster`: an embedded NATS server with JetStream, Duet nodes
// (bin/duet processes) over it, and nginx in front with the reference
// configuration (server/cmd/duet/nginx.conf).
//
// It is a development tool, not a way to deploy Duet: everything listens on
// loopback and lives in one directory.
package cluster
