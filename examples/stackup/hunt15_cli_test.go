package main

import (
	"net"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestHunt15ListenAddressInUseExitsOne: serve told to listen where
// another process listens (an earlier serve still stopping, under a
// supervisor restarting it) exits 1 and says so: the address is busy, as
// a held state directory is. It exited 2, the code for a mistake in the
// flags, which a supervisor configured not to restart on one (systemd's
// RestartPreventExitStatus=2) never tried again.
func TestHunt15ListenAddressInUseExitsOne(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	r := stackup(t, "serve", "--topology", "testdata/shop.yaml", "--repo", "testdata/repo", "--exec", "true",
		"--state-dir", filepath.Join(t.TempDir(), "state"), "--listen", ln.Addr().String())
	assert.Equal(t, exitFailed, r.code, r.stderr)
	assert.Contains(t, r.stderr, "another process listens there (an earlier serve still stopping?); stop it, or give another address")

	r = stackup(t, "serve", "--topology", "testdata/shop.yaml", "--repo", "testdata/repo", "--exec", "true",
		"--state-dir", filepath.Join(t.TempDir(), "state"), "--listen", "127.0.0.1:no-port")
	assert.Equal(t, exitUsage, r.code, "a mistake in the flag is still one: %s", r.stderr)
}
