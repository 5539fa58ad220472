package upgrade

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/version"
)

// checkStale compares every node the plan changes with the versions the
// plan allows it to have now. Without a journal, or before any of the
// node's steps is done, that is the From of its first step. Once the
// journal records steps of the node as succeeded, the node may be at the
// From of its first step still (the step ran, but whoever keeps the
// topology had not recorded it yet: a crash between the two) or at the To
// of any step done (the topology learnt some or all of them); a step in
// doubt adds its To, and so does a step the journal records as failed,
// whose Execute may have changed the node before its Verify failed. A
// step the journal records as rolled back counts as done: the topology
// may have learnt it and not yet its undoing. Any other version, such as
// the To of a step not yet run, is stale, and so is a node the topology
// no longer has (ErrNotFound). Versions are compared as Version.Same does, build metadata included; a node
// without a version has its template's, as for the planner.
func (r *run) checkStale(ctx context.Context) error {
	requested, err := validateRequests(r.plan.Requests) // by the templates they replace
	if err != nil {
		return fmt.Errorf("upgrade: checking for a stale plan: %w", err)
	}
	byNode := map[topology.NodeID][]int{}
	for i, s := range r.plan.Steps {
		byNode[s.Node] = append(byNode[s.Node], i)
	}
	for _, node := range slices.Sorted(maps.Keys(byNode)) {
		steps := byNode[node]
		slices.SortFunc(steps, func(a, b int) int { return cmp.Compare(r.pos[a], r.pos[b]) })
		expected, blame := r.allowedNow(steps)
		want := make([]string, len(expected))
		for k, v := range expected {
			want[k] = v.String()
		}
		actual, err := r.installed(ctx, node)
		if errors.Is(err, topology.ErrNotFound) { // gone since the plan was made, as an application scaled in
			return &StaleError{Node: node, Step: blame, Expected: joinOr(want), Err: err}
		}
		if err != nil {
			return fmt.Errorf("upgrade: checking for a stale plan: %w", err)
		}
		if !slices.ContainsFunc(expected, actual.Same) {
			return &StaleError{Node: node, Step: blame, Expected: joinOr(want), Actual: actual.String()}
		}
		if err := r.checkDependents(ctx, node, actual, steps, byNode, requested); err != nil {
			return err
		}
	}
	return r.checkSatisfied(ctx, byNode)
}

// checkSatisfied refuses the plan when a node it found meeting a demand
// already (a satisfied check), and so left alone, no longer meets it, or
// is gone: changed by another run since the plan was made (a shared
// Tomcat taken to 10 under a plan that deploys an application needing
// <10 on it), the plan would deploy onto a platform its requests do not
// allow. A node still meeting the demand at another version is not
// stale: planning again would leave it alone as well.
func (r *run) checkSatisfied(ctx context.Context, changed map[topology.NodeID][]int) error {
	versions := map[topology.NodeID]version.Version{} // a node has a check per demand: asked once
	for i := range r.plan.Satisfied {
		c := &r.plan.Satisfied[i]
		if _, ok := changed[c.Node]; ok {
			continue // checked above
		}
		actual, ok := versions[c.Node]
		if !ok {
			var err error
			actual, err = r.installed(ctx, c.Node)
			if errors.Is(err, topology.ErrNotFound) {
				return &StaleError{Node: c.Node, Check: c, Expected: c.Demand.Constraint.String(), Err: err}
			}
			if err != nil {
				return fmt.Errorf("upgrade: checking for a stale plan: %w", err)
			}
			versions[c.Node] = actual
		}
		if !c.Demand.Constraint.IsZero() && !c.Demand.Constraint.Allows(actual) {
			return &StaleError{Node: c.Node, Check: c, Expected: c.Demand.Constraint.String(), Actual: actual.String()}
		}
	}
	return nil
}

// allowedNow returns the versions the plan allows a node to have now, given
// its steps in the plan's order (see checkStale), and the step to blame
// when it has none of them: the first not done, or the last.
func (r *run) allowedNow(steps []int) (expected []version.Version, blame StepID) {
	first := r.plan.Steps[steps[0]]
	expected = []version.Version{first.From}
	blame = first.ID
	expect := func(v version.Version) {
		if !slices.ContainsFunc(expected, v.Same) {
			expected = append(expected, v)
		}
	}
	// The node's steps done, and the first not done if it may have
	// changed the node (in doubt, or failed), add their To; the
	// first not done is blamed.
	var rest []int
	for k, i := range steps {
		s := r.plan.Steps[i]
		done := r.report.Outcomes[i].State == Succeeded || r.undone[i]
		blame = s.ID
		if done || r.inDoubt[i] || r.failed[i] {
			expect(s.To)
		}
		if !done {
			rest = steps[k+1:]
			break
		}
	}
	// A step after that rolled back still counts (its undoing having
	// failed for the one before, say): the topology may not have
	// learnt of its undoing yet.
	for _, i := range rest {
		if r.undone[i] {
			expect(r.plan.Steps[i].To)
		}
	}
	return expected, blame
}

