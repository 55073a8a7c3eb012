package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"sync"
	"time"
)

const (
	defaultJWKSRefresh     = 10 * time.Minute
	defaultJWKSMinInterval = 30 * time.Second
	maxJWKSBytes           = 1 << 20
)

// keySet is a JSON Web Key Set loaded from a file or a URL and kept for a
// while.
type keySet struct {
	file, url string
	client    *http.Client
	refresh   time.Duration
	minGap    time.Duration // JWKSMinInterval

	load1 sync.Mutex // one load at a time

	mu      sync.Mutex // guards keys, loaded, tried, lastErr
	keys    []jwk
	loaded  time.Time // the last successful load
	tried   time.Time // the last load, successful or not
	lastErr error
}

type jwk struct {
	kid string
	alg string // "RS256" or "ES256"
	key crypto.PublicKey
}

func newKeySet(cfg *JWTConfig) *keySet {
	ks := &keySet{file: cfg.JWKSFile, url: cfg.JWKSURL, client: cfg.JWKSClient, refresh: cfg.JWKSRefresh}
	if ks.client == nil {
		ks.client = &http.Client{Timeout: 10 * time.Second}
	}
	if ks.refresh <= 0 {
		ks.refresh = defaultJWKSRefresh
	}
	ks.minGap = cfg.JWKSMinInterval
	if ks.minGap <= 0 {
		ks.minGap = defaultJWKSMinInterval
	}
	return ks
}

// key returns the key named kid (any key of alg's type when kid is empty
// and there is one only) for alg, loading the set again when it is stale
// or lacks the key.
func (ks *keySet) key(r *http.Request, kid, alg string) (crypto.PublicKey, error) {
	ks.mu.Lock()
	k, found := find(ks.keys, kid, alg)
	stale := time.Since(ks.loaded) > ks.refresh
	ks.mu.Unlock()
	if found && !stale {
		return k, nil
	}
	err := ks.load(r)
	ks.mu.Lock()
	k, found = find(ks.keys, kid, alg)
	ks.mu.Unlock()
	if found {
		return k, nil // a failed refresh keeps the keys it had
	}
	if err != nil {
		return nil, fmt.Errorf("no key %s for %s: %w", quoteKid(kid), alg, err)
	}
	return nil, errors.New("no key " + quoteKid(kid) + " for " + alg + " in the key set")
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

// load reads the set again, unless it was read less than minGap
// ago. r (may be nil) bounds a fetch.
func (ks *keySet) load(r *http.Request) error {
	ks.load1.Lock()
	defer ks.load1.Unlock()
	ks.mu.Lock()
	if !ks.tried.IsZero() && time.Since(ks.tried) < ks.minGap {
		err := ks.lastErr
		ks.mu.Unlock()
		return err
	}
	ks.tried = time.Now()
	ks.mu.Unlock()

	keys, err := ks.read(r)
	ks.mu.Lock()
	defer ks.mu.Unlock()
	ks.lastErr = err
	if err != nil {
		return err
	}
	ks.keys, ks.loaded = keys, time.Now()
	return nil
}

func (ks *keySet) read(r *http.Request) ([]jwk, error) {
	var data []byte
	if ks.file != "" {
		var err error
		if data, err = os.ReadFile(ks.file); err != nil {
			return nil, fmt.Errorf("duet/auth: cannot read the JWKS file: %w", err)
		}
	} else {
		req, err := http.NewRequest(http.MethodGet, ks.url, nil)
		if err != nil {
			return nil, fmt.Errorf("duet/auth: bad JWKS URL: %w", err)
		}
		if r != nil {
			req = req.WithContext(r.Context())
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
