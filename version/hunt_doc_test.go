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
