package upgrade

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"math/bits"
	"slices"
	"sort"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/version"
)

// maxCandidates bounds how many considered versions a step records.
const maxCandidates = 32

// choose picks the packages that take pf from its installed version to one
// that every demand and co-tenant allows: one package, or the shortest chain
// when no single package upgrades from the installed version. It also
// returns the versions considered, newest first, with their verdicts: all of
// them, or the maxCandidates nearest the chosen one.
//
// For the Newest and Nearest policies it first walks the upgrades in the
// policy's order and stops at the first that will do, so that a choice
// among many versions costs what it takes to find it. Anything else (no
// upgrade will do, a candidate whose requirements cannot be met beneath,
// LatestPatch) is decided by classifying every version.
func (pl *planning) choose(pf *platform) ([]*pkgsource.Package, []Candidate, error) {
	if pl.cfg.policy != LatestPatch {
		if path, t, ok := pl.quickChoose(pf); ok {
			verdicts := pl.verdicts(pf, t)
			if pf.badDependent != nil {
				return nil, nil, pf.badDependent
			}
			return path, verdicts, nil
		}
	}
	return pl.chooseFully(pf)
}

// firstAbove returns the index of the lowest version above v in pkgs,
// which is sorted by ascending version, or len(pkgs).
func firstAbove(pkgs []pkgsource.Package, v version.Version) int {
	return sort.Search(len(pkgs), func(i int) bool { return v.Less(pkgs[i].Version) })
}

// quickChoose walks the upgrades (from pf.firstAbove) in the policy's order
// and returns the first that every demand and co-tenant allows, that a path
// reaches and whose requirements can be met. It gives up (ok false) at a
// candidate whose requirements cannot be met, or when none will do.
func (pl *planning) quickChoose(pf *platform) ([]*pkgsource.Package, int, bool) {
	pkgs := pf.cat.pkgs
	fits := pl.fitting(pf)
	start := sort.SearchInts(fits, pf.firstAbove)
	for k := range len(fits) - start {
		i := fits[len(fits)-1-k] // Newest: highest first
		if pl.cfg.policy == Nearest {
			i = fits[start+k]
		}
		path := pl.path(pf, i)
		if path == nil {
			continue
		}
		if why, err := pl.unmetRequirement(pf, pkgs[i]); err != nil || why != "" {
			return nil, 0, false
		}
		return path, i, true
	}
	return nil, 0, false
}

// fitting returns the indices of the versions in pkgs that every demand
// and co-tenant of pf allows. Nodes of a type with the same constraints on
// them share the answer, so that it is worked out once per plan however
// many versions there are.
func (pl *planning) fitting(pf *platform) []int {
	if fits, ok := pl.fits[pl.signature(pf)]; ok {
		return fits
	}
	var fits []int
	for i := range pf.cat.pkgs {
		if pl.allowAt(pf.demandSets, i) && pl.allowAt(pf.cotenantSets, i) {
			fits = append(fits, i)
		}
	}
	pl.fits[pl.signature(pf)] = fits
	return fits
}

// signature numbers what a choice for pf depends on besides the installed
// version: its type and the distinct constraints on it. Nodes with equal
// signatures share work (see fitting).
func (pl *planning) signature(pf *platform) int {
	pl.sign(pf)
	return pf.sig
}

// pathSignature numbers what paths for pf depend on besides the installed
// version: its type and the distinct constraints of its co-tenants. Nodes
// with equal path signatures share work (see path).
func (pl *planning) pathSignature(pf *platform) int {
	pl.sign(pf)
	return pf.pathSig
}

func (pl *planning) sign(pf *platform) {
	if pf.sig != 0 {
		return
	}
	number := func(key []byte) int {
		id, ok := pl.signatures[string(key)]
		if !ok {
			id = len(pl.signatures) + 1
			pl.signatures[string(key)] = id
		}
		return id
	}
	key := appendSetIDs(append(pl.signatureBuf[:0], pf.template.Type...), pf.cotenantSets)
	pf.pathSig = number(key)
	key = appendSetIDs(key, pf.demandSets)
	pf.sig = number(key)
	pl.signatureBuf = key
}

