package pgrun

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/upgrade/upgradetest"
)

// dagPlan returns a plan of n steps, each after up to three of the
// twenty before it.
func dagPlan(id string, n int, seed uint64) *upgrade.Plan {
	rng := rand.New(rand.NewPCG(seed, 7))
	p := &upgrade.Plan{ID: id, Steps: make([]upgrade.Step, n)}
	for i := range p.Steps {
		s := &p.Steps[i]
		s.ID = upgrade.StepID(fmt.Sprintf("s%04d", i))
		s.Node, s.Kind = topology.NodeID(fmt.Sprintf("node-%04d", i)), upgrade.Platform
		for range rng.IntN(4) {
			if i > 0 {
				a := p.Steps[max(0, i-1-rng.IntN(20))].ID
				if !slices.Contains(s.After, a) {
					s.After = append(s.After, a)
				}
			}
		}
		slices.Sort(s.After)
	}
	return p
}

// effects is a table, in the test's schema, where executors record each
// Execute call, with the database's clock.
func createEffects(t *testing.T, s *Store) {
	_, err := s.pool.Exec(context.Background(), s.q(`CREATE TABLE {s}.effects (id bigserial PRIMARY KEY, step text NOT NULL,
		worker text NOT NULL, in_doubt boolean NOT NULL, started timestamptz NOT NULL, ended timestamptz)`))
	require.NoError(t, err)
}

// effectExec records each call in the effects table and takes a random
// short time. fail, if set, says which steps fail; hang, if set, is
// called after the call is recorded and may block.
type effectExec struct {
	s      *Store
	worker string
	fail   func(upgrade.StepID, int) error
	hang   func(upgrade.StepID)
	mu     sync.Mutex
	calls  map[upgrade.StepID]int
}

func (e *effectExec) Execute(ctx context.Context, st upgrade.Step) error {
	var id int64
	if err := e.s.pool.QueryRow(ctx, e.s.q(`INSERT INTO {s}.effects (step, worker, in_doubt, started)
		VALUES ($1, $2, $3, clock_timestamp()) RETURNING id`), string(st.ID), e.worker, upgrade.InDoubt(ctx)).Scan(&id); err != nil {
		return err
	}
	e.mu.Lock()
	if e.calls == nil {
		e.calls = map[upgrade.StepID]int{}
	}
	e.calls[st.ID]++
	n := e.calls[st.ID]
	e.mu.Unlock()
	if e.hang != nil {
		e.hang(st.ID)
	}
	time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond) // a random duration, not an ordering device
	if e.fail != nil {
		if err := e.fail(st.ID, n); err != nil {
			return err
		}
	}
	_, err := e.s.pool.Exec(context.WithoutCancel(ctx), e.s.q(`UPDATE {s}.effects SET ended = clock_timestamp() WHERE id = $1`), id)
	return err
}

type effect struct {
	id             int64
	step           string
	inDoubt        bool
	started, ended time.Time // ended zero: the call never returned
}

func readEffects(t *testing.T, s *Store) []effect {
	rows, err := s.pool.Query(context.Background(), s.q(`SELECT id, step, in_doubt, started, coalesce(ended, 'epoch') FROM {s}.effects ORDER BY id`))
	require.NoError(t, err)
	var out []effect
	var e effect
	_, err = pgx.ForEachRow(rows, []any{&e.id, &e.step, &e.inDoubt, &e.started, &e.ended}, func() error {
		if e.ended.Unix() == 0 {
			e.ended = time.Time{}
		}
		out = append(out, e)
		return nil
	})
	require.NoError(t, err)
	return out
}

// checkRun asserts what must hold of a run in which every step succeeded:
// each step's effect once, but in-doubt steps at most twice, flagged; no
// step started before its prerequisites' effects ended; no more than
// limit calls at once.
func checkRun(t *testing.T, s *Store, plan *upgrade.Plan, limit int) *Status {
	t.Helper()
	st, err := s.Status(context.Background(), plan.ID)
	require.NoError(t, err)
	require.True(t, st.Finished)
	require.NoError(t, st.Err)
	assert.Equal(t, len(plan.Steps), st.Report.Count(upgrade.Succeeded))
	byStep := map[string][]effect{}
	for _, e := range readEffects(t, s) {
		byStep[e.step] = append(byStep[e.step], e)
	}
	done := map[string]effect{}
	var intervals [][2]time.Time
	for _, step := range plan.Steps {
		es := byStep[string(step.ID)]
		var complete []effect
		for k, e := range es {
			end := e.ended
			if end.IsZero() { // cut short: it ran until the next call took over
				require.Less(t, k, len(es)-1, "step %s: last call never ended", step.ID)
				end = es[k+1].started
			} else {
				complete = append(complete, e)
			}
			intervals = append(intervals, [2]time.Time{e.started, end})
		}
		// A worker may die after the call returned and before it recorded
		// the outcome: then the step is in doubt, and runs again.
		require.NotEmpty(t, complete, "step %s: no call returned", step.ID)
		if len(complete) > 1 {
			require.Contains(t, st.InDoubt, step.ID, "step %s: %d calls returned", step.ID, len(complete))
		}
		done[string(step.ID)] = complete[len(complete)-1]
		if len(es) > 1 {
			assert.LessOrEqual(t, len(es), 2, "step %s ran %d times", step.ID, len(es))
			assert.Contains(t, st.InDoubt, step.ID, "step %s ran twice but is not flagged in doubt", step.ID)
			assert.True(t, es[len(es)-1].inDoubt, "step %s: the repeat was not told it is in doubt", step.ID)
		}
	}
	for _, step := range plan.Steps {
		for _, pre := range plan.Prerequisites(step.ID) {
			assert.False(t, done[string(step.ID)].started.Before(done[string(pre)].ended),
				"step %s started before %s ended", step.ID, pre)
		}
	}
	type edge struct {
		at    time.Time
		delta int
	}
	var edges []edge
	for _, iv := range intervals {
		edges = append(edges, edge{iv[0], 1}, edge{iv[1], -1})
	}
	sort.Slice(edges, func(i, j int) bool {
		if !edges[i].at.Equal(edges[j].at) {
			return edges[i].at.Before(edges[j].at)
		}
		return edges[i].delta < edges[j].delta
	})
	cur, peak := 0, 0
	for _, e := range edges {
		cur += e.delta
		peak = max(peak, cur)
	}
	assert.LessOrEqual(t, peak, limit, "calls at once")
	t.Logf("%d steps, %d calls, peak concurrency %d of %d, in doubt %v", len(plan.Steps), len(intervals), peak, limit, st.InDoubt)
	return st
}

