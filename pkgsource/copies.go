package pkgsource

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
)

// Copies makes private copies of packages for the programs that install
// them: each read through an Opener and a Verifier (so that its digest and
// size are checked, whatever the source says), written to a read-only file
// in a directory of its own, readable by this user only. A package is
// copied once however many ask; a copy that failed is tried again by the
// next ask. Copies is safe for concurrent use.
type Copies struct {
	o      Opener
	parent string

	mu     sync.Mutex
	dir    string // created at the first copy
	files  map[string]*packageCopy
	closed bool // by Close: no copy is given or made any more
}

// errCopiesClosed reports a File after Close: the copies' directory is
// gone, and another user may have made one of its name meanwhile.
var errCopiesClosed = fmt.Errorf("%w: the package copies were removed (Close)", os.ErrClosed)

// errNoCopiesOpener reports Copies made without an Opener, as a Cache
// without a source reports it.
var errNoCopiesOpener = errors.New("pkgsource: the copies have no Opener: give NewCopies the source that holds the packages")

// packageCopy is one package's copy, made once.
type packageCopy struct {
	ready chan struct{} // closed once path or err is set
	path  string
	err   error
}

// NewCopies returns Copies that read packages through o into a directory
// it creates under parent (the default directory for temporary files when
// parent is "") at the first copy. Copies of a nil o, or a zero Copies,
// return an error from every File.
func NewCopies(o Opener, parent string) *Copies {
	return &Copies{o: o, parent: parent, files: map[string]*packageCopy{}}
}

// copyKey names a package as a plan holds it, all that its copy depends
// on: the same type and version written otherwise, or at another location
// or with another digest, is copied on its own and checked against its
// own digest.
func copyKey(p Package) string {
	return p.Type + "\x00" + p.Version.String() + "\x00" + p.Location + "\x00" + p.Digest + "\x00" + strconv.FormatInt(p.Size, 10)
}

// File returns the path of the checked copy of p, making it if needed.
// Its errors name the package. A caller that waited for another's copy,
// cut short by that caller's context, makes the copy itself.
func (c *Copies) File(ctx context.Context, p Package) (string, error) {
	for {
		path, joined, err := c.file(ctx, p)
		if joined && err != nil && ctx.Err() == nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
			continue // the failed copy is forgotten: this caller makes it
		}
		return path, err
	}
}

// file is File, once; joined says that another caller made (or failed
// to make) the copy.
func (c *Copies) file(ctx context.Context, p Package) (path string, joined bool, err error) {
	if c.o == nil { // NewCopies(nil, …), or a zero Copies
		return "", false, namePackage(p, errNoCopiesOpener)
	}
	key := copyKey(p)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return "", false, namePackage(p, errCopiesClosed)
	}
	pc, joined := c.files[key]
	if !joined {
		pc = &packageCopy{ready: make(chan struct{})}
		c.files[key] = pc
	}
	c.mu.Unlock()
	if !joined {
		c.make(ctx, p, key, pc)
	}
	select {
	case <-pc.ready:
	case <-ctx.Done():
		return "", false, namePackage(p, context.Cause(ctx))
	}
	return pc.path, joined, pc.err
}

// make makes pc, the copy of p under key, for every caller waiting for
// it. If the Opener panics, or calls runtime.Goexit, the copy fails for
// them and is forgotten, as a failed copy is, and the panic goes on: they
// do not wait for ever.
func (c *Copies) make(ctx context.Context, p Package, key string, pc *packageCopy) {
	path, err := "", errCopyPanicked // unless copy returns
	defer func() {
		c.mu.Lock()
		if err == nil && c.closed { // made while Close removed its directory
			_ = os.Remove(path)
			err = errCopiesClosed
		}
		if err != nil {
			path, err = "", namePackage(p, err)
			delete(c.files, key)
		}
		pc.path, pc.err = path, err
		c.mu.Unlock()
		close(pc.ready)
	}()
	path, err = c.copy(ctx, p)
}

// errCopyPanicked is what those waiting for a copy get when its Opener
// panicked, or called runtime.Goexit, while another caller made it.
var errCopyPanicked = errors.New("the Opener panicked while another caller made the copy: fix the Opener")

// namePackage returns err naming p: as it is when a *PackageError or a
// *DigestError names a package already (the built-in Openers' and the
// Verifier's), or else wrapped.
func namePackage(p Package, err error) error {
	if _, ok := errors.AsType[*PackageError](err); ok {
		return err
	}
	if _, ok := errors.AsType[*DigestError](err); ok {
		return err
	}
	return fmt.Errorf("copying package %s: %w", p, err)
}

// Made returns the path of the copy of p if it is made, or "" (after
// Close too).
func (c *Copies) Made(p Package) string {
	c.mu.Lock()
	pc := c.files[copyKey(p)]
	closed := c.closed
	c.mu.Unlock()
	if pc == nil || closed {
		return ""
	}
	select {
	case <-pc.ready:
		return pc.path
	default:
		return ""
	}
}

// Close removes the copies. File then fails with an error matching
// os.ErrClosed: it gives no path of a removed copy, and makes no copy in
// a directory of the removed one's name, which another user may have made.
func (c *Copies) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	if c.dir == "" {
		return nil
	}
	return os.RemoveAll(c.dir)
}

// Permanent reports whether err, from File, says that copying the package
// again cannot succeed: its content is not what the plan says, or its name
// or its file is not one a source may read.
func Permanent(err error) bool {
	return errors.Is(err, ErrDigestMismatch) || errors.Is(err, ErrUnsafePath) || errors.Is(err, ErrNotRegular)
}

// copy reads p through the Opener and a Verifier into a new private file,
// read-only.
func (c *Copies) copy(ctx context.Context, p Package) (path string, err error) {
	rc, err := c.o.Open(ctx, p)
	if err != nil {
		return "", err
	}
	if rc == nil {
		return "", &PackageError{Package: p.Key(), Err: ErrNoContent}
	}
	defer rc.Close()
	// The directory is looked up once the Open is over, however long it
	// took: Close may have removed it meanwhile (a Run that gave up on the
	// Opener), and another user made one of its name.
	dir, err := c.directory()
	if err != nil {
		return "", err
	}
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
	if _, err := io.Copy(f, NewVerifier(rc, p)); err != nil {
		return "", err
	}
	if err := f.Chmod(0o400); err != nil {
		return "", err
	}
	return f.Name(), nil
}

// directory returns the copies' directory, creating it.
func (c *Copies) directory() (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return "", errCopiesClosed
	}
	if c.dir == "" {
		dir, err := os.MkdirTemp(c.parent, "stackup-packages-")
		if err != nil {
			return "", fmt.Errorf("package copies: %w", err)
		}
		c.dir = dir
	}
	return c.dir, nil
}
