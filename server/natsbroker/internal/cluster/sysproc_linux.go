package cluster

import "syscall"

// sysProcAttr puts a child in its own process group, so that a Ctrl-C meant
// for the launcher does not reach it before the launcher stops everything in
// order, and kills it if the launcher dies first (a test that times out
// leaves no node or nginx behind).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
