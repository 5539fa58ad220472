package version_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/version"
)

// TestHunt16PrereleaseHintOtherAlternative: when the pre-release falls in
// an alternative of "||" other than the first, the hint writes "-0" on
// that alternative's lower bound. It looked at the first only, and fell
// back to "add a lower bound such as >=22.0.0-0" for Node.js's engines
// "^18.17 || >=20.5" and 22.0.0-rc.1: added to the last alternative, as
// it must be to allow the pre-release, that bound drops 20.5 to 21.x.
func TestHunt16PrereleaseHintOtherAlternative(t *testing.T) {
	releases := []string{"16.20.2", "18.16.0", "18.17.0", "18.20.4", "19.0.0", "20.4.0", "20.5.0", "20.18.0", "21.7.3", "22.0.0", "22.11.0", "23.1.0"}
	tests := []struct{ constraint, version, fix string }{
		{"^18.17 || >=20.5", "22.0.0-rc.1", "^18.17 || >=20.5.0-0"},
		{"^18.17 || >=20.5", "18.19.0-rc.1", "^18.17.0-0 || >=20.5"},
		{"~16.20 || ^18.17 || ^20.9", "20.10.0-nightly.1", "~16.20 || ^18.17 || ^20.9.0-0"},
		{">=18.17 <19 || >=20.5, <21", "20.6.0-rc.1", ">=18.17 <19 || >=20.5.0-0, <21"},
	}
	for _, tt := range tests {
		t.Run(tt.constraint+" "+tt.version, func(t *testing.T) {
			checkHintFix(t, tt.constraint, tt.version, tt.fix, releases)
		})
	}
}

// checkHintFix checks that the pre-release hint of constraint on version
// says to write fix, which allows the version and, of releases, what the
// constraint allows.
func checkHintFix(t *testing.T, constraint, ver, fix string, releases []string) {
	t.Helper()
	c, v := version.MustParseConstraint(constraint), version.MustParse(ver)
	hint := c.PrereleaseHint(v)
	_, got, ok := strings.Cut(hint, "excludes: write ")
	require.True(t, ok, "hint %q gives no constraint to write", hint)
	got = strings.TrimSuffix(got, " to allow pre-releases")
	assert.Equal(t, fix, got)
	f, err := version.ParseConstraint(got)
	require.NoError(t, err)
	assert.True(t, f.Allows(v), "%q does not allow %s", got, v)
	for _, r := range releases {
		rv := version.MustParse(r)
		assert.Equal(t, c.Allows(rv), f.Allows(rv), "%q allows %s: %v; the hint's %q: %v", c, r, c.Allows(rv), got, f.Allows(rv))
	}
}

// TestHunt16NameBeforeTheNumbers: versions as Go, Adoptium and image
// registries write them, a name before the numbers (go1.22.5,
// jdk-21.0.2+13, noble-20240423), were refused with the generic "write
// major.minor.patch"; the error now says to leave the name out and what
// that gives, or what is wrong with what is left. A constraint that holds
// one says so too.
func TestHunt16NameBeforeTheNumbers(t *testing.T) {
	for in, want := range map[string]string{
		"go1.22.5":       `"go" before the numbers is no part of a version: write 1.22.5`,
		"jdk-21.0.2+13":  `"jdk-" before the numbers is no part of a version: write 21.0.2+13`,
		"noble-20240423": `"noble-" before the numbers is no part of a version: write 20240423`,
		"php_8.2":        `"php_" before the numbers is no part of a version: write 8.2`,
		"go1.21rc2":      `"go" before the numbers is no part of a version: write the version without it, and letters follow a "-", as a pre-release (1.21-rc2, which orders before 1.21)`,
	} {
		_, err := version.Parse(in)
		require.ErrorIs(t, err, version.ErrInvalidVersion, "%q", in)
		assert.Contains(t, err.Error(), want, "%q", in)
	}
	for in, want := range map[string]string{
		">= go1.21":          `"go" before 1.21 is no part of a version: write 1.21`,
		">=go1.21, <go1.23":  `"go" before 1.21 is no part of a version: write 1.21`,
		"^jdk-17.0.2 || ^21": `"jdk-" before 17.0.2 is no part of a version: write 17.0.2`,
	} {
		_, err := version.ParseConstraint(in)
		require.ErrorIs(t, err, version.ErrInvalidConstraint, "%q", in)
		assert.Contains(t, err.Error(), want, "%q", in)
	}
}

// TestHunt16CompatibleReleaseOnZero: Python's "~=" is refused with advice
// by example, ~=1.4 as "^1.4"; followed for a 0.x version, as PEP 440
// projects often have (~=0.21), it gives "^0.21", which allows 0.21.x
// only where ~=0.21 allows every 0.x from 0.21. For a 0.x version the
// error now says what to write for it, and that is what PEP 440 means.
func TestHunt16CompatibleReleaseOnZero(t *testing.T) {
	_, err := version.ParseConstraint("~=0.21")
	require.ErrorIs(t, err, version.ErrInvalidConstraint)
	assert.Contains(t, err.Error(), `but write ~=0.21 as ">=0.21, <1": "^0.21" allows 0.21.x only`)
	fix := version.MustParseConstraint(">=0.21, <1")
	for v, allowed := range map[string]bool{"0.20.9": false, "0.21.0": true, "0.21.7": true, "0.22.0": true, "0.99.1": true, "1.0.0": false} {
		assert.Equal(t, allowed, fix.Allows(version.MustParse(v)), v)
	}
	_, err = version.ParseConstraint("~=1.4")
	assert.NotContains(t, err.Error(), "but write")
}

// TestHunt16DoubleEqualsSaysExact: "==" is refused with `write "=1.2" or
// "1.2" for exactly 1.2`, but "=1.2" and "1.2" allow every 1.2.x: a
// pip-style pin ==1.2 followed as told allowed 1.2.9. The error now says
// what to write for the version given: the version in full for exactly it,
// or the wildcard for ==3.11.*, which means a range.
func TestHunt16DoubleEqualsSaysExact(t *testing.T) {
	for in, fix := range map[string]string{
		"==1.2":          "=1.2.0",
		"==3.11.4":       "=3.11.4",
		">=1.0, ==1.2.3": "=1.2.3",
		"== v2":          "=2.0.0",
		"==3.11.*":       "=3.11.*",
		"==1.2.0-rc.1":   "=1.2.0-rc.1",
	} {
		_, err := version.ParseConstraint(in)
		require.ErrorIs(t, err, version.ErrInvalidConstraint, in)
		assert.Contains(t, err.Error(), `"==" is not an operator: write "`+fix+`"`, in)
	}
	_, err := version.ParseConstraint("==1.2")
	assert.Contains(t, err.Error(), `write "=1.2.0" for exactly 1.2.0: "=1.2" and "1.2" allow any 1.2.x`)
	exact := version.MustParseConstraint("=1.2.0")
	assert.True(t, exact.Allows(version.MustParse("1.2.0")))
	assert.False(t, exact.Allows(version.MustParse("1.2.9")))
}
