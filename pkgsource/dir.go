package pkgsource

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// Index file names in a repository.
const (
	IndexFile     = "index.json"
	SignatureFile = "index.json.sig"
)

// ErrUnsafePath reports a package file name that would leave its
// repository: absolute, with "..", or through a symbolic link that points
// outside.
var ErrUnsafePath = errors.New("unsafe package path")

// Dir is a package repository in a directory: an index (IndexFile), its
// signature when the repository is signed (SignatureFile), and the package
// files the index names. Packages reads the index on every call, so a
// repository updated in place is seen at once. Open never leaves the
// directory and verifies what it reads. A Dir is safe for concurrent use.
type Dir struct {
	path     string // absolute, for errors
	trustKey string // see dirTrustKey
	root     *os.Root
	opts     options
}

var (
	_ Source = (*Dir)(nil)
	_ Opener = (*Dir)(nil)
)

// NewDir returns the repository in directory path, which must not be
// "" (use "." for the working directory).
func NewDir(path string, opts ...Option) (*Dir, error) {
	if path == "" { // filepath.Abs would make it the working directory
		return nil, fmt.Errorf("pkgsource: no repository directory given: give the directory that holds %s", IndexFile)
	}
	o, err := newOptions(opts)
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = path
	}
	key := dirTrustKey(abs)
	// The directory the key names, so that a link changed meanwhile
	// cannot give this repository another's key.
	root, err := os.OpenRoot(key)
	if err != nil {
		if info, serr := os.Stat(path); serr == nil && info.Mode().IsRegular() {
			which := "the one that holds " + IndexFile
			if filepath.Base(abs) == IndexFile { // the index itself, given for its repository
				which = filepath.Dir(abs) + ", which holds it"
			}
			return nil, fmt.Errorf("pkgsource: %s is a file, not a repository's directory: give the repository's directory, %s: %w", path, which, err)
		}
		// Say it of path as given, when opening it fails too.
		if other, perr := os.OpenRoot(path); perr != nil {
			err = perr
		} else {
			other.Close()
		}
		return nil, fmt.Errorf("pkgsource: %w", err)
	}
	return &Dir{path: abs, trustKey: key, root: root, opts: o}, nil
}

// Close releases the directory.
func (d *Dir) Close() error { return d.root.Close() }

// Index reads, checks and returns the repository's index. An index
// older than one trusted is read once more before it is refused (see
// WithKeys).
func (d *Dir) Index(ctx context.Context) (*Index, error) {
	idx, err := d.index(ctx)
	if errors.Is(err, ErrRollback) {
		idx, err = d.index(ctx)
	}
	return idx, err
}

// index is Index, once.
func (d *Dir) index(ctx context.Context) (*Index, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	data, err := d.readFile(IndexFile, d.opts.maxIndex)
	if errors.Is(err, ErrNotFound) {
		return nil, &noIndexError{repo: d.path, reason: IndexFile + " does not exist", err: err}
	}
	if err != nil {
		return nil, err
	}
	var sig []byte
	if len(d.opts.keys) > 0 {
		sig, err = d.readFile(SignatureFile, maxSignature)
		if sig, err = readSignature(d.path, sig, err); err != nil {
			return nil, err
		}
	}
	return d.opts.trustedIndex(ctx, d.path, d.trustKey, data, sig)
}

// noIndexError reports that a repository has no index. It matches
// ErrNoIndex and the error that found it out.
type noIndexError struct {
	repo   string
	reason string // such as "index.json does not exist"
	err    error
}

func (e *noIndexError) Error() string {
	return fmt.Sprintf("pkgsource: repository %s: %v: %s; publish %s there (see WriteIndex)", e.repo, ErrNoIndex, e.reason, IndexFile)
}

func (e *noIndexError) Unwrap() []error { return []error{ErrNoIndex, e.err} }

// readFile reads a small file of the repository, refusing more than limit
// bytes.
func (d *Dir) readFile(name string, limit int64) ([]byte, error) {
	f, err := d.open("index", name)
	if errors.Is(err, ErrUnsafePath) {
		return nil, fmt.Errorf("pkgsource: %w", err)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("pkgsource: %s: %w", name, err)
	}
	if int64(len(data)) > limit {
		return nil, &IndexError{Repo: d.path, Err: indexTooLarge(name, limit)}
	}
	return data, nil
}

// Packages implements Source.
func (d *Dir) Packages(ctx context.Context, typ string) ([]Package, error) {
	idx, err := d.Index(ctx)
	if err != nil {
		return nil, err
	}
	return idx.byType(typ), nil
}

