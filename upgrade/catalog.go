package upgrade

import (
	"slices"
	"sort"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/version"
)

// catalog is the packages of one type, in ascending order of version, and
// what one plan has worked out about them: which versions each constraint
// met allows, and which packages install over which. Many platform nodes
// of a type ask the same of it.
type catalog struct {
	pkgs []pkgsource.Package
	// ascending says that each version is above the one before: none
	// differ only in build metadata, which does not order versions.
	ascending bool
	allowed   map[string]allowance // by constraint text
	cached    int                  // entries in allowed, bounded by maxCached
	preds     [][]int              // by package, once worked out: see installsOver
	edges     []int                // where preds are kept
	preferred map[int]string       // see prefers
	lists     map[listKey][][]Candidate
	// dists holds the distances of nodes by installed version and co-tenant
	// constraints: see distancesFrom.
	dists map[string]*[]int32
	// sure holds the constraints sureDemand joins of its packages'
	// requirements, by their text, parsed once.
	sure map[string]version.Constraint
}

// listKey says what a list of candidates depends on besides the demands:
// the chosen version and the installed one.
type listKey struct {
	chosen    int
	installed string
}

// maxCached bounds how many answers a catalog keeps in allowed; past it,
// constraints are checked each time.
const maxCached = 1 << 24

func newCatalog(pkgs []pkgsource.Package) *catalog {
	cat := &catalog{pkgs: pkgs, ascending: true, allowed: map[string]allowance{}, preds: make([][]int, len(pkgs))}
	for i := 1; i < len(pkgs); i++ {
		if !pkgs[i-1].Version.Less(pkgs[i].Version) {
			cat.ascending = false
		}
	}
	return cat
}

// allowance is which versions of a catalog a constraint allows, index for
// index, and the lowest and the highest of them (-1 when none).
type allowance struct {
	versions []bool
	lo, hi   int
}

// allowedBy returns which versions c allows.
func (cat *catalog) allowedBy(c version.Constraint) allowance {
	if a, ok := cat.allowed[c.String()]; ok {
		return a
	}
	a := allowance{versions: make([]bool, len(cat.pkgs)), lo: -1, hi: -1}
	lo, hi := c.Span(len(cat.pkgs), cat.version)
	for k := lo; k < hi; k++ {
		if a.versions[k] = c.Allows(cat.pkgs[k].Version); a.versions[k] {
			if a.lo < 0 {
				a.lo = k
			}
			a.hi = k
		}
	}
	if cat.cached+len(cat.pkgs) <= maxCached {
		cat.allowed[c.String()] = a
		cat.cached += len(cat.pkgs)
	}
	return a
}

// sieve says which versions of a catalog fit a platform node: which its
// demands and its co-tenants allow. It holds a rule per distinct
// constraint, in order of first appearance, the demands' then the
// co-tenants'.
type sieve struct {
	rules     []rule
	cotenants int // the index in rules of the co-tenants' first
	// lo and hi bound the versions that fit: every rule allows none
	// below lo or above hi, so that a walk need not look there.
	lo, hi int
}

// rule is the versions a constraint allows, and the index of the first
// demand (or co-tenant) with that constraint.
type rule struct {
	constraint string
	allowance
	index int
}

// sieve appends to rules those of the demands and co-tenants, and returns
// their sieve.
func (cat *catalog) sieve(rules []rule, demands, cotenants []Demand) sieve {
	rules = cat.appendRules(rules, demands)
	return sieve{rules: rules, cotenants: len(rules)}.with(cat, cotenants)
}

// with returns s with the rules of the co-tenants added, s's own no longer
// to be used: they share a list.
func (s sieve) with(cat *catalog, cotenants []Demand) sieve {
	s.rules = cat.appendRules(s.rules, cotenants)
	s.lo, s.hi = 0, len(cat.pkgs)-1
	for _, r := range s.rules {
		if r.lo < 0 { // it allows none
			s.lo, s.hi = 0, -1
			break
		}
		s.lo, s.hi = max(s.lo, r.lo), min(s.hi, r.hi)
	}
	return s
}

// appendRules appends to rules one per distinct constraint of ds, each with
// the index in ds of its first demand.
func (cat *catalog) appendRules(rules []rule, ds []Demand) []rule {
	start := len(rules)
	for k := range ds {
		if ds[k].Constraint.IsZero() || k > 0 && ds[k].Constraint.String() == ds[k-1].Constraint.String() {
			continue
		}
		c := ds[k].Constraint.String()
		if !slices.ContainsFunc(rules[start:min(len(rules), start+64)], func(r rule) bool { return r.constraint == c }) { // past 64, a repeat costs a little time
			rules = append(rules, rule{c, cat.allowedBy(ds[k].Constraint), k})
		}
	}
	return rules
}

// rejecting returns the index of the first demand, and of the first
// co-tenant, that does not allow the i-th version, each -1 if none.
func (s sieve) rejecting(i int) (demand, cotenant int) {
	return firstRejecting(s.rules[:s.cotenants], i), firstRejecting(s.rules[s.cotenants:], i)
}

func firstRejecting(rules []rule, i int) int {
	for _, r := range rules {
		if !r.versions[i] {
			return r.index
		}
	}
	return -1
}

// fits reports whether every demand and co-tenant allows the i-th version.
func (s sieve) fits(i int) bool { return firstRejecting(s.rules, i) < 0 }

