package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/upgrade"
)

// packageCopies gives a worker's commands their step's package, as
// upgrade.WithPackages gives apply's: a private copy, read from the
// repository (which reaches its files through os.Root, so that no package
// name, link or race leads outside it) and checked against the digest and
// size the plan holds, whatever the repository says. Steps of one package
// share one copy. It is safe for concurrent use.
type packageCopies struct {
	o pkgsource.Opener

	mu    sync.Mutex
	dir   string // created at the first copy, 0700
	files map[string]*packageCopy
}

// packageCopy is one package's copy, made once.
type packageCopy struct {
	ready chan struct{} // closed once path or err is set
	path  string
	err   error
}

func newPackageCopies(o pkgsource.Opener) *packageCopies {
	return &packageCopies{o: o, files: map[string]*packageCopy{}}
}

// file returns the path of the checked copy of p, making it if needed. A
// copy that failed is tried again by the next call; one whose content is
// not what the plan says, or whose name the repository refuses, fails
// permanently.
func (c *packageCopies) file(ctx context.Context, p pkgsource.Package) (string, error) {
	key := p.Type + "\x00" + p.Version.String() + "\x00" + p.Location + "\x00" + p.Digest + "\x00" + strconv.FormatInt(p.Size, 10)
	c.mu.Lock()
	pc, ok := c.files[key]
	if !ok {
		pc = &packageCopy{ready: make(chan struct{})}
		c.files[key] = pc
	}
	c.mu.Unlock()
	if !ok {
		pc.path, pc.err = c.copy(ctx, p)
		if pc.err != nil {
			c.mu.Lock()
			delete(c.files, key)
			c.mu.Unlock()
		}
		close(pc.ready)
	}
	select {
	case <-pc.ready:
	case <-ctx.Done():
		return "", context.Cause(ctx)
	}
	if err := pc.err; err != nil {
		if !strings.Contains(err.Error(), p.String()) { // pkgsource's errors name it
			err = fmt.Errorf("package %s (%q): %w", p, p.Location, err)
		}
		if errors.Is(err, pkgsource.ErrDigestMismatch) || errors.Is(err, pkgsource.ErrUnsafePath) || errors.Is(err, pkgsource.ErrNotRegular) {
			return "", upgrade.Permanent(err)
		}
		return "", err
	}
	return pc.path, nil
}

// copy reads p through the repository and a verifier into a new private
// file, read-only.
func (c *packageCopies) copy(ctx context.Context, p pkgsource.Package) (path string, err error) {
	dir, err := c.directory()
	if err != nil {
		return "", err
	}
	rc, err := c.o.Open(ctx, p)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	f, err := os.CreateTemp(dir, "package-*")
	if err != nil {
		return "", err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(f.Name())
		}
	}()
	if _, err := io.Copy(f, pkgsource.NewVerifier(rc, p)); err != nil {
		return "", err
	}
	return f.Name(), f.Chmod(0o400)
}

func (c *packageCopies) directory() (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dir == "" {
		dir, err := os.MkdirTemp("", "stackup-worker-packages-")
		if err != nil {
			return "", fmt.Errorf("package copies: %w", err)
		}
		c.dir = dir
	}
	return c.dir, nil
}

// Close removes the copies.
func (c *packageCopies) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dir == "" {
		return nil
	}
	return os.RemoveAll(c.dir)
}