// appendSetIDs appends to key a separator and the IDs of the sets, each run
// of one set once.
func appendSetIDs(key []byte, sets []*allowSet) []byte {
	key = append(key, 0)
	for k, s := range sets {
		if k > 0 && s == sets[k-1] {
			continue
		}
		id := 0 // the zero constraint
		if s != nil {
			id = s.id
		}
		key = binary.AppendUvarint(key, uint64(id))
	}
	return key
}

// verdicts records the versions nearest pf's t-th package, the chosen one,
// newest first, each with why it was not chosen. The choice is an upgrade
// when the chosen version is above the installed one.
//
// Nodes on the same versions often have the same candidates for the same
// reasons, and each list takes a few kilobytes: verdicts first works out
// why each version was or was not chosen, and puts that in words only when
// no node before had the same reasons (see sameVerdicts).
func (pl *planning) verdicts(pf *platform, t int) []Candidate {
	pkgs, first := pf.cat.pkgs, pf.firstAbove
	up := t >= first
	prefer := pl.prefer(pkgs, up)
	lo, hi := max(t-maxCandidates/2, 0), min(t+maxCandidates/2, len(pkgs))
	vs := pl.verdictBuf[:0]
	for i := hi - 1; i >= lo; i-- {
		var v verdict
		switch d, co := pl.rejectingAt(pf.demandSets, i), pl.rejectingAt(pf.cotenantSets, i); {
		case i == t:
			v.kind = chosen
		case d >= 0:
			v.kind, v.demand = notSatisfying, &pf.demands[d]
		case co >= 0:
			pl.nameCotenants(pf)
			v.kind, v.demand = notAllowed, &pf.cotenants[co]
			if !slices.Contains(pf.binding, v.demand) {
				pf.binding = append(pf.binding, v.demand)
			}
		case up && i < first:
			v.kind = lower
		case prefer(t, i) < 0:
			v.kind = notPreferred
		case !pl.reachable(pf, i):
			v.kind = unreachable
		default:
			v.kind = unmet
			v.why, _ = pl.unmetRequirement(pf, pkgs[i])
		}
		vs = append(vs, v)
	}
	pl.verdictBuf = vs
	k := candidatesKey{pf.cat, t, pf.node.Version.String()}
	lists := pl.candidateLists[k]
	// Only the latest lists are tried, so that nodes with reasons of their
	// own do not cost time quadratic in their number.
	for _, l := range lists[max(len(lists)-4, 0):] {
		if sameVerdicts(l.verdicts, vs) {
			return l.candidates
		}
	}
	l := candidateList{verdicts: slices.Clone(vs), candidates: pl.words(pf, vs, hi, t)}
	pl.candidateLists[k] = append(lists, l)
	return l.candidates
}

// words puts verdicts in words: vs are those of pf's versions from hi-1
// down, t the chosen one.
func (pl *planning) words(pf *platform, vs []verdict, hi, t int) []Candidate {
	installed, pkgs := pf.node.Version, pf.cat.pkgs
	// Each reason's text is made once: many versions share one.
	type reason struct {
		d    *Demand
		text string
	}
	var reasons [4]reason
	known := reasons[:0]
	text := func(prefix string, d *Demand) string {
		for _, r := range known {
			if r.d == d {
				return r.text
			}
		}
		r := reason{d, pl.text.string(d.appendString(append(pl.text.scratch(), prefix...)))}
		known = append(known, r)
		return r.text
	}
	var lowerText, prefersText, noPathText string
	out := pl.candidates.take(len(vs))
	for k, v := range vs {
		c := &out[k]
		c.Version = pkgs[hi-1-k].Version
		switch v.kind {
		case chosen:
			c.Chosen = true
		case notSatisfying:
			c.Rejected = text("does not satisfy ", v.demand) + rejectedPrereleaseHint(v.demand, c.Version)
		case notAllowed:
			c.Rejected = text("not allowed by co-tenant ", v.demand)
		case lower:
			if lowerText == "" {
				lowerText = pl.text.join("lower than the installed ", installed.String())
			}
			c.Rejected = lowerText
		case notPreferred:
			if prefersText == "" {
				prefersText = pl.text.join("policy ", pl.cfg.policy.String(), " prefers ", pkgs[t].Version.String())
			}
			c.Rejected = prefersText
		case unreachable:
			if noPathText == "" {
				noPathText = pl.text.join("no upgrade path from ", installed.String())
			}
			c.Rejected = noPathText
		case unmet:
			c.Rejected = v.why
		}
	}
	return out
}

