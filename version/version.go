// Package version holds the semantic versions and version constraints that
// stackup compares platform and application nodes with.
//
// [Version] and [Constraint] wrap github.com/Masterminds/semver/v3 so that the
// rest of stackup never handles raw strings. Parsing is bounded: inputs longer
// than [MaxLength] bytes are refused with an error before any work is done.
// The package never changes Masterminds' package-level switches
// (semver.CoerceNewVersion, semver.DetailedNewVersionErrors); stackup relies
// on their defaults, so an embedder that changes them changes what parses.
//
// Versions are loose in the way operators write them: "8.5" is 8.5.0,
// "18.04" is 18.4.0 and a leading "v" is accepted. [Version.String] always
// prints the canonical three-part form.
package version

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/Masterminds/semver/v3"
)

// MaxLength is the longest version or constraint string accepted, in bytes.
const MaxLength = 256

// Sentinel errors, usable with errors.Is. Parse errors are *ParseError values
// that wrap one of them.
var (
	// ErrInvalidVersion reports a malformed version string.
	ErrInvalidVersion = errors.New("invalid version")
	// ErrInvalidConstraint reports a malformed constraint string.
	ErrInvalidConstraint = errors.New("invalid constraint")
	// ErrTooLong reports an input longer than MaxLength.
	ErrTooLong = fmt.Errorf("longer than %d bytes", MaxLength)
	// ErrUnsatisfied reports a version that does not meet a constraint.
	ErrUnsatisfied = errors.New("constraint not satisfied")
)

// ParseError reports a version or constraint string that could not be parsed.
type ParseError struct {
	Kind  error  // ErrInvalidVersion or ErrInvalidConstraint
	Input string // the offending input, cut to 64 bytes
	Err   error  // the cause: ErrTooLong or the parser's reason
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("version: %v %q: %v", e.Kind, e.Input, e.Err)
}

// Unwrap returns both the kind and the cause, so errors.Is matches either.
func (e *ParseError) Unwrap() []error { return []error{e.Kind, e.Err} }

func parseError(kind error, input string, err error) *ParseError {
	const show = 64
	if len(input) > show {
		n := show
		for n > 0 && !utf8.RuneStart(input[n]) {
			n--
		}
		input = input[:n] + "…"
	}
	return &ParseError{Kind: kind, Input: input, Err: err}
}

// Version is a semantic version. Versions are comparable with ==: two
// versions are == when they print the same, build metadata included, so a
// Version works as a map key. Use [Version.Compare] for semantic order, in
// which build metadata is ignored.
//
// The zero Version is 0.0.0 and reports IsZero; it is what an unset version
// field holds.
type Version struct {
	v semver.Version // canonical: Original() == String()
}

// Parse parses a version such as "1.2.3", "v2.0.0-rc.1", "8.5" or "18.04".
func Parse(s string) (Version, error) {
	if len(s) > MaxLength {
		return Version{}, parseError(ErrInvalidVersion, s, ErrTooLong)
	}
	sv, err := semver.NewVersion(s)
	if err != nil {
		return Version{}, parseError(ErrInvalidVersion, s, err)
	}
	v := fromSemver(sv)
	if len(v.String()) > MaxLength {
		// "1-…" prints as "1.0.0-…": refuse what could not be parsed back.
		return Version{}, parseError(ErrInvalidVersion, s, ErrTooLong)
	}
	return v, nil
}

// MustParse is like Parse but panics on error. Use it only for constants.
func MustParse(s string) Version {
	v, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return v
}

func fromSemver(sv *semver.Version) Version {
	if sv.Major() == 0 && sv.Minor() == 0 && sv.Patch() == 0 && sv.Prerelease() == "" && sv.Metadata() == "" {
		return Version{} // one representation of 0.0.0, so == holds
	}
	return Version{v: *semver.New(sv.Major(), sv.Minor(), sv.Patch(), sv.Prerelease(), sv.Metadata())}
}

// IsZero reports whether v is the zero Version (0.0.0 with no prerelease or
// metadata), which stackup treats as "unset".
func (v Version) IsZero() bool { return v == Version{} }

// String returns the canonical form, such as "1.2.0" or "2.0.0-rc.1+build.5".
// It does not allocate: the form is kept from parsing.
func (v Version) String() string {
	if s := v.v.Original(); s != "" {
		return s
	}
	return "0.0.0"
}

// Major returns the major component.
func (v Version) Major() uint64 { return v.v.Major() }

// Minor returns the minor component.
func (v Version) Minor() uint64 { return v.v.Minor() }

// Patch returns the patch component.
func (v Version) Patch() uint64 { return v.v.Patch() }

// Prerelease returns the prerelease part without its "-", or "".
func (v Version) Prerelease() string { return v.v.Prerelease() }

// Compare returns -1, 0 or +1 as v sorts before, equal to or after o in
// semantic-version order. Build metadata does not take part.
func (v Version) Compare(o Version) int { return v.v.Compare(&o.v) }

// Less reports whether v sorts before o.
func (v Version) Less(o Version) bool { return v.Compare(o) < 0 }

// MarshalText implements encoding.TextMarshaler.
func (v Version) MarshalText() ([]byte, error) { return []byte(v.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (v *Version) UnmarshalText(text []byte) error {
	p, err := Parse(string(text))
	if err != nil {
		return err
	}
	*v = p
	return nil
}
