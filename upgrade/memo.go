package upgrade

import (
	"maps"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/version"
)

// maxRemembered bounds how many constraint checks a Planner remembers
// across plans: about 20 MB of keys at most.
const maxRemembered = 1 << 18

// checkMemo remembers whether constraints allow versions, by their text,
// across the plans of one Planner. The answer to such a question never
// changes, whatever the topology and packages, so remembering it changes
// no result; it spares each plan the cost of asking again, and the
// constraint library allocates an error value for every failed check.
//
// Plans read a snapshot without locking and learn new answers in a map of
// their own (see planning.allows). A finished plan adds what it learned to
// the answers pending; once they are an eighth of the snapshot's, a new
// snapshot takes them in, so that each answer is copied a bounded number
// of times however many plans learn a few.
type checkMemo struct {
	known   atomic.Pointer[map[checkKey]bool]
	mu      sync.Mutex // guards pending, and serializes publishing
	pending map[checkKey]bool
}

type checkKey struct{ constraint, version string }

// lookup returns the remembered answer to whether c allows v.
func (m *checkMemo) lookup(k checkKey) (allowed, ok bool) {
	if known := m.known.Load(); known != nil {
		allowed, ok = (*known)[k]
	}
	return allowed, ok
}

// publish adds learned to what m knows, up to maxRemembered answers.
func (m *checkMemo) publish(learned map[checkKey]bool) {
	if len(learned) == 0 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var known map[checkKey]bool
	if p := m.known.Load(); p != nil {
		known = *p
	}
	if m.pending == nil {
		m.pending = map[checkKey]bool{}
	}
	for k, v := range learned {
		if len(known)+len(m.pending) >= maxRemembered {
			break
		}
		if _, ok := known[k]; !ok {
			m.pending[k] = v
		}
	}
	if len(m.pending) == 0 || len(m.pending) < len(known)/8 && len(known)+len(m.pending) < maxRemembered {
		return
	}
	next := make(map[checkKey]bool, len(known)+len(m.pending))
	maps.Copy(next, known)
	maps.Copy(next, m.pending)
	m.known.Store(&next)
	m.pending = nil
}

// allows reports whether c allows v: from what the Planner remembers, or
// this plan has learned, or by asking c.
func (pl *planning) allows(c version.Constraint, v version.Version) bool {
	if c.IsZero() {
		return true
	}
	k := checkKey{constraint: c.String(), version: v.String()}
	if ok, seen := pl.memo.lookup(k); seen {
		return ok
	}
	ok, seen := pl.checks[k]
	if !seen {
		ok = c.Allows(v)
		pl.checks[k] = ok
	}
	return ok
}

// maxRememberedBits bounds how many words of bits a Planner remembers
// about its catalogs across plans: 16 MiB.
const maxRememberedBits = 1 << 21

// catalogMemo remembers, across the plans of one Planner, what they learned
// about which versions of each package type constraints allow (see
// allowSet), for as long as the source lists the same versions: the answers
// depend only on the constraints' text and the versions, so remembering
// them changes no result. It spares each plan the lookups in checkMemo,
// which cost more than the rest of testing a version.
//
// Plans read a snapshot without locking and publish what they learned in a
// new one, as with checkMemo.
type catalogMemo struct {
	known atomic.Pointer[map[string]*catalogKnowledge] // by type
	mu    sync.Mutex                                   // serializes publishing
}

// catalogKnowledge is what plans learned about one list of versions.
type catalogKnowledge struct {
	versions []version.Version
	sets     map[string][]uint64 // by constraint text: known bits, then allowed bits
	words    int                 // in sets
}

// lookup returns what is known about the catalog of typ if it has exactly
// the versions of pkgs, in order, or nil.
func (m *catalogMemo) lookup(typ string, pkgs []pkgsource.Package) *catalogKnowledge {
	known := m.known.Load()
	if known == nil {
		return nil
	}
	k := (*known)[typ]
	if k == nil || !sameVersions(k.versions, pkgs) {
		return nil
	}
	return k
}

func sameVersions(vs []version.Version, pkgs []pkgsource.Package) bool {
	// Same, not ==: what constraints allow depends on the versions, not
	// on how they are written.
	return slices.EqualFunc(vs, pkgs, func(v version.Version, p pkgsource.Package) bool { return v.Same(p.Version) })
}

// publish adds what the catalogs of a plan learned to what m knows. A
// catalog whose versions differ from those m knows replaces them.
func (m *catalogMemo) publish(catalogs map[string]*catalog) {
	var changed []string
	for typ, cat := range catalogs {
		for _, s := range cat.sets {
			if s.learned {
				changed = append(changed, typ)
				break
			}
		}
	}
	if len(changed) == 0 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	next := map[string]*catalogKnowledge{}
	words := 0
	if p := m.known.Load(); p != nil {
		for typ, k := range *p {
			next[typ] = k
			words += k.words
		}
	}
	for _, typ := range changed {
		cat := catalogs[typ]
		old := next[typ]
		oldWords := 0
		if old != nil {
			oldWords = old.words
		}
		k := &catalogKnowledge{versions: make([]version.Version, len(cat.pkgs)), sets: map[string][]uint64{}}
		for i := range cat.pkgs {
			k.versions[i] = cat.pkgs[i].Version
		}
		same := old != nil && sameVersions(old.versions, cat.pkgs)
		if same {
			for c, bits := range old.sets {
				k.sets[c], k.words = bits, k.words+len(bits)
			}
		}
		for c, s := range cat.sets {
			if !s.learned {
				continue
			}
			bits := append(slices.Clone(s.known), s.allowed...)
			for i, w := range k.sets[c] { // what another plan learned meanwhile
				bits[i] |= w
			}
			k.words += len(bits) - len(k.sets[c])
			k.sets[c] = bits
		}
		switch {
		case words-oldWords+k.words <= maxRememberedBits:
			next[typ], words = k, words-oldWords+k.words
		case !same && old != nil: // too big to keep, and what was known is stale
			delete(next, typ)
			words -= oldWords
		}
	}
	m.known.Store(&next)
}
