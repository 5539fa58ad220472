package version_test

import (
	"reflect"
	"strconv"
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

// TestHunt16PessimisticHint: a two-part "~>", which Masterminds reads as
// its tilde (5.0.x) and Terraform and RubyGems as any 5.x from 5.0, says
// so where it refuses a version that Terraform's reading allows, and what
// to write for that reading; it says nothing where that would not help,
// or of "~" and three-part "~>", which both read alike.
func TestHunt16PessimisticHint(t *testing.T) {
	for _, tt := range []struct{ constraint, version, want string }{
		{"~> 5.0", "5.3.1", `"~> 5.0" allows only the patch releases of the version it names (~> is Masterminds' "~" here, not Terraform's or RubyGems' operator): write ">=5.0, <6" to allow 5.3.1`},
		{"~>0.12", "0.14.2", `write ">=0.12, <1" to allow 0.14.2`},
		{"~> 5.0, != 5.2.0", "5.3.1", `write ">=5.0, <6, != 5.2.0" to allow 5.3.1`},
		{"~> 4.1 || ~> 5.0", "5.3.1", `"~> 4.1" and "~> 5.0" allow only the patch releases of the versions they name`},
		{"~> 5.0", "5.0.7", ""}, // allowed as it is
		{"~> 5.0", "6.0.0", ""}, // not by Terraform's reading either
		{"~> 5.0, != 5.3.1", "5.3.1", ""},
		{"~5.0", "5.3.1", ""},        // npm's tilde, meant so
		{"~> 5.0.1", "5.3.1", ""},    // three parts: read alike
		{">=5.0, <5.1", "5.3.1", ""}, // no "~>"
	} {
		got := version.MustParseConstraint(tt.constraint).PessimisticHint(version.MustParse(tt.version))
		if tt.want == "" {
			assert.Empty(t, got, "%s %s", tt.constraint, tt.version)
			continue
		}
		assert.Contains(t, got, tt.want, "%s %s", tt.constraint, tt.version)
	}
}

// FuzzHunt16PessimisticHint: whatever the constraint and version, the
// pessimistic hint, when it has one, names a constraint that parses and
// allows the version, which the constraint itself refuses.
func FuzzHunt16PessimisticHint(f *testing.F) {
	for _, s := range []string{"~> 5.0", "~>0.12", "~> 5.0, != 5.2.0", "~> 4.1 || ~> 5.0", "~> 5.0.1", ">=1 ~>2.3", "~> v1.2", "~> 18446744073709551615.0"} {
		f.Add(s, "5.3.1")
		f.Add(s, "2.9.0")
	}
	f.Fuzz(func(t *testing.T, cs, vs string) {
		c, err := version.ParseConstraint(cs)
		if err != nil {
			return
		}
		v, err := version.Parse(vs)
		if err != nil {
			return
		}
		hint := c.PessimisticHint(v)
		if hint == "" {
			return
		}
		require.False(t, c.Allows(v), "a hint for a version %q allows: %s", cs, hint)
		_, rest, ok := strings.Cut(hint, "): write ")
		require.True(t, ok, hint)
		quoted, _, ok := strings.Cut(rest, " to allow ")
		require.True(t, ok, hint)
		fix, err := strconv.Unquote(quoted)
		require.NoError(t, err, hint)
		fc, err := version.ParseConstraint(fix)
		require.NoError(t, err, "the hint's %q", fix)
		require.True(t, fc.Allows(v), "the hint's %q does not allow %s", fix, v)
	})
}

// TestHunt16HintsKeepConstraintsEqual: asking a constraint's hints
// changes nothing in it: two constraints parsed from one text stay
// reflect.DeepEqual, as hosts' tests compare plans, whichever was asked.
// (A cache of the hints' rewrites inside the constraint broke this.)
func TestHunt16HintsKeepConstraintsEqual(t *testing.T) {
	for _, tt := range []struct{ constraint, version string }{
		{"~> 5.0, != 5.2.0", "5.3.1"},
		{"^18.17 || >=20.5", "22.0.0-rc.1"},
	} {
		asked, other := version.MustParseConstraint(tt.constraint), version.MustParseConstraint(tt.constraint)
		v := version.MustParse(tt.version)
		require.NotEmpty(t, asked.PessimisticHint(v)+asked.PrereleaseHint(v), tt.constraint)
		assert.True(t, reflect.DeepEqual(asked, other), tt.constraint)
	}
}
