package version

import (
	"errors"
	"fmt"
	"strings"

	"github.com/Masterminds/semver/v3"
)

// Constraint is a version requirement such as ">=9.0, <11", "^1.2" or
// "~2.3 || >=3.1". The syntax is that of github.com/Masterminds/semver/v3:
// comma or space means "and", "||" means "or". A constraint matches
// prerelease versions only when it names a prerelease itself
// (">=2.0.0-0"), the way npm and Helm behave.
//
// The zero Constraint has no conditions: it allows every version,
// prereleases included, and prints as "*"; parsing "", blank or "*" gives
// it. A Constraint is immutable and safe for concurrent use.
type Constraint struct {
	c   *semver.Constraints // nil for the zero Constraint
	src string              // the input, trimmed, its white space made spaces
}

// ParseConstraint parses a constraint. An empty or blank string, or "*",
// gives the zero Constraint. A tab, line break or other ASCII white space
// within it is kept as a space, so that the constraint prints on one line.
func ParseConstraint(s string) (Constraint, error) {
	if len(s) > MaxLength {
		return Constraint{}, parseError(ErrInvalidConstraint, s, ErrTooLong)
	}
	src := strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\v' || r == '\f' || r == '\r' {
			return ' '
		}
		return r
	}, strings.TrimSpace(s))
	if src == "" || src == "*" {
		return Constraint{}, nil
	}
	c, err := semver.NewConstraint(src)
	if err != nil {
		return Constraint{}, parseError(ErrInvalidConstraint, s, err)
	}
	return Constraint{c: c, src: src}, nil
}

// MustParseConstraint is like ParseConstraint but panics on error. Use it
// only for constants.
func MustParseConstraint(s string) Constraint {
	c, err := ParseConstraint(s)
	if err != nil {
		panic(err)
	}
	return c
}

// IsZero reports whether c is the zero Constraint, which allows everything.
func (c Constraint) IsZero() bool { return c.c == nil }

// String returns the constraint as written (trimmed, its white space
// made spaces), or "*" for the zero Constraint.
func (c Constraint) String() string {
	if c.c == nil {
		return "*"
	}
	return c.src
}

// Allows reports whether v satisfies c.
func (c Constraint) Allows(v Version) bool {
	return c.c == nil || c.c.Check(&v.v)
}

// Check returns nil when v satisfies c, and otherwise an
// *UnsatisfiedError that says why.
func (c Constraint) Check(v Version) error {
	if c.c == nil {
		return nil
	}
	ok, reasons := c.c.Validate(&v.v)
	if ok {
		return nil
	}
	return &UnsatisfiedError{Version: v, Constraint: c, Reasons: reasons}
}

// MarshalText implements encoding.TextMarshaler. The zero Constraint
// marshals as "" so that it round-trips as "no constraint".
func (c Constraint) MarshalText() ([]byte, error) { return []byte(c.src), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (c *Constraint) UnmarshalText(text []byte) error {
	p, err := ParseConstraint(string(text))
	if err != nil {
		return err
	}
	*c = p
	return nil
}

// UnsatisfiedError reports a version that a constraint does not allow.
// It matches ErrUnsatisfied with errors.Is.
type UnsatisfiedError struct {
	Version    Version
	Constraint Constraint
	Reasons    []error // from the constraint checker, one per failed clause
}

func (e *UnsatisfiedError) Error() string {
	msg := fmt.Sprintf("version: %s does not satisfy %q", e.Version, e.Constraint)
	if len(e.Reasons) > 0 {
		msg += ": " + errors.Join(e.Reasons...).Error()
		msg = strings.ReplaceAll(msg, "\n", "; ")
	}
	return msg
}

// Is reports whether target is ErrUnsatisfied.
func (e *UnsatisfiedError) Is(target error) bool { return target == ErrUnsatisfied }
