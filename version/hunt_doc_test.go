package version_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/version"
)

// The package doc: "8.5" is 8.5.0, "18.04" is 18.4.0, a leading "v" is
// accepted; String and MarshalText give the text back as written;
// Canonical gives "18.4.0"; inputs longer than MaxLength are refused.
func TestHuntDocSpellings(t *testing.T) {
	for in, canon := range map[string]string{"8.5": "8.5.0", "18.04": "18.4.0", "v2.1": "2.1.0"} {
		v, err := version.Parse(in)
		require.NoError(t, err, in)
		assert.Equal(t, in, v.String())
		b, err := v.MarshalText()
		require.NoError(t, err)
		assert.Equal(t, in, string(b))
		assert.Equal(t, canon, v.Canonical().String())
		assert.Zero(t, v.Compare(version.MustParse(canon)))
	}
	_, err := version.Parse("1." + strings.Repeat("1", version.MaxLength))
	assert.ErrorIs(t, err, version.ErrInvalidVersion)
	_, err = version.ParseConstraint(">=1." + strings.Repeat("1", version.MaxLength))
	assert.Error(t, err)
}

// Constraint: the zero Constraint allows every version, prereleases
// included, prints as "*" and marshals as ""; "", blank and "*" parse to
// it; white space within is kept as spaces; PrereleaseHint says how to
// allow a pre-release.
func TestHuntDocConstraint(t *testing.T) {
	for _, s := range []string{"", "  \t", "*"} {
		c, err := version.ParseConstraint(s)
		require.NoError(t, err, "%q", s)
		assert.True(t, c.IsZero(), "%q", s)
		assert.Equal(t, "*", c.String())
		assert.True(t, c.Allows(version.MustParse("1.2.3-rc.1")))
		b, err := c.MarshalText()
		require.NoError(t, err)
		assert.Equal(t, "", string(b))
		var back version.Constraint
		require.NoError(t, back.UnmarshalText(b))
		assert.True(t, back.IsZero())
	}
	c, err := version.ParseConstraint(" >=1.0\t<2\n")
	require.NoError(t, err)
	assert.Equal(t, ">=1.0 <2", c.String())

	gt := version.MustParseConstraint(">=1.30")
	pre := version.MustParse("1.30.4-eks-a1")
	assert.False(t, gt.Allows(pre))
	assert.True(t, gt.ExcludesPrerelease(pre))
	assert.Equal(t, "1.30.4-eks-a1 is a pre-release, which >=1.30 excludes: write >=1.30.0-0 to allow pre-releases", gt.PrereleaseHint(pre))
	assert.True(t, version.MustParseConstraint(">=1.30.0-0").Allows(pre))
	assert.Equal(t, "", gt.PrereleaseHint(version.MustParse("1.29.0")))
}
