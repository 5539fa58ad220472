package main

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/version"
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

// TestHunt15InventoryKeepsWindowsLineEnds: a topology file edited on
// Windows, every line ending in CR LF, came back from the first step
// learnt with LF endings throughout, so that version control showed
// every line of it changed. Its lines now keep their ends, in each
// format the inventory writes; a file of LF lines keeps them.
func TestHunt15InventoryKeepsWindowsLineEnds(t *testing.T) {
	e := newApplyEnv(t)
	yamlData, err := os.ReadFile(e.topo)
	require.NoError(t, err)
	m, err := topology.Load(e.topo)
	require.NoError(t, err)
	var jsonData bytes.Buffer
	require.NoError(t, m.WriteJSON(&jsonData))
	for name, data := range map[string][]byte{"shop.yaml": yamlData, "shop.json": jsonData.Bytes()} {
		for _, crlf := range []bool{true, false} {
			written := data
			if crlf {
				written = bytes.ReplaceAll(data, []byte("\n"), []byte("\r\n"))
			}
			path := filepath.Join(t.TempDir(), name)
			require.NoError(t, os.WriteFile(path, written, 0o644))
			inv := newInventory(&inputFlags{topology: path})
			require.NoError(t, inv.Set(t.Context(), "tomcat-1", version.MustParse("10.1.34")))
			got, err := os.ReadFile(path)
			require.NoError(t, err)
			lf, crlfs := bytes.Count(got, []byte("\n")), bytes.Count(got, []byte("\r\n"))
			if crlf {
				assert.Equal(t, lf, crlfs, "%s: every line ends in CR LF:\n%q", name, got)
			} else {
				assert.Zero(t, crlfs, "%s", name)
			}
			back, err := topology.Load(path)
			require.NoError(t, err)
			n, err := back.Node(t.Context(), "tomcat-1")
			require.NoError(t, err)
			assert.Equal(t, "10.1.34", n.Version.String())
		}
	}
}

// TestHunt15UnknownTemplateFieldNamesNoGoType: a command template naming
// a field a step does not have was refused with text/template's "can't
// evaluate field Nope in type main.stepData", the program's own Go type,
// which means nothing to its user. It says "in a step" now.
func TestHunt15UnknownTemplateFieldNamesNoGoType(t *testing.T) {
	e := newApplyEnv(t)
	r := stackup(t, e.args("--exec", "echo {{.Nope}}")...)
	assert.Equal(t, exitUsage, r.code, r.stderr)
	assert.Contains(t, r.stderr, `--exec: word "{{.Nope}}": for a sample platform step: `)
	assert.Contains(t, r.stderr, "can't evaluate field Nope in a step")
	assert.NotContains(t, r.stderr, "stepData")
}
