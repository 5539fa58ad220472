//go:build unix

package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestHunt18StateDirOthersCanWrite: serve took as its state directory
// one that other users of the host can write to (one made in /tmp by
// someone else, say), or whose plans or runs directory they can: there
// they could plant a plan and a run record of their own, which serve
// lists, offers to resume and, with --resume, runs at start, its steps
// through --exec. serve now refuses such a directory, as it refuses a
// token file that others can read, naming it, its mode and the chmod
// that mends it, and writes nothing in it.
func TestHunt18StateDirOthersCanWrite(t *testing.T) {
	unsetToken(t)
	for _, tt := range []struct {
		name, writable string // writable: the directory others can write
	}{
		{"state-dir", "."},
		{"plans", "plans"},
		{"runs", "runs"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "state")
			require.NoError(t, os.Mkdir(dir, 0o700))
			if tt.writable != "." {
				require.NoError(t, os.Mkdir(filepath.Join(dir, tt.writable), 0o700))
			}
			writable := filepath.Join(dir, tt.writable)
			require.NoError(t, os.Chmod(writable, 0o1777)) // as /tmp: not through the umask
			before, err := os.ReadDir(dir)
			require.NoError(t, err)

			args, ran := serveArgs(t, "--state-dir", dir, "--listen", "127.0.0.1:0")
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			var stdout, stderr strings.Builder
			code := run(ctx, args, &stdout, &stderr)
			assert.Equal(t, exitUsage, code, stderr.String())
			assert.Contains(t, stderr.String(), "--state-dir: "+filepath.Clean(writable)+": other users can write in it (mode 0777), and plant plans and runs: chmod o-w "+filepath.Clean(writable))
			assert.NotContains(t, stdout.String(), "listening on")
			assert.NoFileExists(t, ran)
			after, err := os.ReadDir(dir)
			require.NoError(t, err)
			assert.Equal(t, len(before), len(after), "nothing written in the directory")
		})
	}
	// Its owner's, and its group's, it is taken.
	dir := filepath.Join(t.TempDir(), "state")
	require.NoError(t, os.Mkdir(dir, 0o700))
	require.NoError(t, os.Chmod(dir, 0o770))
	state, err := openStateDir(dir)
	require.NoError(t, err)
	state.Close()
}

// TestHunt18StateDirOfAnotherUser: serve run as root took a state
// directory that another user owns (one made in /tmp ahead of it), whose
// owner can rename its plans and runs directories away and put their own
// in their place. It is refused now, naming its owner.
func TestHunt18StateDirOfAnotherUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root, to give a directory to another user")
	}
	dir := filepath.Join(t.TempDir(), "state")
	require.NoError(t, os.Mkdir(dir, 0o755))
	require.NoError(t, os.Chown(dir, 65534, 65534))
	_, err := openStateDir(dir)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "--state-dir: "+dir+": it belongs to user 65534, who can replace what serve keeps in it: give a directory of your own")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, entries, "nothing written in the directory")
}

// TestHunt18TLSKeyOthersCanRead: serve refused a token file that other
// users of the host can read, but took a --tls-key file that they can
// (mode 0644, as a key copied with the certificate often is): they could
// then pose as the server, and read the token clients send it. It is
// refused now, as the token file is, naming the file, its mode and the
// chmod that mends it; a key its owner and group only can read is taken.
func TestHunt18TLSKeyOthersCanRead(t *testing.T) {
	unsetToken(t)
	certFile, keyFile, _ := selfSigned(t, t.TempDir())
	for _, mode := range []os.FileMode{0o644, 0o604, 0o666} {
		require.NoError(t, os.Chmod(keyFile, mode))
		args, ran := serveArgs(t, "--tls-cert", certFile, "--tls-key", keyFile, "--listen", "127.0.0.1:0")
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		var stdout, stderr strings.Builder
		code := run(ctx, args, &stdout, &stderr)
		assert.Equal(t, exitUsage, code, stderr.String())
		assert.Contains(t, stderr.String(), "--tls-key: "+keyFile+": other users can read or write it (mode "+fmt.Sprintf("%04o", mode)+"): chmod 600 "+keyFile)
		assert.NotContains(t, stdout.String(), "listening on")
		assert.NoFileExists(t, ran)
	}
	for _, mode := range []os.FileMode{0o600, 0o640, 0o400} {
		require.NoError(t, os.Chmod(keyFile, mode))
		_, err := loadKeyPair(certFile, keyFile)
		assert.NoError(t, err, "mode %04o", mode)
	}
	require.NoError(t, os.Chmod(certFile, 0o644))
	require.NoError(t, os.Chmod(keyFile, 0o600))
	_, err := loadKeyPair(certFile, keyFile)
	assert.NoError(t, err, "a certificate is public")
}

// TestHunt18TrustFilesOthersCanWrite: plan, apply and serve took a --key
// file, the key an index must be signed with, and a --trust-store file,
// the newest index versions trusted, that other users of the host can
// write: they could put their own key there and have their own index
// trusted, or lower a version and have an old index replayed. Such a file
// is refused now (exit 2), naming the flag, the file, its mode and the
// chmod that mends it, before anything is planned; one others can read
// is taken (a public key, versions).
func TestHunt18TrustFilesOthersCanWrite(t *testing.T) {
	e := newApplyEnv(t)
	store := filepath.Join(t.TempDir(), "trust.json")
	r := stackup(t, "plan", "--topology", e.topo, "--repo", e.repo, "--key", e.key, "--trust-store", store, "--trust-first-use",
		"--requests", "testdata/requests.yaml")
	require.Equal(t, exitOK, r.code, r.stderr)
	for _, file := range []struct{ flag, path string }{{"--key", e.key}, {"--trust-store", store}} {
		require.NoError(t, os.Chmod(file.path, 0o666))
		r := stackup(t, "plan", "--topology", e.topo, "--repo", e.repo, "--key", e.key, "--trust-store", store,
			"--requests", "testdata/requests.yaml")
		assert.Equal(t, exitUsage, r.code, r.stderr)
		assert.Contains(t, r.stderr, file.flag+" "+file.path+": other users can write it (mode 0666): chmod o-w "+file.path, r.stderr)
		assert.Empty(t, r.stdout, "nothing planned")
		require.NoError(t, os.Chmod(file.path, 0o644))
	}
	r = stackup(t, "plan", "--topology", e.topo, "--repo", e.repo, "--key", e.key, "--trust-store", store,
		"--requests", "testdata/requests.yaml")
	assert.Equal(t, exitOK, r.code, r.stderr)
}
