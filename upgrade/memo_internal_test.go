package upgrade

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/version"
)

func memoKey(i int) checkKey {
	return checkKey{constraint: fmt.Sprintf(">=%d", i), version: fmt.Sprintf("%d.0.0", i%7)}
}

func TestCheckMemoPublishLookup(t *testing.T) {
	var m checkMemo
	_, ok := m.lookup(memoKey(1))
	require.False(t, ok, "an empty memo knows nothing")

	learned := map[checkKey]bool{memoKey(1): true, memoKey(2): false}
	m.publish(learned)
	allowed, ok := m.lookup(memoKey(1))
	assert.True(t, ok)
	assert.True(t, allowed)
	allowed, ok = m.lookup(memoKey(2))
	assert.True(t, ok)
	assert.False(t, allowed)
	_, ok = m.lookup(memoKey(3))
	assert.False(t, ok)

	// What was published is the memo's: changing the plan's map after
	// does not show.
	learned[memoKey(1)] = false
	learned[memoKey(4)] = true
	allowed, _ = m.lookup(memoKey(1))
	assert.True(t, allowed)
	_, ok = m.lookup(memoKey(4))
	assert.False(t, ok)

	// A snapshot read before a publish is not changed by it.
	before := m.known.Load()
	m.publish(map[checkKey]bool{memoKey(3): true})
	assert.Len(t, *before, 2, "publishing makes a new snapshot rather than write the old one")
	assert.Len(t, *m.known.Load(), 3)
	for i, want := range map[int]bool{1: true, 2: false, 3: true} {
		allowed, ok := m.lookup(memoKey(i))
		assert.True(t, ok, "key %d", i)
		assert.Equal(t, want, allowed, "key %d", i)
	}

	// Nothing learned: nothing published.
	before = m.known.Load()
	m.publish(nil)
	m.publish(map[checkKey]bool{})
	assert.Same(t, before, m.known.Load())
}

func TestCheckMemoBound(t *testing.T) {
	// Too much at once: the memo fills up to the bound, and no further.
	var m checkMemo
	big := make(map[checkKey]bool, maxRemembered+1)
	for i := range maxRemembered + 1 {
		big[checkKey{constraint: "c", version: fmt.Sprint(i)}] = i%2 == 0
	}
	m.publish(big)
	require.NotNil(t, m.known.Load())
	assert.Len(t, *m.known.Load(), maxRemembered)
	for k, v := range *m.known.Load() {
		require.Equal(t, big[k], v, "answer for %v", k)
	}

	// A memo one short of the bound takes one more answer, then no more.
	delete(big, checkKey{constraint: "c", version: "0"})
	delete(big, checkKey{constraint: "c", version: "1"})
	require.Len(t, big, maxRemembered-1)
	var near checkMemo
	near.known.Store(&big)
	near.publish(map[checkKey]bool{{constraint: "c", version: "0"}: true})
	allowed, ok := near.lookup(checkKey{constraint: "c", version: "0"})
	assert.True(t, ok, "the answer that reaches the bound is remembered")
	assert.True(t, allowed)
	assert.Len(t, *near.known.Load(), maxRemembered)

	full := near.known.Load()
	near.publish(map[checkKey]bool{{constraint: "c", version: "1"}: true})
	_, ok = near.lookup(checkKey{constraint: "c", version: "1"})
	assert.False(t, ok, "an answer beyond the bound is not remembered")
	assert.Same(t, full, near.known.Load())
	allowed, ok = near.lookup(checkKey{constraint: "c", version: "2"})
	assert.True(t, ok, "what was known stays")
	assert.True(t, allowed)
}

