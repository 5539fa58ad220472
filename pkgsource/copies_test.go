package pkgsource_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/version"
)

// countingOpener opens packages from a directory and counts the opens.
type countingOpener struct {
	pkgsource.Opener
	opens atomic.Int32
}

func (o *countingOpener) Open(ctx context.Context, p pkgsource.Package) (io.ReadCloser, error) {
	o.opens.Add(1)
	return o.Opener.Open(ctx, p)
}

func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Copies copies a package once however many ask at once, into a private
// read-only file whose content was checked; a package whose content is not
// what the plan says fails for good (Permanent), leaves no file behind,
// and is tried again by the next ask; Close removes the copies.
func TestCopies(t *testing.T) {
	repo := t.TempDir()
	content := []byte("tomcat 10.1.34\n")
	require.NoError(t, os.WriteFile(filepath.Join(repo, "tomcat.pkg"), content, 0o644))
	dir, err := pkgsource.NewDir(repo)
	require.NoError(t, err)
	o := &countingOpener{Opener: dir}
	parent := t.TempDir()
	c := pkgsource.NewCopies(o, parent)
	p := pkgsource.Package{Type: "tomcat", Version: version.MustParse("10.1.34"), Location: "tomcat.pkg",
		Digest: digestOf(content), Size: int64(len(content))}

	assert.Empty(t, c.Made(p), "nothing made yet")
	var wg sync.WaitGroup
	paths := make([]string, 8)
	for i := range paths {
		wg.Go(func() {
			path, err := c.File(t.Context(), p)
			assert.NoError(t, err)
			paths[i] = path
		})
	}
	wg.Wait()
	assert.EqualValues(t, 1, o.opens.Load(), "one copy for all")
	for _, path := range paths {
		assert.Equal(t, paths[0], path)
	}
	assert.Equal(t, paths[0], c.Made(p))
	got, err := os.ReadFile(paths[0])
	require.NoError(t, err)
	assert.Equal(t, content, got)
	fi, err := os.Stat(paths[0])
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o400), fi.Mode().Perm(), "read-only")
	di, err := os.Stat(filepath.Dir(paths[0]))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), di.Mode().Perm(), "a directory of its own, this user's only")

	// The same package under another digest: its own copy, which fails.
	forged := p
	forged.Digest = digestOf([]byte("something else"))
	_, err = c.File(t.Context(), forged)
	require.ErrorIs(t, err, pkgsource.ErrDigestMismatch)
	assert.True(t, pkgsource.Permanent(err))
	assert.Empty(t, c.Made(forged))
	entries, err := os.ReadDir(filepath.Dir(paths[0]))
	require.NoError(t, err)
	assert.Len(t, entries, 1, "the failed copy leaves no file")
	_, err = c.File(t.Context(), forged)
	require.ErrorIs(t, err, pkgsource.ErrDigestMismatch)
	assert.EqualValues(t, 3, o.opens.Load(), "a failed copy is tried again")

	// A name that leads outside the repository is refused, for good.
	escape := p
	escape.Location = "../outside.pkg"
	_, err = c.File(t.Context(), escape)
	require.ErrorIs(t, err, pkgsource.ErrUnsafePath)
	assert.True(t, pkgsource.Permanent(err))

	require.NoError(t, c.Close())
	_, err = os.Stat(paths[0])
	assert.ErrorIs(t, err, os.ErrNotExist)
	assert.False(t, pkgsource.Permanent(context.Canceled))
}

// A copy that cannot be made, its directory being a file, fails naming
// the package.
func TestCopiesErrorNamesPackage(t *testing.T) {
	parent := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(parent, nil, 0o600))
	root := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(root, "tomcat.pkg"), []byte("tarball"), 0o600)) // opened before the directory is made
	dir, err := pkgsource.NewDir(root)
	require.NoError(t, err)
	c := pkgsource.NewCopies(dir, parent)
	p := pkgsource.Package{Type: "tomcat", Version: version.MustParse("10.1.34"), Location: "tomcat.pkg"}
	_, err = c.File(t.Context(), p)
	assert.ErrorContains(t, err, "copying package tomcat 10.1.34: ")

	// An Opener's error that names no package is made to, once; one that
	// does is left as it is.
	_, err = pkgsource.NewCopies(plainOpener{}, t.TempDir()).File(t.Context(), p)
	assert.EqualError(t, err, "copying package tomcat 10.1.34: no route to host")
	dir, err = pkgsource.NewDir(t.TempDir())
	require.NoError(t, err)
	_, err = pkgsource.NewCopies(dir, t.TempDir()).File(t.Context(), p) // no such file
	require.Error(t, err)
	assert.Equal(t, 1, strings.Count(err.Error(), "tomcat 10.1.34"), err.Error())
}