// cotenantsAllow reports whether every co-tenant allows the i-th version.
func (s sieve) cotenantsAllow(i int) bool { return firstRejecting(s.rules[s.cotenants:], i) < 0 }

// any reports whether some version fits.
func (s sieve) any() bool {
	for i := s.lo; i <= s.hi; i++ {
		if s.fits(i) {
			return true
		}
	}
	return false
}

// wanted reports whether every demand allows the i-th version.
func (s sieve) wanted(i int) bool { return firstRejecting(s.rules[:s.cotenants], i) < 0 }

// above returns the index of the lowest version above v, or
// len(cat.pkgs).
func (cat *catalog) above(v version.Version) int {
	return sort.Search(len(cat.pkgs), func(i int) bool { return v.Less(cat.pkgs[i].Version) })
}

// less reports whether the j-th version is lower than the i-th.
func (cat *catalog) less(j, i int) bool {
	if cat.ascending {
		return j < i
	}
	return cat.pkgs[j].Version.Less(cat.pkgs[i].Version)
}

// version returns the i-th version.
func (cat *catalog) version(i int) version.Version { return cat.pkgs[i].Version }

// installsOver returns the packages below the i-th that it can be
// installed over (see hop) on the way to it, ascending: not pre-releases,
// which a chain does not pass through (see planning.chain).
func (cat *catalog) installsOver(i int, maxMinorStep int) []int {
	if cat.preds[i] == nil {
		start := len(cat.edges)
		lo, hi := cat.pkgs[i].From.Span(i, cat.version)
		for j := lo; j < hi; j++ {
			if cat.less(j, i) && cat.hopsFrom(j, i, maxMinorStep) {
				cat.edges = append(cat.edges, j)
			}
		}
		preds := cat.edges[start:len(cat.edges):len(cat.edges)]
		if preds == nil {
			preds = []int{} // worked out: none
		}
		cat.preds[i] = preds
	}
	return cat.preds[i]
}

// hopsFrom reports whether package i installs over the version of package
// j, a release: a hop of a chain, up or down, which passes through
// released versions only.
func (cat *catalog) hopsFrom(j, i int, maxMinorStep int) bool {
	return cat.pkgs[j].Version.Prerelease() == "" && hop(cat.pkgs[j].Version, &cat.pkgs[i], maxMinorStep)
}

// downFrom returns the part [lo, hi) of the packages above package i and
// below limit that i may install over, as a hop of a chain of downgrades:
// outside it, its From allows none.
func (cat *catalog) downFrom(i, limit int) (lo, hi int) {
	lo, hi = cat.pkgs[i].From.Span(limit, cat.version)
	return max(lo, i+1), hi
}

// distancesFrom returns the distances, as far as worked out, from the
// installed version through versions the co-tenants of fit allow (see
// planning.distances), shared by the nodes with the same installed version
// and co-tenant constraints.
func (cat *catalog) distancesFrom(installed version.Version, fit sieve) *[]int32 {
	var buf [256]byte
	key := append(buf[:0], installed.String()...)
	for _, r := range fit.rules[fit.cotenants:] {
		key = append(append(key, 0), r.constraint...)
	}
	if d, ok := cat.dists[string(key)]; ok {
		return d
	}
	d := new([]int32)
	*d = make([]int32, 0, len(cat.pkgs))
	if cat.dists == nil {
		cat.dists = map[string]*[]int32{}
	}
	cat.dists[string(key)] = d
	return d
}

// hop reports whether package p can be installed over version from: its
// From allows from, and it advances no more minor versions than
// maxMinorStep (see WithMaxMinorStep) within a major version.
func hop(from version.Version, p *pkgsource.Package, maxMinorStep int) bool {
	if !p.From.Allows(from) {
		return false
	}
	if n := maxMinorStep; n > 0 && p.Version.Major() == from.Major() && from.Less(p.Version) {
		return p.Version.Minor()-from.Minor() <= uint64(n)
	}
	return true
}

// prefers returns why the policy prefers the i-th version to the others
// considered, a text that the nodes choosing it share.
func (cat *catalog) prefers(i int, policy Policy) string {
	s, ok := cat.preferred[i]
	if !ok {
		s = "policy " + policy.String() + " prefers " + cat.pkgs[i].Version.String()
		if cat.preferred == nil {
			cat.preferred = map[int]string{}
		}
		cat.preferred[i] = s
	}
	return s
}

// share returns a list of candidates equal to cs that nodes which chose the
// i-th version over installed share, if there is one, or else a copy of cs,
// kept to share: nodes on the same versions often have the same candidates
// for the same reasons, and each list takes a few kilobytes. Only the
// latest lists are tried, so that nodes with reasons of their own do not
// cost time quadratic in their number.
func (cat *catalog) share(i int, installed version.Version, cs []Candidate) []Candidate {
	k := listKey{i, installed.String()}
	lists := cat.lists[k]
	for _, l := range lists[max(len(lists)-4, 0):] {
		if slices.EqualFunc(l, cs, func(a, b Candidate) bool {
			return a.Chosen == b.Chosen && a.Rejected == b.Rejected && a.Version.String() == b.Version.String()
		}) {
			return l
		}
	}
	l := slices.Clone(cs)
	if cat.lists == nil {
		cat.lists = map[listKey][][]Candidate{}
	}
	cat.lists[k] = append(lists, l)
	return l
}
