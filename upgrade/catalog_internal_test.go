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

// A catalog checks a constraint only on the versions within its Span
// (allowedBy, installsOver): on generated catalogs, with pre-releases and
// build metadata, and generated constraints of every operator, wildcards,
// ANDs and ORs, its answers are those of checking every version.
func TestCatalogSpanIsPlainScan(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	ver := func() string {
		s := fmt.Sprintf("%d.%d.%d", rng.IntN(3), rng.IntN(4), rng.IntN(4))
		switch rng.IntN(6) {
		case 0:
			s += fmt.Sprintf("-rc.%d", rng.IntN(3))
		case 1:
			s += fmt.Sprintf("+b%d", rng.IntN(3))
		}
		return s
	}
	bound := func() string {
		parts := []string{fmt.Sprint(rng.IntN(3)), fmt.Sprint(rng.IntN(4)), fmt.Sprint(rng.IntN(4))}
		switch rng.IntN(4) {
		case 0:
			parts[1+rng.IntN(2)] = "x"
		case 1:
			parts = parts[:1+rng.IntN(2)]
		}
		s := parts[0]
		for _, p := range parts[1:] {
			s += "." + p
		}
		if rng.IntN(5) == 0 {
			s += "-0"
		}
		return s
	}
	ops := []string{"", "=", "!=", ">", "<", ">=", "<=", "~", "^"}
	constraint := func() version.Constraint {
		s := ops[rng.IntN(len(ops))] + bound()
		for range rng.IntN(3) {
			sep := []string{", ", " ", " || "}[rng.IntN(3)]
			s += sep + ops[rng.IntN(len(ops))] + bound()
		}
		return version.MustParseConstraint(s)
	}
	for round := range 500 {
		var pkgs []pkgsource.Package
		for range 1 + rng.IntN(30) {
			pkgs = append(pkgs, pkgsource.Package{Type: "t", Version: version.MustParse(ver()), From: constraint()})
		}
		slices.SortFunc(pkgs, pkgsource.Compare)
		pkgs = slices.CompactFunc(pkgs, func(a, b pkgsource.Package) bool { return a.Version.Same(b.Version) })
		cat := newCatalog(pkgs)
		for range 5 {
			c := constraint()
			a := cat.allowedBy(c)
			lo, hi := -1, -1
			for i, p := range pkgs {
				require.Equal(t, c.Allows(p.Version), a.versions[i], "round %d: %q allows %s", round, c, p.Version)
				if a.versions[i] {
					lo, hi = cmpOr(lo, i), i
				}
			}
			require.Equal(t, [2]int{lo, hi}, [2]int{a.lo, a.hi}, "round %d: the lowest and highest %q allows", round, c)
		}
		for _, step := range []int{0, 1} {
			cat := newCatalog(pkgs)
			for i := range pkgs {
				var want []int
				for j := range i {
					if cat.less(j, i) && pkgs[j].Version.Prerelease() == "" && hop(pkgs[j].Version, &pkgs[i], step) {
						want = append(want, j)
					}
				}
				require.Equal(t, want, nilIfEmpty(cat.installsOver(i, step)), "round %d: %s (from %q) installs over", round, pkgs[i].Version, pkgs[i].From)
			}
		}
	}
}

// cmpOr returns a, or b when a is -1.
func cmpOr(a, b int) int {
	if a < 0 {
		return b
	}
	return a
}

func nilIfEmpty(s []int) []int {
	if len(s) == 0 {
		return nil
	}
	return s
}