// fastWorker is the options of a worker in a test where no worker is lost
// and no cancel or stop must reach a step under way: its lease is long, so
// that a worker starved for seconds on a loaded machine does not lose a
// step to another, which would run it twice.
var fastWorker = WorkerOptions{Lease: 30 * time.Second, Poll: 10 * time.Millisecond}

// lapsingWorker is the options of a worker in a test that waits for a lease
// to lapse (a worker lost or killed) or for a cancel or a stop to reach a
// step under way, which happens at its lease's next renewal, a third of
// the lease: short enough to keep such a test quick, long enough that a
// worker that is not lost keeps its lease on a loaded machine.
var lapsingWorker = WorkerOptions{Lease: 3 * time.Second, Poll: 10 * time.Millisecond}

func work(t *testing.T, s *Store, planID string, n int, exec upgrade.Executor, o WorkerOptions) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a failure bound
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, n)
	for k := range n {
		wg.Go(func() {
			o := o
			o.Name = fmt.Sprintf("w%d", k)
			errs[k] = s.Work(ctx, planID, exec, o)
		})
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
}

func TestOpenIsIdempotentAndRefusesBadSchemas(t *testing.T) {
	s, pool := testStore(t)
	again, err := Open(context.Background(), pool, s.name)
	require.NoError(t, err)
	var v int
	require.NoError(t, pool.QueryRow(context.Background(), again.q(`SELECT version FROM {s}.schema_version`)).Scan(&v))
	assert.Equal(t, SchemaVersion, v)
	for _, bad := range []string{"", "a\x00b", string(make([]byte, 64)), "x$pgrun$; DROP SCHEMA public; --"} {
		_, err := Open(context.Background(), pool, bad)
		assert.ErrorIs(t, err, ErrInvalidSchema, "%q", bad)
		if !strings.ContainsRune(bad, 0) { // PostgreSQL text cannot hold NUL
			var n int
			require.NoError(t, pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_namespace WHERE nspname = $1`, bad).Scan(&n))
			assert.Zero(t, n, "schema %q created", bad)
		}
	}
	// A hostile name is a name, not SQL.
	hostile := `x"; DROP SCHEMA public; --`
	_, err = Open(context.Background(), pool, hostile)
	require.NoError(t, err)
	var n int
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_namespace WHERE nspname = ANY($1)`, []string{hostile, "public"}).Scan(&n))
	assert.Equal(t, 2, n)
	_, err = pool.Exec(context.Background(), `DROP SCHEMA `+pgx.Identifier{hostile}.Sanitize()+` CASCADE`)
	require.NoError(t, err)
}

func TestSubmitTwiceIsOneRun(t *testing.T) {
	s, _ := testStore(t)
	ctx := context.Background()
	plan := dagPlan("plan-a", 10, 1)
	require.NoError(t, s.Submit(ctx, plan, Options{Concurrency: 2}))
	require.NoError(t, s.Submit(ctx, plan, Options{Concurrency: 2}))
	var runs, steps int
	require.NoError(t, s.pool.QueryRow(ctx, s.q(`SELECT (SELECT count(*) FROM {s}.runs), (SELECT count(*) FROM {s}.steps)`)).Scan(&runs, &steps))
	assert.Equal(t, 1, runs)
	assert.Equal(t, 10, steps)

	other := dagPlan("plan-a", 11, 1)
	err := s.Submit(ctx, other, Options{Concurrency: 2})
	assert.ErrorIs(t, err, ErrPlanConflict)
	assert.ErrorContains(t, err, "plan-a")
	assert.ErrorIs(t, s.Submit(ctx, plan, Options{Concurrency: 3}), ErrPlanConflict)
	require.NoError(t, s.pool.QueryRow(ctx, s.q(`SELECT count(*) FROM {s}.steps`)).Scan(&steps))
	assert.Equal(t, 10, steps, "a refused submission changed nothing")
}

func TestSubmitRefusesBadPlans(t *testing.T) {
	s, _ := testStore(t)
	ctx := context.Background()
	cycle := dagPlan("cycle", 3, 1)
	cycle.Steps[0].After = []upgrade.StepID{cycle.Steps[2].ID}
	cycle.Steps[2].After = []upgrade.StepID{cycle.Steps[0].ID}
	unknown := dagPlan("unknown", 3, 1)
	unknown.Steps[1].After = []upgrade.StepID{"nope"}
	dup := dagPlan("dup", 3, 1)
	dup.Steps[2].ID = dup.Steps[0].ID
	badID := dagPlan("bad\nid", 3, 1)
	// Node IDs outside the safe set: too long for the node locks' index
	// (a claim failed forever), NUL and bad UTF-8 (PostgreSQL refused).
	longNode, nulNode, badUTF8 := dagPlan("long-node", 3, 1), dagPlan("nul-node", 3, 1), dagPlan("utf8-node", 3, 1)
	longNode.Steps[1].Node = topology.NodeID(strings.Repeat("n", 6000))
	nulNode.Steps[1].Node = "n\x00"
	badUTF8.Steps[1].Node = "n\xff"
	for _, tc := range []struct {
		plan *upgrade.Plan
		name string
		opts Options
		want error
	}{
		{cycle, "s0000", Options{}, upgrade.ErrInvalidPlan},
		{unknown, "nope", Options{}, upgrade.ErrInvalidPlan},
		{dup, "s0000", Options{}, upgrade.ErrInvalidPlan},
		{badID, "plan", Options{}, upgrade.ErrInvalidPlan},
		{longNode, "steps[1].node", Options{}, upgrade.ErrInvalidPlan},
		{nulNode, "steps[1].node", Options{}, upgrade.ErrInvalidPlan},
		{badUTF8, "steps[1].node", Options{}, upgrade.ErrInvalidPlan},
	} {
		err := s.Submit(ctx, tc.plan, tc.opts)
		assert.ErrorIs(t, err, tc.want, tc.plan.ID)
		assert.ErrorContains(t, err, tc.name)
	}
	var runs int
	require.NoError(t, s.pool.QueryRow(ctx, s.q(`SELECT count(*) FROM {s}.runs`)).Scan(&runs))
	assert.Zero(t, runs, "nothing stored")
}

func TestWorkersRunADAG(t *testing.T) {
	s, _ := testStore(t)
	createEffects(t, s)
	plan := dagPlan("sha256:"+strings.Repeat("0123456789abcdef", 4), 120, 3)
	plan.Barriers = []upgrade.Barrier{{ID: "b", After: []upgrade.StepID{"s0000", "s0001"}}}
	plan.Steps[110].After = append(plan.Steps[110].After, "b")
	require.NoError(t, s.Submit(context.Background(), plan, Options{Concurrency: 3}))
	exec := &effectExec{s: s, worker: "in-process"}
	o := fastWorker
	o.Slots = 2
	work(t, s, plan.ID, 3, exec, o)
	checkRun(t, s, plan, 3)
	events, err := s.Events(context.Background(), plan.ID, 0, 10000)
	require.NoError(t, err)
	kinds := map[upgrade.EventKind]int{}
	for _, e := range events {
		kinds[e.Kind]++
	}
	assert.Equal(t, map[upgrade.EventKind]int{upgrade.StepStarted: 120, upgrade.StepSucceeded: 120}, kinds)
	assert.Equal(t, 120, events[len(events)-1].Done)
}

// chain3 is a → b → c, and d on its own.
func chain3(id string) *upgrade.Plan {
	return &upgrade.Plan{ID: id, Steps: []upgrade.Step{
		{ID: "a", Kind: upgrade.Platform, Node: "n-a"}, {ID: "b", Kind: upgrade.Platform, Node: "n-b", After: []upgrade.StepID{"a"}},
		{ID: "c", Kind: upgrade.Platform, Node: "n-c", After: []upgrade.StepID{"b"}}, {ID: "d", Kind: upgrade.Platform, Node: "n-d"}}}
}

// rollingBack submits chain3(id) with rollback, and has a worker by hand
// succeed a and fail b: the run is rolling back, a's rollback to claim.
func rollingBack(t *testing.T, s *Store, id string) *upgrade.Plan {
	t.Helper()
	ctx := context.Background()
	plan := chain3(id)
	require.NoError(t, s.Submit(ctx, plan, Options{Rollback: true}))
	hand := testWorker(t, s, plan.ID, &upgradetest.Executor{}, WorkerOptions{Name: "hand", Lease: time.Hour})
	for _, failed := range []string{"", "boom"} {
		c, _, _, err := hand.claim(ctx, nil)
		require.NoError(t, err)
		require.NotNil(t, c)
		require.NoError(t, hand.finish(ctx, c, 1, failed, 0))
	}
	return plan
}

func TestFailurePolicies(t *testing.T) {
	boom := errors.New("boom")
	for _, tc := range []struct {
		policy upgrade.FailurePolicy
		want   map[upgrade.StepID]upgrade.State
	}{
		// One at a time, a (failing) goes first, then nothing starts.
		{upgrade.FailFast, map[upgrade.StepID]upgrade.State{"a": upgrade.Failed, "b": upgrade.Skipped, "c": upgrade.Skipped, "d": upgrade.NotStarted}},
		{upgrade.ContinueIndependent, map[upgrade.StepID]upgrade.State{"a": upgrade.Failed, "b": upgrade.Skipped, "c": upgrade.Skipped, "d": upgrade.Succeeded}},
	} {
		t.Run(fmt.Sprint(tc.policy), func(t *testing.T) {
			s, _ := testStore(t)
			createEffects(t, s)
			plan := chain3("p")
			require.NoError(t, s.Submit(context.Background(), plan, Options{Policy: tc.policy}))
			exec := &effectExec{s: s, worker: "w", fail: func(id upgrade.StepID, _ int) error {
				if id == "a" {
					return boom
				}
				return nil
			}}
			work(t, s, plan.ID, 2, exec, fastWorker)
			st, err := s.Status(context.Background(), plan.ID)
			require.NoError(t, err)
			require.True(t, st.Finished)
			got := map[upgrade.StepID]upgrade.State{}
			for _, o := range st.Report.Outcomes {
				got[o.Step] = o.State
			}
			assert.Equal(t, tc.want, got)
			assert.ErrorIs(t, st.Err, upgrade.ErrStepFailed)
			assert.ErrorContains(t, st.Err, "boom")
			var se *upgrade.StepError
			require.ErrorAs(t, st.Err, &se)
			assert.Equal(t, topology.NodeID("n-a"), se.Node)
			for _, e := range readEffects(t, s) {
				assert.NotContains(t, []string{"b", "c"}, e.step, "a step after a failed one ran")
			}
		})
	}
}

func TestRetries(t *testing.T) {
	s, _ := testStore(t)
	createEffects(t, s)
	plan := chain3("p")
	require.NoError(t, s.Submit(context.Background(), plan, Options{Attempts: 3, Backoff: time.Millisecond}))
	exec := &effectExec{s: s, worker: "w", fail: func(id upgrade.StepID, n int) error {
		if id == "b" && n < 3 {
			return errors.New("flaky")
		}
		if id == "d" {
			return upgrade.Permanent(errors.New("hopeless"))
		}
		return nil
	}}
	work(t, s, plan.ID, 1, exec, fastWorker)
	st, err := s.Status(context.Background(), plan.ID)
	require.NoError(t, err)
	b, _ := st.Report.Outcome("b")
	assert.Equal(t, upgrade.Succeeded, b.State)
	assert.Equal(t, 3, b.Attempts)
	d, _ := st.Report.Outcome("d")
	assert.Equal(t, upgrade.Failed, d.State)
	assert.Equal(t, 1, d.Attempts, "a permanent error is not retried")
	events, err := s.Events(context.Background(), plan.ID, 0, 1000)
	require.NoError(t, err)
	var retries []int
	for _, e := range events {
		if e.Kind == upgrade.StepRetrying {
			retries = append(retries, e.Attempt)
			assert.ErrorContains(t, e.Err, "flaky")
		}
	}
	assert.Equal(t, []int{2, 3}, retries)
}

// TestLeaseFencing claims a step and lets its lease expire without
// renewal, as a dead worker would: another worker takes it over, in
// doubt, and the first can no longer record an outcome.
// testWorker returns a worker of the run of planID with exec and options
// o, outside Work: for tests that claim and finish steps by hand.
func testWorker(t *testing.T, s *Store, planID string, exec upgrade.Executor, o WorkerOptions) *worker {
	t.Helper()
	run, err := s.loadRun(context.Background(), planID)
	require.NoError(t, err)
	return &worker{s: s, run: run, exec: exec, o: &o, waker: &waker{}}
}

func TestLeaseFencing(t *testing.T) {
	s, _ := testStore(t)
	createEffects(t, s)
	plan := &upgrade.Plan{ID: "p", Steps: []upgrade.Step{{ID: "a", Kind: upgrade.Platform, Node: "n"}, {ID: "b", Kind: upgrade.Platform, Node: "n2", After: []upgrade.StepID{"a"}}}}
	require.NoError(t, s.Submit(context.Background(), plan, Options{}))
	ctx := context.Background()
	lease := time.Second // long enough for the second claim below, on a loaded machine
	dead := testWorker(t, s, plan.ID, &effectExec{s: s}, WorkerOptions{Name: "dead", Lease: lease, Poll: 10 * time.Millisecond})
	c, _, _, err := dead.claim(ctx, nil)
	require.NoError(t, err)
	require.NotNil(t, c)
	require.Equal(t, 0, c.idx)
	// A second claimer finds nothing while the lease holds (concurrency 1),
	// and is told when it expires.
	c2, finished, wake, err := testWorker(t, s, plan.ID, &effectExec{s: s}, fastWorker).claim(ctx, nil)
	require.NoError(t, err)
	assert.Nil(t, c2)
	assert.False(t, finished)
	assert.True(t, wake > 0 && wake <= lease, "wake %v, lease %v", wake, lease)
	// After it expires, a live worker takes step a over and runs the plan.
	exec := &effectExec{s: s, worker: "live"}
	work(t, s, plan.ID, 1, exec, fastWorker)
	st := checkRun(t, s, plan, 1)
	assert.Equal(t, []upgrade.StepID{"a"}, st.InDoubt)
	effects := readEffects(t, s)
	require.NotEmpty(t, effects)
	assert.True(t, effects[0].inDoubt, "the takeover is told it is in doubt")
	// The dead worker comes back: fenced.
	assert.ErrorIs(t, dead.finish(ctx, c, 1, "late failure", 0), ErrLeaseLost)
	after, err := s.Status(ctx, plan.ID)
	require.NoError(t, err)
	assert.Equal(t, st.Report, after.Report, "a fenced worker changed nothing")
}

// A worker stopped between its claim and the step's start gives the step
// back: ready at once for another worker, not in doubt, the attempt not
// counted; its lease is fenced. A step taken over, and given back, keeps
// its doubt.
func TestReleaseUnstarted(t *testing.T) {
	s, _ := testStore(t)
	plan := onNode("p", "a", "n")
	require.NoError(t, s.Submit(context.Background(), plan, Options{}))
	ctx := context.Background()
	o := WorkerOptions{Name: "stopped", Lease: time.Hour, Poll: time.Hour}
	stopped := testWorker(t, s, plan.ID, &memExec{}, o)
	c, _, _, err := stopped.claim(ctx, nil)
	require.NoError(t, err)
	require.NotNil(t, c)
	cancelled, cancel := context.WithCancel(ctx)
	cancel() // released with a context already ended, as the worker's is
	stopped.handBack(cancelled, c, false)

	next := testWorker(t, s, plan.ID, &memExec{}, o)
	c2, _, _, err := next.claim(ctx, nil)
	require.NoError(t, err)
	require.NotNil(t, c2, "ready again at once, though the first lease had an hour to go")
	assert.Equal(t, c.idx, c2.idx)
	assert.False(t, c2.inDoubt, "it never started")
	assert.Equal(t, 1, c2.attempts, "the given-back claim is not an attempt")
	assert.ErrorIs(t, stopped.finish(ctx, c, 1, "", 0), ErrLeaseLost, "the first claim is fenced")

	// Taken over from a lost worker, then given back: still in doubt.
	_, err = s.pool.Exec(ctx, s.q(`UPDATE {s}.steps SET lease_until = clock_timestamp() WHERE plan_id = $1`), plan.ID)
	require.NoError(t, err)
	taker := testWorker(t, s, plan.ID, &memExec{}, o)
	c3, _, _, err := taker.claim(ctx, nil)
	require.NoError(t, err)
	require.NotNil(t, c3)
	require.True(t, c3.inDoubt)
	taker.handBack(ctx, c3, false)
	c4, _, _, err := next.claim(ctx, nil)
	require.NoError(t, err)
	require.NotNil(t, c4)
	assert.True(t, c4.inDoubt, "a step taken over keeps its doubt")
	assert.Equal(t, 2, c4.attempts)
}

// A worker whose context ends while its claim waits in the database (for
// the run's row, here) lets the claim finish and hands the step back: once
// Work has returned, the step is ready, not leased, not in doubt, and no
// attempt is counted. The executor is never called.
func TestCancelDuringClaim(t *testing.T) {
	s, pool := testStore(t)
	plan := onNode("p", "a", "n")
	require.NoError(t, s.Submit(context.Background(), plan, Options{}))
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(ctx)
	_, err = tx.Exec(ctx, s.q(`SELECT 1 FROM {s}.runs WHERE plan_id = $1 FOR UPDATE`), plan.ID)
	require.NoError(t, err)

	workCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	never := upgrade.ExecutorFunc(func(context.Context, upgrade.Step) error {
		panic("the step was run though the worker had stopped")
	})
	go func() {
		done <- s.Work(workCtx, plan.ID, never, WorkerOptions{Name: "w", Lease: time.Hour, Poll: time.Hour})
	}()
	// Wait until the claim waits for the row lock this test holds.
	for {
		var waiting bool
		require.NoError(t, pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
			WHERE NOT l.granted AND position($1 in a.query) > 0)`, s.schema+".claim(").Scan(&waiting))
		if waiting {
			break
		}
		runtime.Gosched()
	}
	cancel()
	require.NoError(t, tx.Rollback(ctx)) // the claim goes on, and claims step a
	require.ErrorIs(t, <-done, context.Canceled)

	var state string
	var leased, inDoubt bool
	var attempts int
	require.NoError(t, pool.QueryRow(ctx, s.q(`SELECT state, lease_until IS NOT NULL, in_doubt, attempts FROM {s}.steps WHERE plan_id = $1 AND idx = 0`),
		plan.ID).Scan(&state, &leased, &inDoubt, &attempts))
	assert.Equal(t, "ready", state)
	assert.False(t, leased)
	assert.False(t, inDoubt)
	assert.Zero(t, attempts)
}

