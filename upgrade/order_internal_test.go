package upgrade

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/version"
)

// The walk in the policy's order (order) is the plain sort of the
// candidates by the policy's comparison (prefer), which explains the
// choice in the candidates: on generated catalogs, with versions equal
// but for their build metadata, for every policy and installed version,
// upgrades and downgrades; and within a window of versions, the same
// walk but for the versions outside it.
func TestOrderIsPreferSorted(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 300 {
		var pkgs []pkgsource.Package
		for range 1 + rng.IntN(40) {
			s := fmt.Sprintf("%d.%d.%d", rng.IntN(3), rng.IntN(4), rng.IntN(4))
			if rng.IntN(5) == 0 {
				s += fmt.Sprintf("+b%d", rng.IntN(3))
			}
			pkgs = append(pkgs, pkgsource.Package{Type: "t", Version: version.MustParse(s)})
		}
		slices.SortFunc(pkgs, pkgsource.Compare)
		pkgs = slices.CompactFunc(pkgs, func(a, b pkgsource.Package) bool { return a.Version.Same(b.Version) })
		cat := newCatalog(pkgs)
		installed := version.MustParse(fmt.Sprintf("%d.%d.%d", rng.IntN(3), rng.IntN(4), rng.IntN(4)))
		above := cat.above(installed)
		pf := &platform{cat: cat, firstAbove: above}
		for _, policy := range []Policy{Newest, Nearest, LatestPatch} {
			pl := &planning{Planner: &Planner{cfg: config{policy: policy}}}
			for _, up := range []bool{true, false} {
				var want []int
				for i := range pkgs {
					if (i >= above) == up {
						want = append(want, i)
					}
				}
				slices.SortStableFunc(want, pl.prefer(pkgs, up))
				walk := func(lo, hi int) []int {
					var got []int
					o := order{pkgs, pf.firstAbove, up, policy, lo, hi}
					for i := o.start(); i >= 0; i = o.next(i) {
						got = append(got, i)
					}
					return got
				}
				require.Equal(t, want, walk(0, len(pkgs)-1), "round %d, policy %s, up %v, installed %s, versions %v", round, policy, up, installed, versionsOf(pkgs))
				// Within a window, the same walk, but for what lies outside.
				lo, hi := rng.IntN(len(pkgs)+1), rng.IntN(len(pkgs)+1)-1
				inside := func(is []int) []int {
					var out []int
					for _, i := range is {
						if i >= lo && i <= hi {
							out = append(out, i)
						}
					}
					return out
				}
				require.Equal(t, inside(want), inside(walk(lo, hi)), "window [%d, %d], round %d, policy %s, up %v", lo, hi, round, policy, up)
			}
		}
	}
}