func TestCheckMemoConcurrentPublish(t *testing.T) {
	var m checkMemo
	const writers, rounds, per = 8, 40, 5
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for r := range rounds {
				learned := map[checkKey]bool{}
				for k := range per {
					i := (w*rounds+r)*per + k
					learned[memoKey(i)] = i%3 == 0
				}
				m.publish(learned)
				// Readers go without a lock while others publish; an
				// answer may wait among the pending ones, but one found
				// is right.
				if allowed, ok := m.lookup(memoKey((w*rounds + r) * per)); ok && allowed != ((w*rounds+r)*per%3 == 0) {
					t.Errorf("writer %d: wrong answer", w)
				}
			}
		})
	}
	for range 2 {
		wg.Go(func() {
			for i := range writers * rounds * per {
				if allowed, ok := m.lookup(memoKey(i)); ok && allowed != (i%3 == 0) {
					t.Errorf("key %d: wrong answer", i)
				}
			}
		})
	}
	wg.Wait()
	// Every answer is known or pending, none twice; pending ones are few.
	known, pending := *m.known.Load(), m.pending
	require.Len(t, known, writers*rounds*per-len(pending))
	require.Less(t, len(pending), max(len(known)/8, 1)*2)
	for i := range writers * rounds * per {
		allowed, ok := known[memoKey(i)]
		if !ok {
			allowed, ok = pending[memoKey(i)]
		}
		require.True(t, ok, "key %d is missing", i)
		require.Equal(t, i%3 == 0, allowed, "key %d", i)
	}
}

// A Planner whose plans each learn a little copies its memo only now and
// then: pending answers join the snapshot once they are an eighth of it.
func TestCheckMemoPublishesInBatches(t *testing.T) {
	var m checkMemo
	first := map[checkKey]bool{}
	for i := range 800 {
		first[memoKey(i)] = true
	}
	m.publish(first) // an empty memo takes anything at once
	snapshot := m.known.Load()
	require.Len(t, *snapshot, 800)
	copies := 0
	for i := range 212 {
		m.publish(map[checkKey]bool{memoKey(800 + i): false})
		if p := m.known.Load(); p != snapshot {
			copies, snapshot = copies+1, p
		}
	}
	assert.Equal(t, 2, copies, "800 → 900 → 1,012 answers")
	assert.Len(t, *snapshot, 1012)
	assert.Empty(t, m.pending)
	// What was published before is not published again.
	m.publish(map[checkKey]bool{memoKey(0): true})
	assert.Empty(t, m.pending)
}

// memoPlanning returns the little of a planning that catalogs need.
func memoPlanning(p *Planner) *planning {
	return &planning{Planner: p, checks: map[checkKey]bool{}}
}

func memoPkgs(typ string, versions ...string) []pkgsource.Package {
	out := make([]pkgsource.Package, len(versions))
	for i, v := range versions {
		out[i] = pkgsource.Package{Type: typ, Version: version.MustParse(v)}
	}
	return out
}

// memoVersions returns n ascending versions.
func memoVersions(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%d.%d.0", 1+i/10, i%10)
	}
	return out
}

// memoBits returns the known and allowed bits the memo has for c.
func memoBits(t *testing.T, k *catalogKnowledge, c string) (known, allowed []uint64) {
	t.Helper()
	bits, ok := k.sets[c]
	require.True(t, ok, "no knowledge of %s", c)
	words := (len(k.versions) + 63) / 64
	require.Len(t, bits, 2*words)
	return bits[:words], bits[words:]
}

// memoCheckWords checks that the knowledge accounts for its words.
func memoCheckWords(t *testing.T, m *catalogMemo) int {
	t.Helper()
	total := 0
	if p := m.known.Load(); p != nil {
		for typ, k := range *p {
			n := 0
			for _, bits := range k.sets {
				n += len(bits)
			}
			assert.Equal(t, n, k.words, "the words of %s", typ)
			total += n
		}
	}
	return total
}

