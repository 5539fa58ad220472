package version

import (
	"errors"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/Masterminds/semver/v3"
)

// The compiled form of a constraint: what Masterminds' Check decides,
// decided without building the error values that its checks make on every
// failure. Masterminds still parses and validates every constraint; the
// compiled form is read from its clauses (Constraints.String) and follows
// its constraints.go check by check, quirks included. The fuzz test
// FuzzConstraintAgreesWithMasterminds holds the two together.

// compiled is an OR of AND clauses.
type compiled []clause

// clause is an AND of comparisons. pre records that one of its bounds has
// a pre-release: only then may a pre-release version satisfy it.
type clause struct {
	cmps []comparison
	pre  bool
}

// op is a comparison operator.
type op uint8

const (
	opEqual   op = iota // "", "=": equal, or within the wildcard's range
	opNot               // "!="
	opGreater           // ">"
	opLess              // "<"
	opAtLeast           // ">=", "=>"
	opAtMost            // "<=", "=<"
	opTilde             // "~", "~>"
	opCaret             // "^"
)

var ops = map[string]op{
	"": opEqual, "=": opEqual, "!=": opNot, ">": opGreater, "<": opLess,
	">=": opAtLeast, "=>": opAtLeast, "<=": opAtMost, "=<": opAtMost,
	"~": opTilde, "~>": opTilde, "^": opCaret,
}

// comparison is one operator and its bound. A wildcard or a missing
// component ("1.x", "1", "*") makes the bound wild (its missing parts are
// 0): minorWild when the minor and all after it are wild, patchWild when
// only the patch is, and neither when the major is wild.
type comparison struct {
	op                   op
	wild                 bool
	minorWild, patchWild bool
	bound                Version
}

// comparisonRegexp is Masterminds' constraintRegex: an operator and a
// version that may hold wildcards.
var comparisonRegexp = regexp.MustCompile(`^\s*(=||!=|>|<|>=|=>|<=|=<|~|~>|\^)\s*(` +
	`v?([0-9|x|X|\*]+)(\.[0-9|x|X|\*]+)?(\.[0-9|x|X|\*]+)?` +
	`(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?` +
	`(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?)\s*$`)

var errCompile = errors.New("constraint parser error")

// compile reads the clauses of a constraint Masterminds has parsed. Its
// String joins clauses with " || " and comparisons with " ", and no
// comparison holds a space.
func compile(sc *semver.Constraints) (compiled, error) {
	groups := strings.Split(sc.String(), " || ")
	out := make(compiled, len(groups))
	for i, g := range groups {
		words := strings.Split(g, " ")
		cl := clause{cmps: make([]comparison, len(words))}
		for j, w := range words {
			cmp, err := compileComparison(w)
			if err != nil {
				return nil, err
			}
			cl.cmps[j] = cmp
			cl.pre = cl.pre || cmp.bound.Prerelease() != ""
		}
		out[i] = cl
	}
	return out, nil
}

// compileComparison follows Masterminds' parseConstraint.
func compileComparison(s string) (comparison, error) {
	m := comparisonRegexp.FindStringSubmatch(s)
	if m == nil {
		return comparison{}, errCompile
	}
	var c comparison
	c.op = ops[m[1]]
	ver := m[2]
	switch {
	case isX(m[3]):
		ver = "0.0.0" + m[6]
		c.wild = true
	case isX(strings.TrimPrefix(m[4], ".")) || m[4] == "":
		ver = m[3] + ".0.0" + m[6]
		c.wild, c.minorWild = true, true
	case isX(strings.TrimPrefix(m[5], ".")) || m[5] == "":
		ver = m[3] + m[4] + ".0" + m[6]
		c.wild, c.patchWild = true, true
	}
	b, err := semver.NewVersion(ver)
	if err != nil {
		return comparison{}, errCompile
	}
	c.bound = fromSemver(b)
	return c, nil
}

func isX(s string) bool { return s == "x" || s == "X" || s == "*" }

