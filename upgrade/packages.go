package upgrade

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/stackup/stackup/pkgsource"
)

// WithPackages makes Run hand each platform step's package to the
// executor as a verified private copy. Before a platform step's first
// attempt, Run reads the step's package through o, checks its digest and
// size itself (pkgsource.NewVerifier, whatever o does), and writes it to a
// file of its own, in a directory it creates under dir (the default
// directory for temporary files when dir is ""), readable by this user
// only. The executor finds the file's path with PackageFile and installs
// exactly what was checked: a package changed at its source afterwards
// does not reach it. A package that cannot be read or does not verify
// fails the step; a digest or size mismatch is permanent, not retried.
//
// Steps of the same package share one copy; with WithPrefetch, the
// copies are made before the first step. Run removes the directory when
// it returns.
func WithPackages(o pkgsource.Opener, dir string) RunOption {
	return func(c *runConfig) { c.packages, c.packageDir = o, dir }
}

type packageFileKey struct{}

// PackageFile returns the path of the verified private copy of the
// package of the platform step executed, verified or rolled back with
// ctx (see WithPackages), or "" when there is none. The file is the
// executor's to read, not to change; it exists until Run returns.
func PackageFile(ctx context.Context) string {
	path, _ := ctx.Value(packageFileKey{}).(string)
	return path
}

// packageStore makes and keeps the verified private copies of packages.
// It is safe for concurrent use.
type packageStore struct {
	o      pkgsource.Opener
	parent string

	mu  sync.Mutex
	dir string // created at the first copy
	// files is keyed by the key as written, not its canonical form: a
	// plan read from a file may hold "ubuntu 18.04" and "ubuntu 18.4.0"
	// with different digests, and each must be verified against its own.
	files map[pkgsource.Key]*packageCopy
}

// packageCopy is one package's copy, made once.
type packageCopy struct {
	ready chan struct{} // closed once path or err is set
	path  string
	err   error
}

func newPackageStore(o pkgsource.Opener, parent string) *packageStore {
	return &packageStore{o: o, parent: parent, files: map[pkgsource.Key]*packageCopy{}}
}

// file returns the path of the verified copy of p, making it if needed.
// A failed copy is tried again by the next call.
func (s *packageStore) file(ctx context.Context, p pkgsource.Package) (string, error) {
	s.mu.Lock()
	c, ok := s.files[p.Key()]
	if !ok {
		c = &packageCopy{ready: make(chan struct{})}
		s.files[p.Key()] = c
	}
	s.mu.Unlock()
	if !ok {
		c.path, c.err = s.copy(ctx, p)
		if c.err != nil {
			s.mu.Lock()
			delete(s.files, p.Key())
			s.mu.Unlock()
		}
		close(c.ready)
	}
	select {
	case <-c.ready:
	case <-ctx.Done():
		return "", context.Cause(ctx)
	}
	if c.err != nil { // pkgsource's errors name the package
		if errors.Is(c.err, pkgsource.ErrDigestMismatch) {
			return "", Permanent(c.err)
		}
		return "", c.err
	}
	return c.path, nil
}

// made returns the path of the copy of p if it is made, or "".
func (s *packageStore) made(p pkgsource.Package) string {
	s.mu.Lock()
	c := s.files[p.Key()]
	s.mu.Unlock()
	if c == nil {
		return ""
	}
	select {
	case <-c.ready:
		return c.path
	default:
		return ""
	}
}

// copy reads p through s.o and a verifier into a new private file.
func (s *packageStore) copy(ctx context.Context, p pkgsource.Package) (path string, err error) {
	dir, err := s.directory()
	if err != nil {
		return "", err
	}
	rc, err := s.o.Open(ctx, p)
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

// directory returns the store's directory, creating it.
func (s *packageStore) directory() (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dir == "" {
		dir, err := os.MkdirTemp(s.parent, "stackup-packages-")
		if err != nil {
			return "", fmt.Errorf("package copies: %w", err)
		}
		s.dir = dir
	}
	return s.dir, nil
}

// close removes the copies.
func (s *packageStore) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dir == "" {
		return nil
	}
	return os.RemoveAll(s.dir)
}