func TestCatalogMemoLookup(t *testing.T) {
	var m catalogMemo
	pkgs := memoPkgs("tomcat", "9.0.85", "9.0.98", "10.1.34", "11.0.2")
	assert.Nil(t, m.lookup("tomcat", pkgs), "an empty memo knows nothing")

	p := &Planner{}
	pl := memoPlanning(p)
	cat := newCatalog("tomcat", pkgs, &m)
	assert.Nil(t, cat.prior)
	s := cat.set(version.MustParseConstraint(">=10"))
	assert.True(t, pl.allowsAt(s, 3))
	assert.False(t, pl.allowsAt(s, 0))
	m.publish(map[string]*catalog{"tomcat": cat})

	k := m.lookup("tomcat", pkgs)
	require.NotNil(t, k)
	known, allowed := memoBits(t, k, ">=10")
	assert.Equal(t, []uint64{0b1001}, known)
	assert.Equal(t, []uint64{0b1000}, allowed)
	assert.Equal(t, 2, k.words)
	assert.Same(t, k, m.lookup("tomcat", memoPkgs("tomcat", "9.0.85", "9.0.98", "10.1.34", "11.0.2")), "the same versions, listed again")

	assert.Nil(t, m.lookup("jdk", memoPkgs("jdk", "9.0.85", "9.0.98", "10.1.34", "11.0.2")), "another type")
	assert.Nil(t, m.lookup("tomcat", pkgs[:3]), "one version fewer")
	assert.Nil(t, m.lookup("tomcat", append(slices.Clone(pkgs), memoPkgs("tomcat", "12.0.0")...)), "one version more")
	assert.Nil(t, m.lookup("tomcat", memoPkgs("tomcat", "9.0.85", "9.0.98", "10.1.35", "11.0.2")), "one version changed")
	assert.Nil(t, m.lookup("tomcat", memoPkgs("tomcat", "9.0.85", "9.0.98", "10.1.34", "11.0.2+build")), "build metadata changed")
	assert.Nil(t, m.lookup("tomcat", memoPkgs("tomcat", "9.0.98", "9.0.85", "10.1.34", "11.0.2")), "another order")
	// What constraints allow depends on the versions, not on how they are
	// written: the same versions written otherwise use what was learned.
	assert.Same(t, k, m.lookup("tomcat", memoPkgs("tomcat", "v9.0.85", "9.0.98", "10.01.34", "11.0.2")), "the same versions, written otherwise")
	assert.Nil(t, m.lookup("tomcat", nil))

	// A later plan over the same versions starts from what was learned,
	// without asking the constraint (its own checks stay empty).
	pl2 := memoPlanning(&Planner{})
	cat2 := newCatalog("tomcat", memoPkgs("tomcat", "9.0.85", "9.0.98", "10.1.34", "11.0.2"), &m)
	require.Same(t, k, cat2.prior)
	s2 := cat2.set(version.MustParseConstraint(">=10"))
	assert.Equal(t, []uint64{0b1001}, s2.known)
	assert.True(t, pl2.allowsAt(s2, 3))
	assert.False(t, pl2.allowsAt(s2, 0))
	assert.Empty(t, pl2.checks, "known answers are not asked again")
	assert.False(t, s2.learned)
	// Learning more does not write into the memo's knowledge.
	assert.True(t, pl2.allowsAt(s2, 2))
	assert.True(t, s2.learned)
	known, _ = memoBits(t, k, ">=10")
	assert.Equal(t, []uint64{0b1001}, known, "a plan writes its own bits, not the memo's")
	// Nor does the first plan's learning after it published.
	assert.False(t, pl.allowsAt(s, 1))
	known, _ = memoBits(t, k, ">=10")
	assert.Equal(t, []uint64{0b1001}, known)

	// A plan over other versions starts from nothing.
	cat3 := newCatalog("tomcat", memoPkgs("tomcat", "9.0.85", "9.0.98", "10.1.35", "11.0.2"), &m)
	assert.Nil(t, cat3.prior)
	assert.Equal(t, []uint64{0}, cat3.set(version.MustParseConstraint(">=10")).known)
}

