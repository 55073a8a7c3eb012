package auth_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/duet-rt/duet/server/auth"
	"github.com/duet-rt/duet/shared/assert"
	"github.com/golang-jwt/jwt/v5"
)

// jwksServer serves a key set that the test changes, and can be made to
// fail. A fetch whose request is cancelled fails, as a real one would.
type jwksServer struct {
	*httptest.Server
	set     atomic.Value // []byte
	failing atomic.Bool
	fetches atomic.Int32
}

func newJWKSServer(t *testing.T, set []byte) *jwksServer {
	s := &jwksServer{}
	s.set.Store(set)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		select { // an identity provider a few milliseconds away
		case <-time.After(5 * time.Millisecond):
		case <-r.Context().Done():
			return
		}
		if s.failing.Load() {
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write(s.set.Load().([]byte))
	}))
	t.Cleanup(s.Close)
	return s
}

// syncBuffer is a log destination several goroutines write to.
type syncBuffer struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// eventually retries f every 20ms until it returns nil or within passes,
// and returns how long that took and the last error.
func eventually(within time.Duration, f func() error) (time.Duration, error) {
	start := time.Now()
	for {
		err := f()
		if err == nil || time.Since(start) > within {
			return time.Since(start), err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The attack on the JWKS refresh: tokens naming made-up key ids, sent by a
// client that hangs up at once, over and over. The refreshes they trigger
// must neither fail for it nor keep a rotated key out.
func TestJWKSRefreshCannotBePoisoned(t *testing.T) {
	testKeys(t)
	srv := newJWKSServer(t, jwks(t, map[string]any{"k1": &rsaKey.PublicKey}))
	const minGap = 100 * time.Millisecond
	j := mustJWT(t, auth.JWTConfig{JWKSURL: srv.URL, JWKSMinInterval: minGap, Logger: slog.New(slog.DiscardHandler)})

	// The attacker: a random kid, and a request already gone.
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	stop := make(chan struct{})
	var attacks atomic.Int32
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			kid := make([]byte, 8)
			_, _ = rand.Read(kid)
			r := httptest.NewRequestWithContext(gone, http.MethodGet, "/rt/sse", nil)
			_, _ = j.Verify(r, sign(t, jwt.SigningMethodRS256, rsaKey, hex.EncodeToString(kid), claims("mallory", time.Minute)))
			attacks.Add(1)
			time.Sleep(time.Millisecond)
		}
	})
	time.Sleep(5 * minGap)

	// The issuer publishes k2; a token signed with it must verify soon,
	// while the attack goes on.
	srv.set.Store(jwks(t, map[string]any{"k1": &rsaKey.PublicKey, "k2": &rsaKey2.PublicKey}))
	tok2 := sign(t, jwt.SigningMethodRS256, rsaKey2, "k2", claims("alice", time.Minute))
	took, err := eventually(20*minGap, func() error {
		_, err := j.Verify(httptest.NewRequest(http.MethodGet, "/rt/sse", nil), tok2)
		return err
	})
	elapsed := 5*minGap + took
	close(stop)
	wg.Wait()
	assert.NoError(t, err)
	t.Logf("k2 verified %v after it was published, under %d attacking requests; %d fetches of the key set",
		took.Round(time.Millisecond), attacks.Load(), srv.fetches.Load())
	// Refreshes are rate-limited: one per JWKSMinInterval at most, however
	// many made-up kids arrive (plus the first load).
	assert.True(t, "fetches rate-limited", int(srv.fetches.Load()) <= 2+int(elapsed/minGap))
}

// Keys removed from the set stop being trusted after a bounded time, and a
// failing JWKS endpoint is retried with backoff and logged; keys loaded too
// long ago are not trusted while it fails.
func TestJWKSRemovedKeysAndFailingEndpoint(t *testing.T) {
	testKeys(t)
	srv := newJWKSServer(t, jwks(t, map[string]any{"k1": &rsaKey.PublicKey}))
	const refresh = 200 * time.Millisecond
	logs := &syncBuffer{}
	j := mustJWT(t, auth.JWTConfig{JWKSURL: srv.URL, JWKSRefresh: refresh, JWKSMinInterval: 50 * time.Millisecond,
		JWKSMaxAge: 4 * refresh, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	tok1 := sign(t, jwt.SigningMethodRS256, rsaKey, "k1", claims("alice", time.Minute))
	verify(t, j, tok1, "")

	t.Run("a removed key", func(t *testing.T) {
		srv.set.Store(jwks(t, map[string]any{"k2": &rsaKey2.PublicKey}))
		took, err := eventually(10*refresh, func() error {
			if _, err := j.Verify(nil, tok1); err == nil {
				return context.DeadlineExceeded // still trusted
			}
			return nil
		})
		assert.NoError(t, err)
		t.Logf("k1 refused %v after it left the set (refresh %v)", took.Round(time.Millisecond), refresh)
		verify(t, j, sign(t, jwt.SigningMethodRS256, rsaKey2, "k2", claims("alice", time.Minute)), "")
	})

	t.Run("a failing endpoint", func(t *testing.T) {
		tok2 := sign(t, jwt.SigningMethodRS256, rsaKey2, "k2", claims("alice", time.Minute))
		verify(t, j, tok2, "")
		srv.failing.Store(true)
		before := srv.fetches.Load()
		// Keys are kept while they are younger than JWKSMaxAge…
		start := time.Now()
		for time.Since(start) < 2*refresh {
			verify(t, j, tok2, "")
			time.Sleep(10 * time.Millisecond)
		}
		// …then no longer trusted.
		took, err := eventually(10*refresh, func() error {
			if _, err := j.Verify(nil, tok2); err == nil {
				return context.DeadlineExceeded
			}
			return nil
		})
		assert.NoError(t, err)
		_, err = j.Verify(nil, tok2)
		assert.True(t, "the refusal says why: "+err.Error(), strings.Contains(err.Error(), "503"))
		t.Logf("keys refused %v after 2 refresh periods of failures", took.Round(time.Millisecond))
		// Retried with backoff: fewer fetches than one per minimum interval.
		failingFor := time.Since(start)
		fetched := srv.fetches.Load() - before
		assert.True(t, "backoff", fetched >= 2 && time.Duration(fetched) < failingFor/(50*time.Millisecond))
		assert.Contains(t, "logged", logs.String(), "JWKS")
		assert.Contains(t, "logged", logs.String(), "retry")
		// The endpoint comes back: so do the keys.
		srv.failing.Store(false)
		_, err = eventually(10*time.Second, func() error {
			_, err := j.Verify(nil, tok2)
			return err
		})
		assert.NoError(t, err)
		assert.Contains(t, "recovery logged", logs.String(), "loaded again")
	})
}