// WorkerOptions.Recorded hears of each step the worker ran: its recorded
// success or failure, or that it could not record it, its lease taken
// over (here by the test, as another worker would), then the success of
// the same step taken over again.
func TestRecorded(t *testing.T) {
	s, pool := testStore(t)
	plan := &upgrade.Plan{ID: "p", Steps: []upgrade.Step{
		{ID: "a", Kind: upgrade.Platform, Node: "n1"}, {ID: "b", Kind: upgrade.Platform, Node: "n2"}}}
	require.NoError(t, s.Submit(context.Background(), plan, Options{Policy: upgrade.ContinueIndependent}))
	stolen := false
	exec := upgrade.ExecutorFunc(func(ctx context.Context, st upgrade.Step) error {
		switch {
		case st.ID == "b":
			return upgrade.Permanent(errors.New("disk full"))
		case !stolen:
			stolen = true
			_, err := pool.Exec(context.Background(), s.q(`UPDATE {s}.steps SET token = token + 1 WHERE plan_id = $1 AND idx = 0`), plan.ID)
			require.NoError(t, err)
			<-ctx.Done() // the lease's renewal finds it lost
			return ctx.Err()
		}
		return nil
	})
	var mu sync.Mutex
	got := map[upgrade.StepID][]error{}
	o := WorkerOptions{Lease: 300 * time.Millisecond, Poll: 10 * time.Millisecond, Recorded: func(planID string, id upgrade.StepID, err error) {
		assert.Equal(t, plan.ID, planID)
		mu.Lock()
		defer mu.Unlock()
		got[id] = append(got[id], err)
	}}
	require.NoError(t, s.Work(context.Background(), plan.ID, exec, o))
	// On a loaded machine the 300 ms lease of the attempt that takes the
	// step over may run out too, before it records: that attempt is not
	// recorded either, and another takes over. The last is recorded.
	require.GreaterOrEqual(t, len(got["a"]), 2)
	assert.ErrorIs(t, got["a"][0], ErrNotRecorded)
	assert.ErrorIs(t, got["a"][0], ErrLeaseLost)
	for _, err := range got["a"][1 : len(got["a"])-1] {
		assert.ErrorIs(t, err, ErrNotRecorded)
	}
	assert.NoError(t, got["a"][len(got["a"])-1], "taken over again, and recorded")
	require.Len(t, got["b"], 1)
	assert.ErrorContains(t, got["b"][0], "disk full")
	assert.NotErrorIs(t, got["b"][0], ErrNotRecorded)
}

