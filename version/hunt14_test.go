package version_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/version"
)

// Test: a constraint of more alternatives than Masterminds reads (32) is
// refused saying so and what to write, not with the advice to write
// comparisons "joined by "||" for "or"", which is what it holds.
func TestHunt14TooManyAlternativesSaysWhatToDo(t *testing.T) {
	alts := make([]string, 33)
	for i := range alts {
		alts[i] = fmt.Sprintf("1.%d", i)
	}
	_, err := version.ParseConstraint(strings.Join(alts, " || "))
	require.ErrorIs(t, err, version.ErrInvalidConstraint)
	msg := err.Error()
	assert.NotContains(t, msg, `joined by "||" for "or"`, msg)
	assert.Contains(t, msg, `33 alternatives joined by "||", at most 32`, msg)
	assert.Contains(t, msg, `merge alternatives into ranges, such as ">=1.2, <1.5" for "1.2.x || 1.3.x || 1.4.x"`, msg)

	_, err = version.ParseConstraint(strings.Join(alts[:32], " || "))
	assert.NoError(t, err, "32 are read")
}

// Test: a hyphen range written without a space on each side of its "-",
// or without one of its ends, is refused saying how a range is written,
// where the advice listed the comparisons and left the range out.
func TestHunt14HyphenRangeSaysHowToWriteIt(t *testing.T) {
	for _, in := range []string{"1.2 -1.4", "1.2- 1.4", "1.2 - ", "- 1.4", ">=1.0 || 1.2 -1.4"} {
		_, err := version.ParseConstraint(in)
		require.ErrorIs(t, err, version.ErrInvalidConstraint, "%q", in)
		assert.Contains(t, err.Error(), `a range is written as two versions with a space on each side of "-", such as "1.2 - 1.4"`, "%q", in)
	}
	for _, in := range []string{"1.2 - 1.4", "1.2.0-rc.1 - 2", "1.2-rc.1"} {
		_, err := version.ParseConstraint(in)
		assert.NoError(t, err, "%q", in)
	}
}
