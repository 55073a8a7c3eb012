package main

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/duet-rt/duet/server"
	"github.com/duet-rt/duet/shared/assert"
)

func TestAdminFlags(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		assert.NoError(t, os.WriteFile(p, []byte(content), 0o600))
		return p
	}
	parse := func(args ...string) (*server.Config, error) {
		fs := flag.NewFlagSet("duet", flag.ContinueOnError)
		var f adminFlags
		f.register(fs)
		assert.NoError(t, fs.Parse(args))
		cfg := &server.Config{}
		return cfg, f.apply(cfg)
	}
	cfg, err := parse()
	assert.NoError(t, err)
	assert.Equal(t, "no flag: no admin API", cfg.AdminKey, "")
	cfg, err = parse("-admin-key-file", write("k", "  0123456789abcdef0123\n"))
	assert.NoError(t, err)
	assert.Equal(t, "key, white space trimmed", cfg.AdminKey, "0123456789abcdef0123")
	_, err = parse("-admin-key-file", write("short", "abc\n"))
	assert.True(t, "a short key is refused", err != nil)
	_, err = parse("-admin-key-file", filepath.Join(dir, "missing"))
	assert.True(t, "a missing file is refused", err != nil)
}
