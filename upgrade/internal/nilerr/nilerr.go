// Package nilerr finds the errors that host code returns as a nil pointer
// (or map, slice, func or channel) of an error type, as a function that
// returns a nil *multierror.Error as its error does: an error that is not
// nil, whose methods may expect a receiver that is not nil (its Error may
// panic), and whose message says nothing. upgrade.Run and pgrun's workers
// check each host call's error with it.
package nilerr

import (
	"fmt"
	"reflect"
)

// Is reports whether err holds a nil pointer, map, slice, func or channel
// of an error type; false for a nil err.
func Is(err error) bool {
	switch v := reflect.ValueOf(err); v.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Func, reflect.Chan:
		return v.IsNil()
	}
	return false
}

// Of returns, when Is(err), an error saying that the host's method for
// step (its ID as it may be shown) returned err, and what to return
// instead; nil otherwise.
func Of(method, step string, err error) error {
	if !Is(err) {
		return nil
	}
	return fmt.Errorf("upgrade: %s of step %s returned a nil %T as its error, which is not a nil error: return nil itself for success (with go-multierror, ErrorOrNil)",
		method, step, err)
}
