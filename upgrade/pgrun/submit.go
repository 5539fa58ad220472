package pgrun

import (
	"bytes"
	"container/heap"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
)

// Options are the settings of a run, those upgrade.Run takes as
// RunOptions, with the same meanings: see upgrade.WithConcurrency,
// WithFailurePolicy, WithRetry, WithStepTimeout and WithRollback. The zero
// Options run one step at a time, fail fast, try each step once and bound
// no attempt.
type Options struct {
	// Concurrency is how many steps may run at once across all workers;
	// below 1 means 1. It, and Attempts, are kept as PostgreSQL integers:
	// above math.MaxInt32, which is as good as no limit, they mean that.
	Concurrency int
	Policy      upgrade.FailurePolicy
	// Attempts, Backoff and MaxBackoff are upgrade.WithRetry's.
	Attempts            int
	Backoff, MaxBackoff time.Duration
	// StepTimeout bounds each attempt (Execute and Verify together), and
	// each Rollback; 0 is no bound. Durations are kept in microseconds: a
	// positive one under a microsecond is one.
	StepTimeout time.Duration
	// Rollback makes the run, once over with a failed step, undo the
	// steps that succeeded or failed, last completed first, keeping a
	// step while a step after it could not be undone, and a step whose
	// Execute was abandoned (it may still be running), as
	// upgrade.WithRollback: workers whose Executor is an
	// upgrade.Rollbacker do it, one step at a time. A cancelled run is not
	// rolled back.
	Rollback bool
}

// Sentinel errors of Submit.
var (
	// ErrPlanConflict reports a plan whose ID is that of a run of another
	// plan, or a plan submitted again with other Options.
	ErrPlanConflict = errors.New("pgrun: plan conflicts with a submitted run")
	// ErrUnknownRun reports a plan ID no run was submitted for.
	ErrUnknownRun = errors.New("pgrun: no such run")
)

// maxStepIDLength bounds step and plan IDs, as upgrade.ReadJSON does.
const maxStepIDLength = 3 * topology.MaxIDLength

// Submit stores a run of plan with opts, ready for workers (see
// Store.Work), and returns once it is durable. Submitting the same plan
// again, with the same Options, is the same run: Submit does nothing and
// returns nil. A different plan with the ID of a submitted one, or other
// Options, is refused with an error matching ErrPlanConflict; a plan whose
// steps cannot be ordered, or whose IDs are unsafe, with one matching
// upgrade.ErrInvalidPlan; a Policy upgrade does not define, with one
// matching upgrade.ErrInvalidOption. Nothing is stored then. A Submit whose process
// freezes in the middle (stopped, or cut off without the server learning
// of it) has its transaction ended by the server after DefaultLease, for
// the same plan to be submitted again from elsewhere.
func (s *Store) Submit(ctx context.Context, plan *upgrade.Plan, opts Options) error {
	if opts.Policy > upgrade.ContinueIndependent { // its workers would run it as ContinueIndependent
		return fmt.Errorf("pgrun: Options.Policy %d: %w: use upgrade.FailFast or upgrade.ContinueIndependent", opts.Policy, upgrade.ErrInvalidOption)
	}
	opts = opts.normal()
	g, err := buildGraph(plan)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := plan.WriteJSON(&buf); err != nil {
		return fmt.Errorf("pgrun: plan %s: %w", plan.ID, err)
	}
	digest := sha256.Sum256(append(buf.Bytes(), fmt.Sprintf("%+v", opts)...))
	err = s.inTx(ctx, DefaultLease, func(tx pgx.Tx) error {
		fresh, err := s.insertRun(ctx, tx, plan, opts, buf.Bytes(), digest[:])
		if err != nil || !fresh {
			return err
		}
		return s.copyGraph(ctx, tx, plan, g, opts)
	})
	if err != nil && !errors.Is(err, ErrPlanConflict) {
		return fmt.Errorf("pgrun: submitting plan %s: %w", plan.ID, err)
	}
	return err
}

