//go:build linux

package topology_test

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/topology"
)

// TestLoadRefusesSpecialFiles attacks Load and LoadTOSCA with files that
// would block a reader for good (a named pipe with no writer) or never end
// (/dev/zero): each is refused at once, naming the file.
func TestLoadRefusesSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.yaml")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	zero := filepath.Join(dir, "zero.json")
	require.NoError(t, os.Symlink("/dev/zero", zero))
	sub := filepath.Join(dir, "dir.yaml")
	require.NoError(t, os.Mkdir(sub, 0o700))

	for _, c := range []struct{ path, kind string }{
		{fifo, "a named pipe"},
		{zero, "a character device"},
		{sub, "a directory"},
	} {
		t.Run(filepath.Base(c.path), func(t *testing.T) {
			_, err := topology.Load(c.path)
			require.Error(t, err)
			assert.ErrorIs(t, err, topology.ErrNotRegular)
			assert.Contains(t, err.Error(), c.path)
			assert.Contains(t, err.Error(), c.kind)

			_, err = topology.LoadTOSCA(c.path, c.path)
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.path)
			assert.Contains(t, err.Error(), c.kind)
		})
	}
	_, err := topology.Load(filepath.Join(dir, "missing.yaml"))
	assert.True(t, errors.Is(err, os.ErrNotExist), "%v", err)
}

func TestOpenRegular(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "requests.yaml")
	require.NoError(t, os.WriteFile(file, []byte("requests: []\n"), 0o600))
	f, err := topology.OpenRegular(file)
	require.NoError(t, err)
	require.NoError(t, f.Close())

	fifo := filepath.Join(dir, "fifo")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	_, err = topology.OpenRegular(fifo)
	assert.ErrorIs(t, err, topology.ErrNotRegular)
	assert.EqualError(t, err, "open "+fifo+": not a regular file: a named pipe; give a regular file")
}