// Open implements Opener: it opens p's file, which must be a local name
// within the directory and a regular file (a FIFO or a directory is
// refused at once, with a *FileError matching ErrNotRegular) of p.Size
// bytes when p gives a size (another size is refused with a *DigestError),
// and returns a reader that verifies p's digest and size (see
// NewVerifier).
func (d *Dir) Open(ctx context.Context, p Package) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if u, err := url.Parse(p.Location); err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
		return nil, &PackageError{Package: p.Key(), Err: fmt.Errorf("%w: its location is a URL (%s), and a directory repository opens only its own files: "+
			"put the file in the directory and name it in the index, or read the repository over HTTP", ErrNotFound, redactedURL(u))}
	}
	f, err := d.open("package", p.Location)
	if err != nil {
		return nil, &PackageError{Package: p.Key(), Err: err}
	}
	if p.Size > 0 {
		info, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, &PackageError{Package: p.Key(), Err: &FileError{What: "package", Path: p.Location, Err: err}}
		}
		if info.Size() != p.Size {
			f.Close()
			return nil, &DigestError{Package: p.Key(), Reason: fmt.Sprintf("size mismatch: file %q is %d bytes, %d declared", p.Location, info.Size(), p.Size)}
		}
	}
	return NewVerifier(f, p), nil
}

// open opens a file of the repository through os.Root, so that no name,
// link or race can reach outside the directory. It refuses anything but a
// regular file, without waiting for a FIFO's writer.
func (d *Dir) open(what, name string) (*os.File, error) {
	if err := checkFileName(name); err != nil {
		return nil, err
	}
	f, err := openRegular(what, name, nonblocking(d.root.OpenFile))
	if err == nil {
		return f, nil
	}
	var fe *FileError
	if errors.As(err, &fe) {
		return nil, err
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s: %w", ErrNotFound, name, err)
	}
	// os.Root refused the name: say why if a link leads outside.
	if to := d.linkOutside(name); to != "" {
		advice := "copy the file into it"
		if what == "index" {
			advice += ", or give the source the directory it is in"
		}
		return nil, fmt.Errorf("%w: %s %q leads outside the repository to %s, through a symbolic link: the repository %s reads its own files only: %s",
			ErrUnsafePath, what, name, to, d.path, advice)
	}
	return nil, fmt.Errorf("pkgsource: %s: %w", name, err)
}

// linkOutside returns where name, a local file name of the repository,
// leads when a symbolic link along it leads outside the repository, or
// "". A link whose target does not exist is followed as far as it goes:
// os.Root refuses it too.
func (d *Dir) linkOutside(name string) string {
	base := d.trustKey // the directory itself, its links resolved
	if real, err := filepath.EvalSymlinks(filepath.Join(base, name)); err == nil {
		if rel, err := filepath.Rel(base, real); err == nil && !filepath.IsLocal(rel) {
			return real
		}
		return ""
	}
	p := base
	for elem := range strings.SplitSeq(name, "/") {
		p = filepath.Join(p, elem)
		target, err := os.Readlink(p)
		if err != nil {
			continue // not a link, or not there
		}
		if !filepath.IsAbs(target) {
			target = filepath.Join(filepath.Dir(p), target)
		}
		if rel, err := filepath.Rel(base, target); err == nil && !filepath.IsLocal(rel) {
			return target
		}
		return ""
	}
	return ""
}

// WriteIndex writes idx as the repository index of directory dir and, when
// key is not nil, its signature (see SignIndex), both readable by all
// (mode 0644), as a served repository's files are. It is the publishing
// side of Dir.
func WriteIndex(dir string, idx *Index, key ed25519.PrivateKey) error {
	data, err := idx.Marshal()
	if err != nil {
		return err
	}
	if key != nil {
		// The signature first: a reader that sees the new index sees its
		// signature; one that reads between the two renames is refused
		// (fails closed) and can try again.
		if err := writeAtomic(filepath.Join(dir, SignatureFile), SignIndex(key, data), 0o644); err != nil {
			return fmt.Errorf("pkgsource: writing the index signature: %w", err)
		}
	}
	if err := writeAtomic(filepath.Join(dir, IndexFile), data, 0o644); err != nil {
		return fmt.Errorf("pkgsource: writing the index: %w", err)
	}
	return nil
}

// writeAtomic replaces a file by renaming a complete, synced copy with
// permissions perm over it, so that readers see the old content or the new,
// never a torn one, and syncs the directory so that the rename lasts. The
// copy is a new file of a random name (O_EXCL: never a link planted
// there), changed only through its descriptor; the rename replaces a link
// at path rather than writing through it. Its errors are the file
// system's, for the caller to say what it was writing.
func writeAtomic(path string, data []byte, perm fs.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Chmod(perm)
	}
	err = errors.Join(err, tmp.Sync(), tmp.Close())
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return err
	}
	return syncDir(filepath.Dir(path))
}