// insertRun inserts the run of plan in tx and reports whether it is new;
// a run of the plan submitted before is the same run if its digest is
// this one, and refused with ErrPlanConflict otherwise. (Submit names
// the plan in the database's errors.)
func (s *Store) insertRun(ctx context.Context, tx pgx.Tx, plan *upgrade.Plan, opts Options, planJSON, digest []byte) (bool, error) {
	state := "running"
	if len(plan.Steps) == 0 {
		state = "finished"
	}
	tag, err := tx.Exec(ctx, s.q(`INSERT INTO {s}.runs
		(plan_id, digest, plan, concurrency, policy, attempts, backoff_us, max_backoff_us, timeout_us, total, state,
		 finished_at, rollback)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, CASE WHEN $11 = 'finished' THEN clock_timestamp() END, $12)
		ON CONFLICT (plan_id) DO NOTHING`),
		plan.ID, digest, planJSON, opts.Concurrency, int(opts.Policy), opts.Attempts,
		opts.Backoff.Microseconds(), opts.MaxBackoff.Microseconds(), opts.StepTimeout.Microseconds(),
		len(plan.Steps), state, opts.Rollback)
	if err != nil {
		return false, err
	}
	if tag.RowsAffected() > 0 {
		return true, nil
	}
	var had []byte
	if err := tx.QueryRow(ctx, s.q(`SELECT digest FROM {s}.runs WHERE plan_id = $1`), plan.ID).Scan(&had); err != nil {
		return false, err
	}
	if !bytes.Equal(had, digest) {
		return false, fmt.Errorf("%w: plan %s was submitted before with other steps or options; give the plan its own ID (plan IDs hash their content), or submit it as it was", ErrPlanConflict, plan.ID)
	}
	return false, nil
}

// copyGraph stores the vertices of a new run of plan in tx, a row each,
// and the edges between them. (Submit names the plan in its errors.)
func (s *Store) copyGraph(ctx context.Context, tx pgx.Tx, plan *upgrade.Plan, g *graph, opts Options) error {
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{s.name, "steps"},
		[]string{"plan_id", "idx", "step_id", "node", "prio", "waiting", "state", "pos"},
		pgx.CopyFromRows(vertexRows(plan, g, opts))); err != nil {
		return err
	}
	var edges [][]any
	for i, deps := range g.deps {
		for _, d := range deps {
			edges = append(edges, []any{plan.ID, d, i})
		}
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{s.name, "edges"},
		[]string{"plan_id", "before", "after"}, pgx.CopyFromRows(edges)); err != nil {
		return err
	}
	return nil
}

// vertexRows returns the rows of the steps table for plan's steps, then
// its barriers, each waiting for its prerequisites not yet succeeded: a
// barrier passes (succeeded) when its prerequisites succeeded, at once if
// it has none.
func vertexRows(plan *upgrade.Plan, g *graph, opts Options) [][]any {
	v := len(g.deps)
	vstate, waiting := make([]string, v), make([]int, v)
	for _, i := range g.order { // prerequisites first
		for _, d := range g.deps[i] {
			if vstate[d] != "succeeded" {
				waiting[i]++
			}
		}
		switch {
		case waiting[i] > 0:
			vstate[i] = "waiting"
		case i >= g.n:
			vstate[i] = "succeeded"
		default:
			vstate[i] = "ready"
		}
	}
	pos := make([]int, v)
	for p, i := range g.order {
		pos[i] = p
	}
	rows := make([][]any, v)
	for i := range v {
		prio := g.prio[i]
		if opts.Concurrency == 1 { // upgrade.Run goes in order then
			prio = 0
		}
		id, _ := vertex(plan, i)
		node := ""
		if i < g.n {
			node = string(plan.Steps[i].Node)
		}
		rows[i] = []any{plan.ID, i, string(id), node, prio, waiting[i], vstate[i], pos[i]}
	}
	return rows
}

