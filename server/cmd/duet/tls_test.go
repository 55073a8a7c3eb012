package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/duet-rt/duet/server"
	"github.com/duet-rt/duet/server/internal/devcert"
	"github.com/duet-rt/duet/shared/assert"
)

// serveFlags serves a handler answering with the request's protocol on a
// loopback listener configured by f, as bin/duet does, until the test ends.
func serveFlags(t *testing.T, f *tlsFlags) (addr string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	assert.NoError(t, err)
	srv := server.NewHTTPServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.Proto)
	}), quietLog())
	served, err := f.setup(srv, ln, quietLog())
	if err != nil {
		ln.Close()
		t.Fatalf("setup: %v", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = served.serve()
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		<-done
		assert.NoError(t, served.shutdown(context.Background()))
	})
	return ln.Addr().String()
}

// handshake dials addr with TLS offering protos and returns the server's
// leaf certificate and the protocol negotiated.
func handshake(t *testing.T, addr string, protos ...string) (*x509.Certificate, string) {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: "localhost", InsecureSkipVerify: true, NextProtos: protos})
	assert.NoError(t, err)
	defer c.Close()
	st := c.ConnectionState()
	return st.PeerCertificates[0], st.NegotiatedProtocol
}

// waitForSerial handshakes until the server presents the certificate with
// serial want.
func waitForSerial(t *testing.T, addr string, want *big.Int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		leaf, _ := handshake(t, addr, "h2")
		if leaf.SerialNumber.Cmp(want) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server still presents serial %x, want %x", leaf.SerialNumber, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func serialOf(t *testing.T, certFile string) *big.Int {
	t.Helper()
	b, err := os.ReadFile(certFile)
	assert.NoError(t, err)
	block, _ := pem.Decode(b)
	leaf, err := x509.ParseCertificate(block.Bytes)
	assert.NoError(t, err)
	return leaf.SerialNumber
}

func pool(t *testing.T, certFile string) *x509.CertPool {
	t.Helper()
	b, err := os.ReadFile(certFile)
	assert.NoError(t, err)
	p := x509.NewCertPool()
	assert.True(t, "certificate parses", p.AppendCertsFromPEM(b))
	return p
}

// TestTLSServesHTTP2AndHTTP1: -tls-cert/-tls-key serve HTTP/2 to clients
// that offer h2 and HTTP/1.1 to the others, refuse TLS 1.1, send HSTS only
// with -hsts, and -http-addr redirects to the HTTPS listener.
func TestTLSServesHTTP2AndHTTP1(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, err := devcert.WriteFiles(dir, []string{"localhost", "127.0.0.1"}, time.Hour)
	assert.NoError(t, err)

	for _, hsts := range []bool{false, true} {
		f := &tlsFlags{certFile: certFile, keyFile: keyFile}
		if hsts {
			assert.NoError(t, f.hsts.Set("true"))
		}
		addr := serveFlags(t, f)
		_, proto := handshake(t, addr, "h2", "http/1.1")
		assert.Equal(t, "ALPN with h2 offered", proto, "h2")
		_, proto = handshake(t, addr, "http/1.1")
		assert.Equal(t, "ALPN with only http/1.1 offered", proto, "http/1.1")
		_, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS11})
		assert.True(t, "TLS 1.1 refused", err != nil)

		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool(t, certFile)}, ForceAttemptHTTP2: true}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr}).Get("https://" + addr + "/")
		assert.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, "protocol", string(body), "HTTP/2.0")
		want := ""
		if hsts {
			want = "max-age=63072000"
		}
		assert.Equal(t, "Strict-Transport-Security", resp.Header.Get("Strict-Transport-Security"), want)
	}

	plain, err := net.Listen("tcp", "127.0.0.1:0")
	assert.NoError(t, err)
	httpAddr := plain.Addr().String()
	plain.Close()
	f := &tlsFlags{certFile: certFile, keyFile: keyFile, httpAddr: httpAddr}
	addr := serveFlags(t, f)
	_, port, _ := net.SplitHostPort(addr)
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for method, code := range map[string]int{http.MethodGet: http.StatusMovedPermanently, http.MethodPost: http.StatusPermanentRedirect} {
		req, err := http.NewRequest(method, "http://"+httpAddr+"/rt/sse?channel=a", nil)
		assert.NoError(t, err)
		resp, err := noFollow.Do(req)
		assert.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, method+" status", resp.StatusCode, code)
		assert.Equal(t, method+" Location", resp.Header.Get("Location"), "https://127.0.0.1:"+port+"/rt/sse?channel=a")
	}
}

