package upgrade

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"slices"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/version"
)

// planID returns the plan's ID: "sha256:" and the hex SHA-256 of its
// canonical encoding, which holds every field of the plan but its ID and
// the steps' NewTemplate (their Request index stands for it).
//
// The canonical encoding is the schema name, then each field in the order
// of its declaration, but Barriers, which come last and only when there
// are some (the hash ends there, so this is unambiguous): strings, versions and constraints as their text (a version as written: a plan
// is what it says)
// prefixed with its length, numbers as varints, booleans as a byte, lists
// as their length and their elements, and an absent package as a 0 byte
// (a present one as 1 and its fields). Lengths make it unambiguous: two
// plans have the same encoding only if their fields are equal. It is
// cheaper to make than JSON, which matters as every plan is hashed.
//
// Repeats are short, as many steps install the same package and many
// nodes have the same candidates: a step's package, or a decision's
// non-empty list of candidates, equal to one of the last recentSize distinct ones written
// is written as its place among them (1 for the latest); another is a 0 and
// itself. A candidate's reason equal to the one before it is a 1, another
// a 0 and the reason.
func planID(p *Plan) string {
	var e idEncoder
	e.h = sha256.New()
	e.str(Schema)
	e.num(len(p.Requests))
	for i := range p.Requests {
		r := &p.Requests[i]
		e.str(string(r.Application))
		e.str(string(r.Replaces))
		e.template(&r.Template)
	}
	e.num(len(p.Steps))
	for i := range p.Steps {
		e.step(&p.Steps[i])
	}
	e.num(len(p.Satisfied))
	for i := range p.Satisfied {
		c := &p.Satisfied[i]
		e.str(string(c.Node))
		e.str(string(c.Template))
		e.version(c.Version)
		e.demand(&c.Demand)
	}
	e.num(len(p.Decisions))
	for i := range p.Decisions {
		e.decision(&p.Decisions[i])
	}
	e.num(len(p.Warnings))
	for _, w := range p.Warnings {
		e.str(w)
	}
	// Last, and only when there are some, so that the IDs of plans
	// without barriers are those of the releases before barriers.
	if len(p.Barriers) > 0 {
		e.num(len(p.Barriers))
		for i := range p.Barriers {
			b := &p.Barriers[i]
			e.str(string(b.ID))
			e.num(len(b.After))
			for _, a := range b.After {
				e.str(string(a))
			}
			e.str(b.Reason)
		}
	}
	return "sha256:" + hex.EncodeToString(e.sum())
}

// idEncoder writes the canonical encoding into a hash through a buffer.
type idEncoder struct {
	h     hash.Hash
	buf   [4096]byte
	n     int
	pkgs  recent[*pkgsource.Package]
	lists recent[[]Candidate]
}

// recentSize is how many distinct packages, and lists of candidates, the
// encoding refers back to.
const recentSize = 8

// recent holds the last recentSize distinct values written, the latest at
// last.
type recent[T any] struct {
	vals [recentSize]T
	last int // index of the latest in vals
	n    int
}

// find returns the place of the latest value that eq accepts, from 1 for
// the latest, or 0.
func (r *recent[T]) find(eq func(T) bool) int {
	for k := range r.n {
		if eq(r.vals[(r.last-k+recentSize)%recentSize]) {
			return k + 1
		}
	}
	return 0
}

func (r *recent[T]) add(v T) {
	r.last = (r.last + 1) % recentSize
	r.vals[r.last] = v
	r.n = min(r.n+1, recentSize)
}

// sameCandidates reports whether two lists of candidates are equal: at
// once when they are the same list, as steps of one plan often share one.
func sameCandidates(a, b []Candidate) bool {
	if len(a) != len(b) {
		return false
	}
	return len(a) == 0 || &a[0] == &b[0] || slices.Equal(a, b)
}

// samePackage reports whether two packages have equal fields.
func samePackage(a, b *pkgsource.Package) bool {
	return a == b || a.Type == b.Type && a.Version == b.Version && a.From.String() == b.From.String() &&
		a.Location == b.Location && a.Digest == b.Digest && a.Size == b.Size &&
		slices.EqualFunc(a.Requires, b.Requires, func(x, y pkgsource.Requirement) bool {
			return x.Type == y.Type && x.Constraint.String() == y.Constraint.String()
		})
}

