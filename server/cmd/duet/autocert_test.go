package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/duet-rt/duet/shared/assert"
	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"
	"github.com/miekg/dns"
)

// pebble is Let's Encrypt's test ACME CA running in this process: its ACME
// directory on an httptest TLS server, its validation authority checking
// challenges on the loopback ports given, for real.
type pebble struct {
	directory string         // ACME directory URL
	trustFile string         // PEM of the directory server's certificate, for SSL_CERT_FILE
	roots     *x509.CertPool // Pebble's root: what the certificates it issues chain to
	log       *syncBuffer
}

// acmeHost is the name the tests get certificates for. autocert wants a
// name with a dot, which the system resolver does not map to loopback:
// Pebble asks loopbackDNS instead, and the tests' clients dial loopback.
const acmeHost = "node.duet.test"

// loopbackDNS serves A 127.0.0.1 (and no AAAA) for every name over TCP
// (which Pebble's resolver uses) on a loopback port, until the test ends.
// It returns its address.
func loopbackDNS(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	assert.NoError(t, err)
	srv := &dns.Server{Listener: ln, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		for _, question := range q.Question {
			if question.Qtype == dns.TypeA {
				m.Answer = append(m.Answer, &dns.A{
					Hdr: dns.RR_Header{Name: question.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 1},
					A:   net.IPv4(127, 0, 0, 1),
				})
			}
		}
		_ = w.WriteMsg(m)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go func() { _ = srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { _ = srv.Shutdown() })
	return ln.Addr().String()
}

// startPebble starts a CA that validates HTTP-01 on httpPort and
// TLS-ALPN-01 on tlsPort of 127.0.0.1 and issues certificates valid for
// validity.
func startPebble(t *testing.T, httpPort, tlsPort int, validity time.Duration) *pebble {
	t.Helper()
	t.Setenv("PEBBLE_VA_NOSLEEP", "1") // validate at once, not after up to 15s
	t.Setenv("PEBBLE_AUTHZREUSE", "0") // every order, renewals too, proves control again
	t.Setenv("PEBBLE_WFE_NONCEREJECT", "0")
	p := &pebble{log: new(syncBuffer)}
	logger := log.New(p.log, "pebble ", log.Lmicroseconds)
	store := db.NewMemoryStore()
	authority := ca.New(logger, store, "", "ecdsa", 0, 1, map[string]ca.Profile{
		"default": {Description: "short-lived, for renewal tests", ValidityPeriod: uint64(validity / time.Second)},
	})
	validator := va.New(logger, httpPort, tlsPort, false, loopbackDNS(t), store)
	front := wfe.New(logger, store, validator, authority, []string{"pebble.letsencrypt.org"}, false, false, 1, 1)
	srv := httptest.NewTLSServer(front.Handler())
	t.Cleanup(srv.Close)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pebble:\n%s", p.log.String())
		}
	})
	p.directory = srv.URL + wfe.DirectoryPath
	p.trustFile = filepath.Join(t.TempDir(), "pebble-wfe.pem")
	assert.NoError(t, os.WriteFile(p.trustFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600))
	p.roots = x509.NewCertPool()
	p.roots.AddCert(authority.GetRootCert(0).Cert)
	return p
}

// freePort returns a loopback TCP port nothing listens on (for a moment).
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	assert.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestAutocertPebble: bin/duet -autocert gets a certificate from a real
// ACME CA (Pebble) by each challenge, serves HTTP/2 and SSE with it to a
// client that trusts only that CA, and renews it before it expires without a
// restart.
func TestAutocertPebble(t *testing.T) {
	if testing.Short() {
		t.Skip("starts bin/duet and an ACME CA")
	}
	tests := []struct {
		name     string
		httpAddr bool // -http-addr: HTTP-01 possible
		alpnOpen bool // the CA reaches the HTTPS listener: TLS-ALPN-01 possible
	}{
		{"tls-alpn-01", false, true},
		{"http-01", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const validity = 12 * time.Second // autocert renews a third before expiry
			tlsPort, httpPort, closedPort := freePort(t), freePort(t), freePort(t)
			caTLSPort := tlsPort
			if !tt.alpnOpen {
				caTLSPort = closedPort
			}
			ca := startPebble(t, httpPort, caTLSPort, validity)
			dir := t.TempDir()
			args := []string{
				"-addr", "127.0.0.1:" + strconv.Itoa(tlsPort),
				"-autocert", acmeHost, "-autocert-dir", dir,
				"-autocert-email", "ops@example.com", "-acme-directory", ca.directory,
			}
			if tt.httpAddr {
				args = append(args, "-http-addr", "127.0.0.1:"+strconv.Itoa(httpPort))
			}
			startBinary(t, []string{"SSL_CERT_FILE=" + ca.trustFile}, args...)

			tr := &http.Transport{
				TLSClientConfig:   &tls.Config{RootCAs: ca.roots},
				ForceAttemptHTTP2: true,
				DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
					_, port, _ := net.SplitHostPort(addr)
					return (&net.Dialer{}).DialContext(ctx, network, "127.0.0.1:"+port)
				},
			}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
			base := "https://" + acmeHost + ":" + strconv.Itoa(tlsPort)
			var resp *http.Response
			deadline := time.Now().Add(60 * time.Second)
			for {
				var err error
				resp, err = client.Get(base + "/rt/healthz")
				if err == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no certificate: %v", err)
				}
				time.Sleep(200 * time.Millisecond)
			}
			resp.Body.Close()
			assert.Equal(t, "healthz", resp.StatusCode, http.StatusOK)
			assert.Equal(t, "protocol", resp.Proto, "HTTP/2.0")
			first := resp.TLS.PeerCertificates[0]
			assert.Equal(t, "names", strings.Join(first.DNSNames, ","), acmeHost)
			httpTried := strings.Contains(ca.log.String(), "Attempting to validate w/ HTTP")
			assert.Equal(t, "the CA validated over HTTP", httpTried, tt.httpAddr)

			// Serve: an SSE stream over HTTP/2 with the issued certificate.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/rt/sse?channel=tls", nil)
			assert.NoError(t, err)
			sse, err := client.Do(req)
			assert.NoError(t, err)
			line, err := bufio.NewReader(sse.Body).ReadString('\n')
			assert.NoError(t, err)
			assert.Equal(t, "first SSE line", line, "event: duet.hello\n")
			cancel()
			sse.Body.Close()

			// Renew: a new certificate before the first one expires, on
			// new connections, from the same process.
			for {
				tr.CloseIdleConnections()
				resp, err := client.Get(base + "/rt/healthz")
				assert.NoError(t, err)
				resp.Body.Close()
				leaf := resp.TLS.PeerCertificates[0]
				if leaf.SerialNumber.Cmp(first.SerialNumber) != 0 {
					assert.True(t, "renewed before expiry", time.Now().Before(first.NotAfter))
					assert.True(t, "renewed certificate outlives the first", leaf.NotAfter.After(first.NotAfter))
					break
				}
				if time.Now().After(first.NotAfter) {
					t.Fatalf("not renewed before the certificate expired at %v", first.NotAfter)
				}
				time.Sleep(250 * time.Millisecond)
			}
			_, err = os.Stat(filepath.Join(dir, acmeHost))
			assert.NoError(t, err) // the certificate cache
		})
	}
}
