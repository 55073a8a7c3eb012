package server

import (
	"context"
	"sync"

	"github.com/duet-rt/duet/server/internal/presence"
)

// MemoryPresence is a PresenceStore in this process: the hub's default
// when its broker has no store of its own.
type MemoryPresence struct {
	mu       sync.Mutex // guards table, watchers and next
	table    presence.Table
	watchers map[int]func(*PresenceEvent)
	next     int
}

// NewMemoryPresence returns an empty MemoryPresence.
func NewMemoryPresence() *MemoryPresence {
	return &MemoryPresence{watchers: make(map[int]func(*PresenceEvent))}
}

// Join implements PresenceStore.
func (m *MemoryPresence) Join(_ context.Context, channel string, e PresenceEntry, o JoinOptions) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	replaced, err := m.table.Add(channel, presence.Record{Entry: e, Announce: o.Announce}, o.MaxClients, o.MaxEntries)
	if err == nil && o.Announce && !replaced {
		m.notifyLocked(&PresenceEvent{Channel: channel, Entry: e})
	}
	return err
}

// Leave implements PresenceStore.
func (m *MemoryPresence) Leave(_ context.Context, channel, client string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r, ok := m.table.Remove(channel, client); ok && r.Announce {
		m.notifyLocked(&PresenceEvent{Leave: true, Channel: channel, Entry: r.Entry})
	}
	return nil
}

// Presence implements PresenceStore.
func (m *MemoryPresence) Presence(_ context.Context, channel string) ([]PresenceEntry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.table.List(channel), nil
}

// PresenceStats implements PresenceStore.
func (m *MemoryPresence) PresenceStats(_ context.Context, channel string) (PresenceStats, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, u := m.table.Stats(channel)
	return PresenceStats{Clients: c, Users: u}, nil
}

// Watch implements PresenceStore. Events are delivered in the order of the
// calls that caused them, with the store locked.
func (m *MemoryPresence) Watch(fn func(*PresenceEvent)) (stop func()) {
	m.mu.Lock()
	defer m.mu.Unlock()
	id := m.next
	m.next++
	m.watchers[id] = fn
	return func() {
		m.mu.Lock()
		delete(m.watchers, id)
		m.mu.Unlock()
	}
}

func (m *MemoryPresence) notifyLocked(ev *PresenceEvent) {
	for _, fn := range m.watchers {
		fn(ev)
	}
}
