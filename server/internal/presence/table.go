// Package presence is the table both of Duet's presence stores keep: who
// is in which channel, on which node, with constant-time counts. It does no
// locking and sends no events: server.MemoryPresence and natsbroker's
// cluster store wrap it with both.
package presence

import (
	"strconv"

	"github.com/duet-rt/duet/shared"
)

// Record is one client in one channel.
type Record struct {
	Entry shared.PresenceEntry
	// Node is the node the client is connected to ("" for a single node).
	Node string
	// Announce: the join and the leave are events.
	Announce bool
}

// Placed is a record with its channel.
type Placed struct {
	Channel string
	Record
}

// Table is who is in which channel. The zero value is empty and ready. It
// is not safe for concurrent use.
type Table struct {
	channels map[string]*channel
	total    int
	// nodes indexes each node's entries by channel and client, so that a
	// node that vanishes can be removed in one pass.
	nodes map[string]map[key]struct{}
}

type key struct{ channel, client string }

type channel struct {
	clients map[string]Record
	// users counts the clients of each non-empty user, so that the number
	// of distinct users is len(users).
	users map[string]int
}

// Add records r in ch, replacing the client's previous record there
// (replaced is then true, and the bounds do not apply). A new record is
// refused with shared.CodeOverloaded when ch already has maxClients clients
// or the table maxEntries entries (zero or negative: no bound).
func (t *Table) Add(ch string, r Record, maxClients, maxEntries int) (replaced bool, err error) {
	c := t.channels[ch]
	if c != nil {
		if old, ok := c.clients[r.Entry.Client]; ok {
			t.drop(ch, c, old)
			t.put(ch, c, r)
			return true, nil
		}
	}
	if maxClients > 0 && c != nil && len(c.clients) >= maxClients {
		return false, shared.NewError(shared.CodeOverloaded, "presence of channel "+strconv.Quote(ch)+" is full: the limit is "+strconv.Itoa(maxClients)+" clients")
	}
	if maxEntries > 0 && t.total >= maxEntries {
		return false, shared.NewError(shared.CodeOverloaded, "presence is full: the limit is "+strconv.Itoa(maxEntries)+" entries in all")
	}
	if c == nil {
		if t.channels == nil {
			t.channels = make(map[string]*channel)
		}
		c = &channel{clients: make(map[string]Record), users: make(map[string]int)}
		t.channels[ch] = c
	}
	t.put(ch, c, r)
	return false, nil
}

func (t *Table) put(ch string, c *channel, r Record) {
	c.clients[r.Entry.Client] = r
	if r.Entry.User != "" {
		c.users[r.Entry.User]++
	}
	t.total++
	if t.nodes == nil {
		t.nodes = make(map[string]map[key]struct{})
	}
	n := t.nodes[r.Node]
	if n == nil {
		n = make(map[key]struct{})
		t.nodes[r.Node] = n
	}
	n[key{ch, r.Entry.Client}] = struct{}{}
}

// drop removes r, which is in c, from every index but c's place in
// t.channels.
func (t *Table) drop(ch string, c *channel, r Record) {
	delete(c.clients, r.Entry.Client)
	if u := r.Entry.User; u != "" {
		if c.users[u]--; c.users[u] <= 0 {
			delete(c.users, u)
		}
	}
	t.total--
	if n := t.nodes[r.Node]; n != nil {
		delete(n, key{ch, r.Entry.Client})
		if len(n) == 0 {
			delete(t.nodes, r.Node)
		}
	}
}

// Remove removes client from ch and returns its record.
func (t *Table) Remove(ch, client string) (Record, bool) {
	c := t.channels[ch]
	if c == nil {
		return Record{}, false
	}
	r, ok := c.clients[client]
	if !ok {
		return Record{}, false
	}
	t.drop(ch, c, r)
	if len(c.clients) == 0 {
		delete(t.channels, ch)
	}
	return r, true
}

// RemoveNode removes every record of node and returns them.
func (t *Table) RemoveNode(node string) []Placed {
	n := t.nodes[node]
	out := make([]Placed, 0, len(n))
	for k := range n {
		if r, ok := t.Remove(k.channel, k.client); ok {
			out = append(out, Placed{Channel: k.channel, Record: r})
		}
	}
	return out
}

// Node returns the records of node.
func (t *Table) Node(node string) []Placed {
	n := t.nodes[node]
	out := make([]Placed, 0, len(n))
	for k := range n {
		out = append(out, Placed{Channel: k.channel, Record: t.channels[k.channel].clients[k.client]})
	}
	return out
}

// List returns the entries of ch, in no particular order.
func (t *Table) List(ch string) []shared.PresenceEntry {
	c := t.channels[ch]
	if c == nil {
		return []shared.PresenceEntry{}
	}
	out := make([]shared.PresenceEntry, 0, len(c.clients))
	for _, r := range c.clients {
		out = append(out, r.Entry)
	}
	return out
}

// Stats returns how many clients and distinct non-empty users ch has.
func (t *Table) Stats(ch string) (clients, users int) {
	c := t.channels[ch]
	if c == nil {
		return 0, 0
	}
	return len(c.clients), len(c.users)
}

// Len is the number of entries in all channels.
func (t *Table) Len() int { return t.total }
