package upgrade_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
)

// TestHunt3EmptyPlanFile: an empty plan file, or one of white space only,
// was refused as "invalid plan: EOF". It now says the file is empty, what
// it must hold and what to do.
func TestHunt3EmptyPlanFile(t *testing.T) {
	for _, in := range []string{"", " ", "\r\n\n"} {
		p, err := upgrade.ReadJSON(strings.NewReader(in))
		assert.Nil(t, p)
		require.ErrorIs(t, err, upgrade.ErrInvalidPlan)
		require.ErrorIs(t, err, topology.ErrEmpty)
		assert.EqualError(t, err, `upgrade: invalid plan: empty file: it holds nothing but white space; it must hold a plan as Plan.WriteJSON writes it, a JSON object with "schema": "`+upgrade.Schema+`"; plan again to make one`)
	}
}
