package topology

import (
	"bytes"
	"errors"

	"fmt"
	"github.com/hashicorp/go-multierror"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Sentinel errors, usable with errors.Is.
var (
	// ErrNotFound reports an unknown application, node or template.
	ErrNotFound = errors.New("not found")
	// ErrInvalid reports a topology that breaks a rule: a missing or
	// duplicate ID, an unknown reference, a malformed file.
	ErrInvalid = errors.New("invalid topology")
	// ErrCycle reports nodes whose relationships form a cycle.
	ErrCycle = errors.New("relationship cycle")
	// ErrNotRegular reports an input path that names a named pipe, a
	// device, a directory or another file that is not a regular file.
	ErrNotRegular = errors.New("not a regular file")
	// ErrEmpty reports an input file that holds nothing but white space
	// (in YAML, comments too); see [CheckNotEmpty].
	ErrEmpty = errors.New("empty file")
)

// CheckNotEmpty returns nil when data, the whole of an input file,
// holds more than JSON's white space (space, tab, line feed, carriage
// return) after a UTF-8 byte-order mark, and otherwise an error matching
// [ErrEmpty] that says so and what the file must hold, such as `a JSON
// object {"schema": "stackup.topology/v1", …}`. Each reader of a file
// wraps it in its own error, which names the file. A decoder would say
// only "EOF" or "unexpected end of JSON input".
func CheckNotEmpty(data []byte, holds string) error {
	if len(bytes.Trim(bytes.TrimPrefix(data, []byte("\ufeff")), " \t\r\n")) > 0 {
		return nil
	}
	return emptyError("white space", holds)
}

// emptyError says that a file holds nothing but what (white space) and
// what it must hold.
func emptyError(what, holds string) error {
	return fmt.Errorf("%w: it holds nothing but %s; it must hold %s", ErrEmpty, what, holds)
}

// NotFoundError reports an unknown item. It matches ErrNotFound.
type NotFoundError struct {
	Kind string // "application", "node" or "template"
	ID   string // the ID alone
	// App is the application the item was looked for in; empty when it
	// was looked for in the whole topology.
	App AppID
}

func (e *NotFoundError) Error() string {
	if e.App != "" {
		return fmt.Sprintf("topology: %s %s not found in application %s", e.Kind, Quote(e.ID), Quote(string(e.App)))
	}
	return fmt.Sprintf("topology: %s %s not found", e.Kind, Quote(e.ID))
}

// Is reports whether target is ErrNotFound.
func (e *NotFoundError) Is(target error) bool { return target == ErrNotFound }

// Error is one problem found in a topology, naming the item at fault, such
// as `node "tomcat-1"`. Err is ErrInvalid, ErrCycle or a more specific cause
// that wraps one of them.
type Error struct {
	File string // the file read, when known
	Item string
	Err  error
}

// Error returns the message on one line: a control character, an escape
// sequence or a line separator in the file name, the item or the cause
// (which can quote what a hostile file holds) is escaped, Go-style, so
// that it can neither start a line of its own nor reach a terminal.
func (e *Error) Error() string {
	if e.File != "" {
		return Printable(fmt.Sprintf("topology: %s: %s: %v", e.File, e.Item, e.Err))
	}
	return Printable(fmt.Sprintf("topology: %s: %v", e.Item, e.Err))
}

// Printable returns s with every rune that is not printable escaped as
// strconv.Quote would (control characters, line and paragraph separators,
// bidirectional controls, invalid UTF-8), and the rest, quotes and
// backslashes included, as it is: text read from a file, printed so that
// it can neither start a line of its own nor reach a terminal as an
// escape sequence.
func Printable(s string) string {
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || !strconv.IsPrint(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == utf8.RuneError || !strconv.IsPrint(r):
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Quote returns s as a message quotes a value read from a file: quoted
// and escaped as strconv.Quote does, so that no control character,
// escape sequence or invalid UTF-8 reaches a terminal or a log, and, when
// s is longer than 64 bytes, only its start, "…" and its length, such as
// "xxxx…" (1048576 bytes): a file that holds a value of megabytes does
// not make a message of megabytes.
func Quote(s string) string {
	if short := shownID(s, 0); short != s {
		return fmt.Sprintf("%s (%d bytes)", strconv.Quote(short), len(s))
	}
	return strconv.Quote(s)
}

// JoinErrors formats the problems a *multierror.Error holds as every
// stackup package does: on one line, a single problem as it is, and
// several as "3 problems: first; second; third". Of more than 50, it
// shows the first 50 and counts the others ("; and 950 more"), so that a
// file with a problem on every line does not make a message larger than
// itself; the *multierror.Error still holds every one. It is a
// multierror.ErrorFormatFunc.
func JoinErrors(errs []error) string {
	if len(errs) == 1 {
		return errs[0].Error()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d problems: ", len(errs))
	for i, e := range errs[:min(len(errs), maxJoined)] {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(e.Error())
	}
	if more := len(errs) - maxJoined; more > 0 {
		fmt.Fprintf(&b, "; and %d more", more)
	}
	return b.String()
}

// maxJoined is the most problems the message of JoinErrors shows.
const maxJoined = 50

// joined returns errs, formatted with JoinErrors, or nil when it holds no
// error.
func joined(errs *multierror.Error) error {
	if errs == nil {
		return nil
	}
	errs.ErrorFormat = JoinErrors
	return errs.ErrorOrNil()
}
