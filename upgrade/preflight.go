package upgrade

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"maps"
	"slices"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/topology"
)

// checkStale compares every node the plan changes with the version the
// plan expects it to have now: the From of its first step not yet done, or
// either end of a step in doubt.
func (r *run) checkStale(ctx context.Context) error {
	byNode := map[topology.NodeID][]int{}
	for i, s := range r.plan.Steps {
		byNode[s.Node] = append(byNode[s.Node], i)
	}
	for _, node := range slices.Sorted(maps.Keys(byNode)) {
		steps := byNode[node]
		slices.SortFunc(steps, func(a, b int) int { return cmp.Compare(r.pos[a], r.pos[b]) })
		k := slices.IndexFunc(steps, func(i int) bool { return r.report.Outcomes[i].State != Succeeded })
		var expected []Step
		switch {
		case k < 0:
			last := r.plan.Steps[steps[len(steps)-1]]
			expected = []Step{{From: last.To, ID: last.ID}}
		case r.inDoubt[steps[k]]:
			s := r.plan.Steps[steps[k]]
			expected = []Step{s, {From: s.To, ID: s.ID}}
		default:
			expected = []Step{r.plan.Steps[steps[k]]}
		}
		n, err := r.cfg.stale.Node(ctx, node)
		if err != nil {
			return fmt.Errorf("upgrade: checking for a stale plan: %w", err)
		}
		if !slices.ContainsFunc(expected, func(s Step) bool { return s.From.Compare(n.Version) == 0 }) {
			want := expected[0].From.String()
			if len(expected) > 1 {
				want += " or " + expected[1].From.String()
			}
			return &StaleError{Node: node, Step: expected[0].ID, Expected: want, Actual: n.Version.String()}
		}
	}
	return nil
}

// fetchAll opens and reads every package the plan's remaining platform
// steps install, once each.
func (r *run) fetchAll(ctx context.Context, o pkgsource.Opener) error {
	seen := map[pkgsource.Key]bool{}
	for i, s := range r.plan.Steps {
		if s.Package == nil || seen[s.Package.Key()] || r.report.Outcomes[i].State == Succeeded {
			continue
		}
		seen[s.Package.Key()] = true
		var err error
		if r.store != nil {
			_, err = r.store.file(ctx, *s.Package) // the copy the step will install
		} else {
			err = fetch(ctx, o, *s.Package)
		}
		if err != nil {
			return fmt.Errorf("upgrade: %w: package %s for step %s: %w", ErrPrefetch, s.Package, s.ID, err)
		}
	}
	return nil
}

func fetch(ctx context.Context, o pkgsource.Opener, p pkgsource.Package) error {
	rc, err := o.Open(ctx, p)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, rc)
	if cerr := rc.Close(); err == nil {
		err = cerr
	}
	return err
}
