package upgrade

import "github.com/stackup/stackup/topology"

// A Holder is the step of another run that holds a node, in an Event of
// kind StepWaiting: the step of the event is ready, but cannot start
// before Holder's step releases the node.
//
// Run never emits StepWaiting: the steps of one Run wait for no other run,
// and one that waits for another step of its own on its node (see Run)
// waits without an event.
// Runners that share nodes among runs (upgrade/pgrun) emit it once each
// time a step finds its node held, not each time they look again.
type Holder struct {
	Node topology.NodeID // the node both steps touch
	Plan string          // the ID of the plan of the run holding it
	Step StepID          // the step of that run holding it
}