// plainOpener fails, naming nothing.
type plainOpener struct{}

func (plainOpener) Open(context.Context, pkgsource.Package) (io.ReadCloser, error) {
	return nil, errors.New("no route to host")
}

// firstBlocksOpener's first Open waits for its context to end; the others
// serve content.
type firstBlocksOpener struct {
	content []byte
	opens   atomic.Int32
}

func (o *firstBlocksOpener) Open(ctx context.Context, p pkgsource.Package) (io.ReadCloser, error) {
	if o.opens.Add(1) == 1 {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return io.NopCloser(strings.NewReader(string(o.content))), nil
}

// TestCopiesOneCallerCancelled: a caller waiting for another's copy is
// not failed by that caller's cancellation: it makes the copy itself.
func TestCopiesOneCallerCancelled(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		content := []byte("package content")
		sum := sha256.Sum256(content)
		p := pkgsource.Package{Type: "jdk", Version: version.MustParse("17"), Location: "jdk.pkg",
			Digest: "sha256:" + hex.EncodeToString(sum[:]), Size: int64(len(content))}
		o := &firstBlocksOpener{content: content}
		c := pkgsource.NewCopies(o, dir)
		defer c.Close()
		ctxA, cancelA := context.WithCancel(t.Context())
		errA := make(chan error, 1)
		go func() { _, err := c.File(ctxA, p); errA <- err }()
		synctest.Wait() // A copies, held in Open
		type result struct {
			path string
			err  error
		}
		b := make(chan result, 1)
		go func() { path, err := c.File(t.Context(), p); b <- result{path, err} }()
		synctest.Wait() // B waits for A's copy
		cancelA()
		require.ErrorIs(t, <-errA, context.Canceled, "A's own copy is cut short")
		got := <-b
		require.NoError(t, got.err, "B's context is live: it makes the copy")
		data, err := os.ReadFile(got.path)
		require.NoError(t, err)
		assert.Equal(t, content, data)
		assert.Equal(t, int32(2), o.opens.Load())
	})
}

// After Close, File gives neither the path of a removed copy nor a copy
// made in a directory of the removed one's name, which another user may
// have made in a shared parent such as /tmp: it fails, matching
// os.ErrClosed, and Made says nothing is made.
func TestCopiesAfterClose(t *testing.T) {
	content := []byte("tomcat 10.1.34\n")
	o := openerFunc(func(context.Context, pkgsource.Package) (io.ReadCloser, error) {
		return io.NopCloser(strings.NewReader(string(content))), nil
	})
	c := pkgsource.NewCopies(o, t.TempDir())
	p := pkgsource.Package{Type: "tomcat", Version: version.MustParse("10.1.34"), Location: "tomcat.pkg",
		Digest: digestOf(content), Size: int64(len(content))}
	path, err := c.File(t.Context(), p)
	require.NoError(t, err)
	require.NoError(t, c.Close())

	// Someone makes a directory of the removed one's name.
	planted := filepath.Dir(path)
	require.NoError(t, os.Mkdir(planted, 0o777))

	assert.Empty(t, c.Made(p))
	got, err := c.File(t.Context(), p)
	require.ErrorIs(t, err, os.ErrClosed)
	assert.Empty(t, got)
	assert.ErrorContains(t, err, "tomcat 10.1.34")

	other := p
	other.Location = "other.pkg"
	got, err = c.File(t.Context(), other)
	require.ErrorIs(t, err, os.ErrClosed)
	assert.Empty(t, got)
	entries, err := os.ReadDir(planted)
	require.NoError(t, err)
	assert.Empty(t, entries, "nothing written in the planted directory")
	assert.NoError(t, c.Close(), "a second Close")
}

// openerFunc adapts a function to a pkgsource.Opener.
type openerFunc func(ctx context.Context, p pkgsource.Package) (io.ReadCloser, error)

func (f openerFunc) Open(ctx context.Context, p pkgsource.Package) (io.ReadCloser, error) {
	return f(ctx, p)
}
