package pgrun

import (
	"bytes"
	"container/heap"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
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
	// below 1 means 1.
	Concurrency int
	Policy      upgrade.FailurePolicy
	// Attempts, Backoff and MaxBackoff are upgrade.WithRetry's.
	Attempts            int
	Backoff, MaxBackoff time.Duration
	// StepTimeout bounds each attempt (Execute and Verify together); 0
	// is no bound.
	StepTimeout time.Duration
	// Rollback makes the run, once over with a failed step, undo the
	// steps that succeeded or failed, last completed first, keeping a
	// step while a step after it could not be undone, as
	// upgrade.WithRollback: workers whose Executor is an
	// upgrade.Rollbacker do it, one step at a time. A cancelled run is not
	// rolled back.
	Rollback bool
}

// Sentinel errors of Submit.
var (
	// ErrUnsupported reports a setting this package cannot honour yet.
	ErrUnsupported = errors.New("pgrun: not supported")
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
// upgrade.ErrInvalidPlan. Nothing is stored then.
func (s *Store) Submit(ctx context.Context, plan *upgrade.Plan, opts Options) error {
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
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		state := "running"
		if len(plan.Steps) == 0 {
			state = "finished"
		}
		tag, err := tx.Exec(ctx, s.q(`INSERT INTO {s}.runs
			(plan_id, digest, plan, concurrency, policy, attempts, backoff_us, max_backoff_us, timeout_us, total, state,
			 finished_at, rollback)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, CASE WHEN $11 = 'finished' THEN clock_timestamp() END, $12)
			ON CONFLICT (plan_id) DO NOTHING`),
			plan.ID, digest[:], buf.Bytes(), opts.Concurrency, int(opts.Policy), opts.Attempts,
			opts.Backoff.Microseconds(), opts.MaxBackoff.Microseconds(), opts.StepTimeout.Microseconds(),
			len(plan.Steps), state, opts.Rollback)
		if err != nil {
			return fmt.Errorf("pgrun: submitting plan %s: %w", plan.ID, err)
		}
		if tag.RowsAffected() == 0 {
			var had []byte
			if err := tx.QueryRow(ctx, s.q(`SELECT digest FROM {s}.runs WHERE plan_id = $1`), plan.ID).Scan(&had); err != nil {
				return fmt.Errorf("pgrun: submitting plan %s: %w", plan.ID, err)
			}
			if !bytes.Equal(had, digest[:]) {
				return fmt.Errorf("%w: plan %s was submitted before with other steps or options; give the plan its own ID (plan IDs hash their content), or submit it as it was", ErrPlanConflict, plan.ID)
			}
			return nil
		}
		// Steps, then barriers, each a row: a barrier passes (succeeded)
		// when its prerequisites succeeded, at once if it has none.
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
			id, node := "", ""
			if i < g.n {
				id, node = string(plan.Steps[i].ID), string(plan.Steps[i].Node)
			} else {
				id = string(plan.Barriers[i-g.n].ID)
			}
			rows[i] = []any{plan.ID, i, id, node, prio, waiting[i], vstate[i], pos[i]}
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{s.name, "steps"},
			[]string{"plan_id", "idx", "step_id", "node", "prio", "waiting", "state", "pos"}, pgx.CopyFromRows(rows)); err != nil {
			return fmt.Errorf("pgrun: submitting plan %s: %w", plan.ID, err)
		}
		var edges [][]any
		for i, deps := range g.deps {
			for _, d := range deps {
				edges = append(edges, []any{plan.ID, d, i})
			}
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{s.name, "edges"},
			[]string{"plan_id", "before", "after"}, pgx.CopyFromRows(edges)); err != nil {
			return fmt.Errorf("pgrun: submitting plan %s: %w", plan.ID, err)
		}
		return nil
	})
}

func (o Options) normal() Options {
	o.Concurrency = max(o.Concurrency, 1)
	o.Attempts = max(o.Attempts, 1)
	o.Backoff, o.MaxBackoff, o.StepTimeout = max(o.Backoff, 0), max(o.MaxBackoff, 0), max(o.StepTimeout, 0)
	return o
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
	n := len(plan.Steps)
	index := make(map[upgrade.StepID]int, n+len(plan.Barriers))
	for i, st := range plan.Steps {
		if err := topology.CheckIDLength("step", string(st.ID), maxStepIDLength); err != nil {
			return nil, fmt.Errorf("pgrun: %w: steps[%d].id: %w", upgrade.ErrInvalidPlan, i, err)
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
	// Vertices: steps, then barriers. Kahn's algorithm orders them and
	// finds cycles.
	v := n + len(plan.Barriers)
	after := make([][]int32, v)
	indeg := make([]int, v)
	link := func(from upgrade.StepID, list []upgrade.StepID, to int) error {
		for _, a := range list {
			j, ok := index[a]
			if !ok {
				return fmt.Errorf("pgrun: %w: %s comes after %s, which is not in the plan", upgrade.ErrInvalidPlan, from, a)
			}
			after[j] = append(after[j], int32(to))
			indeg[to]++
		}
		return nil
	}
	for i, st := range plan.Steps {
		if err := link(st.ID, st.After, i); err != nil {
			return nil, err
		}
	}
	for k, b := range plan.Barriers {
		if err := link(b.ID, b.After, n+k); err != nil {
			return nil, err
		}
	}
	// Among the vertices ready, the lowest first, as upgrade.Run orders
	// them (its steps, then its barriers): one step at a time, steps are
	// claimed in this order.
	order := make([]int, 0, v)
	ready := &minHeap{}
	for i := range v {
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
	if len(order) < v {
		for i := range v {
			if indeg[i] > 0 {
				id := func(i int) upgrade.StepID {
					if i < n {
						return plan.Steps[i].ID
					}
					return plan.Barriers[i-n].ID
				}
				return nil, fmt.Errorf("pgrun: %w: steps form a cycle through %s", upgrade.ErrInvalidPlan, id(i))
			}
		}
	}
	// Each vertex's direct prerequisites, without repeats: a barrier is a
	// vertex of its own, so a batch of n steps after one of m costs n+m
	// edges, not n×m.
	g := &graph{n: n, deps: make([][]int32, v), prio: make([]int32, v)}
	for i := range v {
		var list []upgrade.StepID
		if i < n {
			list = plan.Steps[i].After
		} else {
			list = plan.Barriers[i-n].After
		}
		seen := make(map[int32]bool, len(list))
		for _, a := range list {
			if j := int32(index[a]); !seen[j] {
				seen[j] = true
				g.deps[i] = append(g.deps[i], j)
			}
		}
	}
	// prio: the longest chain of steps after each vertex; a barrier takes
	// no time.
	for k := len(order) - 1; k >= 0; k-- {
		i := order[k]
		w := int32(1)
		if i >= n {
			w = 0
		}
		for _, d := range g.deps[i] {
			g.prio[d] = max(g.prio[d], g.prio[i]+w)
		}
	}
	g.order = order
	return g, nil
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
