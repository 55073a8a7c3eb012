package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"os"
	"sync"
	"time"
)

const (
	defaultJWKSRefresh     = 10 * time.Minute
	defaultJWKSMinInterval = 30 * time.Second
	defaultJWKSTimeout     = 10 * time.Second
	defaultJWKSMaxAge      = time.Hour
	maxJWKSBackoff         = 5 * time.Minute
	maxJWKSBytes           = 1 << 20
)

// keySet is a JSON Web Key Set loaded from a file or a URL and kept for a
// while.
//
// Loads run one at a time, on their own context and timeout: a request
// that triggers one and leaves does not make it fail, and waits for it
// only as long as it stays. A load starts when a token names a key the set
// lacks, or uses a set older than refresh; at most one per minGap, and
// after failures only once the backoff has passed, so tokens naming
// made-up keys cannot hammer the endpoint. Keys are trusted until maxAge
// after the last successful load: a key removed from the set is dropped
// at the next load, and trusted no longer than maxAge while loads fail.
type keySet struct {
	file, url string
	client    *http.Client
	refresh   time.Duration // JWKSRefresh
	minGap    time.Duration // JWKSMinInterval
	timeout   time.Duration // JWKSTimeout
	maxAge    time.Duration // JWKSMaxAge
	log       *slog.Logger

	mu       sync.Mutex // guards everything below
	keys     []jwk
	loaded   time.Time // the last successful load
	tried    time.Time // the start of the last load, successful or not
	failures int       // failed loads since the last successful one
	lastErr  error     // the last load's error, nil after a success
	loading  *keyLoad  // the load under way, or nil
}

// keyLoad is one load of the set; done is closed when it ends.
type keyLoad struct{ done chan struct{} }

type jwk struct {
	kid string
	alg string // "RS256" or "ES256"
	key crypto.PublicKey
}

func newKeySet(cfg *JWTConfig) *keySet {
	ks := &keySet{file: cfg.JWKSFile, url: cfg.JWKSURL, client: cfg.JWKSClient,
		refresh: cfg.JWKSRefresh, minGap: cfg.JWKSMinInterval, timeout: cfg.JWKSTimeout, maxAge: cfg.JWKSMaxAge, log: cfg.Logger}
	if ks.client == nil {
		ks.client = &http.Client{Timeout: defaultJWKSTimeout}
	}
	if ks.refresh <= 0 {
		ks.refresh = defaultJWKSRefresh
	}
	if ks.minGap <= 0 {
		ks.minGap = defaultJWKSMinInterval
	}
	if ks.timeout <= 0 {
		ks.timeout = defaultJWKSTimeout
	}
	if ks.maxAge <= 0 {
		ks.maxAge = defaultJWKSMaxAge
	}
	ks.maxAge = max(ks.maxAge, ks.refresh)
	if ks.log == nil {
		ks.log = slog.Default()
	}
	return ks
}

// key returns the key named kid (any key of alg's type when kid is empty
// and there is one only) for alg. A set that lacks it, or is older than
// maxAge, is loaded again (if a load may start) and waited for while ctx
// lasts; a set older than refresh is loaded again in the background.
func (ks *keySet) key(ctx context.Context, kid, alg string) (crypto.PublicKey, error) {
	ks.mu.Lock()
	now := time.Now()
	k, found := ks.findLocked(kid, alg, now)
	if found && now.Sub(ks.loaded) <= ks.refresh {
		ks.mu.Unlock()
		return k, nil
	}
	l := ks.startLocked(now)
	ks.mu.Unlock()
	if found {
		return k, nil // stale but not too old: the load runs behind it
	}
	if l != nil {
		select {
		case <-l.done:
		case <-ctx.Done():
			return nil, fmt.Errorf("no key %s for %s: the request ended while the key set was loading: %w", quoteKid(kid), alg, ctx.Err())
		}
	}
	ks.mu.Lock()
	defer ks.mu.Unlock()
	now = time.Now()
	if k, found = ks.findLocked(kid, alg, now); found {
		return k, nil
	}
	switch {
	case ks.lastErr != nil && now.Sub(ks.loaded) > ks.maxAge:
		return nil, fmt.Errorf("no key %s for %s: the key set has not loaded for %s, over JWKSMaxAge, and keys that old are not trusted: %w",
			quoteKid(kid), alg, ks.age(now), ks.lastErr)
	case ks.lastErr != nil:
		return nil, fmt.Errorf("no key %s for %s: %w", quoteKid(kid), alg, ks.lastErr)
	}
	return nil, errors.New("no key " + quoteKid(kid) + " for " + alg + " in the key set (loaded " + ks.age(now) + " ago; loaded again at most every " + ks.minGap.String() + ")")
}

// age says how long ago the set was last loaded.
func (ks *keySet) age(now time.Time) string {
	if ks.loaded.IsZero() {
		return "never"
	}
	return now.Sub(ks.loaded).Round(time.Millisecond).String()
}

// findLocked finds a key in the set, unless the set is older than maxAge.
func (ks *keySet) findLocked(kid, alg string, now time.Time) (crypto.PublicKey, bool) {
	if ks.loaded.IsZero() || now.Sub(ks.loaded) > ks.maxAge {
		return nil, false
	}
	return find(ks.keys, kid, alg)
}

func quoteKid(kid string) string {
	if kid == "" {
		return "(no kid)"
	}
	if len(kid) > 64 {
		kid = kid[:64]
	}
	return `"` + kid + `"`
}

func find(keys []jwk, kid, alg string) (crypto.PublicKey, bool) {
	var match crypto.PublicKey
	n := 0
	for _, k := range keys {
		if k.alg != alg || (kid != "" && k.kid != kid) {
			continue
		}
		match = k.key
		n++
	}
	return match, n == 1
}

