package transport

import "github.com/duet-rt/duet/shared"

// Suspend stops the client while its page sits in the browser's
// back/forward cache: it says goodbye on the bus (so another tab takes the
// lead at once), closes its connection if it leads, fails the publishes
// still in flight, and keeps its channels and its cursor for Resume. A
// client not started, closed or already suspended is left as it is.
func (cl *Client) Suspend() {
	cl.lock()
	defer cl.unlock()
	if !cl.started || cl.closed || cl.suspended {
		return
	}
	cl.suspended = true
	if cl.opts.Bus != nil {
		cl.postLocked(&busMsg{f: shared.Frame{Type: busTabBye}})
	}
	if conn := cl.conn; conn != nil {
		cl.conn = nil
		cl.later(conn.Close)
	}
	cl.leading, cl.leader = false, ""
	stopTimer(&cl.prune)
	clear(cl.tabs)
	for _, p := range cl.pending {
		cl.settleLocked(p, "", errConnClosed)
	}
	if cl.state == StateClosed {
		return
	}
	if cl.everOpen {
		cl.setStateLocked(StateReconnecting, cl.kind)
	} else {
		cl.setStateLocked(StateConnecting, cl.kind)
	}
}

// Resume undoes Suspend when the page comes back: without a bus the client
// leads again at once, resuming after the last id it saw; with one it
// announces itself as a new tab would, and follows the leader, or leads
// when the binding's lock is granted (Lead).
func (cl *Client) Resume() {
	cl.lock()
	defer cl.unlock()
	if cl.closed || !cl.suspended {
		return
	}
	cl.suspended = false
	cl.joinLocked()
}
