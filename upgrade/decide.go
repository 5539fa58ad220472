package upgrade

import (
	"cmp"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/version"
)

// maxCandidates bounds how many considered versions a step records.
const maxCandidates = 32

// decide leaves pf as it is when it meets every demand, or chooses the
// packages that bring it to a version every demand and co-tenant allows,
// and passes their requirements on to the nodes beneath.
func (pl *planning) decide(pf *platform) error {
	pf.decided = true
	pf.demands = pl.demands(pf)
	pf.origins, pf.packageDemands = nil, nil // in pf.demands now
	if r := pl.replacedBy(pf.nodeInfo); r != nil {
		return pl.replacedAllows(pf, r)
	}
	if pf.node.Version.IsZero() {
		// Neither the node nor its template says what is installed: as
		// 0.0.0 it would meet "<16" and take any package.
		return topologyError(fmt.Sprintf("node %q", pf.node.ID), "no version, nor has its template %q: give the version installed", pf.node.Template)
	}
	if allowAll(pf.demands, pf.node.Version) {
		return nil
	}
	var err error
	if pf.cotenants, err = pl.cotenants(pf); err != nil {
		return err
	}
	if pf.cat, err = pl.catalog(pf.template.Type); err != nil {
		return err
	}
	pf.firstAbove = pf.cat.above(pf.node.Version)
	if pf.path, pf.candidates, err = pl.choose(pf); err != nil {
		return err
	}
	if pl.cfg.logger != nil {
		pl.cfg.logger.Debug("upgrade: platform node planned", "node", pf.node.ID,
			"from", pf.node.Version, "to", pf.path[len(pf.path)-1].Version, "hops", len(pf.path))
	}
	return pl.passDown(pf)
}

// replacedAllows checks the demands on a node that request r replaces as
// well: its application step takes it to r's version, and no platform step
// may take it elsewhere. Every demand must allow that version, and so must
// every co-tenant unless the node has it already, as for a platform node
// that a package upgrades; the steps of what runs on the node come after
// its application step (see assemble).
func (pl *planning) replacedAllows(pf *platform, r *Request) error {
	v := r.Template.Version
	var blocking []Demand
	for _, d := range pf.demands {
		if !d.Constraint.Allows(v) {
			blocking = append(blocking, d)
		}
	}
	if blocking == nil && !pf.node.Version.Same(v) {
		var err error
		if pf.cotenants, err = pl.cotenants(pf); err != nil {
			return err
		}
		if !allowAll(pf.cotenants, v) {
			if blocking, err = pl.ruledOutBy(pf, []version.Version{v}); err != nil {
				return err
			}
		}
	}
	if blocking == nil {
		return nil
	}
	return &ConflictError{Node: pf.node.ID, Type: pf.template.Type, Installed: pf.node.Version,
		Wanted: []Demand{requestDemand(r)}, Blocking: blocking, Tried: []version.Version{v}, Replaced: true}
}

// replacedCotenants checks that the co-tenants of every node the requests
// replace, and that nothing demands a version of, allow the version its
// application step takes it to, as they must allow a platform step's: an
// operator replacing a Tomcat template would otherwise break, without a
// word, the applications of others that run on it. It runs once every
// platform node is decided, so that those the plan upgrades above the
// node are no co-tenants (see exempt). Nodes that something demands a
// version of were checked when decided (see replacedAllows). Of several
// nodes in conflict, the error names the least by ID, as platform nodes
// are decided in the order of their IDs, whatever the order of the
// requests.
func (pl *planning) replacedCotenants() error {
	var first error
	var at topology.NodeID
	pf := new(platform) // not the node's, as nothing is demanded of it: one for all, as a fleet has many
	// Nothing depends on the nodes of most applications: then none has a
	// co-tenant, and its nodes, a fleet's worth, need not be looked at.
	// The replaced nodes come request by request, and a request's are of
	// its application (see replace). A topology that fails to tell fails
	// below, where it would without this.
	dl, byApp := pl.topo.(topology.DependentsLister)
	asked, none := -1, false // the request last asked about, and whether nothing depends on its nodes
	for i := range pl.replaced {
		rep := &pl.replaced[i]
		if byApp && rep.request != asked {
			deps, err := pl.appDependentsByNode(dl, pl.requests[rep.request].Application)
			asked, none = rep.request, err == nil && len(deps) == 0
		}
		if none || rep.current || rep.platform != nil || first != nil && rep.node.ID >= at {
			continue
		}
		*pf = platform{nodeInfo: rep.nodeInfo, decided: true}
		if err := pl.replacedAllows(pf, &pl.requests[rep.request]); err != nil {
			first, at = err, rep.node.ID
		}
	}
	return first
}

// passDown places the requirements of the packages on pf's path on the
// nodes beneath it.
func (pl *planning) passDown(pf *platform) error {
	// What led to the nodes beneath: pf.via and each package in turn, in
	// one list (the path itself, when nothing led to pf).
	var vias []*pkgsource.Package
	if len(pf.via) > 0 {
		vias = make([]*pkgsource.Package, len(pf.path)*(len(pf.via)+1))
	}
	for k, p := range pf.path {
		if len(p.Requires) == 0 {
			continue
		}
		via := pf.path[k : k+1 : k+1]
		if len(pf.via) > 0 {
			n := len(pf.via) + 1
			via = vias[k*n : (k+1)*n : (k+1)*n]
			via[copy(via, pf.via)] = p
		}
		for _, r := range p.Requires {
			if err := checkCycle(via, r.Type); err != nil {
				return err
			}
			found, err := pl.requiredBeneath(pf.nodeInfo, r.Type)
			if err != nil {
				return err
			}
			if len(found) == 0 {
				return &MissingNodeError{App: pf.node.App, Type: r.Type, Beneath: pf.node.ID, Package: p.String()}
			}
			d := Demand{Constraint: r.Constraint, App: pf.node.App, Node: pf.node.ID, Package: p.String()}
			for _, f := range found {
				// The packages after p on the path are likely to
				// require the same type: room for theirs too.
				if err := pl.demandPackage(f, d, via, len(pf.path)-k); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// allowAll reports whether every demand allows v. A constraint found to
// allow v is not checked again: a platform node that many requests need
// has as many demands, and few constraints.
func allowAll(ds []Demand, v version.Version) bool {
	var allowing [8]string
	n := 0
next:
	for i := range ds {
		c := ds[i].Constraint.String()
		for _, a := range allowing[:n] {
			if a == c {
				continue next
			}
		}
		if !ds[i].Constraint.Allows(v) {
			return false
		}
		if n < len(allowing) {
			allowing[n], n = c, n+1
		}
	}
	return true
}

// choose picks the packages that take pf from its installed version to one
// that every demand and co-tenant allows: one package, or the shortest
// chain when no single package upgrades from the installed version. It
// also returns the versions considered, newest first, with their verdicts:
// all of them, or the maxCandidates nearest the chosen one.
//
// It walks the versions in the policy's order (see order) and takes the
// first that fits (every demand and co-tenant allows it), that a path
// reaches and whose requirements, and those of the packages on the way,
// can be met beneath the node. When no upgrade fits, or none that fits is
// reached with its requirements met, it walks the downgrades, if allowed.
// When nothing fits, or no path reaches what does, it sorts every version
// to say why.
func (pl *planning) choose(pf *platform) ([]*pkgsource.Package, []Candidate, error) {
	var buf [16]rule
	fit := pf.cat.sieve(buf[:0], pf.demands, pf.cotenants)
	up := true
	t, met, path, err := pl.first(pf, fit, up)
	if pl.cfg.allowDowngrade && (err == errNothingFits || err == nil && !met) {
		up, t, path, err = pl.downgrade(pf, fit, t, path, err)
	}
	switch {
	case err == errNothingFits:
		return nil, nil, pl.nothingFits(pf, fit)
	case err != nil:
		return nil, nil, err
	case t < 0:
		return nil, nil, pl.noPath(pf, fit, up)
	}
	verdicts := pl.verdicts(pf, fit, t)
	if pf.badDependent != nil {
		return nil, nil, pf.badDependent
	}
	if path == nil { // one package: kept in pf, as most paths are
		pf.one[0] = &pf.cat.pkgs[t]
		path = pf.one[:]
	}
	return path, verdicts, nil
}

// downgrade returns whether to upgrade, the index of the version to go to,
// the path there and the error, given those of the upgrades (see first):
// when no upgrade fits, the downgrades' own; else a downgrade when one
// fits, is reached and has its requirements met, or when no upgrade that
// fits is reached and a downgrade is; else the upgrades'.
func (pl *planning) downgrade(pf *platform, fit sieve, t int, path []*pkgsource.Package, err error) (bool, int, []*pkgsource.Package, error) {
	td, met, pathd, errd := pl.first(pf, fit, false)
	switch {
	case err == errNothingFits:
		return false, td, pathd, errd
	case errd != nil && errd != errNothingFits:
		return true, -1, nil, errd
	case errd == nil && td >= 0 && (met || t < 0):
		return false, td, pathd, nil
	}
	return true, t, path, err
}

// first returns the index of the first version that fits, in the policy's
// order among the upgrades (or the downgrades), that a path reaches and
// whose requirements, and those of the packages on the way, can be met
// beneath pf (see route), and true; if none can be met, the first that a
// path reaches, so that planning the node beneath reports precisely why,
// and false; if none is reached, -1 and false. It also returns the path to
// that version, nil when one package takes pf there. It returns
// errNothingFits when no version fits.
func (pl *planning) first(pf *platform, fit sieve, up bool) (int, bool, []*pkgsource.Package, error) {
	fallback, found := -1, false
	var fallbackPath []*pkgsource.Package
	o := order{pf.cat.pkgs, pf.firstAbove, up, pl.cfg.policy, fit.lo, fit.hi}
	for i := o.start(); i >= 0; i = o.next(i) {
		if !fit.fits(i) {
			continue
		}
		found = true
		if !pl.reachable(pf, fit, i) {
			continue
		}
		path, why, err := pl.route(pf, i)
		if err != nil {
			return -1, false, nil, err
		}
		if pl.passesOver(pf, i, path) != "" {
			continue
		}
		if why == "" {
			return i, true, path, nil
		}
		if fallback < 0 {
			fallback, fallbackPath = i, path
		}
	}
	if !found {
		return -1, false, nil, errNothingFits
	}
	return fallback, false, fallbackPath, nil
}

// passesOver returns, when a package of the path to pf's i-th package
// (nil: that package alone) is one that a plan made again passes over on
// pf, or requires what it does of the type of the node that failed (see
// replan and asksAlike), why; or "".
func (pl *planning) passesOver(pf *platform, i int, path []*pkgsource.Package) string {
	if len(pl.cfg.passOver) == 0 {
		return ""
	}
	if path == nil {
		path = []*pkgsource.Package{&pf.cat.pkgs[i]}
	}
	for _, p := range pl.cfg.passOver {
		if p.Node != pf.node.ID {
			continue
		}
		for _, q := range path {
			if q.String() == p.Package {
				return fmt.Sprintf("passed over: with package %s, node %s could not be planned", p.Package, p.failed)
			}
			for _, r := range q.Requires {
				if r.Type == p.typ && pl.asksAlike(r.Constraint, &p) {
					return fmt.Sprintf("passed over: it requires %s %s, as package %s does, with which node %s could not be planned", p.typ, r.Constraint, p.Package, p.failed)
				}
			}
		}
	}
	return ""
}

// asksAlike reports whether c, the constraint of a requirement on p's type,
// allows the versions of that type that p's requirement does: among those
// the source lists, and the installed one of the node it asks of. The
// builds of a release may write one requirement in as many ways ("~22.04",
// "=22.04", "22.04.x"): each would fail as p did, and trying them one by
// one would spend the tries of replan.
func (pl *planning) asksAlike(c version.Constraint, p *passedOver) bool {
	if c.String() == p.Constraint.String() {
		return true
	}
	if c.Allows(p.installed) != p.Constraint.Allows(p.installed) {
		return false
	}
	cat, err := pl.catalog(p.typ)
	if err != nil {
		return false // deciding a node of the type reports it
	}
	return slices.Equal(cat.allowedBy(c).versions, cat.allowedBy(p.Constraint).versions)
}

// errNothingFits says that no version fits a node; see first.
var errNothingFits = errors.New("nothing fits")

// order walks the indices of pf's upgrades (or downgrades) in the
// policy's order: Newest the highest first, Nearest the lowest first, and
// LatestPatch the lowest minor version first and the highest patch within
// it. Downgrades go the highest first, whatever the policy. Versions that
// compare equal (builds of one release) go in the walk's direction through
// the catalog, which sorts them as version.CompareStrict does: the latest
// build first where the walk goes down (Newest, LatestPatch, downgrades),
// the earliest first where it goes up (Nearest). It leaves out versions below lo and, but for LatestPatch, above
// hi: none there fits (see sieve).
type order struct {
	pkgs   []pkgsource.Package
	first  int // the lowest upgrade
	up     bool
	policy Policy
	lo, hi int
}

// bottom returns the lowest index the walk yields.
func (o order) bottom() int {
	if o.up {
		return max(o.first, o.lo)
	}
	return max(0, o.lo)
}

// start returns the first index, or -1 when there is none.
func (o order) start() int {
	switch {
	case !o.up || o.policy == Newest:
		top := len(o.pkgs) - 1
		if !o.up {
			top = o.first - 1
		}
		if i := min(top, o.hi); i >= o.bottom() {
			return i
		}
		return -1
	case o.bottom() >= len(o.pkgs) || o.bottom() > o.hi:
		return -1
	case o.policy == Nearest:
		return o.bottom()
	}
	return o.minorEnd(o.bottom()) - 1 // LatestPatch
}

// next returns the index after i, or -1 when there is none.
func (o order) next(i int) int {
	switch {
	case !o.up || o.policy == Newest:
		if i <= o.bottom() {
			return -1
		}
		return i - 1
	case o.policy == Nearest:
		if i >= min(o.hi, len(o.pkgs)-1) {
			return -1
		}
		return i + 1
	}
	// LatestPatch: down to the lowest of i's minor version, then on to
	// the highest of the next.
	if i > o.bottom() && o.sameMinor(i-1, i) {
		return i - 1
	}
	end := o.minorEnd(i)
	if end >= len(o.pkgs) || end > o.hi {
		return -1
	}
	return o.minorEnd(end) - 1
}

// minorEnd returns the index after the last version of i's minor version.
func (o order) minorEnd(i int) int {
	j := i + 1
	for j < len(o.pkgs) && o.sameMinor(i, j) {
		j++
	}
	return j
}

func (o order) sameMinor(i, j int) bool {
	a, b := o.pkgs[i].Version, o.pkgs[j].Version
	return a.Major() == b.Major() && a.Minor() == b.Minor()
}

// nothingFits explains why no version fits pf: no package meets every
// demand, the co-tenants allow none that does, or only downgrades fit and
// they are not allowed.
func (pl *planning) nothingFits(pf *platform, fit sieve) error {
	cat := pf.cat
	var wanted, down []int
	fits := false
	for i := range cat.pkgs {
		if !fit.wanted(i) {
			continue
		}
		wanted = append(wanted, i)
		if fit.cotenantsAllow(i) {
			fits = true
			down = append(down, i) // all below: no upgrade fits
		}
	}
	switch {
	case len(wanted) == 0:
		return unsatisfiable(pf, cat.pkgs)
	case !fits:
		return pl.conflict(pf, wanted)
	}
	return &DowngradeError{Node: pf.node.ID, Type: pf.template.Type, Installed: pf.node.Version,
		Demands: slices.Clone(pf.demands), Candidates: pick(cat.pkgs, down)}
}

// conflict explains why no version that every demand on pf wants is
// allowed by its co-tenants: wanted are the versions the demands want.
func (pl *planning) conflict(pf *platform, wanted []int) error {
	tried := pick(pf.cat.pkgs, wanted)
	blocking, err := pl.ruledOutBy(pf, tried)
	if err != nil {
		return err
	}
	return &ConflictError{Node: pf.node.ID, Type: pf.template.Type, Installed: pf.node.Version,
		Wanted: slices.Clone(pf.demands), Blocking: blocking, Tried: tried}
}

// ruledOutBy returns the demands of pf's co-tenants, all of them (see
// allCotenants), that rule out one of vs, for an error that names them.
func (pl *planning) ruledOutBy(pf *platform, vs []version.Version) ([]Demand, error) {
	all, err := pl.allCotenants(pf)
	if err != nil {
		return nil, err
	}
	var out []Demand
	for _, c := range all {
		if slices.ContainsFunc(vs, func(v version.Version) bool { return !c.Constraint.Allows(v) }) {
			out = append(out, c)
		}
	}
	return out, nil
}

// noPath explains why no path takes pf to any version that fits among its
// upgrades (or downgrades).
func (pl *planning) noPath(pf *platform, fit sieve, up bool) error {
	installed, pkgs := pf.node.Version, pf.cat.pkgs
	var blocking []Demand
	var furthest version.Version
	var reason string
	var blocked []version.Version
	if up {
		var pre []version.Version
		furthest, blocked, pre = pl.furthestReachable(installed, pkgs, pf.cotenants)
		reason = "no package upgrades from there to a higher version" + fromPrereleaseHint(furthest, pkgs)
		if len(pre) > 0 {
			reason = fmt.Sprintf("only pre-releases lead on from there (%s), and a chain of upgrades passes through released versions only", joinVersions(pre)) +
				suffixedReleaseHint(furthest, pre[0])
		}
	} else {
		furthest, blocked = pl.furthestDown(pf, fit)
		reason = fmt.Sprintf("no package that downgrades allows %s in its From constraint", furthest)
	}
	if len(blocked) > 0 {
		var err error
		if blocking, err = pl.ruledOutBy(pf, blocked); err != nil {
			return err
		}
		reason = fmt.Sprintf("the co-tenants do not allow %s: %s", joinVersions(blocked), joinDemands(blocking))
	}
	if pl.cfg.maxMinorStep > 0 {
		unit := "minor versions"
		if pl.cfg.maxMinorStep == 1 {
			unit = "minor version"
		}
		reason += fmt.Sprintf(" (a hop may advance at most %d %s)", pl.cfg.maxMinorStep, unit)
	}
	var targets []int
	for i := range pkgs {
		if (i >= pf.firstAbove) == up && fit.fits(i) {
			targets = append(targets, i)
		}
	}
	return &NoPathError{Node: pf.node.ID, Type: pf.template.Type, Installed: installed, Demands: slices.Clone(pf.demands),
		Targets: pick(pkgs, targets), Furthest: furthest, Reason: reason, Blocking: blocking}
}

// verdicts records the versions nearest pf's t-th package, the chosen one,
// newest first, each with why it was not chosen. The choice is an upgrade
// when the chosen version is above the installed one.
func (pl *planning) verdicts(pf *platform, fit sieve, t int) []Candidate {
	cat, installed := pf.cat, pf.node.Version
	pkgs, first := cat.pkgs, pf.firstAbove
	up := t >= first
	prefer := pl.prefer(pkgs, up)
	lo, hi := max(t-maxCandidates/2, 0), min(t+maxCandidates/2, len(pkgs))
	// Each reason's text is made once: many versions share one.
	var lowerText, noPathText string
	named := map[*Demand]string{}
	name := func(prefix string, d *Demand) string {
		s, ok := named[d]
		if !ok {
			var buf [256]byte
			s = string(d.appendString(append(buf[:0], prefix...)))
			named[d] = s
		}
		return s
	}
	var buf [maxCandidates]Candidate
	out := buf[:0]
	for i := hi - 1; i >= lo; i-- {
		c := Candidate{Version: pkgs[i].Version}
		switch d, co := fit.rejecting(i); {
		case i == t:
			c.Chosen = true
		case d >= 0:
			c.Rejected = name("does not satisfy ", &pf.demands[d]) + rejectedHint(&pf.demands[d], c.Version)
		case co >= 0:
			pl.nameCotenants(pf)
			if !slices.Contains(pf.binding, &pf.cotenants[co]) {
				pf.binding = append(pf.binding, &pf.cotenants[co])
			}
			c.Rejected = name("not allowed by co-tenant ", &pf.cotenants[co])
		case up && i < first:
			if lowerText == "" {
				lowerText = "lower than the installed " + installed.String()
			}
			c.Rejected = lowerText
		case prefer(t, i) < 0:
			c.Rejected = cat.prefers(t, pl.cfg.policy)
		case !pl.reachable(pf, fit, i):
			if noPathText == "" {
				noPathText = "no upgrade path from " + installed.String()
				if up {
					noPathText += onlyPrereleasesFrom(installed, pkgs[first:], pl.cfg.maxMinorStep)
				}
			}
			c.Rejected = noPathText
		default:
			path, why, _ := pl.route(pf, i)
			c.Rejected = cmp.Or(why, pl.passesOver(pf, i, path))
		}
		out = append(out, c)
	}
	return cat.share(t, installed, out)
}

// onlyPrereleasesFrom returns, when only pre-releases among pkgs (those
// above installed) upgrade from installed, ": " and that, which a chain
// does not pass through (see noPath); otherwise "". As EKS suffixes every
// release, a node on EKS reaches no further than the next minor version.
func onlyPrereleasesFrom(installed version.Version, pkgs []pkgsource.Package, maxMinorStep int) string {
	var pre []version.Version
	for i := range pkgs {
		if p := &pkgs[i]; hop(installed, p, maxMinorStep) {
			if p.Version.Prerelease() == "" {
				return ""
			}
			pre = append(pre, p.Version)
		}
	}
	if pre == nil {
		return ""
	}
	return fmt.Sprintf(": only pre-releases upgrade from it (%s), and a chain of upgrades passes through released versions only", joinVersions(pre))
}

// unsatisfiable explains why no package meets every demand on pf: a
// *NoPackageError when some source of demands cannot be met alone, or a
// *ConflictError when each could be but not all together. A source may be
// met by the installed version, with no package: two requests on one JDK,
// one that needs 21 and one that needs it below 17, which it is, conflict.
func unsatisfiable(pf *platform, pkgs []pkgsource.Package) error {
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
	vs := noPackage.Considered // ascending
	if installed := pf.node.Version; !slices.ContainsFunc(vs, installed.Same) {
		i, _ := slices.BinarySearchFunc(vs, installed, version.Version.Compare)
		vs = slices.Insert(slices.Clone(vs), i, installed)
	}
	var tried []version.Version
	for _, v := range vs {
		if allowAll(groups[0], v) {
			tried = append(tried, v)
		}
	}
	for _, g := range groups {
		if !slices.ContainsFunc(vs, func(v version.Version) bool { return allowAll(g, v) }) {
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

// route returns the path from pf's installed version to its t-th package,
// which a path reaches (see reachable), and why a requirement of that
// package, or of one on the way, cannot be met beneath pf, or "" when all
// can (see unmetRequirement). The path is nil when one package takes pf
// there: a package installable over the installed version (see hop).
// Otherwise it is the shortest chain of downgrades (see downChain) or of
// upgrades, each installable over the version before it and allowed by
// the co-tenants, and of several upgrades, one whose packages'
// requirements can all be met beneath pf, if any (see chain).
func (pl *planning) route(pf *platform, t int) ([]*pkgsource.Package, string, error) {
	if hop(pf.node.Version, &pf.cat.pkgs[t], pl.cfg.maxMinorStep) {
		why, err := pl.unmetRequirement(pf, pf.cat.pkgs[t], nil)
		return nil, why, err
	}
	if t < pf.firstAbove {
		return pl.downChain(pf, t)
	}
	return pl.chain(pf, t)
}

// downChain returns the shortest chain of downgrades that takes pf to its
// t-th package, which more than one hop reaches (see downDistances), and
// why a requirement of a package on it cannot be met beneath pf, or ""
// when every one can. Each package on the way is the lowest version at
// its distance that the next installs over: Redis 7.4.1 goes to 7.2.6,
// which installs over 7.3 only, through 7.3.0.
func (pl *planning) downChain(pf *platform, t int) ([]*pkgsource.Package, string, error) {
	pkgs, dist := pf.cat.pkgs, pf.down
	path := make([]*pkgsource.Package, dist[t])
	path[len(path)-1] = &pkgs[t]
	for cur, d := t, dist[t]-1; d > 0; d-- {
		lo, hi := pf.cat.downFrom(cur, len(dist))
		for k := lo; k < hi; k++ {
			if dist[k] == d && pf.cat.less(cur, k) && pf.cat.hopsFrom(k, cur, pl.cfg.maxMinorStep) {
				path[d-1], cur = &pkgs[k], k
				break
			}
		}
	}
	for k, p := range path {
		why, err := pl.unmetRequirement(pf, *p, path[k+1:])
		if why != "" || err != nil {
			if k < len(path)-1 && why != "" {
				why = p.Version.String() + " on the way " + why
			}
			return path, why, err
		}
	}
	return path, "", nil
}

// downDistances returns the number of hops down from pf's installed
// version to each package below it (0: not reached), each installable
// over the version before it (see hop), through released versions that
// the co-tenants of fit allow, as distances does up: a downgrade, like an
// upgrade, may only install over some versions. Versions only fall along
// a chain, so one pass down the packages settles every distance.
func (pl *planning) downDistances(pf *platform, fit sieve) []int32 {
	if pf.down != nil {
		return pf.down
	}
	cat, installed := pf.cat, pf.node.Version
	dist := make([]int32, pf.firstAbove)
	for i := len(dist) - 1; i >= 0; i-- {
		p := &cat.pkgs[i]
		if !p.Version.Less(installed) || !fit.cotenantsAllow(i) {
			continue
		}
		if hop(installed, p, pl.cfg.maxMinorStep) {
			dist[i] = 1
			continue
		}
		lo, hi := cat.downFrom(i, len(dist))
		for k := lo; k < hi; k++ {
			if dk := dist[k]; dk > 0 && (dist[i] == 0 || dk+1 < dist[i]) && cat.less(i, k) && cat.hopsFrom(k, i, pl.cfg.maxMinorStep) {
				dist[i] = dk + 1
			}
		}
	}
	pf.down = dist
	return dist
}

// chain returns the shortest chain of upgrades that takes pf to its t-th
// package, which more than one hop reaches (see distances), and why a
// requirement of a package on it cannot be met beneath pf, or "" when
// every one can. Each package on the way is the highest version at its
// distance that the next installs over, never a pre-release: a demand that
// asks for pre-releases asks for one to be installed at the end, not on
// the way to a release (see installsOver); but one whose requirements,
// with those of the packages after it on the chain, or those of every
// chain down from it, cannot be met is passed over for another that can:
// Python 3.12 goes over 3.11.2 rather than 3.11.9 when the mirror has the
// Debian that 3.11.2 needs and not 3.11.9's, or when 3.11.9 needs a Debian
// below the one 3.12 needs, as the nodes beneath are upgraded before the
// first hop.
func (pl *planning) chain(pf *platform, t int) ([]*pkgsource.Package, string, error) {
	why, err := pl.unmetRequirement(pf, pf.cat.pkgs[t], nil)
	if err != nil {
		return nil, "", err
	}
	c := chainSearch{pl: pl, pf: pf, dist: *pf.dist, path: make([]*pkgsource.Package, (*pf.dist)[t]), why: why, key: make([]byte, 0, 128)}
	if why == "" {
		if ok, err := c.down(t, true); ok || err != nil {
			return c.path, "", err
		}
	}
	// None has its requirements met: the chain of the highest versions,
	// which every package a path reaches has one hop below it.
	_, err = c.down(t, false)
	return c.path, c.why, err
}

// chainSearch is the state of chain's search down from the chosen version.
type chainSearch struct {
	pl   *planning
	pf   *platform
	dist []int32
	path []*pkgsource.Package // filled from the top down
	why  string               // the first unmet requirement met on the way
	// dead[requires][j]: no chain down from package j has its
	// requirements met along with requires, those of the packages after
	// j on the chain (see appendRequires).
	dead map[string]map[int]bool
	key  []byte
}

func (c *chainSearch) markDead(j int, after []*pkgsource.Package) {
	c.key = appendRequires(c.key[:0], after)
	if c.dead[string(c.key)] == nil {
		if c.dead == nil {
			c.dead = map[string]map[int]bool{}
		}
		c.dead[string(c.key)] = map[int]bool{}
	}
	c.dead[string(c.key)][j] = true
}

// down fills path from cur down to a package one hop above the installed
// version, trying the packages a hop below, the highest first; with met,
// only through those whose requirements, and those of a chain down from
// them, can be met.
func (c *chainSearch) down(cur int, met bool) (bool, error) {
	pkgs, dist := c.pf.cat.pkgs, c.dist
	c.path[dist[cur]-1] = &pkgs[cur]
	if dist[cur] == 1 {
		return true, nil
	}
	preds := c.pf.cat.installsOver(cur, c.pl.cfg.maxMinorStep)
	after := c.path[dist[cur]-1:]
	c.key = appendRequires(c.key[:0], after)
	deadHere := c.dead[string(c.key)] // each j below comes once: none is marked before it is looked at
	for k := len(preds) - 1; k >= 0; k-- {
		j := preds[k]
		if dist[j] != dist[cur]-1 || met && deadHere[j] {
			continue
		}
		if met {
			w, err := c.pl.unmetRequirement(c.pf, pkgs[j], after)
			if err != nil {
				return false, err
			}
			if w != "" {
				if c.why == "" { // the first unmet is on the chain taken without them
					c.why = pkgs[j].Version.String() + " on the way " + w
				}
				c.markDead(j, after)
				continue
			}
		}
		if ok, err := c.down(j, met); ok || err != nil {
			return ok, err
		}
		c.markDead(j, after)
	}
	return false, nil
}

// reachesAny reports whether a path takes node n, of catalog cat, to a
// version that fits, as reachable would once n is decided; and if not,
// whether one that fits is a downgrade.
func (pl *planning) reachesAny(n *nodeInfo, cat *catalog, fit sieve) (ok, downgrade bool) {
	beneath := platform{nodeInfo: n, cat: cat, firstAbove: cat.above(n.node.Version)}
	// Upwards, so that the distances are worked out only as far as the
	// lowest version reached that fits.
	for i := max(fit.lo, beneath.firstAbove); i <= fit.hi; i++ {
		if fit.fits(i) && pl.distances(&beneath, fit, i)[i] > 0 {
			return true, false
		}
	}
	for i := min(fit.hi, beneath.firstAbove-1); i >= fit.lo; i-- {
		if fit.fits(i) {
			downgrade = true
			if pl.cfg.allowDowngrade && (hop(n.node.Version, &cat.pkgs[i], pl.cfg.maxMinorStep) || pl.downDistances(&beneath, fit)[i] > 0) {
				return true, false
			}
		}
	}
	return false, downgrade
}

// reachable reports whether a path takes pf to its t-th package.
func (pl *planning) reachable(pf *platform, fit sieve, t int) bool {
	if hop(pf.node.Version, &pf.cat.pkgs[t], pl.cfg.maxMinorStep) {
		return true
	}
	if t < pf.firstAbove {
		return pl.downDistances(pf, fit)[t] > 0
	}
	return pl.distances(pf, fit, t)[t] > 0
}

// distances extends pf's distances to its t-th package and returns them:
// the number of hops from the installed version to each package (0: not
// reachable). Versions only rise along a chain and the packages are in
// ascending order, so one pass in order settles every distance. Nodes with
// the same installed version and co-tenant constraints share them.
func (pl *planning) distances(pf *platform, fit sieve, t int) []int32 {
	cat := pf.cat
	if pf.dist == nil {
		pf.dist = cat.distancesFrom(pf.node.Version, fit)
	}
	dist := *pf.dist
	for i := len(dist); i <= t; i++ {
		var d int32
		switch {
		case i < pf.firstAbove || !fit.cotenantsAllow(i): // not above the installed version, or not allowed
		case hop(pf.node.Version, &cat.pkgs[i], pl.cfg.maxMinorStep):
			d = 1
		default:
			for _, j := range cat.installsOver(i, pl.cfg.maxMinorStep) {
				if dj := dist[j]; dj > 0 && (d == 0 || dj+1 < d) {
					d = dj + 1
				}
			}
		}
		dist = append(dist, d)
	}
	*pf.dist = dist
	return dist
}

// furthestReachable returns the highest version reachable from installed by
// upgrades through released versions the co-tenants allow, the versions an
// upgrade from there reaches that the co-tenants do not allow, and the
// pre-releases it reaches, which a chain does not pass through (see
// installsOver).
func (pl *planning) furthestReachable(installed version.Version, pkgs []pkgsource.Package, cotenants []Demand) (furthest version.Version, blocked, pre []version.Version) {
	reached := []version.Version{installed}
	upgradesFrom := func(p *pkgsource.Package) bool {
		return slices.ContainsFunc(reached, func(r version.Version) bool {
			return r.Less(p.Version) && hop(r, p, pl.cfg.maxMinorStep)
		})
	}
	// pkgs is ascending, so one pass in order reaches every version that
	// a chain of upgrades through allowed versions can reach.
	for i := range pkgs {
		p := &pkgs[i]
		switch {
		case !upgradesFrom(p):
		case p.Version.Prerelease() != "":
			pre = append(pre, p.Version)
		case allowAll(cotenants, p.Version):
			reached = append(reached, p.Version)
		default:
			blocked = append(blocked, p.Version)
		}
	}
	furthest = slices.MaxFunc(reached, version.Version.Compare)
	pre = slices.DeleteFunc(pre, func(v version.Version) bool { return !furthest.Less(v) })
	return furthest, blocked, pre
}

// furthestDown returns the lowest version that downgrades take pf to
// through released versions its co-tenants allow (see downDistances), or
// the installed one when none does, and the versions below it that a
// downgrade from a version reached would install but the co-tenants do
// not allow.
func (pl *planning) furthestDown(pf *platform, fit sieve) (furthest version.Version, blocked []version.Version) {
	dist, pkgs := pl.downDistances(pf, fit), pf.cat.pkgs
	reached := []version.Version{pf.node.Version}
	for i := range dist {
		if dist[i] > 0 && pkgs[i].Version.Prerelease() == "" {
			reached = append(reached, pkgs[i].Version)
		}
	}
	for i := range dist {
		p := &pkgs[i]
		if dist[i] == 0 && !fit.cotenantsAllow(i) && slices.ContainsFunc(reached, func(r version.Version) bool {
			return p.Version.Less(r) && hop(r, p, pl.cfg.maxMinorStep)
		}) {
			blocked = append(blocked, p.Version)
		}
	}
	return slices.MinFunc(reached, version.Version.Compare), blocked
}

// appendRequires appends to b the requirements of pkgs, as a key.
func appendRequires(b []byte, pkgs []*pkgsource.Package) []byte {
	for _, p := range pkgs {
		for _, r := range p.Requires {
			b = append(append(append(append(b, r.Type...), 0), r.Constraint.String()...), 0)
		}
	}
	return b
}

// unmetRequirement returns why a requirement of p cannot be met beneath
// pf, looking one level down: no node of the required type, or no version
// of it (installed or packaged) that meets the requirement, the demands
// already on that node and the requirements on its type of the packages
// after p on pf's chain, which the nodes beneath must meet too, as they
// are upgraded before its first hop. It returns "" when all can be met.
func (pl *planning) unmetRequirement(pf *platform, p pkgsource.Package, after []*pkgsource.Package) (string, error) {
	for _, r := range p.Requires {
		if r.Type == pf.template.Type || onWay(pf.via, r.Type) >= 0 {
			continue // a cycle: reported when the package is chosen (see checkCycle)
		}
		found, err := pl.requiredBeneath(pf.nodeInfo, r.Type)
		if err != nil {
			return "", err
		}
		if len(found) == 0 {
			return fmt.Sprintf("requires %s %s, but no %s node is beneath %s", r.Type, r.Constraint, r.Type, pf.node.ID), nil
		}
		// In the order of their IDs, not of the relationships: the reason
		// names the first that fails, and a plan does not depend on the
		// order the topology lists a node's relationships in.
		slices.SortFunc(found, func(a, b *nodeInfo) int { return cmp.Compare(a.node.ID, b.node.ID) })
		for _, f := range found {
			if why, err := pl.unmetOn(pf, r, f, after); why != "" || err != nil {
				return why, err
			}
		}
	}
	return "", nil
}

// unmetOn returns why requirement r of a package for pf cannot be met on
// node f beneath pf, along with the requirements of the packages after it
// on the chain, or "" when it can.
func (pl *planning) unmetOn(pf *platform, r pkgsource.Requirement, f *nodeInfo, after []*pkgsource.Package) (string, error) {
	var dbuf [8]Demand
	ds := pl.demandedOf(f, append(dbuf[:0], Demand{Constraint: r.Constraint}))
	ds = requiredAfter(ds, after, r.Type)
	if v, ok := pl.replacedWith(f); ok {
		// No package moves it: a request's application step does
		// (see replacedAllows).
		if !allowAll(ds, v) {
			return fmt.Sprintf("requires %s %s, which node %s will not meet: a request replaces it with %s", r.Type, r.Constraint, f.node.ID, v), nil
		}
		return "", nil
	}
	if allowAll(ds, f.node.Version) {
		// It stays, unless a node beside pf will surely move it: then
		// what pf's packages ask must be met where it moves, if it can
		// move for what is asked of it already; if it cannot, they are
		// not at fault.
		moved, err := pl.movedBeside(f, pf)
		if err != nil || !moved {
			return "", err
		}
		var bbuf [8]Demand
		if why, err := pl.unmetMoving(pf, r, f, after, pl.demandedOf(f, bbuf[:0])); why != "" || err != nil {
			return "", err
		}
	}
	return pl.unmetMoving(pf, r, f, after, ds)
}

// unmetMoving returns why requirement r of a package for pf cannot be met
// on node f beneath pf, which moves to meet ds, or "" when it can: no
// package meets ds, the co-tenants allow none that does, or no path
// reaches one they allow.
func (pl *planning) unmetMoving(pf *platform, r pkgsource.Requirement, f *nodeInfo, after []*pkgsource.Package, ds []Demand) (string, error) {
	cat, err := pl.catalog(r.Type)
	if err != nil {
		return "", err
	}
	var rbuf [8]rule
	wanted := cat.sieve(rbuf[:0], ds, nil)
	if !wanted.any() {
		return fmt.Sprintf("requires %s %s, which no %s package meets for node %s%s", r.Type, r.Constraint, r.Type, f.node.ID, alongWith(after, r.Type)), nil
	}
	cotenants, err := pl.settledCotenants(f, pf)
	if err != nil {
		return "", err
	}
	fit := wanted.with(cat, cotenants)
	if len(cotenants) > 0 && !fit.any() {
		return fmt.Sprintf("requires %s %s, which the co-tenants of node %s do not allow%s: %s",
			r.Type, r.Constraint, f.node.ID, alongWith(after, r.Type), joinDemands(ruling(cat, ds, cotenants))), nil
	}
	if ok, downgrade := pl.reachesAny(f, cat, fit); !ok {
		why := fmt.Sprintf("requires %s %s, to which no upgrade path takes node %s from %s%s", r.Type, r.Constraint, f.node.ID, f.node.Version, alongWith(after, r.Type))
		if downgrade && !pl.cfg.allowDowngrade {
			why += ", and downgrades are not allowed"
		}
		return why, nil
	}
	return "", nil
}

// movedBeside reports whether a platform node not yet decided that runs
// on n or depends on it (see undecidedOn), beside pf, will surely ask of
// n what its installed version does not meet (see sureDemand): then n
// moves, though it meets what pf's packages ask, and what they ask must
// be met along with it. A Tomcat that needs Ubuntu >=22 moves the 20.04
// beneath it, which an agent's "<24" alone would leave as it is.
func (pl *planning) movedBeside(n *nodeInfo, pf *platform) (bool, error) {
	deps, err := pl.dependents(n.node.ID)
	if err != nil {
		return false, err
	}
	for i := range deps {
		if pl.settled(&deps[i], pf) {
			continue
		}
		d, ok, err := pl.sureDemand(n, &deps[i], pf)
		if err != nil || ok && !d.Constraint.Allows(n.node.Version) {
			return err == nil, err
		}
	}
	return false, nil
}

// requiredAfter appends to ds the requirements on type typ of the
// packages after.
func requiredAfter(ds []Demand, after []*pkgsource.Package, typ string) []Demand {
	for _, c := range requirementsOn(after, typ) {
		ds = append(ds, Demand{Constraint: c})
	}
	return ds
}

// alongWith returns the words that name, in a reason, the requirements on
// type typ of the packages after, or "" when there are none.
func alongWith(after []*pkgsource.Package, typ string) string {
	var with []string
	for p, c := range requirementsOn(after, typ) {
		with = append(with, p.String()+"'s "+typ+" "+c.String())
	}
	if with == nil {
		return ""
	}
	return " along with " + strings.Join(with, " and ")
}

// requirementsOn yields each package of pkgs with a constraint it
// requires of type typ.
func requirementsOn(pkgs []*pkgsource.Package, typ string) iter.Seq2[*pkgsource.Package, version.Constraint] {
	return func(yield func(*pkgsource.Package, version.Constraint) bool) {
		for _, p := range pkgs {
			for _, r := range p.Requires {
				if r.Type == typ && !yield(p, r.Constraint) {
					return
				}
			}
		}
	}
}

// ruling returns those of cotenants that rule out a version of cat that
// every demand of ds allows, sorted (see sortDemands): the co-tenants that
// a reason names, whatever order the topology listed them in.
func ruling(cat *catalog, ds, cotenants []Demand) []Demand {
	var buf [8]rule
	wanted := cat.sieve(buf[:0], ds, nil)
	var out []Demand
	for _, c := range cotenants {
		for i := wanted.lo; i <= wanted.hi; i++ {
			if wanted.fits(i) && !c.Constraint.Allows(cat.pkgs[i].Version) {
				out = append(out, c)
				break
			}
		}
	}
	sortDemands(out)
	return out
}

// replacedWith returns the version a request gives node n, when one
// replaces it: that of its application step, or the one it has already.
func (pl *planning) replacedWith(n *nodeInfo) (version.Version, bool) {
	r := pl.replacedBy(n)
	if r == nil {
		return version.Version{}, false
	}
	return r.Template.Version, true
}

// replacedBy returns the request that replaces node n, or nil.
func (pl *planning) replacedBy(n *nodeInfo) *Request {
	i, ok := pl.replacing[appTemplate{n.node.App, n.node.Template}]
	if !ok {
		return nil
	}
	r := &pl.requests[i]
	if r.Replaces != n.node.Template && !n.node.Version.Same(r.Template.Version) {
		return nil // of a new template's ID, but not at its version: not replaced (see targets)
	}
	return r
}

// settledCotenants returns, for looking ahead from pf to node n beneath
// it, the demands of n's co-tenants whose versions the plan will not
// change: not pf, which a package with requirements upgrades, nor a node
// being replaced or upgraded, nor one not yet decided, which may be
// upgraded too, unless it will keep its version (see staysPut). They are
// its direct co-tenants and those further up, as for cotenants: an
// application on pf, say, that requires n's template. What they ask of n
// will still be asked when n is decided. Of the platform nodes not yet
// decided that run on n, it adds what they will surely ask of it (see
// sureDemand).
func (pl *planning) settledCotenants(n *nodeInfo, pf *platform) ([]Demand, error) {
	return pl.lookAheadCotenants(n, pf, true)
}

// lookAheadCotenants is settledCotenants, with sure demands or without.
func (pl *planning) lookAheadCotenants(n *nodeInfo, pf *platform, sure bool) ([]Demand, error) {
	deps, err := pl.dependents(n.node.ID)
	if err != nil {
		return nil, err
	}
	var out []Demand
	for i := range deps {
		d := &deps[i]
		demand := Demand{Constraint: d.Constraint, App: d.App, Template: d.Template, Node: d.Node}
		if !pl.settled(d, pf) {
			if !sure {
				continue
			}
			var ok bool
			if demand, ok, err = pl.sureDemand(n, d, pf); err != nil {
				return nil, err
			}
			if !ok {
				continue
			}
		}
		if err := checkDependentOf(n.node.ID, deps, i); err != nil {
			return nil, err
		}
		out = addCotenant(out, demand)
	}
	above, err := pl.aboveOf(n)
	if err != nil {
		return nil, err
	}
	for i := range above {
		d := &above[i]
		if !pl.settled(d, pf) {
			continue
		}
		if err := checkIDs(d, fmt.Sprintf("node #%d above node %q", i+1, n.node.ID)); err != nil {
			return nil, err
		}
		out = addCotenant(out, Demand{Constraint: d.Constraint, App: d.App, Template: d.Template, Node: d.Node})
	}
	return out, nil
}

// settled reports whether co-tenant d, of a node beneath pf, asks of it
// now what it will ask once the plan is decided: it has a requirement, it
// is not pf nor exempt, and it is no platform node left to decide, or one
// that keeps its version (see staysPut).
func (pl *planning) settled(d *topology.Dependent, pf *platform) bool {
	if d.Constraint.IsZero() || d.Node == pf.node.ID || pl.exempt(d) {
		return false
	}
	m, ok := pl.nodes[d.Node]
	return !ok || m.platform == nil || m.platform.decided || pl.staysPut(m, pf)
}

// maxSure bounds how many constraints a demand of sureDemand joins.
const maxSure = 8

// sureDemand returns, for looking ahead from pf to node n beneath it, what
// n's dependent d, a platform node not yet decided that runs on n or
// depends on it (see undecidedOn), will
// ask of n whatever it is decided to be: its installed version, if the
// demands on it so far allow it, binds n to its template's constraint,
// and every package those demands and its settled co-tenants allow
// requires of n's type one of a few constraints; a version of n that none
// of them allows is ruled out
// (a monitoring agent whose every build allowed needs RHEL <9 rules out
// RHEL 9 for the Redis beside it). Demands on d only grow as the plan is
// decided, so what it will ask is among these, whether it is decided
// before pf or after: without it, a node decided first took a package
// that its sibling, decided after, made impossible, and whether a plan
// was found depended on their IDs. It reports false when d may ask
// nothing of n, or too many things to join (see maxSure).
func (pl *planning) sureDemand(n *nodeInfo, d *topology.Dependent, pf *platform) (Demand, bool, error) {
	m, err := pl.undecidedOn(n, d, pf)
	if m == nil || err != nil {
		return Demand{}, false, err
	}
	var buf [8]Demand
	ds := pl.demandedOf(m, buf[:0])
	var texts []string
	stays := allowAll(ds, m.node.Version)
	if stays {
		if d.Constraint.IsZero() {
			return Demand{}, false, nil
		}
		texts = append(texts, d.Constraint.String())
	}
	cat, err := pl.catalog(m.template.Type)
	if err != nil {
		return Demand{}, false, err
	}
	// What d's settled co-tenants ask of it will be asked when it is
	// decided (a plugin that needs an agent below 7).
	cotenants, err := pl.lookAheadCotenants(m, pf, false)
	if err != nil {
		return Demand{}, false, err
	}
	var rbuf [8]rule
	fit := cat.sieve(rbuf[:0], ds, cotenants)
	texts, last, allowed := sureRequirements(cat, fit, n.template.Type, texts)
	if len(texts) == 0 {
		return Demand{}, false, nil
	}
	c, ok := cat.joined(texts)
	if !ok {
		return Demand{}, false, nil
	}
	out := Demand{Constraint: c, App: d.App, Template: d.Template, Node: d.Node}
	if !stays && allowed == 1 { // named as the package it will be
		out.Package = last.String()
	}
	return out, true, nil
}

// joined returns the constraint that allows what any of texts allows,
// parsed once per catalog: sureDemand asks for the same few on every
// look-ahead through a node.
func (cat *catalog) joined(texts []string) (version.Constraint, bool) {
	key := strings.Join(texts, " || ")
	if c, ok := cat.sure[key]; ok {
		return c, true
	}
	c, err := version.ParseConstraint(key)
	if err != nil {
		return version.Constraint{}, false
	}
	if cat.sure == nil {
		cat.sure = map[string]version.Constraint{}
	}
	cat.sure[key] = c
	return c, true
}

// undecidedOn returns the node of dependent d when it is a platform node
// of another type than n, other than pf, not exempt and not yet decided,
// that its packages' requirements on n's type will be asked of: one
// hosted on n, or one that depends on n and has no node of that type
// down its hosting chain (see requiredBeneath), as servers that share a
// database do. sureDemand bounds its demand on n. Else it returns nil.
func (pl *planning) undecidedOn(n *nodeInfo, d *topology.Dependent, pf *platform) (*nodeInfo, error) {
	if d.Node == pf.node.ID || pl.exempt(d) {
		return nil, nil
	}
	m, ok := pl.nodes[d.Node]
	if !ok || m.platform == nil || m.platform.decided || m.template == nil || m.template.Type == n.template.Type {
		return nil, nil
	}
	if d.Relation != topology.HostedOn {
		// The walk keeps lists of its own: the caller's look-ahead
		// holds the result of another (see unmetRequirement).
		var buf [8]*nodeInfo
		_, hosting, err := pl.walkInto(buf[:0], nil, m, true, func(x *nodeInfo) bool { return x.template.Type == n.template.Type })
		if err != nil || len(hosting) > 0 {
			return nil, err
		}
	}
	return m, nil
}

// sureRequirements adds to texts the constraint on typ of each package of
// cat that fit allows, and returns them with the last such package and
// how many there were. It returns no texts when one of them requires
// nothing of typ (it may ask nothing) or when the texts would be more
// than maxSure.
func sureRequirements(cat *catalog, fit sieve, typ string, texts []string) (_ []string, last *pkgsource.Package, allowed int) {
	for i := fit.lo; i <= fit.hi; i++ {
		if !fit.fits(i) {
			continue
		}
		p := &cat.pkgs[i]
		last, allowed = p, allowed+1
		k := slices.IndexFunc(p.Requires, func(r pkgsource.Requirement) bool { return r.Type == typ })
		if k < 0 {
			return nil, nil, 0
		}
		if c := p.Requires[k].Constraint.String(); !slices.Contains(texts, c) {
			if len(texts) == maxSure {
				return nil, nil, 0
			}
			texts = append(texts, c)
		}
	}
	return texts, last, allowed
}

// staysPut reports whether platform node m, not yet decided, will keep
// its version: no node above it is left to decide, as it is no lower than
// pf, so every demand on it is known, and its installed version meets
// them all.
func (pl *planning) staysPut(m *nodeInfo, pf *platform) bool {
	if m.height < pf.height {
		return false
	}
	var buf [8]Demand
	return allowAll(pl.demandedOf(m, buf[:0]), m.node.Version)
}

// demandedOf appends to ds the constraints of the demands placed on n so
// far, decided or not.
func (pl *planning) demandedOf(n *nodeInfo, ds []Demand) []Demand {
	switch pf := n.platform; {
	case pf == nil:
		return ds
	case pf.decided:
		for _, d := range pf.demands {
			ds = append(ds, Demand{Constraint: d.Constraint})
		}
		return ds
	default:
		for _, o := range pf.origins {
			ds = append(ds, Demand{Constraint: pl.requests[o.request].Template.Requirements[o.requirement].Constraint})
		}
		for _, d := range pf.packageDemands {
			ds = append(ds, Demand{Constraint: d.Constraint})
		}
		return ds
	}
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