// startLocked returns the load under way, or starts one if it may: minGap
// after the last one, or after a failure the backoff. Nil means none.
func (ks *keySet) startLocked(now time.Time) *keyLoad {
	if ks.loading != nil {
		return ks.loading
	}
	if !ks.tried.IsZero() && now.Sub(ks.tried) < ks.backoffLocked() {
		return nil
	}
	l := &keyLoad{done: make(chan struct{})}
	ks.loading, ks.tried = l, now
	go ks.run(l)
	return l
}

// backoffLocked is how long after the start of the last load the next may
// start: minGap, doubled for each failure since the last success, up to
// maxJWKSBackoff (but never under minGap).
func (ks *keySet) backoffLocked() time.Duration {
	d := ks.minGap
	for i := 1; i < ks.failures && d < maxJWKSBackoff; i++ {
		d *= 2
	}
	return max(ks.minGap, min(d, maxJWKSBackoff))
}

// run loads the set on its own context, records the outcome and logs
// failures and recoveries.
func (ks *keySet) run(l *keyLoad) {
	defer close(l.done)
	ctx, cancel := context.WithTimeout(context.Background(), ks.timeout)
	keys, err := ks.read(ctx)
	cancel()
	ks.mu.Lock()
	defer ks.mu.Unlock()
	ks.loading, ks.lastErr = nil, err
	now := time.Now()
	if err != nil {
		ks.failures++
		if !ks.loaded.IsZero() { // the first load's failure is NewJWT's error
			ks.log.Warn("duet/auth: cannot load the JWKS; the keys loaded before stay trusted until JWKSMaxAge after that load",
				"err", err, "failures", ks.failures, "loaded", ks.age(now)+" ago", "max_age", ks.maxAge, "retry_after", ks.backoffLocked())
		}
		return
	}
	if ks.failures > 0 && !ks.loaded.IsZero() {
		ks.log.Info("duet/auth: JWKS loaded again", "after_failures", ks.failures, "keys", len(keys))
	}
	ks.keys, ks.loaded, ks.failures = keys, now, 0
}

// load loads the set now and waits for it: NewJWT's first load.
func (ks *keySet) load() error {
	ks.mu.Lock()
	l := ks.startLocked(time.Now())
	ks.mu.Unlock()
	<-l.done
	ks.mu.Lock()
	defer ks.mu.Unlock()
	return ks.lastErr
}

func (ks *keySet) read(ctx context.Context) ([]jwk, error) {
	var data []byte
	if ks.file != "" {
		var err error
		if data, err = os.ReadFile(ks.file); err != nil {
			return nil, fmt.Errorf("duet/auth: cannot read the JWKS file: %w", err)
		}
	} else {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, ks.url, nil)
		if err != nil {
			return nil, fmt.Errorf("duet/auth: bad JWKS URL: %w", err)
		}
		req.Header.Set("Accept", "application/json")
		resp, err := ks.client.Do(req)
		if err != nil {
			return nil, fmt.Errorf("duet/auth: cannot fetch the JWKS: %w", err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, errors.New("duet/auth: fetching the JWKS answered " + resp.Status)
		}
		if data, err = io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1)); err != nil {
			return nil, fmt.Errorf("duet/auth: cannot read the JWKS: %w", err)
		}
		if len(data) > maxJWKSBytes {
			return nil, errors.New("duet/auth: the JWKS is over 1 MiB")
		}
	}
	return parseJWKS(data)
}

// parseJWKS reads the RSA and EC P-256 signature keys of a JWKS; others
// (encryption keys, other curves, symmetric keys) are skipped.
func parseJWKS(data []byte) ([]jwk, error) {
	var set struct {
		Keys []struct {
			Kty string `json:"kty"`
			Kid string `json:"kid"`
			Alg string `json:"alg"`
			Use string `json:"use"`
			N   string `json:"n"`
			E   string `json:"e"`
			Crv string `json:"crv"`
			X   string `json:"x"`
			Y   string `json:"y"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("duet/auth: the JWKS is not a JSON key set: %w", err)
	}
	var out []jwk
	b64 := base64.RawURLEncoding
	for _, k := range set.Keys {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		var key crypto.PublicKey
		switch k.Kty {
		case "RSA":
			n, err1 := b64.DecodeString(k.N)
			e, err2 := b64.DecodeString(k.E)
			if err1 != nil || err2 != nil || len(e) == 0 || len(e) > 4 {
				return nil, errors.New("duet/auth: JWKS key " + quoteKid(k.Kid) + " has a malformed n or e")
			}
			key = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
		case "EC":
			if k.Crv != "P-256" {
				continue
			}
			x, err1 := b64.DecodeString(k.X)
			y, err2 := b64.DecodeString(k.Y)
			if err1 != nil || err2 != nil || len(x) != 32 || len(y) != 32 {
				return nil, errors.New("duet/auth: JWKS key " + quoteKid(k.Kid) + " has a malformed x or y")
			}
			pk, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
			if err != nil {
				return nil, errors.New("duet/auth: JWKS key " + quoteKid(k.Kid) + " is not a point of P-256")
			}
			key = pk
		default:
			continue
		}
		if err := checkKey(key); err != nil {
			return nil, fmt.Errorf("duet/auth: JWKS key %s: %w", quoteKid(k.Kid), err)
		}
		alg := algOf(key)
		if k.Alg != "" && k.Alg != alg {
			continue // meant for another algorithm: never use it for this one
		}
		out = append(out, jwk{kid: k.Kid, alg: alg, key: key})
	}
	if len(out) == 0 {
		return nil, errors.New("duet/auth: the JWKS holds no RSA or EC P-256 signature key")
	}
	return out, nil
}