func (o Options) normal() Options {
	o.Concurrency = min(max(o.Concurrency, 1), math.MaxInt32)
	o.Attempts = min(max(o.Attempts, 1), math.MaxInt32)
	o.Backoff, o.MaxBackoff, o.StepTimeout = stored(o.Backoff), stored(o.MaxBackoff), stored(o.StepTimeout)
	return o
}

// stored returns d as the runs table keeps it, in whole microseconds: 0
// for a negative d (none), and at least a microsecond for a positive one,
// which would otherwise be kept as 0 and mean none (no step timeout, or
// upgrade.DefaultMaxBackoff).
func stored(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return max(d, time.Microsecond)
}

// graph is a plan's vertices: its n steps, then its barriers. deps[i] are
// the vertices that must succeed (a barrier: pass) before vertex i,
// prio[i] the longest chain of steps after it (Run's order among ready
// steps), order a topological order of the vertices.
type graph struct {
	n     int
	deps  [][]int32
	prio  []int32
	order []int
}

// buildGraph checks plan's IDs and order.
func buildGraph(plan *upgrade.Plan) (*graph, error) {
	if plan == nil {
		return nil, fmt.Errorf("pgrun: %w: no plan", upgrade.ErrInvalidPlan)
	}
	if err := topology.CheckIDLength("plan", plan.ID, maxStepIDLength); err != nil {
		return nil, fmt.Errorf("pgrun: %w: plan id: %w", upgrade.ErrInvalidPlan, err)
	}
	index, err := indexVertices(plan)
	if err != nil {
		return nil, err
	}
	order, err := orderVertices(plan, index)
	if err != nil {
		return nil, err
	}
	g := &graph{n: len(plan.Steps), deps: directDeps(plan, index)}
	g.prio = chainLengths(g.n, g.deps, order)
	g.order = order
	return g, nil
}

// vertex returns the ID and the After list of plan's vertex i: its step i,
// or past the steps a barrier.
func vertex(plan *upgrade.Plan, i int) (upgrade.StepID, []upgrade.StepID) {
	if n := len(plan.Steps); i >= n {
		return plan.Barriers[i-n].ID, plan.Barriers[i-n].After
	}
	return plan.Steps[i].ID, plan.Steps[i].After
}

// indexVertices checks the IDs of plan's steps and barriers and returns
// each one's vertex, refusing an unsafe ID or one listed twice.
func indexVertices(plan *upgrade.Plan) (map[upgrade.StepID]int, error) {
	n := len(plan.Steps)
	index := make(map[upgrade.StepID]int, n+len(plan.Barriers))
	for i, st := range plan.Steps {
		if err := topology.CheckIDLength("step", string(st.ID), maxStepIDLength); err != nil {
			return nil, fmt.Errorf("pgrun: %w: steps[%d].id: %w", upgrade.ErrInvalidPlan, i, err)
		}
		// The node's lock is a row keyed by it: an ID outside the safe
		// set (too long for the index, NUL, bad UTF-8) would fail every
		// claim of the run, as upgrade.ReadJSON refuses it.
		if err := topology.CheckID("node", string(st.Node)); err != nil {
			return nil, fmt.Errorf("pgrun: %w: steps[%d].node: %w", upgrade.ErrInvalidPlan, i, err)
		}
		if _, dup := index[st.ID]; dup {
			return nil, fmt.Errorf("pgrun: %w: step %s is listed twice", upgrade.ErrInvalidPlan, st.ID)
		}
		index[st.ID] = i
	}
	for k, b := range plan.Barriers {
		if err := topology.CheckIDLength("barrier", string(b.ID), maxStepIDLength); err != nil {
			return nil, fmt.Errorf("pgrun: %w: barriers[%d].id: %w", upgrade.ErrInvalidPlan, k, err)
		}
		if _, dup := index[b.ID]; dup {
			return nil, fmt.Errorf("pgrun: %w: barrier %s has the ID of another step or barrier", upgrade.ErrInvalidPlan, b.ID)
		}
		index[b.ID] = n + k
	}
	return index, nil
}

