package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"
)

// tlsFlags are bin/duet's HTTPS and HTTP/2 flags. Without any of them the
// server speaks plain HTTP/1.1, as before.
type tlsFlags struct {
	certFile, keyFile string
	h2c               bool
	hsts              hstsFlag
	httpAddr          string
	autocertHosts     string
	autocertDir       string
	autocertEmail     string
	acmeDirectory     string
}

func (f *tlsFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.certFile, "tls-cert", "", "serve HTTPS (HTTP/2 and HTTP/1.1) with this PEM certificate chain; reloaded when the file changes or on SIGHUP")
	fs.StringVar(&f.keyFile, "tls-key", "", "the PEM private key of -tls-cert")
	fs.BoolVar(&f.h2c, "h2c", false, "also accept HTTP/2 without TLS (prior knowledge), for a proxy in front that speaks it; plain HTTP only")
	fs.Var(&f.hsts, "hsts", "send Strict-Transport-Security on HTTPS responses: -hsts for max-age 2 years, or -hsts=DURATION (default off)")
	fs.StringVar(&f.httpAddr, "http-addr", "", "with HTTPS, also listen for plain HTTP here (e.g. :80): redirects to HTTPS, and answers ACME HTTP-01 challenges with -autocert")
	fs.StringVar(&f.autocertHosts, "autocert", "", "comma-separated host names to get certificates for from an ACME CA (Let's Encrypt by default) with TLS-ALPN-01, and HTTP-01 on -http-addr; implies accepting the CA's terms of service")
	fs.StringVar(&f.autocertDir, "autocert-dir", "", "directory where -autocert keeps its account key and certificates (default: duet-autocert in the user's cache directory)")
	fs.StringVar(&f.autocertEmail, "autocert-email", "", "contact address given to the ACME CA (expiry notices)")
	fs.StringVar(&f.acmeDirectory, "acme-directory", autocert.DefaultACMEDirectory, "ACME directory URL of the CA -autocert uses")
}

// hstsFlag is -hsts: off by default, "-hsts" alone for two years, or a
// duration.
type hstsFlag struct{ maxAge time.Duration }

const defaultHSTS = 2 * 365 * 24 * time.Hour

func (h *hstsFlag) IsBoolFlag() bool { return true }

func (h *hstsFlag) String() string {
	if h == nil || h.maxAge == 0 {
		return ""
	}
	return h.maxAge.String()
}

func (h *hstsFlag) Set(s string) error {
	if b, err := strconv.ParseBool(s); err == nil {
		h.maxAge = 0
		if b {
			h.maxAge = defaultHSTS
		}
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return fmt.Errorf("want true, false or a duration such as 8760h")
	}
	h.maxAge = d
	return nil
}

// listener is how bin/duet serves: plain HTTP, or HTTPS with an optional
// plain HTTP listener beside it.
type listener struct {
	scheme   string
	serve    func() error // serves srv on its listener until Shutdown
	shutdown func(context.Context) error
}