// verdict is why a version was or was not chosen, before it is put in
// words.
type verdict struct {
	kind   verdictKind
	demand *Demand // the demand or co-tenant that rules the version out
	why    string  // why a requirement of the version cannot be met
}

type verdictKind uint8

const (
	chosen verdictKind = iota
	notSatisfying
	notAllowed
	lower
	notPreferred
	unreachable
	unmet
)

// sameVerdicts reports whether two lists of verdicts read the same.
func sameVerdicts(a, b []verdict) bool {
	return slices.EqualFunc(a, b, func(x, y verdict) bool {
		return x.kind == y.kind && x.why == y.why && (x.demand == y.demand || x.demand != nil && y.demand != nil && sameDemand(x.demand, y.demand))
	})
}

// candidatesKey says which versions a list of candidates holds, which is
// chosen, and what the reasons depend on besides the verdicts; see
// verdicts.
type candidatesKey struct {
	cat       *catalog
	chosen    int
	installed string
}

// candidateList is a list of candidates and the verdicts it puts in words.
type candidateList struct {
	verdicts   []verdict
	candidates []Candidate
}

// chooseFully classifies every version to choose, or to explain why no
// version will do.
func (pl *planning) chooseFully(pf *platform) ([]*pkgsource.Package, []Candidate, error) {
	installed, pkgs := pf.node.Version, pf.cat.pkgs
	var wanted, fits, up, down []int // indices into pkgs
	for i := range pkgs {
		if !pl.allowAt(pf.demandSets, i) {
			continue
		}
		wanted = append(wanted, i)
		if !pl.allowAt(pf.cotenantSets, i) {
			continue
		}
		fits = append(fits, i)
		if i >= pf.firstAbove { // above the installed version
			up = append(up, i)
		} else {
			down = append(down, i)
		}
	}
	if len(wanted) == 0 {
		return nil, nil, pl.unsatisfiable(pf, pkgs)
	}
	if len(fits) == 0 {
		var blocking []Demand
		all, err := pl.allCotenants(pf)
		if err != nil {
			return nil, nil, err
		}
		for _, c := range all {
			if slices.ContainsFunc(wanted, func(i int) bool { return !c.Constraint.Allows(pkgs[i].Version) }) {
				blocking = append(blocking, c)
			}
		}
		return nil, nil, &ConflictError{Node: pf.node.ID, Type: pf.template.Type, Installed: installed,
			Wanted: slices.Clone(pf.demands), Blocking: blocking, Tried: pick(pkgs, wanted)}
	}
	candidates := up
	if len(up) == 0 {
		if !pl.cfg.allowDowngrade {
			return nil, nil, &DowngradeError{Node: pf.node.ID, Type: pf.template.Type, Installed: installed,
				Demands: slices.Clone(pf.demands), Candidates: pick(pkgs, down)}
		}
		candidates = down
	}
	// Try the candidates in the policy's order. One whose requirements
	// cannot be met beneath the node is passed over while another will do;
	// if none will, the first is taken, so that planning the node beneath
	// reports precisely why.
	chosen, t := []*pkgsource.Package(nil), -1
	fallback, f := []*pkgsource.Package(nil), -1
	for _, i := range pl.preference(pkgs, candidates, len(up) > 0) {
		path := pl.path(pf, i)
		if path == nil {
			continue
		}
		why, err := pl.unmetRequirement(pf, pkgs[i])
		if err != nil {
			return nil, nil, err
		}
		if why == "" {
			chosen, t = path, i
			break
		}
		if fallback == nil {
			fallback, f = path, i
		}
	}
	if chosen == nil {
		chosen, t = fallback, f
	}
	if chosen == nil {
		furthest, reason := installed, fmt.Sprintf("no package that downgrades allows %s in its From constraint", installed)
		if len(up) > 0 {
			furthest, reason = pl.furthestReachable(installed, pkgs, pf.cotenants)
		}
		if pl.cfg.maxMinorStep > 0 {
			reason += fmt.Sprintf(" (a hop may advance at most %d minor versions)", pl.cfg.maxMinorStep)
		}
		return nil, nil, &NoPathError{Node: pf.node.ID, Type: pf.template.Type, Installed: installed,
			Targets: pick(pkgs, candidates), Furthest: furthest, Reason: reason}
	}
	verdicts := pl.verdicts(pf, t)
	if pf.badDependent != nil {
		return nil, nil, pf.badDependent
	}
	return chosen, verdicts, nil
}