// TestTLSReloadsChangedFiles: a certificate written over the files is served
// from the next handshake on, without a restart; files that do not load
// leave the previous certificate in service.
func TestTLSReloadsChangedFiles(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, err := devcert.WriteFiles(dir, []string{"localhost"}, time.Hour)
	assert.NoError(t, err)
	addr := serveFlags(t, &tlsFlags{certFile: certFile, keyFile: keyFile})
	waitForSerial(t, addr, serialOf(t, certFile))

	_, _, err = devcert.WriteFiles(dir, []string{"localhost"}, time.Hour)
	assert.NoError(t, err)
	renewed := serialOf(t, certFile)
	waitForSerial(t, addr, renewed)

	// A renewal caught half way: the certificate is not PEM.
	assert.NoError(t, os.WriteFile(certFile, []byte("-----BEGIN CERT"), 0o600))
	time.Sleep(certReloadCheck + 200*time.Millisecond)
	for range 3 {
		leaf, _ := handshake(t, addr, "h2")
		assert.Equal(t, "serial while the files are broken", leaf.SerialNumber.String(), renewed.String())
		time.Sleep(certReloadCheck / 2)
	}
	_, _, err = devcert.WriteFiles(dir, []string{"localhost"}, time.Hour)
	assert.NoError(t, err)
	waitForSerial(t, addr, serialOf(t, certFile))
}

// TestTLSReloadsOnSIGHUP: SIGHUP loads the files again at once, whatever
// the change check's interval.
func TestTLSReloadsOnSIGHUP(t *testing.T) {
	defer func(d time.Duration) { certReloadCheck = d }(certReloadCheck)
	certReloadCheck = time.Hour // only the signal can reload
	dir := t.TempDir()
	certFile, keyFile, err := devcert.WriteFiles(dir, []string{"localhost"}, time.Hour)
	assert.NoError(t, err)
	addr := serveFlags(t, &tlsFlags{certFile: certFile, keyFile: keyFile})
	first := serialOf(t, certFile)
	waitForSerial(t, addr, first)

	_, _, err = devcert.WriteFiles(dir, []string{"localhost"}, time.Hour)
	assert.NoError(t, err)
	leaf, _ := handshake(t, addr, "h2")
	assert.Equal(t, "serial before SIGHUP", leaf.SerialNumber.String(), first.String())
	assert.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGHUP))
	waitForSerial(t, addr, serialOf(t, certFile))
}

// TestH2C: -h2c serves HTTP/2 without TLS to a client with prior knowledge,
// and HTTP/1.1 still.
func TestH2C(t *testing.T) {
	addr := serveFlags(t, &tlsFlags{h2c: true})
	for _, tt := range []struct {
		name  string
		proto func(*http.Protocols)
		want  string
	}{
		{"prior knowledge", func(p *http.Protocols) { p.SetUnencryptedHTTP2(true) }, "HTTP/2.0"},
		{"http/1.1", func(p *http.Protocols) { p.SetHTTP1(true) }, "HTTP/1.1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tr := &http.Transport{Protocols: new(http.Protocols)}
			tt.proto(tr.Protocols)
			defer tr.CloseIdleConnections()
			resp, err := (&http.Client{Transport: tr}).Get("http://" + addr + "/")
			assert.NoError(t, err)
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			assert.Equal(t, "protocol", string(body), tt.want)
		})
	}
}

// TestTLSFlagMistakes: combinations that cannot work are refused with a
// message naming the flags.
func TestTLSFlagMistakes(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, err := devcert.WriteFiles(dir, []string{"localhost"}, time.Hour)
	assert.NoError(t, err)
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"cert without key", []string{"-tls-cert", certFile}, "-tls-cert and -tls-key go together"},
		{"cert and autocert", []string{"-tls-cert", certFile, "-tls-key", keyFile, "-autocert", "example.com"}, "exclude each other"},
		{"http-addr without TLS", []string{"-http-addr", "127.0.0.1:0"}, "-http-addr needs HTTPS"},
		{"hsts without TLS", []string{"-hsts"}, "-hsts needs HTTPS"},
		{"h2c with TLS", []string{"-h2c", "-tls-cert", certFile, "-tls-key", keyFile}, "-h2c is for plain HTTP"},
		{"missing files", []string{"-tls-cert", filepath.Join(dir, "none.pem"), "-tls-key", keyFile}, "no such file"},
		{"key of another pair", []string{"-tls-cert", certFile, "-tls-key", certFile}, "-tls-cert/-tls-key"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := run(append([]string{"-addr", "127.0.0.1:0"}, tt.args...))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("run %v: %v, want an error containing %q", tt.args, err, tt.want)
			}
		})
	}
}

func quietLog() *slog.Logger { return slog.New(slog.DiscardHandler) }