// setup configures srv (TLS, HTTP/2, h2c, HSTS) on ln as the flags say, and
// starts what they need beside it: the -http-addr listener, certificate
// reloading.
func (f *tlsFlags) setup(srv *http.Server, ln net.Listener, log *slog.Logger) (*listener, error) {
	tlsOn := f.certFile != "" || f.keyFile != "" || f.autocertHosts != ""
	switch {
	case (f.certFile == "") != (f.keyFile == ""):
		return nil, errors.New("-tls-cert and -tls-key go together")
	case f.certFile != "" && f.autocertHosts != "":
		return nil, errors.New("-tls-cert and -autocert exclude each other")
	case !tlsOn && f.httpAddr != "":
		return nil, errors.New("-http-addr needs HTTPS (-tls-cert or -autocert)")
	case !tlsOn && f.hsts.maxAge > 0:
		return nil, errors.New("-hsts needs HTTPS (-tls-cert or -autocert)")
	case tlsOn && f.h2c:
		return nil, errors.New("-h2c is for plain HTTP; HTTPS speaks HTTP/2 already")
	}
	if !tlsOn {
		if f.h2c {
			p := new(http.Protocols)
			p.SetHTTP1(true)
			p.SetUnencryptedHTTP2(true)
			srv.Protocols = p
		}
		return &listener{scheme: "http", serve: func() error { return srv.Serve(ln) }, shutdown: noShutdown}, nil
	}

	cfg := modernTLS()
	var stops []func()
	var httpHandler http.Handler = redirectToHTTPS(ln.Addr())
	if f.autocertHosts != "" {
		m, err := f.autocertManager(log)
		if err != nil {
			return nil, err
		}
		cfg.GetCertificate = m.GetCertificate
		cfg.NextProtos = []string{"h2", "http/1.1", acme.ALPNProto} // TLS-ALPN-01
		if f.httpAddr != "" {
			httpHandler = m.HTTPHandler(httpHandler) // HTTP-01
		}
	} else {
		r, err := newCertReloader(f.certFile, f.keyFile, log)
		if err != nil {
			return nil, err
		}
		cfg.GetCertificate = r.GetCertificate
		stops = append(stops, r.reloadOnHangup())
	}
	srv.TLSConfig = cfg
	if f.hsts.maxAge > 0 {
		srv.Handler = withHSTS(srv.Handler, f.hsts.maxAge)
	}

	shutdown := noShutdown
	if f.httpAddr != "" {
		hln, err := net.Listen("tcp", f.httpAddr)
		if err != nil {
			return nil, fmt.Errorf("-http-addr: %w", err)
		}
		plain := &http.Server{
			Handler:           httpHandler,
			ReadHeaderTimeout: srv.ReadHeaderTimeout,
			IdleTimeout:       srv.IdleTimeout,
			MaxHeaderBytes:    srv.MaxHeaderBytes,
			ErrorLog:          srv.ErrorLog,
		}
		go func() {
			if err := plain.Serve(hln); !errors.Is(err, http.ErrServerClosed) {
				log.Error("duet: the -http-addr server stopped", "err", err)
			}
		}()
		log.Info("duet: redirecting to HTTPS", "url", "http://"+hln.Addr().String()+"/")
		shutdown = plain.Shutdown
	}
	return &listener{
		scheme: "https",
		serve:  func() error { return srv.ServeTLS(ln, "", "") },
		shutdown: func(ctx context.Context) error {
			for _, stop := range stops {
				stop()
			}
			return shutdown(ctx)
		},
	}, nil
}

func noShutdown(context.Context) error { return nil }

// modernTLS is TLS 1.2 and 1.3 only, and on TLS 1.2 only forward-secret
// AEAD suites (TLS 1.3's are all of that kind and not configurable).
func modernTLS() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, // HTTP/2 requires it
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
			tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
	}
}

// autocertManager is the ACME client of -autocert.
func (f *tlsFlags) autocertManager(log *slog.Logger) (*autocert.Manager, error) {
	var hosts []string
	for _, h := range splitList(f.autocertHosts) {
		hosts = append(hosts, strings.ToLower(h))
	}
	if len(hosts) == 0 {
		return nil, errors.New("-autocert: no host names")
	}
	dir := f.autocertDir
	if dir == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			return nil, fmt.Errorf("-autocert-dir: none given and %w", err)
		}
		dir = filepath.Join(cache, "duet-autocert")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("-autocert-dir: %w", err)
	}
	allowed := autocert.HostWhitelist(hosts...)
	log.Info("duet: certificates from ACME", "hosts", hosts, "directory", f.acmeDirectory, "cache", dir)
	return &autocert.Manager{
		Prompt: autocert.AcceptTOS,
		Cache:  autocert.DirCache(dir),
		// The Host of an HTTP-01 request carries a port when the CA
		// validates on another one than 80 (a test CA).
		HostPolicy: func(ctx context.Context, host string) error {
			if h, _, err := net.SplitHostPort(host); err == nil {
				host = h
			}
			return allowed(ctx, host)
		},
		Email:  f.autocertEmail,
		Client: &acme.Client{DirectoryURL: f.acmeDirectory, UserAgent: "duet"},
	}, nil
}

// redirectToHTTPS sends plain HTTP requests to the same URL on the HTTPS
// listener at tlsAddr (its port, unless 443).
func redirectToHTTPS(tlsAddr net.Addr) http.Handler {
	_, port, _ := net.SplitHostPort(tlsAddr.String())
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		} else {
			host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
		}
		if port != "443" && port != "" {
			host = net.JoinHostPort(host, port)
		}
		code := http.StatusMovedPermanently
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			code = http.StatusPermanentRedirect // keeps the method and body
		}
		http.Redirect(w, r, "https://"+host+r.URL.RequestURI(), code)
	})
}

// withHSTS adds Strict-Transport-Security to every response of next.
func withHSTS(next http.Handler, maxAge time.Duration) http.Handler {
	value := "max-age=" + strconv.FormatInt(int64(maxAge/time.Second), 10)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Strict-Transport-Security", value)
		next.ServeHTTP(w, r)
	})
}