// unsatisfiable explains why no package meets every demand on pf: a
// *NoPackageError when some source of demands cannot be met alone, or a
// *ConflictError when each could be but not all together.
func (pl *planning) unsatisfiable(pf *platform, pkgs []pkgsource.Package) error {
	var groups [][]Demand // demands by source, in order of first appearance
	for _, d := range pf.demands {
		i := slices.IndexFunc(groups, func(g []Demand) bool { return g[0].Source() == d.Source() })
		if i < 0 {
			groups = append(groups, nil)
			i = len(groups) - 1
		}
		groups[i] = append(groups[i], d)
	}
	noPackage := &NoPackageError{Node: pf.node.ID, Type: pf.template.Type, Installed: pf.node.Version,
		Demands: slices.Clone(pf.demands), Considered: versionsOf(pkgs)}
	if len(groups) < 2 {
		return noPackage
	}
	var tried []version.Version
	for _, p := range pkgs {
		if pl.allow(groups[0], p.Version) {
			tried = append(tried, p.Version)
		}
	}
	for _, g := range groups {
		if !slices.ContainsFunc(pkgs, func(p pkgsource.Package) bool { return pl.allow(g, p.Version) }) {
			noPackage.Demands = g
			return noPackage
		}
	}
	var blocking []Demand
	for _, g := range groups[1:] {
		for _, d := range g {
			if slices.ContainsFunc(tried, func(v version.Version) bool { return !d.Constraint.Allows(v) }) {
				blocking = append(blocking, d)
			}
		}
	}
	return &ConflictError{Node: pf.node.ID, Type: pf.template.Type, Installed: pf.node.Version,
		Wanted: groups[0], Blocking: blocking, Tried: tried}
}

// preference orders candidate indices (ascending in pkgs) by the policy.
// up says whether they are upgrades (else downgrades).
func (pl *planning) preference(pkgs []pkgsource.Package, candidates []int, up bool) []int {
	order := slices.Clone(candidates)
	slices.SortFunc(order, pl.prefer(pkgs, up))
	return order
}

