// Command gencert writes a self-signed certificate for local HTTPS to
// DIR/cert.pem and DIR/key.pem, unless a valid one for the same hosts is
// already there:
//
//	go run ./server/cmd/duet/internal/gencert -dir bin/tls -hosts localhost,127.0.0.1
//
// `go tool task run:tls` and the Playwright suite over HTTP/2 use it.
package main

import (
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/duet-rt/duet/server/internal/devcert"
)

func main() {
	dir := flag.String("dir", "bin/tls", "directory to write cert.pem and key.pem to")
	hosts := flag.String("hosts", "localhost,127.0.0.1,::1", "comma-separated DNS names and IP addresses the certificate is for")
	validFor := flag.Duration("valid-for", 30*24*time.Hour, "how long the certificate is valid")
	force := flag.Bool("force", false, "write a new certificate even if a valid one is there")
	flag.Parse()
	list := strings.Split(*hosts, ",")
	if !*force && stillGood(*dir, list) {
		return
	}
	certFile, _, err := devcert.WriteFiles(*dir, list, *validFor)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gencert:", err)
		os.Exit(1)
	}
	fmt.Fprintln(os.Stderr, "gencert: wrote", certFile)
}

// stillGood reports whether dir holds a key pair for exactly hosts that is
// valid for at least another day.
func stillGood(dir string, hosts []string) bool {
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"))
	if err != nil {
		return false
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil || time.Until(leaf.NotAfter) < 24*time.Hour {
		return false
	}
	var have []string
	have = append(have, leaf.DNSNames...)
	for _, ip := range leaf.IPAddresses {
		have = append(have, ip.String())
	}
	return slices.Equal(have, hosts)
}