func TestCatalogMemoPublishMerges(t *testing.T) {
	var m catalogMemo
	pkgs := func() []pkgsource.Package { return memoPkgs("jdk", memoVersions(150)...) }
	ge := version.MustParseConstraint(">=3.5")
	lt := version.MustParseConstraint("<9")

	// Two plans start from the same (empty) knowledge and learn different
	// things about one list of versions: the memo has both.
	pl1, pl2 := memoPlanning(&Planner{}), memoPlanning(&Planner{})
	cat1, cat2 := newCatalog("jdk", pkgs(), &m), newCatalog("jdk", pkgs(), &m)
	pl1.learn(cat1.set(ge), 40)                 // versions 0–39
	pl2.allowsAt(cat2.set(ge), 100)             // and 100
	pl2.allowsAt(cat2.set(ge), 149)             // and 149
	pl2.learn(cat2.set(lt), 70)                 // another constraint
	cat1.set(version.MustParseConstraint("^2")) // made but not asked: not learned
	m.publish(map[string]*catalog{"jdk": cat1})
	m.publish(map[string]*catalog{"jdk": cat2})

	k := m.lookup("jdk", pkgs())
	require.NotNil(t, k)
	vs := pkgs()
	wantKnown := func(idx ...int) []uint64 {
		out := make([]uint64, 3)
		for _, i := range idx {
			out[i/64] |= 1 << (i % 64)
		}
		return out
	}
	wantAllowed := func(c version.Constraint, known []uint64) []uint64 {
		out := make([]uint64, 3)
		for i := range vs {
			if known[i/64]&(1<<(i%64)) != 0 && c.Allows(vs[i].Version) {
				out[i/64] |= 1 << (i % 64)
			}
		}
		return out
	}
	geIdx := append(seq(0, 40), 100, 149)
	known, allowed := memoBits(t, k, ">=3.5")
	assert.Equal(t, wantKnown(geIdx...), known)
	assert.Equal(t, wantAllowed(ge, known), allowed)
	known, allowed = memoBits(t, k, "<9")
	assert.Equal(t, wantKnown(seq(0, 70)...), known)
	assert.Equal(t, wantAllowed(lt, known), allowed)
	assert.NotContains(t, k.sets, "^2", "a set asked nothing is not remembered")
	assert.Len(t, k.sets, 2)
	assert.Equal(t, 12, memoCheckWords(t, &m))

	// Publishing the same knowledge again changes nothing but the snapshot.
	m.publish(map[string]*catalog{"jdk": cat1})
	k = m.lookup("jdk", pkgs())
	known, _ = memoBits(t, k, ">=3.5")
	assert.Equal(t, wantKnown(geIdx...), known)
	assert.Equal(t, 12, memoCheckWords(t, &m))

	// A third plan, starting from the merged knowledge, knows it all.
	pl3 := memoPlanning(&Planner{})
	cat3 := newCatalog("jdk", pkgs(), &m)
	got := pl3.allowedBy([]*allowSet{cat3.set(ge), nil, cat3.set(lt)}, 40)
	assert.Empty(t, pl3.checks, "everything asked was known")
	want := make([]uint64, 1)
	for i := range 40 {
		if ge.Allows(vs[i].Version) && lt.Allows(vs[i].Version) {
			want[0] |= 1 << i
		}
	}
	assert.Equal(t, want, got)

	// Other types are kept alongside.
	pl4 := memoPlanning(&Planner{})
	tc := newCatalog("tomcat", memoPkgs("tomcat", "1.0.0", "2.0.0"), &m)
	pl4.allowsAt(tc.set(ge), 1)
	m.publish(map[string]*catalog{"tomcat": tc, "jdk": newCatalog("jdk", pkgs(), &m)})
	assert.NotNil(t, m.lookup("jdk", pkgs()))
	assert.NotNil(t, m.lookup("tomcat", memoPkgs("tomcat", "1.0.0", "2.0.0")))
	assert.Equal(t, 14, memoCheckWords(t, &m))
}

