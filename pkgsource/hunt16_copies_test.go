package pkgsource_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/version"
)

// h16TrapReader reports, at its first read, what the trap directory holds.
type h16TrapReader struct {
	io.Reader
	trap string
	seen chan<- int
}

func (r *h16TrapReader) Read(b []byte) (int, error) {
	if r.seen != nil {
		entries, _ := os.ReadDir(r.trap)
		r.seen <- len(entries)
		r.seen = nil
	}
	return r.Reader.Read(b)
}

func (r *h16TrapReader) Close() error { return nil }

// TestHunt16CopiesClosedDuringOpenWriteNothing: an Opener still opening a
// package when the copies are closed (an upgrade.Run that abandoned it
// and returned) writes no copy afterwards: not in a directory of the
// removed one's name that another user planted meanwhile, here a link to
// a directory of theirs. The copies' directory was made before the Open,
// so the copy went into the planted one.
func TestHunt16CopiesClosedDuringOpenWriteNothing(t *testing.T) {
	parent, trap := t.TempDir(), t.TempDir()
	content := []byte("tarball")
	p := pkgsource.Package{Type: "tomcat", Version: version.MustParse("10.1.34"), Location: "t.tar.gz", Digest: digestOf(content), Size: int64(len(content))}
	opened, release := make(chan struct{}), make(chan struct{})
	seen := make(chan int, 1)
	c := pkgsource.NewCopies(openerFunc(func(context.Context, pkgsource.Package) (io.ReadCloser, error) {
		close(opened)
		<-release
		return &h16TrapReader{Reader: strings.NewReader(string(content)), trap: trap, seen: seen}, nil
	}), parent)
	done := make(chan error, 1)
	go func() {
		_, err := c.File(context.Background(), p)
		done <- err
	}()
	<-opened
	made, err := filepath.Glob(filepath.Join(parent, "stackup-packages-*"))
	require.NoError(t, err)
	require.NoError(t, c.Close())
	for _, dir := range made { // the other user plants a link where the directory was
		require.NoError(t, os.Symlink(trap, dir))
	}
	close(release)
	err = <-done
	assert.ErrorIs(t, err, os.ErrClosed)
	select {
	case n := <-seen:
		assert.Zero(t, n, "a copy was written into the planted directory")
	default:
	}
}