// orderVertices returns a topological order of plan's vertices (steps,
// then barriers) by Kahn's algorithm, refusing an After that names no
// vertex or a cycle.
func orderVertices(plan *upgrade.Plan, index map[upgrade.StepID]int) ([]int, error) {
	v := len(plan.Steps) + len(plan.Barriers)
	after := make([][]int32, v)
	indeg := make([]int, v)
	for i := range v {
		from, list := vertex(plan, i)
		for _, a := range list {
			j, ok := index[a]
			if !ok {
				return nil, fmt.Errorf("pgrun: %w: %s comes after %s, which is not in the plan", upgrade.ErrInvalidPlan, from, a)
			}
			after[j] = append(after[j], int32(i))
			indeg[i]++
		}
	}
	order := kahnOrder(after, indeg)
	if len(order) < v {
		for i := range v {
			if indeg[i] > 0 {
				id, _ := vertex(plan, i)
				return nil, fmt.Errorf("pgrun: %w: steps form a cycle through %s", upgrade.ErrInvalidPlan, id)
			}
		}
	}
	return order, nil
}

// kahnOrder returns the vertices whose prerequisites all come before them,
// given each vertex's successors and count of prerequisites (which it
// counts down): among the vertices ready, the lowest first, as upgrade.Run
// orders them (its steps, then its barriers), so that one step at a time,
// steps are claimed in this order. The vertices left out are on or after
// a cycle.
func kahnOrder(after [][]int32, indeg []int) []int {
	order := make([]int, 0, len(indeg))
	ready := &minHeap{}
	for i := range indeg {
		if indeg[i] == 0 {
			heap.Push(ready, i)
		}
	}
	for ready.Len() > 0 {
		i := heap.Pop(ready).(int)
		order = append(order, i)
		for _, j := range after[i] {
			if indeg[j]--; indeg[j] == 0 {
				heap.Push(ready, int(j))
			}
		}
	}
	return order
}

// directDeps returns each vertex's direct prerequisites, without repeats:
// a barrier is a vertex of its own, so a batch of n steps after one of m
// costs n+m edges, not n×m.
func directDeps(plan *upgrade.Plan, index map[upgrade.StepID]int) [][]int32 {
	deps := make([][]int32, len(plan.Steps)+len(plan.Barriers))
	for i := range deps {
		_, list := vertex(plan, i)
		seen := make(map[int32]bool, len(list))
		for _, a := range list {
			if j := int32(index[a]); !seen[j] {
				seen[j] = true
				deps[i] = append(deps[i], j)
			}
		}
	}
	return deps
}

// chainLengths returns the longest chain of steps after each vertex, given
// the first n vertices are steps and the rest barriers, which take no time.
func chainLengths(n int, deps [][]int32, order []int) []int32 {
	prio := make([]int32, len(deps))
	for k := len(order) - 1; k >= 0; k-- {
		i := order[k]
		w := int32(1)
		if i >= n {
			w = 0
		}
		for _, d := range deps[i] {
			prio[d] = max(prio[d], prio[i]+w)
		}
	}
	return prio
}

// minHeap is a heap of vertices, the lowest on top.
type minHeap []int

func (h minHeap) Len() int           { return len(h) }
func (h minHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h minHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *minHeap) Push(x any)        { *h = append(*h, x.(int)) }
func (h *minHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// checkRunID refuses an ID that Submit would refuse as a plan ID: no run
// has it.
func checkRunID(id string) error {
	if err := topology.CheckIDLength("plan", id, maxStepIDLength); err != nil {
		return fmt.Errorf("%w: %w", ErrUnknownRun, err)
	}
	return nil
}
