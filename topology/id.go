package topology

import (
	"cmp"
	"errors"
	"fmt"
	"unicode/utf8"
)

// MaxIDLength is the longest identifier [CheckID] accepts, in bytes.
const MaxIDLength = 253

// ErrInvalidID reports an identifier outside the safe set that [CheckID]
// documents.
var ErrInvalidID = errors.New("invalid identifier")

// IDError reports an identifier outside the safe set. It matches
// [ErrInvalidID].
type IDError struct {
	Kind   string // what the identifier names: "application", "node", "template", "package type", …
	ID     string // the identifier as given
	Reason string // what is wrong with it, such as `character '$' at byte 8`
	// Max is the longest the identifier may be, in bytes: MaxIDLength
	// when zero.
	Max int
}

func (e *IDError) Error() string {
	max := cmp.Or(e.Max, MaxIDLength)
	return fmt.Sprintf("topology: %s %q: %s; an identifier holds only ASCII letters, digits and . _ - : / @ +, does not start with -, and has at most %d bytes",
		e.Kind, shownID(e.ID, max), e.Reason, max)
}

// shownID returns id as a message shows it: whole when it is at most max
// bytes long, and otherwise its first bytes and "…", so that a file
// holding an identifier of megabytes does not make a message of
// megabytes (the reason gives its length).
func shownID(id string, max int) string {
	const show = 64
	if len(id) <= max || len(id) <= show {
		return id
	}
	n := show
	for n > 0 && !utf8.RuneStart(id[n]) {
		n--
	}
	return id[:n] + "…"
}

// Is reports whether target is ErrInvalidID.
func (e *IDError) Is(target error) bool { return target == ErrInvalidID }

// CheckID reports, as an [*IDError] naming kind, whether id is outside the
// safe set of identifiers: 1 to [MaxIDLength] bytes of ASCII letters,
// digits and the characters . _ - : / @ +, not starting with -.
//
// Every identifier stackup reads (application, node and template IDs,
// package types, file names in package indexes) is checked against this
// set, on every input path, so that an identifier can reach a command
// line, a file name, a terminal or a web page without changing its
// meaning: it holds no space, quote, shell metacharacter, control
// character or escape sequence, and is never taken for an option. The set
// is that of Kubernetes names and of Debian package versions but for ~
// (which a shell expands to a home directory; a package file named with
// one, as 1.2-1~deb12u1, is renamed or given by URL), with what TOSCA and
// Maven coordinates add; it is ASCII only, so that two identifiers that
// look alike are alike.
func CheckID(kind, id string) error {
	if validIDLength(id, MaxIDLength) { // the fast path: planners check every co-tenant's IDs
		return nil
	}
	return &IDError{Kind: kind, ID: id, Reason: idProblem(id, MaxIDLength)}
}

// CheckIDLength is [CheckID] with max in place of [MaxIDLength], for
// identifiers made of several, such as the IDs of upgrade steps, made of a
// node ID and a version.
func CheckIDLength(kind, id string, max int) error {
	if validIDLength(id, max) {
		return nil
	}
	return &IDError{Kind: kind, ID: id, Reason: idProblem(id, max), Max: max}
}

// validIDLength reports whether id lies in the safe set, with max for
// MaxIDLength; idProblem says why not. A test compares them.
func validIDLength(id string, max int) bool {
	if len(id) == 0 || len(id) > max || id[0] == '-' {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		mask := uint64(idMaskLo)
		if c >= 64 {
			mask = idMaskHi
		}
		if c >= 128 || mask&(1<<(c&63)) == 0 {
			return false
		}
	}
	return true
}

// idMaskLo and idMaskHi hold the bytes an identifier may hold, as bits:
// bit c of idMaskLo for byte c below 64, bit c-64 of idMaskHi for byte c
// from 64 to 127. A test checks them against idByte.
const (
	idMaskLo = 0x7ffe80000000000
	idMaskHi = 0x7fffffe87ffffff
)

// idProblem says what puts id outside the safe set, or "" when nothing
// does.
func idProblem(id string, max int) string {
	switch {
	case id == "":
		return "empty"
	case len(id) > max:
		return fmt.Sprintf("%d bytes long", len(id))
	case id[0] == '-':
		return "starts with -"
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !idByte[c] {
			if c >= utf8.RuneSelf {
				r, size := utf8.DecodeRuneInString(id[i:])
				if r == utf8.RuneError && size == 1 {
					return fmt.Sprintf("byte 0x%02x, not UTF-8, at byte %d", c, i)
				}
				return fmt.Sprintf("character %q at byte %d", r, i)
			}
			return fmt.Sprintf("character %q at byte %d", c, i)
		}
	}
	return ""
}

// idByte says which bytes an identifier may hold.
var idByte = func() (set [256]bool) {
	for c := '0'; c <= '9'; c++ {
		set[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		set[c] = true
		set[c-'a'+'A'] = true
	}
	for _, c := range "._-:/@+" {
		set[c] = true
	}
	return set
}()