// prefer compares indices into pkgs by the policy: negative when a comes
// first. up says whether they are upgrades (else downgrades).
func (pl *planning) prefer(pkgs []pkgsource.Package, up bool) func(a, b int) int {
	switch {
	case pl.cfg.policy == Nearest && up:
		return func(a, b int) int { return cmp.Compare(a, b) } // lowest first
	case pl.cfg.policy == LatestPatch:
		// Nearest minor first (lowest above, or highest below), and the
		// highest patch within it.
		return func(a, b int) int {
			va, vb := pkgs[a].Version, pkgs[b].Version
			byMinor := cmp.Or(cmp.Compare(va.Major(), vb.Major()), cmp.Compare(va.Minor(), vb.Minor()))
			if !up {
				byMinor = -byMinor
			}
			return cmp.Or(byMinor, vb.Compare(va), cmp.Compare(b, a))
		}
	}
	return func(a, b int) int { return cmp.Compare(b, a) } // highest first
}

// hop reports whether package p can be installed over version from.
func (pl *planning) hop(from version.Version, p pkgsource.Package) bool {
	return pl.allows(p.From, from) && pl.withinMinorStep(from, p.Version)
}

// hopFromInstalled reports whether pf's i-th package can be installed over
// its installed version.
func (pl *planning) hopFromInstalled(pf *platform, i int) bool {
	if pf.installedAt >= 0 {
		return pl.hopAt(pf.cat, pf.installedAt, i)
	}
	return pl.hop(pf.node.Version, pf.cat.pkgs[i])
}

// hopAt reports whether the i-th package of cat can be installed over the
// j-th.
func (pl *planning) hopAt(cat *catalog, j, i int) bool {
	return pl.allowsAt(cat.from[i], j) && pl.withinMinorStep(cat.pkgs[j].Version, cat.pkgs[i].Version)
}

// withinMinorStep reports whether an upgrade from one version to another
// advances no more minor versions than WithMaxMinorStep allows.
func (pl *planning) withinMinorStep(from, to version.Version) bool {
	if n := pl.cfg.maxMinorStep; n > 0 && to.Major() == from.Major() && from.Less(to) {
		return to.Minor()-from.Minor() <= uint64(n)
	}
	return true
}

// path returns the shortest chain of packages that takes pf from its
// installed version to its t-th package, or nil; see reach. Nodes with the
// same path signature and installed version share their paths.
func (pl *planning) path(pf *platform, t int) []*pkgsource.Package {
	r, dist := pl.distances(pf, t)
	if dist == nil {
		return nil
	}
	pkgs := pf.cat.pkgs
	if r == nil {
		path := pl.paths.take(1) // one package: no path is shorter
		path[0] = &pkgs[t]
		return path
	}
	for _, p := range r.paths {
		if p[len(p)-1] == &pkgs[t] {
			return p
		}
	}
	path := pl.paths.take(int(dist[t]))
	for cur := t; ; {
		path[dist[cur]-1] = &pkgs[cur]
		if dist[cur] == 1 {
			break
		}
		// The highest predecessor one hop closer to installed.
		for j := cur - 1; j >= 0; j-- {
			if dist[j] == dist[cur]-1 && pf.cat.below(j, cur) && pl.hopAt(pf.cat, j, cur) {
				cur = j
				break
			}
		}
	}
	r.paths = append(r.paths, path)
	return path
}

// reachable reports whether a path takes pf to its t-th package.
func (pl *planning) reachable(pf *platform, t int) bool {
	_, dist := pl.distances(pf, t)
	return dist != nil
}

// distances returns a nil dist when no path takes pf from its installed
// version to its t-th package. Otherwise it returns the number of hops to
// each of its packages up to the t-th, and the reach they are in, or, when
// the t-th package installs over the installed version, a nil reach and an
// empty dist.
func (pl *planning) distances(pf *platform, t int) (r *reach, dist []int32) {
	installed, pkgs := pf.node.Version, pf.cat.pkgs
	if pl.hopFromInstalled(pf, t) {
		return nil, []int32{}
	}
	if pkgs[t].Version.Less(installed) {
		return nil, nil // a downgrade is one package
	}
	k := reachKey{pl.pathSignature(pf), installed.String()}
	if r = pl.reaches[k]; r == nil {
		r = &reach{}
		pl.reaches[k] = r
	}
	if dist := pl.reach(r, pf, t); dist[t] > 0 {
		return r, dist
	}
	return nil, nil
}