func (e *idEncoder) flush() {
	e.h.Write(e.buf[:e.n])
	e.n = 0
}

func (e *idEncoder) sum() []byte {
	e.flush()
	return e.h.Sum(nil)
}

func (e *idEncoder) num(n int) {
	if e.n+binary.MaxVarintLen64 > len(e.buf) {
		e.flush()
	}
	if 0 <= n && n < 64 { // most are: one byte, as PutVarint writes it
		e.buf[e.n] = byte(n << 1)
		e.n++
		return
	}
	e.n += binary.PutVarint(e.buf[e.n:], int64(n))
}

func (e *idEncoder) str(s string) {
	if len(s) < 64 && e.n+1+len(s) <= len(e.buf) { // most strings: at once
		e.buf[e.n] = byte(len(s) << 1)
		e.n += 1 + copy(e.buf[e.n+1:], s)
		return
	}
	e.num(len(s))
	for len(s) > 0 {
		if e.n == len(e.buf) {
			e.flush()
		}
		k := copy(e.buf[e.n:], s)
		e.n += k
		s = s[k:]
	}
}

func (e *idEncoder) flag(b bool) {
	if b {
		e.num(1)
	} else {
		e.num(0)
	}
}

func (e *idEncoder) version(v version.Version) { e.str(v.String()) }

func (e *idEncoder) constraint(c version.Constraint) { e.str(c.String()) }

func (e *idEncoder) template(t *topology.Template) {
	e.str(string(t.ID))
	e.str(t.Type)
	e.version(t.Version)
	e.num(len(t.Requirements))
	for _, r := range t.Requirements {
		e.str(r.Name)
		e.str(string(r.Template))
		e.constraint(r.Constraint)
		e.str(string(r.Relation))
	}
}

func (e *idEncoder) step(s *Step) {
	e.str(string(s.ID))
	e.num(int(s.Kind))
	e.str(string(s.App))
	e.str(string(s.Node))
	e.str(string(s.Template))
	e.str(s.Type)
	e.version(s.From)
	e.version(s.To)
	e.flag(s.Package != nil)
	if s.Package != nil {
		ref := e.pkgs.find(func(p *pkgsource.Package) bool { return samePackage(p, s.Package) })
		if e.num(ref); ref == 0 {
			e.pkg(s.Package)
			e.pkgs.add(s.Package)
		}
	}
	e.num(s.Request)
	e.num(len(s.After))
	for _, a := range s.After {
		e.str(string(a))
	}
	e.str(s.Reason)
}

func (e *idEncoder) decision(d *Decision) {
	e.str(string(d.Node))
	e.num(len(d.Demands))
	for i := range d.Demands {
		e.demand(&d.Demands[i])
	}
	e.num(len(d.Candidates))
	if len(d.Candidates) == 0 {
		return
	}
	ref := e.lists.find(func(l []Candidate) bool { return sameCandidates(l, d.Candidates) })
	if e.num(ref); ref > 0 {
		return
	}
	e.lists.add(d.Candidates)
	for i, c := range d.Candidates {
		e.version(c.Version)
		e.flag(c.Chosen)
		// Runs of candidates share a reason: a repeat is one byte.
		repeat := i > 0 && c.Rejected == d.Candidates[i-1].Rejected
		e.flag(repeat)
		if !repeat {
			e.str(c.Rejected)
		}
	}
}

func (e *idEncoder) pkg(p *pkgsource.Package) {
	e.str(p.Type)
	e.version(p.Version)
	e.constraint(p.From)
	e.num(len(p.Requires))
	for _, r := range p.Requires {
		e.str(r.Type)
		e.constraint(r.Constraint)
	}
	e.str(p.Location)
	e.str(p.Digest)
	e.num(int(p.Size))
}

func (e *idEncoder) demand(d *Demand) {
	e.constraint(d.Constraint)
	e.str(string(d.App))
	e.str(string(d.Template))
	e.version(d.Version)
	e.str(string(d.Node))
	e.str(d.Package)
}

// ComputeID returns the ID that the plan's content hashes to (see
// [Plan.ID]): a program that changes a plan sets its ID to it, as
// ReadJSON refuses a plan whose ID is not.
func (p *Plan) ComputeID() string { return planID(p) }