// allows reports whether v satisfies some clause. includePre lets
// pre-releases satisfy every clause, as Masterminds' IncludePrerelease.
func (cc compiled) allows(v *Version, includePre bool) bool {
	isPre := v.hasPrerelease()
	for i := range cc {
		cl := &cc[i]
		if isPre && !includePre && !cl.pre {
			continue
		}
		ok := true
		for j := range cl.cmps {
			if !cl.cmps[j].allows(v) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// allows follows Masterminds' constraint functions of the same names,
// after their pre-release gate (which clause.allows applies).
func (c *comparison) allows(v *Version) bool {
	b := &c.bound
	switch c.op {
	case opEqual:
		if c.wild {
			return c.tilde(v)
		}
		return compare(v, b) == 0
	case opNot:
		return c.notEqual(v)
	case opGreater:
		return c.greater(v)
	case opLess:
		return compare(v, b) < 0
	case opAtLeast:
		return compare(v, b) >= 0
	case opAtMost:
		if !c.wild {
			return compare(v, b) <= 0
		}
		return v.Major() < b.Major() ||
			v.Major() == b.Major() && (v.Minor() <= b.Minor() || c.minorWild)
	case opTilde:
		return c.tilde(v)
	default:
		return c.caret(v)
	}
}

// notEqual is constraintNotEqual.
func (c *comparison) notEqual(v *Version) bool {
	b := &c.bound
	if c.wild {
		if b.Major() != v.Major() {
			return true
		}
		if c.minorWild {
			return false
		}
		if b.Minor() != v.Minor() {
			return true
		}
		if c.patchWild {
			vp, bp := v.Prerelease(), b.Prerelease()
			return (vp != "" || bp != "") && comparePrerelease(vp, bp) != 0
		}
		if b.Patch() != v.Patch() {
			return true
		}
	}
	return compare(v, b) != 0
}

// greater is constraintGreaterThan.
func (c *comparison) greater(v *Version) bool {
	b := &c.bound
	if c.wild {
		switch {
		case v.Major() != b.Major():
			return v.Major() > b.Major()
		case c.minorWild:
			return false
		case c.patchWild:
			return v.Minor() > b.Minor()
		}
	}
	return compare(v, b) > 0
}

// tilde is constraintTilde.
func (c *comparison) tilde(v *Version) bool {
	b := &c.bound
	if compare(v, b) < 0 {
		return false
	}
	if b.Major() == 0 && b.Minor() == 0 && b.Patch() == 0 && !c.minorWild && !c.patchWild {
		return true
	}
	return v.Major() == b.Major() && (v.Minor() == b.Minor() || c.minorWild)
}

// caret is constraintCaret.
func (c *comparison) caret(v *Version) bool {
	b := &c.bound
	if compare(v, b) < 0 {
		return false
	}
	if b.Major() > 0 || c.minorWild {
		return v.Major() == b.Major()
	}
	if v.Major() > 0 {
		return false
	}
	if b.Minor() > 0 || c.patchWild {
		return v.Minor() == b.Minor()
	}
	return v.Minor() == 0 && v.Patch() == b.Patch()
}

// span returns the part [lo, hi) of n versions in ascending order, at(i)
// the i-th, outside of which no clause allows any. Each comparison of a
// clause narrows the clause's part by the versions it puts below or above
// what it allows (see below and above); the pre-release gate only narrows
// it further.
func (cc compiled) span(n int, at func(int) Version) (lo, hi int) {
	lo, hi = n, 0
	for i := range cc {
		l, h := 0, n
		for j := range cc[i].cmps {
			c := &cc[i].cmps[j]
			if c.bounded(opGreater, opEqual, opAtLeast, opTilde, opCaret) {
				l += sort.Search(h-l, func(k int) bool { v := at(l + k); return !c.below(&v) })
			}
			if c.bounded(opEqual, opTilde, opLess, opAtMost, opCaret) {
				h = l + sort.Search(h-l, func(k int) bool { v := at(l + k); return c.above(&v) })
			}
		}
		if l < h {
			lo, hi = min(lo, l), max(hi, h)
		}
	}
	if lo >= hi {
		return 0, 0
	}
	return lo, hi
}

// bounded reports whether c's operator is one of ops.
func (c *comparison) bounded(ops ...op) bool { return slices.Contains(ops, c.op) }

// below reports whether v is too low for c to allow, and so is every
// version lower than v: what allows calls lower than the bound, or a
// lower major or minor version where that is what allows compares.
func (c *comparison) below(v *Version) bool {
	b := &c.bound
	switch c.op {
	case opGreater:
		switch {
		case c.wild && c.minorWild:
			return v.Major() <= b.Major()
		case c.wild && c.patchWild:
			return v.Major() < b.Major() || v.Major() == b.Major() && v.Minor() <= b.Minor()
		}
		return compare(v, b) <= 0
	case opEqual, opAtLeast, opTilde, opCaret:
		return compare(v, b) < 0
	}
	return false // opNot, opLess, opAtMost: no lower bound
}

// above reports whether v is too high for c to allow, and so is every
// version higher than v.
func (c *comparison) above(v *Version) bool {
	b := &c.bound
	majorAbove := v.Major() > b.Major()
	minorAbove := majorAbove || v.Major() == b.Major() && v.Minor() > b.Minor()
	switch c.op {
	case opEqual:
		if !c.wild {
			return compare(v, b) > 0
		}
		return c.tildeAbove(majorAbove, minorAbove)
	case opTilde:
		return c.tildeAbove(majorAbove, minorAbove)
	case opLess:
		return compare(v, b) >= 0
	case opAtMost:
		if !c.wild {
			return compare(v, b) > 0
		}
		return majorAbove || minorAbove && !c.minorWild
	case opCaret:
		return c.caretAbove(v, majorAbove, minorAbove)
	}
	return false // opNot, opGreater, opAtLeast: no upper bound
}

// caretAbove is above for the caret, as tildeAbove for the tilde.
func (c *comparison) caretAbove(v *Version, majorAbove, minorAbove bool) bool {
	b := &c.bound
	switch {
	case b.Major() > 0 || c.minorWild:
		return majorAbove
	case v.Major() > 0:
		return true
	case b.Minor() > 0 || c.patchWild:
		return minorAbove
	}
	return minorAbove || v.Minor() == 0 && v.Patch() > b.Patch()
}

// tildeAbove is above for tilde: given whether v's major, and its major
// and minor, are above the bound's.
func (c *comparison) tildeAbove(majorAbove, minorAbove bool) bool {
	b := &c.bound
	if b.Major() == 0 && b.Minor() == 0 && b.Patch() == 0 && !c.minorWild && !c.patchWild {
		return false
	}
	return majorAbove || minorAbove && !c.minorWild
}