type reachKey struct {
	pathSignature int
	installed     string
}

// reach holds the number of hops from an installed version to each of the
// first len(dist) packages of a type (0: not reachable). Upgrades go up one
// package at a time, each installable over the version before it (see
// hop), each version on the way allowed by the co-tenants.
type reach struct {
	dist  []int32
	paths [][]*pkgsource.Package // those made so far; see path
}

// hops holds, for each of the first len(preds) packages of a type, the
// packages below it that it installs over and that co-tenants allow: the
// hops that upgrade paths are made of. Nodes with the same path signature
// share them.
type hops struct {
	preds   [][]int32
	allowed []uint64 // the versions the co-tenants allow, as bits
}

// reach extends r to pf's t-th package and returns its distances. Versions
// only rise along a chain and the packages are in ascending order, so one
// pass in order settles every distance, and later calls for other targets
// reuse it. Nodes with the same path signature and installed version share
// r.
func (pl *planning) reach(r *reach, pf *platform, t int) []int32 {
	var preds [][]int32
	for i := len(r.dist); i <= t; i++ {
		var d int32
		switch {
		case i < pf.firstAbove || !pl.allowAt(pf.cotenantSets, i): // not above the installed version
		case pl.hopFromInstalled(pf, i):
			d = 1
		default:
			if preds == nil {
				preds = pl.hopsTo(pf, t)
			}
			for _, j := range preds[i] {
				if dj := r.dist[j]; dj > 0 && (d == 0 || dj+1 < d) {
					d = dj + 1
				}
			}
		}
		r.dist = append(r.dist, d)
	}
	return r.dist
}

// hopsTo returns the hops into each of pf's first t+1 packages.
func (pl *planning) hopsTo(pf *platform, t int) [][]int32 {
	cat := pf.cat
	h := pl.hops[pl.pathSignature(pf)]
	if h == nil {
		h = &hops{allowed: pl.allowedBy(pf.cotenantSets, len(cat.pkgs))}
		pl.hops[pl.pathSignature(pf)] = h
	}
	for i := len(h.preds); i <= t; i++ {
		scratch := pl.scratch[:0]
		if cat.ascending {
			// A word of versions at a time: those below i, that the
			// co-tenants allow, and that i's From allows.
			from := cat.from[i]
			pl.learn(from, i)
			for w := 0; w*64 < i; w++ {
				m := h.allowed[w] & lowBits(i-w*64)
				if from != nil {
					m &= from.allowed[w]
				}
				for ; m != 0; m &= m - 1 {
					j := w*64 + bits.TrailingZeros64(m)
					if pl.withinMinorStep(cat.pkgs[j].Version, cat.pkgs[i].Version) {
						scratch = append(scratch, int32(j))
					}
				}
			}
		} else {
			for j := range i {
				if cat.below(j, i) && pl.allowAt(pf.cotenantSets, j) && pl.hopAt(cat, j, i) {
					scratch = append(scratch, int32(j))
				}
			}
		}
		preds := pl.indices.take(len(scratch))
		copy(preds, scratch)
		h.preds = append(h.preds, preds)
		pl.scratch = scratch
	}
	return h.preds
}

// lowBits returns a word with its lowest n bits set.
func lowBits(n int) uint64 {
	if n >= 64 {
		return ^uint64(0)
	}
	return 1<<n - 1
}

