package pkgsource_test

import (
	"testing"

	"github.com/hashicorp/go-multierror"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/pkgsource"
)

// TestHunt16MemoryDuplicateSaysWhich: a built-in catalogue that lists a
// version twice, written otherwise the second time ("22.04" after
// "22.4.0", as one list copied from Ubuntu and one from a registry
// would), was refused with "duplicate package" alone, naming neither the
// first spelling nor what to do. The error now names both and says to
// list each version once.
func TestHunt16MemoryDuplicateSaysWhich(t *testing.T) {
	_, err := pkgsource.NewMemory(pkg("ubuntu", "22.4.0"), pkg("ubuntu", "24.04"), pkg("ubuntu", "22.04"))
	var merr *multierror.Error
	require.ErrorAs(t, err, &merr)
	require.Len(t, merr.Errors, 1)
	assert.ErrorIs(t, merr.Errors[0], pkgsource.ErrInvalid)
	assert.Equal(t, `pkgsource: package ubuntu 22.04: invalid package: duplicate package: version "22.04" is listed already, as "22.4.0": list each version once`,
		merr.Errors[0].Error())
}
