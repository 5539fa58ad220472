package version_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/version"
)

// TestHunt16PrereleaseHintReversedOperator: "=>", which Masterminds reads
// as ">=", gets the pre-release hint ">=" gets: "-0" on its own bound,
// keeping the range. Before, the hint did not see it as a lower bound and
// advised adding ">=1.5.0-0", which drops 1.2 to 1.4.
func TestHunt16PrereleaseHintReversedOperator(t *testing.T) {
	pre := version.MustParse("1.5.0-rc.1")
	for src, want := range map[string]string{
		"=>1.2":      "=>1.2.0-0",
		"=> 1.2, <2": "=>1.2.0-0, <2",
	} {
		hint := version.MustParseConstraint(src).PrereleaseHint(pre)
		_, rest, ok := strings.Cut(hint, "write ")
		fix, _, ok2 := strings.Cut(rest, " to allow pre-releases")
		require.True(t, ok && ok2, "%s: the hint says what to write: %s", src, hint)
		assert.Equal(t, want, fix, src)
		fixed := version.MustParseConstraint(fix)
		assert.True(t, fixed.Allows(pre), src)
		assert.True(t, fixed.Allows(version.MustParse("1.2.0")), "%s: the range kept", src)
	}
}