// furthestReachable returns the highest version reachable from installed by
// upgrades through versions the co-tenants allow, and why it goes no
// further.
func (pl *planning) furthestReachable(installed version.Version, pkgs []pkgsource.Package, cotenants []Demand) (version.Version, string) {
	reached := []version.Version{installed}
	upgradesFrom := func(p pkgsource.Package) bool {
		return slices.ContainsFunc(reached, func(r version.Version) bool { return r.Less(p.Version) && pl.hop(r, p) })
	}
	// pkgs is ascending, so one pass in order reaches every version that
	// a chain of upgrades through allowed versions can reach.
	var blocked []version.Version
	for _, p := range pkgs {
		if !upgradesFrom(p) {
			continue
		}
		if pl.allow(cotenants, p.Version) {
			reached = append(reached, p.Version)
		} else {
			blocked = append(blocked, p.Version)
		}
	}
	furthest := slices.MaxFunc(reached, version.Version.Compare)
	if len(blocked) > 0 {
		return furthest, fmt.Sprintf("the co-tenants do not allow %s", joinVersions(blocked))
	}
	return furthest, "no package upgrades from there to a higher version" + fromPrereleaseHint(furthest, pkgs)
}

// unmetRequirement returns why a requirement of p cannot be met beneath
// pf, looking one level down: no node of the required type, or no version
// of it (installed or packaged) that meets the requirement and the demands
// already on that node. It returns "" when all can be met.
func (pl *planning) unmetRequirement(pf *platform, p pkgsource.Package) (string, error) {
	for _, r := range p.Requires {
		if r.Type == pf.template.Type || onWay(pf.via, r.Type) >= 0 {
			continue // a cycle: reported when the package is chosen (see checkCycle)
		}
		found, err := pl.beneath(pf.nodeInfo, func(n *nodeInfo) bool { return n.template.Type == r.Type })
		if err != nil {
			return "", err
		}
		if len(found) == 0 {
			return fmt.Sprintf("requires %s %s, but no %s node is beneath %s", r.Type, r.Constraint, r.Type, pf.node.ID), nil
		}
		for _, f := range found {
			cs := pl.demandedOf(append(pl.constraints[:0], r.Constraint), f)
			pl.constraints = cs
			if pl.allowsAll(cs, f.node.Version) {
				continue
			}
			cat, err := pl.catalog(r.Type)
			if err != nil {
				return "", err
			}
			sets := pl.sets[:0]
			for _, c := range cs {
				sets = append(sets, cat.set(c))
			}
			pl.sets = sets
			if !pl.anyAllowed(sets, len(cat.pkgs)) {
				return fmt.Sprintf("requires %s %s, which no %s package meets for node %s", r.Type, r.Constraint, r.Type, f.node.ID), nil
			}
		}
	}
	return "", nil
}

// demandedOf appends to cs the constraints of the demands placed on n so
// far, decided or not.
func (pl *planning) demandedOf(cs []version.Constraint, n *nodeInfo) []version.Constraint {
	pf := n.platform
	switch {
	case pf == nil:
	case pf.decided:
		for _, d := range pf.demands {
			cs = append(cs, d.Constraint)
		}
	default:
		for _, o := range pf.origins {
			cs = append(cs, pl.requirement(o).Constraint)
		}
		for _, d := range pf.packageDemands {
			cs = append(cs, d.Constraint)
		}
	}
	return cs
}

// anyAllowed reports whether every set allows one of the first n versions.
func (pl *planning) anyAllowed(sets []*allowSet, n int) bool {
	for i := range n {
		if pl.allowAt(sets, i) {
			return true
		}
	}
	return false
}

// allowsAll reports whether every constraint allows v.
func (pl *planning) allowsAll(cs []version.Constraint, v version.Version) bool {
	for i, c := range cs {
		if (i == 0 || c.String() != cs[i-1].String()) && !pl.allows(c, v) {
			return false
		}
	}
	return true
}

func pick(pkgs []pkgsource.Package, idx []int) []version.Version {
	vs := make([]version.Version, len(idx))
	for i, j := range idx {
		vs[i] = pkgs[j].Version
	}
	return vs
}

func versionsOf(pkgs []pkgsource.Package) []version.Version {
	vs := make([]version.Version, len(pkgs))
	for i, p := range pkgs {
		vs[i] = p.Version
	}
	return vs
}
