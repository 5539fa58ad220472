package topology

import (
	"errors"
	"fmt"
	"testing"

	"github.com/hashicorp/go-multierror"
	"github.com/stretchr/testify/assert"
)

// TestInFile checks that inFile names the file in every *Error however the
// errors are joined or wrapped, keeps a file already named, and returns err
// itself.
func TestInFile(t *testing.T) {
	const path = "topo.yaml"
	problem := func(item string) *Error { return &Error{Item: item, Err: ErrInvalid} }
	tests := []struct {
		name string
		err  func(ps []*Error) error
		n    int // problems made
	}{
		{"one", func(ps []*Error) error { return ps[0] }, 1},
		{"errors.Join", func(ps []*Error) error { return errors.Join(ps[0], ps[1]) }, 2},
		{"multierror", func(ps []*Error) error { return multierror.Append(nil, ps[0], ps[1], ps[2]) }, 3},
		{"wrapped", func(ps []*Error) error { return fmt.Errorf("reading: %w", ps[0]) }, 1},
		{"wrapped twice", func(ps []*Error) error { return fmt.Errorf("a: %w", fmt.Errorf("b: %w", ps[0])) }, 1},
		{"two %w", func(ps []*Error) error { return fmt.Errorf("%w and %w", ps[0], ps[1]) }, 2},
		{"wrapped join", func(ps []*Error) error { return fmt.Errorf("reading: %w", errors.Join(ps[0], ps[1])) }, 2},
		{"join of multierrors", func(ps []*Error) error {
			return errors.Join(multierror.Append(nil, ps[0], ps[1]), ps[2], multierror.Append(nil, ps[3]))
		}, 4},
		{"multierror of joins and wrapped errors", func(ps []*Error) error {
			return multierror.Append(nil, errors.Join(ps[0], fmt.Errorf("x: %w", ps[1])), fmt.Errorf("y: %w", ps[2]))
		}, 3},
		{"wrapped multierror", func(ps []*Error) error { return fmt.Errorf("x: %w", multierror.Append(nil, ps[0], ps[1])) }, 2},
		{"join with other errors", func(ps []*Error) error { return errors.Join(errors.New("other"), nil, ps[0]) }, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps := make([]*Error, tt.n)
			for i := range ps {
				ps[i] = problem(fmt.Sprintf("item %d", i))
			}
			err := tt.err(ps)
			assert.Same(t, err, inFile(err, path))
			for _, p := range ps {
				assert.Equal(t, path, p.File, p.Item)
			}
			assert.ErrorIs(t, err, ErrInvalid)
		})
	}

	t.Run("a file already named is kept", func(t *testing.T) {
		named, unnamed := &Error{File: "other.yaml", Item: "a", Err: ErrInvalid}, problem("b")
		inFile(errors.Join(named, unnamed), path)
		assert.Equal(t, "other.yaml", named.File)
		assert.Equal(t, path, unnamed.File)
	})
	t.Run("nil", func(t *testing.T) {
		assert.NoError(t, inFile(nil, path))
	})
	t.Run("no *Error", func(t *testing.T) {
		err := fmt.Errorf("topology: %w", errors.New("disk on fire"))
		assert.Same(t, err, inFile(err, path))
		assert.Equal(t, "topology: disk on fire", err.Error())
	})
	t.Run("the message names the file", func(t *testing.T) {
		err := errors.Join(problem("a"), problem("b"))
		inFile(err, path)
		assert.Equal(t, "topology: topo.yaml: a: invalid topology\ntopology: topo.yaml: b: invalid topology", err.Error())
	})
}
