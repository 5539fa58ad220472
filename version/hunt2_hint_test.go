package version_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/version"
)

// TestHunt2PrereleaseHintKeepsTheRange: the constraint that the
// pre-release hint tells the operator to write allows the pre-release and,
// of the releases, exactly what the constraint allowed. A partial version
// is a range ("=1" is 1.x, "~1" is 1.x, "~0" is 0.x), which writing it out
// in full as "1.0.0-0" changes: "=1" became ">=1.0.0-0", which allows 2.0.0
// and 3.0.0; "~1" became "~1.0.0-0", which refuses 1.5.0; "~0" became
// "~0.0.0-0", which allows everything.
func TestHunt2PrereleaseHintKeepsTheRange(t *testing.T) {
	releases := []string{"0.0.0", "0.0.1", "0.0.5", "0.1.0", "0.2.0", "0.2.7", "0.5.0", "1.0.0", "1.0.5", "1.2.0", "1.2.9",
		"1.5.0", "1.29.0", "1.29.5", "1.30.0", "2.0.0", "2.5.0", "3.0.0", "5.0.0"}
	tests := []struct{ constraint, version, fix string }{
		{"=1", "1.5.0-rc.1", "=1-0"},
		{"1.x || =1", "1.5.0-rc.1", "1.x || =1-0"},
		{"=1.29 || ^2", "1.29.1-eks-1", "=1.29-0 || ^2"},
		{"~1", "1.0.5-rc.1", "~1-0"},
		{"~>1", "1.5.0-rc.1", "~>1-0"},
		{"~0", "0.5.0-rc.1", "~0-0"},
		{"~0.0", "0.0.5-rc.1", "~0.0-0"},
		{"~ v1", "1.5.0-rc.1", "~1-0"},
		{"^0", "0.5.0-rc.1", "^0-0"},
		{"^0.0", "0.0.5-rc.1", "^0.0-0"},
		// Written out in full, these keep their range, and are as before.
		{">=1.30", "1.30.4-eks-a1", ">=1.30.0-0"},
		{"~1.29", "1.29.3-eks-1", "~1.29.0-0"},
		{"^1", "1.5.0-rc.1", "^1.0.0-0"},
		{"^1.2", "1.5.0-rc.1", "^1.2.0-0"},
		{"^0.2", "0.2.7-rc.1", "^0.2.0-0"},
		{"~1.2.3", "1.2.9-rc.1", "~1.2.3-0"},
	}
	for _, tt := range tests {
		t.Run(tt.constraint, func(t *testing.T) { checkHintFix(t, tt.constraint, tt.version, tt.fix, releases) })
	}
}

// TestHunt2PrereleaseHintReadsWholeOperators: "<=1.2" and "!=1.2" hold
// "=1.2", which is no lower bound of theirs; the hint falls back to
// saying what to add.
func TestHunt2PrereleaseHintReadsWholeOperators(t *testing.T) {
	for _, tt := range [][2]string{{"<=1.2", "1.2.5-rc"}, {"!=1.2", "1.3.0-rc"}} {
		c, v := version.MustParseConstraint(tt[0]), version.MustParse(tt[1])
		assert.Contains(t, c.PrereleaseHint(v), "add a lower bound such as", "%q", tt[0])
	}
}

// hintReleases are the releases FuzzHunt2PrereleaseHint compares a
// constraint and the one its hint says to write on.
var hintReleases = func() []version.Version {
	var vs []version.Version
	for _, major := range []uint64{0, 1, 2, 3, 10} {
		for _, minor := range []uint64{0, 1, 2, 5, 29, 30} {
			for _, patch := range []uint64{0, 1, 3, 9} {
				vs = append(vs, version.MustParse(fmt.Sprintf("%d.%d.%d", major, minor, patch)))
			}
		}
	}
	return vs
}()

// FuzzHunt2PrereleaseHint: the constraint a pre-release hint says to write
// allows the pre-release and, of the releases, what the constraint allows.
func FuzzHunt2PrereleaseHint(f *testing.F) {
	for _, s := range []string{"=1", "~1", "~0", "^0", "^0.0", "~0.0", ">=1.30", "~1.29", "=1.29 || ^2", "^1.2", "<=1.2",
		"!=1.2", ">=1.2 <2", "~>1", "=v1.2", "1.x || =2", ">1 <=2.5"} {
		f.Add(s, "1.2.3-rc.1")
		f.Add(s, "0.0.3-rc.1")
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
		_, fix, ok := strings.Cut(c.PrereleaseHint(v), "excludes: write ")
		if !ok {
			return
		}
		fix = strings.TrimSuffix(fix, " to allow pre-releases")
		fc, err := version.ParseConstraint(fix)
		require.NoError(t, err, "the hint's %q", fix)
		require.True(t, fc.Allows(v), "the hint's %q does not allow %s", fix, v)
		for _, r := range hintReleases {
			require.Equal(t, c.Allows(r), fc.Allows(r), "%q allows %s: %v; the hint's %q: %v", c, r, c.Allows(r), fix, fc.Allows(r))
		}
	})
}
