// Package pkgsource describes upgrade packages and where stackup finds them.
//
// A [Package] installs one version of one platform type (such as "tomcat"
// 10.1.18). It may say which installed versions it upgrades from
// ([Package.From]) and what it needs beneath it ([Package.Requires]).
// Planners read packages through the small [Source] interface; sources that
// hold package content also implement [Opener], whose readers verify the
// content's SHA-256 digest and size ([NewVerifier]).
//
// # Sources
//
//   - [Memory]: packages held in memory, for tests and built-in catalogues.
//   - [Dir]: a repository in a directory: an [Index] file and the package
//     files it names. Opening a package cannot leave the directory.
//   - [HTTP]: the same layout served over HTTP(S), with conditional index
//     requests, jittered retries, timeouts (30s a request by default),
//     size caps, and redirects followed only within one origin.
//   - [Chain]: several sources as one, the first listed winning.
//   - [Cache]: a source's answers remembered for a time to live.
//
// An index is read whole or refused whole: every package type and file
// name in it must be in the safe set of identifiers (see
// topology.CheckID); a file name is a local relative name with no "..",
// "%" escape, control character or element starting with "-". Sources
// read local files (indexes, signatures, package files, trust stores,
// public keys: [ReadPublicKey]) only when they are regular files, within
// a size bound, and never wait on a FIFO. A verifier reads at most the
// package's size, or [MaxUnsizedPackage] bytes when it has none.
//
// # Signed indexes
//
// A repository can be signed: [SignIndex] (or [WriteIndex] with a key)
// writes an ed25519 signature beside the index. A Dir or HTTP source given
// keys ([WithKeys]) fails closed: an unsigned or badly signed index is
// refused with [ErrUntrusted], an index older than one already trusted
// with [ErrRollback] (remembered by a [TrustStore]), and an index past its
// expiry time with [ErrExpired].
//
// A [FileTrustStore] keeps those versions in a file that processes can
// share (they lock it where the system has flock). It must exist unless
// created with [AllowFirstUse], so that deleting it cannot reset the
// protection ([ErrNoTrustStore]). Sources name a repository in it so that
// a symbolic link to its directory, another spelling of its URL, or http
// in place of https shares its version floor (see [WithTrustStore]).
//
// The sub-package sourcetest checks any Source implementation against the
// contract.
package pkgsource

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"unicode/utf8"

	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/version"
)

// Sentinel errors, usable with errors.Is.
var (
	// ErrInvalid reports a malformed package description.
	ErrInvalid = errors.New("invalid package")
	// ErrNotFound reports a package or package content that a source does
	// not hold.
	ErrNotFound = errors.New("package not found")
	// ErrNoIndex reports a repository without an index (IndexFile). The
	// error matches ErrNotFound too.
	ErrNoIndex = errors.New("no index")
	// ErrDigestMismatch reports package content whose digest or size is
	// not the one its description promises.
	ErrDigestMismatch = errors.New("digest mismatch")
	// ErrNoContent reports an Opener that returned neither content nor
	// an error, as a map-backed mirror may for a package it does not
	// hold: the packages' readers (Copies, upgrade's prefetch) would
	// otherwise read a nil io.ReadCloser.
	ErrNoContent = errors.New("the Opener returned no content and no error: return an error for a package it cannot open, matching ErrNotFound when it does not hold it")
)

// Package is an upgrade package: what installs Version of platform Type.
type Package struct {
	Type    string          `json:"type"` // matches topology.Template.Type, such as "tomcat"
	Version version.Version `json:"version"`
	// From says which installed versions the package upgrades from. The
	// zero Constraint means any.
	From version.Constraint `json:"from,omitzero"`
	// Requires lists what the installed version needs beneath it, such as
	// Tomcat 10 needing a JVM >=11.
	Requires []Requirement `json:"requires,omitempty"`
	Location string        `json:"location,omitempty"` // where the content is: a file name or URL
	Digest   string        `json:"digest,omitempty"`   // "sha256:" and 64 lowercase hex digits
	Size     int64         `json:"size,omitempty"`     // content length in bytes; 0 when unknown
}

// Requirement is what a package needs of the platform beneath it.
type Requirement struct {
	Type       string             `json:"type"`
	Constraint version.Constraint `json:"constraint"`
}

// Key identifies a package within a source: its type and version. Keys are
// comparable, but == means "written the same", as for version.Version:
// Key{"jdk", 18.04} and Key{"jdk", 18.4.0} name the same package and are
// not ==. Compare keys with [Key.Same]; a map that must hold one entry per
// package is keyed with the version's Canonical form.
type Key struct {
	Type    string
	Version version.Version
}