func seq(from, to int) []int {
	out := make([]int, 0, to-from)
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

func TestCatalogMemoPublishReplacesChangedVersions(t *testing.T) {
	var m catalogMemo
	a := func() []pkgsource.Package { return memoPkgs("jdk", "11.0.22", "17.0.10", "21.0.2") }
	b := func() []pkgsource.Package { return memoPkgs("jdk", "11.0.22", "17.0.12", "21.0.2") }
	ge := version.MustParseConstraint(">=17")
	ne := version.MustParseConstraint("!=21.0.2")

	pl := memoPlanning(&Planner{})
	catA := newCatalog("jdk", a(), &m)
	pl.learn(catA.set(ge), 3)
	pl.learn(catA.set(ne), 3)
	m.publish(map[string]*catalog{"jdk": catA})
	require.NotNil(t, m.lookup("jdk", a()))
	assert.Equal(t, 4, memoCheckWords(t, &m))

	pl = memoPlanning(&Planner{})
	catB := newCatalog("jdk", b(), &m)
	require.Nil(t, catB.prior, "B's versions are not A's")
	pl.allowsAt(catB.set(ge), 1)
	m.publish(map[string]*catalog{"jdk": catB})
	assert.Nil(t, m.lookup("jdk", a()), "A's knowledge is replaced")
	k := m.lookup("jdk", b())
	require.NotNil(t, k)
	assert.Equal(t, []version.Version{version.MustParse("11.0.22"), version.MustParse("17.0.12"), version.MustParse("21.0.2")}, k.versions)
	known, allowed := memoBits(t, k, ">=17")
	assert.Equal(t, []uint64{0b010}, known, "only what was learned about B")
	assert.Equal(t, []uint64{0b010}, allowed)
	assert.NotContains(t, k.sets, "!=21.0.2", "nothing of A is left")
	assert.Equal(t, 2, memoCheckWords(t, &m))

	// A plan still working with A, publishing after B, replaces B: the
	// memo knows the versions of the last plan.
	pl = memoPlanning(&Planner{})
	catA2 := newCatalog("jdk", a(), &m)
	pl.allowsAt(catA2.set(ne), 2)
	m.publish(map[string]*catalog{"jdk": catA2})
	assert.Nil(t, m.lookup("jdk", b()))
	k = m.lookup("jdk", a())
	require.NotNil(t, k)
	known, allowed = memoBits(t, k, "!=21.0.2")
	assert.Equal(t, []uint64{0b100}, known)
	assert.Equal(t, []uint64{0}, allowed)
	assert.NotContains(t, k.sets, ">=17")
}

func TestCatalogMemoConcurrentPublish(t *testing.T) {
	var m catalogMemo
	const plans = 8
	vs := memoVersions(200)
	c := version.MustParseConstraint(">=4.2, <17")
	var wg sync.WaitGroup
	for w := range plans {
		wg.Go(func() {
			// Each of a writer's 5 plans learns its own versions: those
			// congruent to w*5+r modulo 40.
			for r := range 5 {
				pl := memoPlanning(&Planner{})
				cat := newCatalog("jdk", memoPkgs("jdk", vs...), &m)
				for i := w*5 + r; i < len(vs); i += plans * 5 {
					pl.allowsAt(cat.set(c), i)
				}
				m.publish(map[string]*catalog{"jdk": cat})
			}
		})
	}
	wg.Wait()
	k := m.lookup("jdk", memoPkgs("jdk", vs...))
	require.NotNil(t, k)
	known, allowed := memoBits(t, k, c.String())
	for i, v := range vs {
		require.NotZero(t, known[i/64]&(1<<(i%64)), "version %d was learned by some plan", i)
		require.Equal(t, c.Allows(version.MustParse(v)), allowed[i/64]&(1<<(i%64)) != 0, "version %s", v)
	}
	memoCheckWords(t, &m)
}

func TestCatalogMemoBound(t *testing.T) {
	// Knowledge of another type fills the memo to 2 words short of the
	// bound: a set of 2 words fits, then no more.
	var m catalogMemo
	filler := map[string]*catalogKnowledge{"big": {versions: []version.Version{version.MustParse("1.0.0")},
		sets: map[string][]uint64{"x": nil}, words: maxRememberedBits - 2}}
	m.known.Store(&filler)
	c := version.MustParseConstraint(">=1")

	pl := memoPlanning(&Planner{})
	tc := newCatalog("tomcat", memoPkgs("tomcat", "1.0.0", "2.0.0"), &m)
	pl.allowsAt(tc.set(c), 0)
	m.publish(map[string]*catalog{"tomcat": tc})
	require.NotNil(t, m.lookup("tomcat", memoPkgs("tomcat", "1.0.0", "2.0.0")), "2 words fit")

	jdk := newCatalog("jdk", memoPkgs("jdk", "1.0.0"), &m)
	pl.allowsAt(jdk.set(c), 0)
	m.publish(map[string]*catalog{"jdk": jdk})
	assert.Nil(t, m.lookup("jdk", memoPkgs("jdk", "1.0.0")), "beyond the bound")
	assert.NotNil(t, m.lookup("tomcat", memoPkgs("tomcat", "1.0.0", "2.0.0")), "what was known stays")
	assert.NotNil(t, m.lookup("big", memoPkgs("big", "1.0.0")))

	// More about a type already known does not fit either; what was known
	// of it stays.
	tc2 := newCatalog("tomcat", memoPkgs("tomcat", "1.0.0", "2.0.0"), &m)
	pl.allowsAt(tc2.set(version.MustParseConstraint("<2")), 0)
	m.publish(map[string]*catalog{"tomcat": tc2})
	k := m.lookup("tomcat", memoPkgs("tomcat", "1.0.0", "2.0.0"))
	require.NotNil(t, k)
	assert.NotContains(t, k.sets, "<2")
	assert.Contains(t, k.sets, ">=1")

	// What a plan learns of other versions of a known type, too big to
	// keep, makes the old knowledge stale: it goes, and its room with it.
	before := memoWords(&m)
	tc3 := newCatalog("tomcat", memoPkgs("tomcat", "1.0.0", "3.0.0"), &m)
	pl.allowsAt(tc3.set(c), 0)
	pl.allowsAt(tc3.set(version.MustParseConstraint("<2")), 0)
	m.publish(map[string]*catalog{"tomcat": tc3})
	assert.Nil(t, m.lookup("tomcat", memoPkgs("tomcat", "1.0.0", "2.0.0")), "stale")
	assert.Nil(t, m.lookup("tomcat", memoPkgs("tomcat", "1.0.0", "3.0.0")), "too big")
	assert.Equal(t, before-2, memoWords(&m))
}

// TestCatalogMemoBoundHoldsWhenATypeDoesNotFit publishes, in one call, a
// type whose new knowledge does not fit and another that fits only if the
// first's old knowledge is forgotten, which it is not: the bound holds
// whatever the order in which publish meets the types.
func TestCatalogMemoBoundHoldsWhenATypeDoesNotFit(t *testing.T) {
	c := version.MustParseConstraint(">=1")
	for trial := range 64 { // the types are published in map order
		var m catalogMemo
		pl := memoPlanning(&Planner{})
		old := newCatalog("tomcat", memoPkgs("tomcat", "1.0.0", "2.0.0"), &m)
		pl.allowsAt(old.set(c), 0)
		m.publish(map[string]*catalog{"tomcat": old})
		known := *m.known.Load()
		known["big"] = &catalogKnowledge{versions: []version.Version{version.MustParse("1.0.0")}, words: maxRememberedBits - 2}
		m.known.Store(&known) // full: big and tomcat
		require.Equal(t, maxRememberedBits, memoWords(&m))

		tc := newCatalog("tomcat", memoPkgs("tomcat", "1.0.0", "2.0.0"), &m)
		pl.allowsAt(tc.set(version.MustParseConstraint("<2")), 0) // 2 words more: no room
		jdk := newCatalog("jdk", memoPkgs("jdk", "1.0.0"), &m)
		pl.allowsAt(jdk.set(c), 0) // no room either
		m.publish(map[string]*catalog{"tomcat": tc, "jdk": jdk})
		if got := memoWords(&m); got > maxRememberedBits {
			t.Fatalf("trial %d: the memo holds %d words, more than maxRememberedBits (%d); jdk known: %v",
				trial, got, maxRememberedBits, m.lookup("jdk", memoPkgs("jdk", "1.0.0")) != nil)
		}
	}
}

func memoWords(m *catalogMemo) int {
	n := 0
	for _, k := range *m.known.Load() {
		n += k.words
	}
	return n
}

func TestCatalogAllowedBy(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	vs := memoVersions(150) // three words of bits
	pkgs := memoPkgs("jdk", vs...)
	constraints := []string{">=3.5", "<9", "~4.2", "!=5.0.0", "^7", ">=2.1, <12.4", "<1", ">=1"}
	var m catalogMemo
	for round := range 4 { // the later rounds start from what the earlier learned
		pl := memoPlanning(&Planner{})
		cat := newCatalog("jdk", slices.Clone(pkgs), &m)
		require.Equal(t, round > 0, cat.prior != nil, "round %d", round)
		require.True(t, cat.ascending)
		for range 30 {
			var sets []*allowSet
			var cs []version.Constraint
			for range rng.IntN(4) {
				cs = append(cs, version.MustParseConstraint(constraints[rng.IntN(len(constraints))]))
				sets = append(sets, cat.set(cs[len(cs)-1]))
			}
			if rng.IntN(3) == 0 {
				cs, sets = append(cs, version.Constraint{}), append(sets, nil)
			}
			n := rng.IntN(len(vs) + 1)
			got := pl.allowedBy(sets, n)
			require.Len(t, got, (n+63)/64)
			for i := range n {
				want := true
				for _, c := range cs {
					want = want && c.Allows(version.MustParse(vs[i]))
				}
				require.Equal(t, want, got[i/64]&(1<<(i%64)) != 0, "round %d: version %s under %v", round, vs[i], cs)
				require.Equal(t, want, pl.allowAt(sets, i))
				if k := pl.rejectingAt(sets, i); k >= 0 {
					require.False(t, cs[k].Allows(version.MustParse(vs[i])))
					for _, c := range cs[:k] {
						require.True(t, c.Allows(version.MustParse(vs[i])))
					}
				}
			}
			for w := range got {
				require.Zero(t, got[w]&^lowBits(n-w*64), "no bits beyond the first %d versions", n)
			}
		}
		m.publish(map[string]*catalog{"jdk": cat})
	}
}

func TestPlanningAllowsUsesMemo(t *testing.T) {
	p := &Planner{}
	c, v := version.MustParseConstraint(">=2"), version.MustParse("3.0.0")
	// An answer the Planner remembers is taken as it is, even a wrong one
	// planted here to tell it from asking the constraint.
	p.memo.publish(map[checkKey]bool{{constraint: ">=2", version: "3.0.0"}: false})
	pl := memoPlanning(p)
	assert.False(t, pl.allows(c, v))
	assert.Empty(t, pl.checks, "a remembered answer is not learned again")
	assert.True(t, pl.allows(c, version.MustParse("2.0.0")))
	assert.Equal(t, map[checkKey]bool{{constraint: ">=2", version: "2.0.0"}: true}, pl.checks)
	assert.False(t, pl.allows(c, version.MustParse("1.0.0")))
	assert.True(t, pl.allows(version.Constraint{}, version.MustParse("1.0.0")), "the zero constraint allows everything")
	assert.Len(t, pl.checks, 2)
}

// TestCatalogLocateWrittenOtherwise: the installed version is found in the
// catalog however either writes it (Same, not ==), so the planner takes
// its fast path for it; build metadata still tells versions apart.
func TestCatalogLocateWrittenOtherwise(t *testing.T) {
	var m catalogMemo
	cat := newCatalog("ubuntu", memoPkgs("ubuntu", "16.4.0", "18.4.0", "18.4.0+b", "v20.04", "22.04.5"), &m)
	for _, tt := range []struct {
		installed string
		at, above int
	}{
		{"18.04", 1, 3}, {"v18.4", 1, 3}, {"18.4.0", 1, 3}, {"18.04+b", 2, 3}, {"18.04+c", -1, 3},
		{"20.4.0", 3, 4}, {"22.4.5", 4, 5}, {"22.04.6", -1, 5}, {"17", -1, 1},
	} {
		at, above := cat.locate(version.MustParse(tt.installed))
		assert.Equal(t, tt.at, at, tt.installed)
		assert.Equal(t, tt.above, above, tt.installed)
	}
}
