//go:build unix

package server

import "syscall"

// setReceiveBuffer returns a net.Dialer Control func that sets SO_RCVBUF
// before connecting (the window is negotiated at connect time).
func setReceiveBuffer(n int) func(network, address string, c syscall.RawConn) error {
	return func(network, address string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, n)
		})
		if err != nil {
			return err
		}
		return serr
	}
}

// raiseFileLimit makes sure the process may open need descriptors, raising
// the soft limit up to the hard one if it must; false means it cannot.
func raiseFileLimit(need uint64) (limit uint64, ok bool) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, false
	}
	if lim.Cur < need && lim.Max > lim.Cur {
		lim.Cur = min(lim.Max, need)
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
		_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
	return lim.Cur, lim.Cur >= need
}