func TestCancel(t *testing.T) {
	s, _ := testStore(t)
	createEffects(t, s)
	plan := chain3("p")
	require.NoError(t, s.Submit(context.Background(), plan, Options{}))
	started := make(chan struct{})
	var once sync.Once
	exec := &effectExec{s: s, worker: "w", hang: func(id upgrade.StepID) {
		if id == "a" {
			once.Do(func() { close(started) })
		}
	}, fail: func(id upgrade.StepID, _ int) error { return nil }}
	blocking := upgrade.ExecutorFunc(func(ctx context.Context, st upgrade.Step) error {
		if err := exec.Execute(ctx, st); err != nil {
			return err
		}
		<-ctx.Done() // held until the run is cancelled
		return ctx.Err()
	})
	done := make(chan error, 1)
	o := fastWorker
	o.Lease = 300 * time.Millisecond
	go func() { done <- s.Work(context.Background(), plan.ID, blocking, o) }()
	<-started
	require.NoError(t, s.Cancel(context.Background(), plan.ID))
	require.NoError(t, <-done)
	st, err := s.Status(context.Background(), plan.ID)
	require.NoError(t, err)
	assert.True(t, st.Finished)
	assert.True(t, st.Cancelled)
	assert.ErrorIs(t, st.Err, ErrCancelled)
	a, _ := st.Report.Outcome("a")
	assert.Equal(t, upgrade.Failed, a.State)
	assert.Equal(t, 1, len(readEffects(t, s)), "nothing started after the cancel")
}