// checkDependents refuses the plan when a node that runs on or needs
// node, and that the plan does not change, now requires of it what a
// step of node not done yet would leave: the planner held the plan's
// versions to what each such dependent required then, those of a platform
// step and those of an application step alike, and a dependent deployed
// or changed since may require less. The dependents
// the plan changes are left out, as the planner left them out: their new
// templates' requirements made the plan; and so are those its requests
// replace that have their request's version already (see
// requestsAlready; requested gives the request of each template).
func (r *run) checkDependents(ctx context.Context, node topology.NodeID, actual version.Version, steps []int,
	byNode map[topology.NodeID][]int, requested map[appTemplate]int) error {
	var pending []int
	for _, i := range steps {
		if r.report.Outcomes[i].State != Succeeded {
			pending = append(pending, i)
		}
	}
	if len(pending) == 0 {
		return nil
	}
	deps, err := r.cfg.stale.Dependents(ctx, node)
	if err != nil {
		return fmt.Errorf("upgrade: checking for a stale plan: %w", err)
	}
	for _, d := range deps {
		if _, changed := byNode[d.Node]; changed || d.Constraint.IsZero() {
			continue
		}
		// As the planner does with co-tenants: an ID outside the safe
		// set would reach the StaleError's message, and the caller's log.
		if err := checkIDs(&d, fmt.Sprintf("dependent %s of node %s", topology.Quote(string(d.Node)), topology.Quote(string(node)))); err != nil {
			return fmt.Errorf("upgrade: checking for a stale plan: %w", err)
		}
		current, err := r.requestsAlready(ctx, &d, requested)
		if err != nil {
			return fmt.Errorf("upgrade: checking for a stale plan: %w", err)
		}
		if current {
			continue
		}
		for _, i := range pending {
			if s := &r.plan.Steps[i]; !d.Constraint.Allows(s.To) {
				return &StaleError{Node: node, Step: s.ID, Expected: s.To.String(), Actual: actual.String(), Dependent: &d}
			}
		}
	}
	return nil
}

// requestsAlready reports whether dependent d is a node that a request of
// the plan replaces and that has the request's version already: as the
// planner does, which takes such a node for the request's (a satisfied
// check) and holds the platform beneath it to the request's template
// rather than to the node's own, the stale check leaves it out.
func (r *run) requestsAlready(ctx context.Context, d *topology.Dependent, requested map[appTemplate]int) (bool, error) {
	k, ok := requested[appTemplate{d.App, d.Template}]
	if !ok {
		return false, nil
	}
	v, err := r.installed(ctx, d.Node)
	if err != nil {
		return false, err
	}
	return v.Same(r.plan.Requests[k].Template.Version), nil
}

// installed returns the version of node that the stale check's topology
// gives: its own, or its template's when it has none.
func (r *run) installed(ctx context.Context, node topology.NodeID) (version.Version, error) {
	n, err := r.cfg.stale.Node(ctx, node)
	switch {
	case err != nil:
		return version.Version{}, err
	case n == nil:
		return version.Version{}, nilAnswer("node", string(node))
	case !n.Version.IsZero():
		return n.Version, nil
	}
	t, err := r.cfg.stale.Template(ctx, n.Template)
	switch {
	case err != nil:
		return version.Version{}, err
	case t == nil:
		return version.Version{}, nilAnswer("template", string(n.Template))
	}
	return t.Version, nil
}

// joinOr joins words as "a", "a or b", "a, b or c".
func joinOr(words []string) string {
	if len(words) < 2 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}

// fetchAll opens and reads every package the plan's remaining platform
// steps install, once each, through WithPrefetch's Opener, or into their
// copies with WithPackages.
func (r *run) fetchAll(ctx context.Context) error {
	seen := map[fetched]bool{}
	for i, s := range r.plan.Steps {
		if s.Package == nil || r.report.Outcomes[i].State == Succeeded {
			continue
		}
		// Two packages of one type and version may be had from two
		// places, or be two builds: each is fetched.
		f := fetched{s.Package.Key(), s.Package.Location, s.Package.Digest, s.Package.Size}
		if seen[f] {
			continue
		}
		seen[f] = true
		// Into the copy the step will install, with WithPackages.
		if err := r.fetch(ctx, i, 0, nil); err != nil {
			return fmt.Errorf("upgrade: %w: package %s %s for step %s: %w", ErrPrefetch, textID(s.Package.Type), s.Package.Version, textID(s.ID), err)
		}
	}
	return nil
}

// fetched is what says which content an Opener gives for a package.
type fetched struct {
	key      pkgsource.Key
	location string
	digest   string
	size     int64
}

func fetch(ctx context.Context, o pkgsource.Opener, p pkgsource.Package) error {
	rc, err := o.Open(ctx, p)
	if err != nil {
		return err
	}
	if rc == nil {
		return &pkgsource.PackageError{Package: p.Key(), Err: pkgsource.ErrNoContent}
	}
	_, err = io.Copy(io.Discard, rc)
	if cerr := rc.Close(); err == nil {
		err = cerr
	}
	return err
}
