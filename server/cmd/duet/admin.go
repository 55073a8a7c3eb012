package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/duet-rt/duet/server"
)

// adminFlags turn on the admin API (/rt/admin/, README "Server-side
// control"): off unless -admin-key-file names a file holding the key.
type adminFlags struct {
	keyFile string
}

func (f *adminFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.keyFile, "admin-key-file", "", "file holding the admin API's bearer key (at least 16 bytes; surrounding white space ignored): serves /rt/admin/ (default: no admin API)")
}

// apply reads the key into cfg.
func (f *adminFlags) apply(cfg *server.Config) error {
	if f.keyFile == "" {
		return nil
	}
	p, err := os.ReadFile(f.keyFile)
	if err != nil {
		return fmt.Errorf("-admin-key-file: %w", err)
	}
	key := strings.TrimSpace(string(p))
	if len(key) < 16 {
		return fmt.Errorf("-admin-key-file: the key in %s is %d bytes; use at least 16 (e.g. openssl rand -hex 32)", f.keyFile, len(key))
	}
	cfg.AdminKey = key
	return nil
}
