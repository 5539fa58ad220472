package upgrade

import (
	"math/bits"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/version"
)

// catalog is the packages of one type, in ascending order of version, with
// what a plan learns about which of them constraints allow.
type catalog struct {
	pkgs []pkgsource.Package
	sets map[string]*allowSet // by constraint text; see set
	from []*allowSet          // by package: the versions its From allows
	// ascending says that each version is above the one before: none
	// differ only in build metadata, which does not order versions.
	ascending bool
	// prior is what earlier plans learned about these versions, if they
	// planned with the same ones; see catalogMemo.
	prior   *catalogKnowledge
	setSlab slab[allowSet]
	bits    slab[uint64]
}

func newCatalog(typ string, pkgs []pkgsource.Package, memo *catalogMemo) *catalog {
	cat := &catalog{pkgs: pkgs, sets: make(map[string]*allowSet, len(pkgs)/4), from: make([]*allowSet, len(pkgs)),
		ascending: true, prior: memo.lookup(typ, pkgs)}
	for i := range pkgs {
		cat.from[i] = cat.set(pkgs[i].From)
		if i > 0 && !pkgs[i-1].Version.Less(pkgs[i].Version) {
			cat.ascending = false
		}
	}
	return cat
}

// locate returns the index of version v in the catalog, or -1, and the
// index of the lowest version above v, or len(cat.pkgs).
func (cat *catalog) locate(v version.Version) (at, above int) {
	above = firstAbove(cat.pkgs, v)
	for i := above - 1; i >= 0 && !cat.pkgs[i].Version.Less(v); i-- {
		if cat.pkgs[i].Version.Same(v) { // an installed 18.04 is the package 18.4.0
			return i, above
		}
	}
	return -1, above
}

// below reports whether the j-th version is below the i-th.
func (cat *catalog) below(j, i int) bool {
	if cat.ascending {
		return j < i
	}
	return cat.pkgs[j].Version.Less(cat.pkgs[i].Version)
}

// allowSet holds which versions of a catalog one constraint allows, learned
// as they are asked about: bit i of known says whether pkgs[i] was asked
// about, bit i of allowed the answer. The nil *allowSet stands for the zero
// constraint, which allows every version.
type allowSet struct {
	id             int // from 1, in the order of the catalog's sets
	constraint     version.Constraint
	pkgs           []pkgsource.Package
	known, allowed []uint64
	learned        bool // whether this plan learned something; see catalogMemo
}

// set returns the allowSet of c over the catalog's versions.
func (cat *catalog) set(c version.Constraint) *allowSet {
	if c.IsZero() {
		return nil
	}
	s := cat.sets[c.String()]
	if s == nil {
		words := (len(cat.pkgs) + 63) / 64
		bits := cat.bits.take(2 * words)
		if cat.prior != nil {
			copy(bits, cat.prior.sets[c.String()])
		}
		s = cat.setSlab.one()
		*s = allowSet{id: len(cat.sets) + 1, constraint: c, pkgs: cat.pkgs, known: bits[:words:words], allowed: bits[words:]}
		cat.sets[c.String()] = s
	}
	return s
}

// setsOf returns the allowSets of the demands' constraints over cat.
func (pl *planning) setsOf(cat *catalog, ds []Demand) []*allowSet {
	sets := pl.setLists.take(len(ds))
	for i := range ds {
		sets[i] = cat.set(ds[i].Constraint)
	}
	return sets
}

// allowsAt reports whether s allows the i-th version of its catalog.
func (pl *planning) allowsAt(s *allowSet, i int) bool {
	if s == nil {
		return true
	}
	w, bit := i/64, uint64(1)<<(i%64)
	if s.known[w]&bit == 0 {
		s.known[w] |= bit
		s.learned = true
		if pl.allows(s.constraint, s.pkgs[i].Version) {
			s.allowed[w] |= bit
		}
	}
	return s.allowed[w]&bit != 0
}

// rejectingAt returns the index of the first set that does not allow the
// i-th version of their catalog, or -1.
func (pl *planning) rejectingAt(sets []*allowSet, i int) int {
	for k, s := range sets {
		if k > 0 && s == sets[k-1] {
			continue // a run of one constraint
		}
		if !pl.allowsAt(s, i) {
			return k
		}
	}
	return -1
}

// allowAt reports whether every set allows the i-th version.
func (pl *planning) allowAt(sets []*allowSet, i int) bool { return pl.rejectingAt(sets, i) < 0 }

// learn makes s know about the first n versions of its catalog.
func (pl *planning) learn(s *allowSet, n int) {
	if s == nil {
		return
	}
	for w := 0; w*64 < n; w++ {
		for m := ^s.known[w] & lowBits(n-w*64); m != 0; m &= m - 1 {
			pl.allowsAt(s, w*64+bits.TrailingZeros64(m))
		}
	}
}

// allowedBy returns, as bits, which of the first n versions of a catalog
// every set allows.
func (pl *planning) allowedBy(sets []*allowSet, n int) []uint64 {
	out := pl.bitLists.take((n + 63) / 64)
	for w := range out {
		out[w] = lowBits(n - w*64)
	}
	for _, s := range sets {
		if s == nil {
			continue
		}
		pl.learn(s, n)
		for w := range out {
			out[w] &= s.allowed[w]
		}
	}
	return out
}
