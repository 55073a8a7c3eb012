//go:build !linux

package server

import "net"

// unreceived cannot tell outside Linux: -1, so a connection given up on is
// always reset.
func unreceived(net.Conn) int { return -1 }