func TestWorkUnknownRun(t *testing.T) {
	s, _ := testStore(t)
	err := s.Work(context.Background(), "nope", upgrade.ExecutorFunc(func(context.Context, upgrade.Step) error { return nil }), fastWorker)
	assert.ErrorIs(t, err, ErrUnknownRun)
	assert.ErrorContains(t, err, "nope")
}

// The worker processes of TestWorkerProcesses are this test binary run
// again with childEnv set.
const childEnv = "PGRUN_TEST_CHILD"

func childMain() int {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("PGRUN_TEST_URL"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer pool.Close()
	s, err := Open(ctx, pool, os.Getenv("PGRUN_TEST_SCHEMA"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	name := os.Getenv(childEnv)
	o := lapsingWorker // the test kills one: the others take its steps over
	o.Name, o.Slots = name, 2
	if marker := os.Getenv("PGRUN_TEST_ROLLBACK_HANG"); marker != "" {
		if err := s.Work(ctx, os.Getenv("PGRUN_TEST_PLAN"), &hangingRollback{marker: marker}, o); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return 0
	}
	exec := &effectExec{s: s, worker: name}
	if marker := os.Getenv("PGRUN_TEST_HANG"); marker != "" {
		n := 0
		var mu sync.Mutex
		exec.hang = func(upgrade.StepID) {
			mu.Lock()
			n++
			mine := n == 5
			mu.Unlock()
			if mine {
				os.WriteFile(marker, []byte("mid-step"), 0o644)
				time.Sleep(5 * time.Minute) // until killed
			}
		}
	}
	if err := s.Work(ctx, os.Getenv("PGRUN_TEST_PLAN"), exec, o); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// hangingRollback, in a child process, fails step c, and hangs in the
// rollback of step b, having written marker, until killed.
type hangingRollback struct{ marker string }

func (e *hangingRollback) Execute(_ context.Context, st upgrade.Step) error {
	if st.ID == "c" {
		return errBoom
	}
	return nil
}

func (e *hangingRollback) Rollback(_ context.Context, st upgrade.Step) error {
	if st.ID == "b" {
		os.WriteFile(e.marker, []byte("mid-rollback"), 0o644)
		time.Sleep(5 * time.Minute) // until killed
	}
	return nil
}

// TestWorkerProcesses runs a 200-step plan with three worker processes,
// and kills one with SIGKILL in the middle of a step.
func TestWorkerProcesses(t *testing.T) {
	s, _ := testStore(t)
	createEffects(t, s)
	plan := dagPlan("procs", 200, 9)
	const limit = 4
	require.NoError(t, s.Submit(context.Background(), plan, Options{Concurrency: limit}))
	marker := filepath.Join(t.TempDir(), "victim-mid-step")
	var cmds []*exec.Cmd
	for k := range 3 {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"="+fmt.Sprintf("proc%d", k), "PGRUN_TEST_URL="+databaseURL,
			"PGRUN_TEST_SCHEMA="+s.name, "PGRUN_TEST_PLAN="+plan.ID)
		if k == 0 {
			cmd.Env = append(cmd.Env, "PGRUN_TEST_HANG="+marker)
		}
		cmd.Stderr = os.Stderr
		require.NoError(t, cmd.Start())
		cmds = append(cmds, cmd)
		t.Cleanup(func() { cmd.Process.Kill() }) // none outlives a failed test
	}
	deadline := time.Now().Add(2 * time.Minute) // a failure bound
	for {
		if _, err := os.Stat(marker); err == nil {
			break
		}
		require.True(t, time.Now().Before(deadline), "the victim never reached its fifth step")
		time.Sleep(10 * time.Millisecond)
	}
	require.NoError(t, cmds[0].Process.Kill())
	assert.Error(t, cmds[0].Wait())
	for _, cmd := range cmds[1:] {
		require.NoError(t, cmd.Wait())
	}
	st := checkRun(t, s, plan, limit)
	assert.NotEmpty(t, st.InDoubt, "the victim's step was taken over in doubt")
}

// memExec records calls in memory, in the order they start and end.
type memExec struct {
	mu      sync.Mutex
	seq     int
	calls   map[upgrade.StepID][][2]int // start and end sequence numbers
	inDoubt map[upgrade.StepID]bool
	// The steps started after the first holdFrom wait for hold, if not
	// nil, to be closed before they end; holding is closed as the first
	// of them starts.
	hold     <-chan struct{}
	holding  chan struct{}
	holdFrom int
	starts   int
}

func (e *memExec) Execute(ctx context.Context, st upgrade.Step) error {
	e.mu.Lock()
	e.seq++
	if e.calls == nil {
		e.calls, e.inDoubt = map[upgrade.StepID][][2]int{}, map[upgrade.StepID]bool{}
	}
	e.calls[st.ID] = append(e.calls[st.ID], [2]int{e.seq, 0})
	k := len(e.calls[st.ID]) - 1
	e.inDoubt[st.ID] = e.inDoubt[st.ID] || upgrade.InDoubt(ctx)
	e.starts++
	held := e.hold != nil && e.starts > e.holdFrom
	if held && e.starts == e.holdFrom+1 {
		close(e.holding)
	}
	e.mu.Unlock()
	if held {
		select {
		case <-e.hold:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	time.Sleep(time.Duration(rand.IntN(2000)) * time.Microsecond)
	e.mu.Lock()
	e.seq++
	e.calls[st.ID][k][1] = e.seq
	e.mu.Unlock()
	return nil
}

// TestDatabaseRestart restarts the server while workers run a plan: they
// reconnect and the run completes, each step's effect once but for steps
// in doubt, and no step before its prerequisites.
func TestDatabaseRestart(t *testing.T) {
	s, _ := testStore(t)
	if restartServer == nil {
		t.Skip("the server is STACKUP_TEST_DATABASE_URL's: not restarting it")
	}
	plan := dagPlan("restart", 150, 5)
	require.NoError(t, s.Submit(context.Background(), plan, Options{Concurrency: 3}))
	// The steps after the first 20 end once the workers have seen the
	// restart: on a loaded machine the run could otherwise end before the
	// server goes down.
	seen := make(chan struct{})
	exec := &memExec{hold: seen, holding: make(chan struct{}), holdFrom: 20}
	var logs lockedBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a failure bound
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for k := range errs {
		wg.Go(func() {
			o := fastWorker
			o.Name, o.Slots, o.Logger = fmt.Sprintf("w%d", k), 2, slog.New(slog.NewTextHandler(&logs, nil))
			errs[k] = s.Work(ctx, plan.ID, exec, o)
		})
	}
	<-exec.holding // some steps in, restart
	require.NoError(t, restartServer())
	// A worker whose pooled connection was idle through the restart gets a
	// new one without an error (pgxpool checks an idle connection before
	// use); the connection each Store listens on was open through it, and
	// its loss is logged.
	for saw := regexp.MustCompile("trying again|listening for notifications failed"); !saw.MatchString(logs.String()); {
		if ctx.Err() != nil {
			t.Fatalf("the workers did not log the restart: %q", logs.String())
		}
		time.Sleep(time.Millisecond) // polling the log, not ordering events
	}
	close(seen)
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
	st, err := s.Status(context.Background(), plan.ID)
	require.NoError(t, err)
	require.True(t, st.Finished)
	require.NoError(t, st.Err)
	assert.Equal(t, len(plan.Steps), st.Report.Count(upgrade.Succeeded))
	exec.mu.Lock()
	defer exec.mu.Unlock()
	for _, step := range plan.Steps {
		calls := exec.calls[step.ID]
		require.NotEmpty(t, calls, step.ID)
		if len(calls) > 1 {
			assert.Contains(t, st.InDoubt, step.ID)
			assert.LessOrEqual(t, len(calls), 2)
		}
		for _, pre := range plan.Prerequisites(step.ID) {
			pc := exec.calls[pre]
			assert.Greater(t, calls[len(calls)-1][0], pc[len(pc)-1][1], "step %s started before %s ended", step.ID, pre)
		}
	}
	t.Logf("in doubt after the restart: %v; %d log lines", st.InDoubt, strings.Count(logs.String(), "\n"))
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestWorkerStopHandsStepsBack stops a worker in the middle of a step: the
// step goes back to the queue at once, in doubt, and another worker
// finishes the run.
func TestWorkerStopHandsStepsBack(t *testing.T) {
	s, _ := testStore(t)
	plan := chain3("p")
	require.NoError(t, s.Submit(context.Background(), plan, Options{}))
	started := make(chan struct{})
	blocking := upgrade.ExecutorFunc(func(ctx context.Context, st upgrade.Step) error {
		close(started)
		<-ctx.Done()
		return ctx.Err()
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	o := fastWorker
	o.Lease = time.Hour // so that only the hand-back can free the step
	go func() { done <- s.Work(ctx, plan.ID, blocking, o) }()
	<-started
	cancel()
	assert.ErrorIs(t, <-done, context.Canceled)
	exec := &memExec{}
	work(t, s, plan.ID, 1, exec, o)
	st, err := s.Status(context.Background(), plan.ID)
	require.NoError(t, err)
	require.NoError(t, st.Err)
	assert.Equal(t, []upgrade.StepID{"a"}, st.InDoubt)
	assert.True(t, exec.inDoubt["a"], "the next worker is told step a is in doubt")
	assert.False(t, exec.inDoubt["b"])
}

// TestTimeoutAndVerify: a step's attempts are bounded by the run's step
// timeout, and an executor's Verify runs after each Execute and fails the
// step as upgrade.Run's does.
func TestTimeoutAndVerify(t *testing.T) {
	s, _ := testStore(t)
	plan := chain3("p")
	require.NoError(t, s.Submit(context.Background(), plan, Options{Policy: upgrade.ContinueIndependent, StepTimeout: 100 * time.Millisecond}))
	exec := &upgradetest.Executor{}
	exec.Hang("b")
	exec.FailVerify("d", errors.New("unhealthy"))
	work(t, s, plan.ID, 2, exec, fastWorker)
	st, err := s.Status(context.Background(), plan.ID)
	require.NoError(t, err)
	want := map[upgrade.StepID]upgrade.State{"a": upgrade.Succeeded, "b": upgrade.Failed, "c": upgrade.Skipped, "d": upgrade.Failed}
	for id, state := range want {
		o, _ := st.Report.Outcome(id)
		assert.Equal(t, state, o.State, id)
	}
	b, _ := st.Report.Outcome("b")
	assert.ErrorContains(t, b.Err, context.DeadlineExceeded.Error())
	assert.ErrorIs(t, b.Err, context.DeadlineExceeded)
	d, _ := st.Report.Outcome("d")
	assert.ErrorContains(t, d.Err, "verify: unhealthy")
	assert.ElementsMatch(t, []upgrade.StepID{"a", "d"}, exec.Verified())

	// The events' errors match the sentinels the Status's do.
	events, err := s.Events(context.Background(), plan.ID, 0, 100)
	require.NoError(t, err)
	failed := 0
	for _, ev := range events {
		if ev.Kind == upgrade.StepFailed && ev.Step.ID == "b" {
			failed++
			assert.ErrorIs(t, ev.Err, context.DeadlineExceeded, "b's failed event: %v", ev.Err)
		}
		if ev.Kind == upgrade.StepFailed && ev.Step.ID == "d" {
			assert.NotErrorIs(t, ev.Err, context.DeadlineExceeded)
		}
	}
	assert.Equal(t, 1, failed)
}

// TestHostileRunIDs: plan IDs from a request are values, never SQL, and
// an unknown one changes nothing.
func TestHostileRunIDs(t *testing.T) {
	s, _ := testStore(t)
	ctx := context.Background()
	plan := chain3("p")
	require.NoError(t, s.Submit(ctx, plan, Options{}))
	for _, id := range []string{"nope", `p' OR '1'='1`, "p; DROP TABLE steps; --", "\x00"} {
		_, err := s.Status(ctx, id)
		assert.ErrorIs(t, err, ErrUnknownRun, "%q", id)
		assert.ErrorIs(t, s.Cancel(ctx, id), ErrUnknownRun, "%q", id)
		_, err = s.Events(ctx, id, 0, 10)
		assert.ErrorIs(t, err, ErrUnknownRun, "%q", id)
	}
	st, err := s.Status(ctx, "p")
	require.NoError(t, err)
	assert.False(t, st.Cancelled)
	assert.Equal(t, 4, st.Report.Count(upgrade.NotStarted), "nothing changed")
}

// TestSharedNodeAcrossRuns: two runs with a step on the same node never
// run those steps at the same time; the second waits for the first.
func TestSharedNodeAcrossRuns(t *testing.T) {
	s, _ := testStore(t)
	ctx := context.Background()
	one := onNode("one", "x1", "shared")
	two := &upgrade.Plan{ID: "two", Steps: []upgrade.Step{{ID: "x2", Kind: upgrade.Platform, Node: "shared"},
		{ID: "y2", Kind: upgrade.Platform, Node: "own"}}}
	require.NoError(t, s.Submit(ctx, one, Options{}))
	require.NoError(t, s.Submit(ctx, two, Options{Concurrency: 2}))
	var mu sync.Mutex
	var log []string
	holding, release := make(chan struct{}), make(chan struct{})
	y2done := make(chan struct{})
	exec := upgrade.ExecutorFunc(func(ctx context.Context, st upgrade.Step) error {
		mu.Lock()
		log = append(log, "start "+string(st.ID))
		mu.Unlock()
		switch st.ID {
		case "x1":
			close(holding)
			<-release
		case "y2":
			close(y2done)
		}
		mu.Lock()
		log = append(log, "end "+string(st.ID))
		mu.Unlock()
		return nil
	})
	errs := make(chan error, 2)
	go func() { errs <- s.Work(ctx, "one", exec, fastWorker) }()
	<-holding
	go func() {
		errs <- s.Work(ctx, "two", exec, WorkerOptions{Slots: 2, Lease: fastWorker.Lease, Poll: fastWorker.Poll})
	}()
	<-y2done // run two went on with what it could
	// Run two's worker has polled at least once more for x2 by the time
	// its events show y2 finished and x2 not started.
	deadline := time.Now().Add(time.Minute) // a failure bound
	for {
		ev, err := s.Events(ctx, "two", 0, 100)
		require.NoError(t, err)
		if len(ev) >= 2 && ev[len(ev)-1].Kind == upgrade.StepSucceeded {
			break
		}
		require.True(t, time.Now().Before(deadline))
		time.Sleep(10 * time.Millisecond)
	}
	st, err := s.Status(ctx, "two")
	require.NoError(t, err)
	x2, _ := st.Report.Outcome("x2")
	assert.Equal(t, upgrade.NotStarted, x2.State, "x2 waits for x1's node")
	close(release)
	require.NoError(t, <-errs)
	require.NoError(t, <-errs)
	mu.Lock()
	defer mu.Unlock()
	assert.Less(t, slices.Index(log, "end x1"), slices.Index(log, "start x2"), "%v", log)
	var locks int
	require.NoError(t, s.pool.QueryRow(ctx, s.q(`SELECT count(*) FROM {s}.node_locks`)).Scan(&locks))
	assert.Zero(t, locks, "every lock released")
}

// TestUnfinished lists the runs not finished, oldest first: a run that
// ends leaves the list.
func TestUnfinished(t *testing.T) {
	s, _ := testStore(t)
	ctx := context.Background()
	ids, err := s.Unfinished(ctx)
	require.NoError(t, err)
	assert.Empty(t, ids)
	a, b := dagPlan("plan-a", 3, 1), dagPlan("plan-b", 3, 1)
	require.NoError(t, s.Submit(ctx, a, Options{Concurrency: 1}))
	require.NoError(t, s.Submit(ctx, b, Options{Concurrency: 1}))
	ids, err = s.Unfinished(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{a.ID, b.ID}, ids)

	require.NoError(t, s.Work(ctx, a.ID, upgrade.ExecutorFunc(func(context.Context, upgrade.Step) error { return nil }), fastWorker))
	ids, err = s.Unfinished(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{b.ID}, ids)
}

// onNode returns the plan of one step on node.
func onNode(planID string, step upgrade.StepID, node topology.NodeID) *upgrade.Plan {
	return &upgrade.Plan{ID: planID, Steps: []upgrade.Step{{ID: step, Kind: upgrade.Platform, Node: node}}}
}
