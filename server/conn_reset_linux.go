package server

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// unreceived returns how many bytes written to nc the peer has not
// acknowledged yet (SIOCOUTQ), or -1 when it cannot tell.
func unreceived(nc net.Conn) int {
	if t, ok := nc.(interface{ NetConn() net.Conn }); ok { // TLS
		nc = t.NetConn()
	}
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return -1
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return -1
	}
	n := -1
	_ = raw.Control(func(fd uintptr) {
		if v, err := unix.IoctlGetInt(int(fd), unix.SIOCOUTQ); err == nil {
			n = v
		}
	})
	return n
}