func (k Key) String() string { return k.Type + " " + k.Version.String() }

// Key returns the package's type and version.
func (p Package) Key() Key { return Key{Type: p.Type, Version: p.Version} }

// canonical returns k with its version in canonical form: keys that name
// the same package however its version is written ("18.04", "18.4.0") are
// == once canonical. Maps that hold one entry per package use it.
func (k Key) canonical() Key { return Key{Type: k.Type, Version: k.Version.Canonical()} }

// Same reports whether k and o name the same package: the same type and
// the same version however written (see version.Version.Same).
func (k Key) Same(o Key) bool { return k.Type == o.Type && k.Version.Same(o.Version) }

// String returns the type and version, such as "tomcat 10.1.18".
func (p Package) String() string { return p.Key().String() }

var digestPattern = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// Validate reports whether p is well formed: a type, a non-zero version, a
// digest (when given) of the form "sha256:<64 lowercase hex>", a size not
// below zero, a location in UTF-8 (a plan, in JSON, holds it), and
// requirements that name a type; the types, the package's
// and its requirements', in the safe set of identifiers (see
// topology.CheckID), as an index must hold them. The error is a
// *PackageError matching ErrInvalid, and topology.ErrInvalidID for a type
// outside the safe set.
func (p Package) Validate() error {
	bad := func(err error) error {
		return &PackageError{Package: p.Key(), Err: fmt.Errorf("%w: %w", ErrInvalid, err)}
	}
	if p.Type == "" {
		return bad(errors.New("no type: give the platform type it upgrades, such as tomcat"))
	}
	if err := topology.CheckID("package type", p.Type); err != nil {
		return bad(err)
	}
	switch {
	case p.Version.IsZero():
		return bad(errors.New("no version: give the version it installs (0.0.0 counts as none)"))
	case p.Digest != "" && !digestPattern.MatchString(p.Digest):
		return bad(fmt.Errorf("digest %s is not sha256:<64 lowercase hex digits>", topology.Quote(p.Digest)))
	case p.Size < 0:
		return bad(fmt.Errorf("negative size %d: give the content's length in bytes, or 0 when unknown", p.Size))
	case !utf8.ValidString(p.Location):
		return bad(fmt.Errorf("location %q is not UTF-8: JSON, and so a plan, cannot hold it; give its path or URL in UTF-8", p.Location))
	}
	for i, r := range p.Requires {
		if r.Type == "" {
			return bad(fmt.Errorf("requirement #%d names no type: give the type of the platform package it requires, such as jdk", i+1))
		}
		if err := topology.CheckID("package type", r.Type); err != nil {
			return bad(fmt.Errorf("requirement #%d: %w", i+1, err))
		}
	}
	return nil
}

// PackageError reports a problem with one package, named by its key.
type PackageError struct {
	Package Key
	Err     error
}

func (e *PackageError) Error() string {
	// The key may hold a type that Validate refuses: no line break or
	// escape sequence of it reaches a log or a terminal.
	return fmt.Sprintf("pkgsource: package %s: %v", topology.Printable(e.Package.String()), e.Err)
}

// Unwrap returns the cause.
func (e *PackageError) Unwrap() error { return e.Err }

// Source lists upgrade packages.
//
// Implementations must be safe for concurrent use. Packages returns the
// packages of one type in any order, each version once ("18.04" and
// "18.4.0" are one version: the planner refuses a list that holds both); an
// unknown type gives an empty list and a nil error, and a context already
// cancelled an error matching ctx.Err(). The caller may keep and change the
// returned slice. Package sourcetest checks an implementation against this.
type Source interface {
	Packages(ctx context.Context, typ string) ([]Package, error)
}

// SourceFunc adapts a function to a [Source].
type SourceFunc func(ctx context.Context, typ string) ([]Package, error)

// Packages calls f.
func (f SourceFunc) Packages(ctx context.Context, typ string) ([]Package, error) { return f(ctx, typ) }

// Opener is implemented by sources that hold package content. Open returns
// the content of p; the reader verifies p's digest and size while it is read
// and reports ErrDigestMismatch, at the latest at io.EOF, when they differ.
// It returns the content or an error, never neither: the readers of this
// module refuse that with ErrNoContent.
type Opener interface {
	Open(ctx context.Context, p Package) (io.ReadCloser, error)
}
