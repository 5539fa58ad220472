package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
)

// Two runs of different applications may run side by side, but not when
// one would break what the other relies on: a new template that one
// deploys requires, of a node beneath its nodes (a shared Tomcat, say), a
// version that the other takes that node out of. Each run's stale check
// sees only the topology as it was when the run started, before the other
// had changed anything; one after the other, the second is refused.

// planClash returns what makes plans a and b clash (see above), "" when
// nothing does: an application step of one whose new template requires,
// of a node beneath the step's node in topo, what a platform step of the
// other does not leave it at.
func planClash(ctx context.Context, topo topology.Topology, a, b *upgrade.Plan) (string, error) {
	why, err := breaks(ctx, topo, a, b)
	if why != "" || err != nil {
		return why, err
	}
	return breaks(ctx, topo, b, a)
}

// breaks returns the first application step of apps whose new template
// requires, of a node beneath its node, what a platform step of platform
// takes that node out of.
func breaks(ctx context.Context, topo topology.Topology, apps, platform *upgrade.Plan) (string, error) {
	moves := map[topology.NodeID][]*upgrade.Step{}
	for i := range platform.Steps {
		if s := &platform.Steps[i]; s.Kind == upgrade.Platform {
			moves[s.Node] = append(moves[s.Node], s)
		}
	}
	if len(moves) == 0 {
		return "", nil
	}
	for i := range apps.Steps {
		s := &apps.Steps[i]
		if s.Kind != upgrade.Application || s.NewTemplate == nil || len(s.NewTemplate.Requirements) == 0 {
			continue
		}
		beneath, err := nodesBeneath(ctx, topo, s.Node)
		if err != nil {
			return "", err
		}
		for _, req := range s.NewTemplate.Requirements {
			if req.Constraint.IsZero() {
				continue
			}
			for _, n := range beneath {
				if n.Template != req.Template {
					continue
				}
				for _, p := range moves[n.ID] {
					if !req.Constraint.Allows(p.To) {
						return fmt.Sprintf("step %s deploys %s %s on node %s, which requires %s %s of node %s, and step %s takes %s to %s",
							s.ID, s.NewTemplate.ID, s.NewTemplate.Version, s.Node, req.Template, req.Constraint, n.ID, p.ID, n.ID, p.To), nil
					}
				}
			}
		}
	}
	return "", nil
}

// nodesBeneath returns the nodes that node runs on or needs, however many
// nodes lie between, as topo has them; a node topo no longer has is left
// out.
func nodesBeneath(ctx context.Context, topo topology.Topology, node topology.NodeID) ([]*topology.Node, error) {
	var found []*topology.Node
	seen := map[topology.NodeID]bool{node: true}
	next := []topology.NodeID{node}
	for len(next) > 0 {
		id := next[0]
		next = next[1:]
		n, err := topo.Node(ctx, id)
		if errors.Is(err, topology.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if id != node {
			found = append(found, n)
		}
		for _, r := range n.Relationships {
			if !seen[r.Target] {
				seen[r.Target] = true
				next = append(next, r.Target)
			}
		}
	}
	return found, nil
}
