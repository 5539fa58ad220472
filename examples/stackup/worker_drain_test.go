package main

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/stackup/stackup/upgrade/pgrun"
)

// TestDrainTally: the drain's tally counts the steps pgrun recorded, names
// those that failed and those it could not record, after their run when
// the steps come from several runs.
func TestDrainTally(t *testing.T) {
	var tally drainTally
	tally.add("P", "b", nil)
	tally.add("P", "c", errors.New("disk full"))
	tally.add("P", "e", fmt.Errorf("%w: %w", pgrun.ErrNotRecorded, pgrun.ErrLeaseLost))
	tally.add("P", "a", nil)
	var out strings.Builder
	assert.EqualError(t, tally.report(&out), "drained: 3 steps finished, nothing new claimed; failed: c; "+
		"not recorded, going back to the other workers, in doubt, once their lease expires: e")
	assert.Empty(t, out.String())

	var two drainTally
	two.add("P", "c", errors.New("disk full"))
	two.add("Q", "e", fmt.Errorf("%w: %w", pgrun.ErrNotRecorded, pgrun.ErrLeaseLost))
	assert.EqualError(t, two.report(&out), "drained: 1 step finished, nothing new claimed; failed: run P step c; "+
		"not recorded, going back to the other workers, in doubt, once their lease expires: run Q step e")

	var clean drainTally
	clean.add("P", "a", nil)
	assert.NoError(t, clean.report(&out))
	assert.Equal(t, programName+" worker: drained: 1 step finished, nothing new claimed\n", out.String())
}
