package pkgsource

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"
)

// DigestError reports package content that is not what its description
// promises. It matches ErrDigestMismatch.
type DigestError struct {
	Package Key
	// Reason says which check failed and how, such as "sha256 mismatch:
	// content hashes to 3a…, 9f… declared" or "size mismatch: read 1023
	// bytes, 1024 declared".
	Reason string
}

func (e *DigestError) Error() string {
	return fmt.Sprintf("pkgsource: package %s: %s", e.Package, e.Reason)
}

// Is reports whether target is ErrDigestMismatch.
func (e *DigestError) Is(target error) bool { return target == ErrDigestMismatch }

// MaxUnsizedPackage is the most a verifier reads of a package whose Size
// is 0, that is, unknown: content beyond it is refused with a
// *DigestError, as a server or file that never ends would otherwise be
// read for ever. An index always gives sizes; a package of another
// source larger than this needs its Size.
const MaxUnsizedPackage = 1 << 30

// NewVerifier returns a reader of rc's content that checks it against p's
// Digest and its size: p.Size when set, else at most MaxUnsizedPackage
// bytes. A read that goes past the size fails at once; at the end of the
// content, a wrong digest or a short content makes Read return a
// *DigestError in place of io.EOF, so a caller that reads to io.EOF has
// read exactly what p describes. A package without a digest cannot be
// verified: the first Read fails. An error reading rc is returned as a
// *PackageError naming p. Close closes rc.
func NewVerifier(rc io.ReadCloser, p Package) io.ReadCloser {
	return newVerifier(rc, p, MaxUnsizedPackage)
}

// newVerifier is NewVerifier reading at most maxUnsized bytes of a
// package without a size.
func newVerifier(rc io.ReadCloser, p Package, maxUnsized int64) *verifier {
	v := &verifier{rc: rc, p: p, h: sha256.New(), limit: p.Size}
	if p.Size <= 0 {
		v.limit = maxUnsized
	}
	var ok bool
	if v.want, ok = cutSHA256(p.Digest); !ok {
		v.err = &DigestError{Package: p.Key(), Reason: "cannot be verified: no sha256 digest declared"}
	}
	return v
}

type verifier struct {
	rc    io.ReadCloser
	p     Package
	want  string // the hex digest
	h     hash.Hash
	n     int64
	limit int64 // the most rc may hold
	err   error // sticky
}

func (v *verifier) Read(b []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	n, err := v.rc.Read(b)
	v.h.Write(b[:n])
	v.n += int64(n)
	if v.n > v.limit {
		reason := fmt.Sprintf("size mismatch: more than the %d bytes declared", v.p.Size)
		if v.p.Size <= 0 {
			reason = fmt.Sprintf("size mismatch: more than %d bytes, the most read of a package without a size; give the package its size", v.limit)
		}
		v.err = &DigestError{Package: v.p.Key(), Reason: reason}
		return 0, v.err
	}
	if err == io.EOF {
		switch got := hex.EncodeToString(v.h.Sum(nil)); {
		case v.p.Size > 0 && v.n != v.p.Size:
			v.err = &DigestError{Package: v.p.Key(), Reason: fmt.Sprintf("size mismatch: read %d bytes, %d declared", v.n, v.p.Size)}
		case got != v.want:
			v.err = &DigestError{Package: v.p.Key(), Reason: fmt.Sprintf("sha256 mismatch: content hashes to %s, %s declared", got, v.want)}
		default:
			v.err = io.EOF
		}
		return n, v.err
	}
	if err != nil {
		v.err = err
		if !namesPackage(err, v.p.Key()) { // as a verifier of a verifier's content
			v.err = &PackageError{Package: v.p.Key(), Err: err}
		}
		return n, v.err
	}
	return n, nil
}

// namesPackage reports whether err is a *DigestError or a *PackageError
// of the package of key k.
func namesPackage(err error, k Key) bool {
	if de, ok := errors.AsType[*DigestError](err); ok && de.Package.Same(k) {
		return true
	}
	pe, ok := errors.AsType[*PackageError](err)
	return ok && pe.Package.Same(k)
}

func (v *verifier) Close() error { return v.rc.Close() }

func cutSHA256(digest string) (string, bool) {
	hexDigits, ok := strings.CutPrefix(digest, "sha256:")
	return hexDigits, ok && digestPattern.MatchString(digest)
}

// Digest returns the digest of data in the form Package.Digest uses.
func Digest(data []byte) string {
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}
