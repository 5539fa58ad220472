package topology

import (
	"errors"
	"fmt"
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
)

// NotFoundError reports an unknown item. It matches ErrNotFound.
type NotFoundError struct {
	Kind string // "application", "node" or "template"
	ID   string
}

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("topology: %s %q not found", e.Kind, e.ID)
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

func (e *Error) Error() string {
	if e.File != "" {
		return fmt.Sprintf("topology: %s: %s: %v", e.File, e.Item, e.Err)
	}
	return fmt.Sprintf("topology: %s: %v", e.Item, e.Err)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }
