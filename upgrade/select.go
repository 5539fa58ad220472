package upgrade

import (
	"fmt"
	"slices"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/version"
)

// choose picks the packages that take pf from its installed version to one
// that every demand on it and every co-tenant allows: one package, or the
// shortest chain when no single package upgrades from the installed
// version. pkgs is sorted by ascending version.
func (pl *planning) choose(pf *platform, pkgs []pkgsource.Package, cotenants []Demand) ([]pkgsource.Package, error) {
	installed := pf.node.Version
	all := versionsOf(pkgs)
	var wanted, fits []version.Version // wanted: meet the requests; fits: and the co-tenants
	for _, v := range all {
		if allow(pf.demands, v) {
			wanted = append(wanted, v)
			if allow(cotenants, v) {
				fits = append(fits, v)
			}
		}
	}
	if len(wanted) == 0 {
		return nil, &NoPackageError{Node: pf.node.ID, Type: pf.template.Type, Installed: installed,
			Demands: slices.Clone(pf.demands), Considered: all}
	}
	if len(fits) == 0 {
		var blocking []Demand
		for _, c := range cotenants {
			if slices.ContainsFunc(wanted, func(v version.Version) bool { return !c.Constraint.Allows(v) }) {
				blocking = append(blocking, c)
			}
		}
		return nil, &ConflictError{Node: pf.node.ID, Type: pf.template.Type, Installed: installed,
			Wanted: slices.Clone(pf.demands), Blocking: blocking, Tried: wanted}
	}
	var up, down []version.Version
	for _, v := range fits {
		switch v.Compare(installed) {
		case 1:
			up = append(up, v)
		case -1:
			down = append(down, v)
		}
	}
	candidates := up
	if len(up) == 0 {
		if !pl.cfg.allowDowngrade {
			return nil, &DowngradeError{Node: pf.node.ID, Type: pf.template.Type, Installed: installed,
				Demands: slices.Clone(pf.demands), Candidates: down}
		}
		candidates = down
	}
	// Preference: candidates are ascending; Newest wants the highest first,
	// Nearest the closest to the installed version first.
	preferred := slices.Clone(candidates)
	if pl.cfg.policy == Newest || len(up) == 0 {
		slices.Reverse(preferred)
	}
	for _, target := range preferred {
		if path := shortestPath(installed, target, pkgs, cotenants); path != nil {
			return path, nil
		}
	}
	furthest, reason := furthestReachable(installed, pkgs, cotenants)
	return nil, &NoPathError{Node: pf.node.ID, Type: pf.template.Type, Installed: installed,
		Targets: candidates, Furthest: furthest, Reason: reason}
}

// shortestPath returns the shortest chain of packages from installed to
// target, or nil. Upgrades go up one package at a time, each allowing (by
// its From constraint) the version before it and each intermediate version
// allowed by the co-tenants. A downgrade is one package. Among chains of
// equal length the one with the highest versions wins.
func shortestPath(installed, target version.Version, pkgs []pkgsource.Package, cotenants []Demand) []pkgsource.Package {
	t := slices.IndexFunc(pkgs, func(p pkgsource.Package) bool { return p.Version == target })
	if target.Less(installed) {
		if pkgs[t].From.Allows(installed) {
			return []pkgsource.Package{pkgs[t]}
		}
		return nil
	}
	// dist[i] is the number of hops from installed to pkgs[i]; -1 unreached.
	dist := make([]int, len(pkgs))
	for i := range dist {
		dist[i] = -1
	}
	usable := func(i int) bool {
		v := pkgs[i].Version
		return installed.Less(v) && !target.Less(v) && (i == t || allow(cotenants, v))
	}
	var frontier []int
	for i := range pkgs {
		if usable(i) && pkgs[i].From.Allows(installed) {
			dist[i] = 1
			frontier = append(frontier, i)
		}
	}
	for len(frontier) > 0 && dist[t] < 0 {
		var next []int
		for _, f := range frontier {
			for i := range pkgs {
				if dist[i] < 0 && usable(i) && pkgs[f].Version.Less(pkgs[i].Version) && pkgs[i].From.Allows(pkgs[f].Version) {
					dist[i] = dist[f] + 1
					next = append(next, i)
				}
			}
		}
		frontier = next
	}
	if dist[t] < 0 {
		return nil
	}
	path := make([]pkgsource.Package, dist[t])
	for cur := t; ; {
		path[dist[cur]-1] = pkgs[cur]
		if dist[cur] == 1 {
			break
		}
		// The highest predecessor one hop closer to installed.
		for i := len(pkgs) - 1; i >= 0; i-- {
			if dist[i] == dist[cur]-1 && pkgs[i].Version.Less(pkgs[cur].Version) && pkgs[cur].From.Allows(pkgs[i].Version) {
				cur = i
				break
			}
		}
	}
	return path
}

// furthestReachable returns the highest version reachable from installed by
// upgrades through versions the co-tenants allow, and why it goes no
// further.
func furthestReachable(installed version.Version, pkgs []pkgsource.Package, cotenants []Demand) (version.Version, string) {
	reached := []version.Version{installed}
	upgradesFrom := func(p pkgsource.Package) bool {
		return slices.ContainsFunc(reached, func(r version.Version) bool { return r.Less(p.Version) && p.From.Allows(r) })
	}
	// pkgs is ascending, so one pass in order reaches every version that
	// a chain of upgrades through allowed versions can reach.
	var blocked []version.Version
	for _, p := range pkgs {
		if !upgradesFrom(p) {
			continue
		}
		if allow(cotenants, p.Version) {
			reached = append(reached, p.Version)
		} else {
			blocked = append(blocked, p.Version)
		}
	}
	furthest := slices.MaxFunc(reached, version.Version.Compare)
	if len(blocked) > 0 {
		return furthest, fmt.Sprintf("the co-tenants do not allow %s", joinVersions(blocked))
	}
	return furthest, "no package upgrades from there to a higher version"
}

func versionsOf(pkgs []pkgsource.Package) []version.Version {
	vs := make([]version.Version, len(pkgs))
	for i, p := range pkgs {
		vs[i] = p.Version
	}
	return vs
}
