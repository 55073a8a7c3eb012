package main

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

// certReloadCheck is how often, at most, a handshake looks at whether the
// certificate files changed.
var certReloadCheck = time.Second

// certReloader serves the key pair in certFile and keyFile and loads it
// again when either file changes (seen by the first handshake after a
// change, within checkEvery) or on SIGHUP, so a renewed certificate needs no
// restart. A pair that fails to load (a renewal half written, a key that
// does not match) leaves the previous one in service; the next check tries
// again.
type certReloader struct {
	certFile, keyFile string
	checkEvery        time.Duration
	log               *slog.Logger

	mu      sync.Mutex // guards the fields below
	cert    *tls.Certificate
	loaded  fileStamp // of the pair in cert
	checked time.Time // when the files were last looked at
}

// fileStamp tells a file's versions apart without reading it.
type fileStamp struct {
	certMod, keyMod   time.Time
	certSize, keySize int64
}

// newCertReloader loads the pair once: a server does not start without it.
func newCertReloader(certFile, keyFile string, log *slog.Logger) (*certReloader, error) {
	r := &certReloader{certFile: certFile, keyFile: keyFile, checkEvery: certReloadCheck, log: log}
	if err := r.reload(); err != nil {
		return nil, err
	}
	return r, nil
}

// GetCertificate is tls.Config.GetCertificate.
func (r *certReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	due := time.Since(r.checked) >= r.checkEvery
	if due {
		r.checked = time.Now()
	}
	r.mu.Unlock()
	if due {
		if st, err := r.stamp(); err == nil && st != r.current() {
			if err := r.reload(); err != nil {
				r.log.Warn("duet: the certificate files changed but cannot be loaded; serving the previous certificate", "err", err)
			}
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cert, nil
}

func (r *certReloader) current() fileStamp {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.loaded
}

func (r *certReloader) stamp() (fileStamp, error) {
	c, err := os.Stat(r.certFile)
	if err != nil {
		return fileStamp{}, err
	}
	k, err := os.Stat(r.keyFile)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{certMod: c.ModTime(), keyMod: k.ModTime(), certSize: c.Size(), keySize: k.Size()}, nil
}

// reload loads the pair and, if it is good, serves it from now on.
func (r *certReloader) reload() error {
	st, err := r.stamp()
	if err != nil {
		return fmt.Errorf("-tls-cert/-tls-key: %w", err)
	}
	pair, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("-tls-cert/-tls-key: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cert, r.loaded = &pair, st
	r.log.Info("duet: certificate loaded", "cert", r.certFile, "expires", pair.Leaf.NotAfter, "names", pair.Leaf.DNSNames)
	return nil
}

// reloadOnHangup reloads the pair on every SIGHUP until stop is called.
func (r *certReloader) reloadOnHangup() (stop func()) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGHUP)
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for {
			select {
			case <-sig:
				if err := r.reload(); err != nil {
					r.log.Warn("duet: SIGHUP: cannot load the certificate; serving the previous one", "err", err)
				}
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(sig)
		close(done)
		<-finished
	}
}
