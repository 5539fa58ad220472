package pgrun

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/errgroup"

	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/upgrade/internal/nilerr"
)

// WorkerOptions configure Store.Work. The zero WorkerOptions are valid.
type WorkerOptions struct {
	// Name names the worker in events and in the steps it holds; the
	// default is the host name and process ID. It must be UTF-8 without
	// NUL, as PostgreSQL text is.
	Name string
	// Slots is how many steps this worker runs at once, within the run's
	// concurrency limit, which holds across all workers; below 1 means 1.
	Slots int
	// Lease is how long a step stays the worker's without renewal: the
	// worker renews it every third of that while the step runs, and
	// another worker takes the step over, in doubt, once it has expired.
	// A worker that cannot renew it (the database out of reach, or not
	// answering) cuts the step short, with ErrLeaseLost, a third of a
	// lease before it would run out by the worker's clock; a step that
	// succeeds all the same is recorded, unless another worker took it
	// over meanwhile. A worker that leaves one of its transactions idle
	// longer than a lease (its process stopped, its network cut) has
	// it ended by the server, so that it holds no lock of its run past
	// its lease. The default is DefaultLease.
	Lease time.Duration
	// Poll is how long the worker waits at most before looking again when
	// no step is ready; the default is DefaultPoll. The worker LISTENs for
	// what makes a step ready (a step finished, a run submitted or
	// cancelled: see notify_run in the schema), and looks again at once;
	// it also looks again when a lease expires. It relies on Poll alone
	// while its listening connection is lost, and listens again.
	Poll time.Duration
	// Drain, once closed, makes the worker claim no more steps: those it
	// runs, or rolls back, go on to their end (retries included) and are
	// recorded, and Work returns ErrDrained. (A claim under way when Drain
	// closes may still start its step.)
	// Cancel Work's context to cut them short instead. Nil never drains.
	Drain <-chan struct{}
	// GracePeriod is upgrade.WithGracePeriod's, for Execute and Verify
	// and for Rollback alike: how long the worker waits for host code
	// that ignores its context once that is done (the run cancelled, the
	// lease lost, the step's timeout); 0 or below keeps Run's default. The call
	// abandoned then keeps its node locked until it returns (see Work).
	GracePeriod time.Duration
	// Logger, if not nil, is told of database errors the worker rides out.
	Logger *slog.Logger
	// Recorded, if not nil, is called once for each step the worker ran
	// (a rollback is not a step): with nil when it recorded the step's
	// success, the step's error when it recorded its failure, and an error
	// matching ErrNotRecorded when it could not record the outcome
	// (another worker took the step over, the worker stopped, or the
	// database stayed out of reach for the lease), the step then going to
	// another worker, in doubt. It is called from the worker's slots: it
	// must be safe for concurrent use when Slots is above 1. A panic in
	// it ends the worker as a call of runtime.Goexit does (see Work), and
	// Work then returns it as an *upgrade.PanicError whose Method is
	// "Recorded".
	Recorded func(planID string, step upgrade.StepID, err error)
}

// Defaults of WorkerOptions.
const (
	DefaultLease = 30 * time.Second
	DefaultPoll  = time.Second
)

// ErrLeaseLost reports a step whose lease another worker took over: the
// worker that lost it cannot record an outcome.
var ErrLeaseLost = errors.New("pgrun: lease lost")

// ErrNotRecorded is what WorkerOptions.Recorded is told of a step whose
// outcome the worker could not record.
var ErrNotRecorded = errors.New("pgrun: outcome not recorded")

// ErrDrained is Work's error once WorkerOptions.Drain closed.
var ErrDrained = errors.New("pgrun: worker drained")

// errRunCancelled is the cause given to a step's context when its run is
// cancelled.
var errRunCancelled = ErrCancelled

// errStepCancelled is the error of a step cut short by its run's cancel:
// it matches ErrCancelled, and context.Canceled, as upgrade.Run's error of
// a step cut short by its context's cancel does.
var errStepCancelled = fmt.Errorf("%w: %w", errRunCancelled, context.Canceled)

// A runInfo is what a worker reads of a run once.
type runInfo struct {
	plan  *upgrade.Plan
	opts  Options
	total int
}

// loadRun reads the plan and options of run planID.
func (s *Store) loadRun(ctx context.Context, planID string) (*runInfo, error) {
	if err := checkRunID(planID); err != nil {
		return nil, err
	}
	var data []byte
	var r runInfo
	var policy int
	var backoff, maxBackoff, timeout int64
	err := s.pool.QueryRow(ctx, s.q(`SELECT plan, concurrency, policy, attempts, backoff_us, max_backoff_us, timeout_us, total
		FROM {s}.runs WHERE plan_id = $1`), planID).Scan(&data, &r.opts.Concurrency, &policy, &r.opts.Attempts,
		&backoff, &maxBackoff, &timeout, &r.total)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("%w: plan %s was not submitted to schema %s", ErrUnknownRun, planID, s.schema)
	}
	if err != nil {
		return nil, fmt.Errorf("pgrun: reading run %s: %w", planID, err)
	}
	r.opts.Policy = upgrade.FailurePolicy(policy)
	r.opts.Backoff, r.opts.MaxBackoff, r.opts.StepTimeout = time.Duration(backoff)*time.Microsecond,
		time.Duration(maxBackoff)*time.Microsecond, time.Duration(timeout)*time.Microsecond
	r.plan = &upgrade.Plan{}
	// The plan's JSON is upgrade.Plan.WriteJSON's; ReadJSON would check the
	// ID against the content, which Submit does not require.
	if err := json.Unmarshal(data, r.plan); err != nil {
		return nil, fmt.Errorf("pgrun: reading run %s: %w", planID, err)
	}
	for i := range r.plan.Steps {
		st := &r.plan.Steps[i]
		if st.Kind == upgrade.Application && st.Request >= 0 && st.Request < len(r.plan.Requests) {
			st.NewTemplate = &r.plan.Requests[st.Request].Template
		}
	}
	return &r, nil
}

// Work runs steps of the run of plan planID with exec until the run has
// finished, and then returns nil; or until ctx is done, and then returns
// ctx's error, handing the steps it was running back, in doubt. Any number
// of workers, in any number of processes, may work on one run. exec may
// implement upgrade.Verifier; it must be safe for concurrent use when
// Slots is above 1.
//
// Work rides out database errors (a restart, a lost connection): it logs
// them and tries again. It returns an error matching ErrUnknownRun for a
// plan that was never submitted.
//
// A call of runtime.Goexit in the host's code (Execute, Verify, Rollback
// or WorkerOptions.Recorded), as t.FailNow makes in a test, ends the
// worker: the step, or rollback, that called it is handed back in doubt,
// for another worker to take up (or, in a run cancelled or stopping,
// failed in doubt, as a lost worker's step is), a step claimed and not
// started is handed back as it was, the worker's other slots claim
// nothing more and let the attempts under way end, but start no retry
// (a step whose retry they do not start is handed back in doubt, as the
// ErrNotRecorded that Recorded is told of says), and Work then calls
// runtime.Goexit, ending its caller's goroutine as if it had called that
// code itself; WorkerOptions.Recorded is not told of the step that
// called it. A panic in WorkerOptions.Recorded ends the worker likewise,
// and Work returns it.
//
// A call of Execute, Verify or Rollback that ignores its context past the
// grace period (WorkerOptions.GracePeriod) is abandoned as upgrade.Run
// abandons it: the step (or its rollback) is recorded failed with an
// error matching upgrade.ErrAbandoned, and the run goes on, or finishes.
// But the call may still be changing the step's node: the worker keeps
// the node locked, renewing the lock's lease, until the call has
// returned, so that no step of any run starts on it meanwhile; Work
// returns only then. Once ctx is done, Work returns ctx's error without
// waiting for such a call, and the lock lapses after its lease, as the
// steps of a lost worker are taken over after theirs; so does the lease
// of a step whose call the worker abandoned as ctx ended, which it does
// not hand back. No goroutine of Work outlives it but the calls it
// abandoned.
func (s *Store) Work(ctx context.Context, planID string, exec upgrade.Executor, o WorkerOptions) error {
	if exec == nil {
		panic("pgrun: Work needs an Executor")
	}
	if o.Name == "" {
		host, _ := os.Hostname()
		o.Name = fmt.Sprintf("%s:%d", host, os.Getpid())
	}
	if !utf8.ValidString(o.Name) || strings.Contains(o.Name, "\x00") {
		// The database would refuse every claim.
		return fmt.Errorf("pgrun: WorkerOptions.Name %s is not text PostgreSQL can hold (UTF-8 without NUL)", topology.Quote(o.Name))
	}
	o.Slots = max(o.Slots, 1)
	if o.Lease <= 0 {
		o.Lease = DefaultLease
	}
	if o.Poll <= 0 {
		o.Poll = DefaultPoll
	}
	var run *runInfo
	for {
		var err error
		if run, err = s.loadRun(ctx, planID); err == nil {
			break
		}
		if errors.Is(err, ErrUnknownRun) {
			return err
		}
		if werr := s.wait(ctx, &o, err); werr != nil {
			return werr
		}
	}
	k, unsubscribe := s.subscribe(&o)
	defer unsubscribe()
	w := &worker{s: s, run: run, exec: exec, o: &o, waker: k, quit: make(chan struct{})}
	return w.work(ctx)
}

// work runs the worker's slots until each has returned, and waits for
// the nodes it holds for calls abandoned (see hold.go); it returns what
// Work returns.
func (w *worker) work(ctx context.Context) error {
	var g errgroup.Group
	for range w.o.Slots {
		g.Go(func() error { return w.loop(ctx) })
	}
	err := g.Wait()
	w.holds.Wait()
	if err == nil && w.left.Load() {
		err = ctx.Err() // the run finished, but a call abandoned still runs
	}
	if w.goexit {
		runtime.Goexit() // as if the caller had called the host's code that did
	}
	if w.fault != nil {
		return w.fault
	}
	return err
}

// grace is the grace period for host code, upgrade.Run's default unless
// set.
func (w *worker) grace() time.Duration {
	if w.o.GracePeriod > 0 {
		return w.o.GracePeriod
	}
	return upgrade.DefaultGracePeriod
}

// wait logs err, if not nil, and waits the poll interval or listenRetry,
// whichever is shorter, or until ctx is done.
func (s *Store) wait(ctx context.Context, o *WorkerOptions, err error) error {
	if err != nil && o.Logger != nil && ctx.Err() == nil {
		o.Logger.Warn("pgrun: database error; trying again", "err", err)
	}
	t := time.NewTimer(min(o.Poll, listenRetry))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// A worker is one Work call.
type worker struct {
	s     *Store
	run   *runInfo
	exec  upgrade.Executor
	o     *WorkerOptions
	waker *waker      // see listen
	told  atomic.Bool // that the run waits for a worker that can roll back

	// quit is closed once the host's code ended a slot (see end): the
	// other slots claim nothing more. goexit, or else fault, says how it
	// ended it; both are set before quit is closed, and read once every
	// slot has returned.
	quit     chan struct{}
	quitOnce sync.Once
	goexit   bool
	fault    error
	// steps are the claims whose steps the slots run, under mu: end
	// halts their retries.
	mu    sync.Mutex
	steps map[*claim]bool
	// holds are the goroutines that keep the nodes of steps whose calls
	// were abandoned locked until those calls return (see hold.go); left,
	// that one left its lock to lapse, ctx done.
	holds sync.WaitGroup
	left  atomic.Bool
}

// errGoexit is what a host call returns, made in a goroutine of its own,
// when the host's code called runtime.Goexit.
var errGoexit = errors.New("pgrun: the host's code called runtime.Goexit")

// errQuit is the error of a slot that leaves because the host's code
// ended a slot; Work returns the fault, or calls runtime.Goexit, instead.
var errQuit = errors.New("pgrun: the host's code ended the worker")

// end makes the worker's slots leave, once each has ended its step, for
// err: errGoexit when the host's code called runtime.Goexit, or the
// error Work returns (a panic of WorkerOptions.Recorded). The first end
// is kept.
//
// The steps the other slots run go on to the end of their attempts under
// way, but no retry of theirs starts, as in upgrade.Run once the caller's
// code ended it: the worker would otherwise wait out their backoffs.
func (w *worker) end(err error) {
	w.quitOnce.Do(func() {
		if err == errGoexit {
			w.goexit = true
		} else {
			w.fault = err
		}
		w.mu.Lock()
		close(w.quit)
		for c := range w.steps {
			w.steps[c] = true
			c.halt()
		}
		w.mu.Unlock()
	})
}

// track counts claimed step c as run by a slot until untrack, unless the
// worker is ending; it reports whether it did.
func (w *worker) track(c *claim) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if isClosed(w.quit) {
		return false
	}
	if w.steps == nil {
		w.steps = map[*claim]bool{}
	}
	w.steps[c] = false
	return true
}

// untrack stops counting c as run by a slot, and reports whether end
// halted it meanwhile.
func (w *worker) untrack(c *claim) (halted bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	halted = w.steps[c]
	delete(w.steps, c)
	return halted
}

// completes calls f in a goroutine of its own and reports whether f
// returned, rather than call runtime.Goexit; a panic in f is not
// recovered.
func completes(f func()) bool {
	done := make(chan bool, 1)
	go func() {
		returned := false
		defer func() { done <- returned }()
		f()
		returned = true
	}()
	return <-done
}

// A claim is a step a worker holds: its index, the lease's fencing token,
// the attempts made so far counting the one starting, and whether it is
// in doubt.
type claim struct {
	idx      int
	token    int64
	attempts int
	inDoubt  bool
	rollback bool // the step is to be rolled back
	// leaseEnd is when the lease runs out at the earliest, by this
	// worker's clock: a lease's length after the claim, or its last
	// renewal, was asked for. Only renew changes it.
	leaseEnd time.Time
	// stop, when not nil, is closed (by halt) once the run is stopping
	// (FailFast after another step's failure): no new attempt starts.
	stop     chan struct{}
	stopOnce sync.Once
}

// halt closes c.stop, if c has one.
func (c *claim) halt() {
	if c.stop != nil {
		c.stopOnce.Do(func() { close(c.stop) })
	}
}

// A next is the outcome of a claim (see claim), made after woken joined
// the waker.
type next struct {
	woken    chan struct{}
	c        *claim
	finished bool
	wake     time.Duration
	err      error
}

// loop claims and runs steps until the run has finished, ctx is done or
// the worker is drained.
func (w *worker) loop(ctx context.Context) error {
	var carried *next // the claim made as the slot's last step was recorded
	var key *claimKey // the last claim's, while its outcome is unknown
	for {
		var n next
		if carried != nil {
			n, carried = *carried, nil
			if isClosed(w.quit) { // another slot's host code ended the worker: start nothing more
				w.giveUp(ctx, &n)
				return errQuit
			}
		} else {
			if err := w.leaving(ctx); err != nil {
				return err
			}
			n.woken = w.waker.add(w.planID()) // before claim: a wake after it is not missed
			if key == nil {
				key = newClaimKey()
			}
			n.c, n.finished, n.wake, n.err = w.claim(ctx, key)
			if n.err == nil {
				key = nil
			}
		}
		if n.err == nil && (n.c != nil || n.finished) {
			w.waker.leave(n.woken)
			w.waker.wakeOne(w.planID()) // a notification may have readied more: pass it on
		}
		var stop bool
		var err error
		if carried, stop, err = w.act(ctx, n); stop {
			return err
		}
	}
}

// leaving returns the error with which loop stops before a claim, the
// worker drained (ErrDrained), ended (errQuit) or ctx done, or nil.
func (w *worker) leaving(ctx context.Context) error {
	select {
	case <-w.o.Drain:
		return ErrDrained
	case <-w.quit:
		return errQuit
	default:
	}
	return ctx.Err()
}

// act does what claim n calls for: it runs the step claimed (returning,
// carried, the claim execute made for the slot's next turn), undoes it,
// or waits with nothing claimed (see idle). It reports stop, with the
// error loop returns, when the slot is to end: ctx done (handing back a
// step claimed as it ended), the run finished (nil) or gone, or the
// worker leaving.
func (w *worker) act(ctx context.Context, n next) (carried *next, stop bool, err error) {
	switch {
	case ctx.Err() != nil:
		w.waker.pass(w.planID(), n.woken)
		switch { // claimed as ctx ended: ready again at once, rather than in doubt once the lease expires
		case n.c != nil && n.c.rollback:
			w.handOver(ctx, n.c, false)
		case n.c != nil:
			w.handBack(ctx, n.c, false)
		}
		return nil, true, ctx.Err()
	case n.finished:
		return nil, true, nil
	case errors.Is(n.err, ErrUnknownRun):
		w.waker.leave(n.woken)
		return nil, true, n.err
	case n.err != nil || n.c == nil:
		if err := w.idle(ctx, n.woken, n.wake, n.err); err != nil {
			return nil, true, err
		}
	case n.c.rollback:
		w.undo(ctx, n.c)
	default:
		return w.execute(ctx, n.c), false, nil
	}
	return nil, false, nil
}

// idle waits, with nothing claimed after err (nil: nothing to claim) and
// wake (see claim), for a notification on woken, a lease to expire, the
// poll interval or, after err, listenRetry; it returns ctx's error or
// ErrDrained if the worker is to leave.
func (w *worker) idle(ctx context.Context, woken chan struct{}, wake time.Duration, err error) error {
	if err != nil && w.o.Logger != nil {
		w.o.Logger.Warn("pgrun: database error; trying again", "err", err)
	}
	t := time.NewTimer(w.idleFor(wake, err))
	select {
	case <-ctx.Done():
	case <-w.o.Drain:
	case <-w.quit:
	case <-woken:
	case <-t.C:
	}
	t.Stop()
	if w.waker.leave(woken) && (ctx.Err() != nil || isClosed(w.o.Drain) || isClosed(w.quit)) {
		w.waker.wakeOne(w.planID()) // woken, but leaving: pass it on
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if isClosed(w.o.Drain) {
		return ErrDrained
	}
	if isClosed(w.quit) {
		return errQuit
	}
	return nil
}

// idleFor returns how long idle waits at most: the poll interval, after a
// database error no longer than listenRetry, and otherwise no longer than
// until just after the first lease expires, to take its step over.
func (w *worker) idleFor(wake time.Duration, err error) time.Duration {
	d := w.o.Poll
	if err != nil {
		d = min(d, listenRetry)
	}
	if err == nil && wake > 0 {
		d = min(d, wake+time.Millisecond)
	}
	return d
}

// isClosed reports whether ch is closed (never, for nil).
func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func (w *worker) planID() string { return w.run.plan.ID }

// claim takes the step that has waited longest with an expired lease, in
// doubt, or else the first ready step, if the run's concurrency limit
// allows (the schema's claim function). It returns nil when there is
// nothing to claim, and finished when the run is over.
//
// With nothing to claim, wake is the time until the run's first lease
// expires (0 or less when one has, which another worker is taking over or
// which is a rollback this worker cannot do), or -1 when none is leased.
//
// The claim is tagged with key (nil: a key of its own): sent again with
// it after an error (the reply may have been lost after the claim
// committed), it returns the step the claim took, if any and still held.
func (w *worker) claim(ctx context.Context, key *claimKey) (c *claim, finished bool, wake time.Duration, err error) {
	// The claim goes on to its end as ctx ends, so that a step claimed is
	// known, and handed back (see loop), rather than left leased.
	ctx, done := context.WithTimeout(context.WithoutCancel(ctx), w.o.Lease)
	defer done()
	r := claimRow{asked: time.Now()}
	_, rollbacker := w.exec.(upgrade.Rollbacker)
	id, resent := key.send()
	err = w.s.pool.QueryRow(ctx, w.s.q(`SELECT r_status, r_idx, r_token, r_attempts, r_in_doubt, r_wake_us FROM {s}.claim($1, $2, $3, $4, $5, $6)`),
		w.planID(), w.o.Name, w.o.Lease.Microseconds(), rollbacker, id, resent).Scan(&r.status, &r.idx, &r.token, &r.attempts, &r.inDoubt, &r.wakeUS)
	if err != nil {
		return nil, false, -1, fmt.Errorf("pgrun: claiming a step of run %s: %w", w.planID(), err)
	}
	return w.claimed(&r)
}

// A claimKey tags the claims of a slot that are sent again while their
// outcome is unknown: an error may come after the claim committed, its
// reply lost with the connection. Claims with the key, sent again, get
// the step the first took, rather than leave it leased to nobody until
// its lease expires and it is taken over, in doubt, though it never ran
// (see the schema's reclaim).
type claimKey struct {
	id   int64 // random: keys are told apart within a run and worker name
	sent bool
}

func newClaimKey() *claimKey { return &claimKey{id: rand.Int64()} }

// send returns the key's ID, and whether a claim was sent with it before;
// a nil key is a new one, never sent again.
func (k *claimKey) send() (id int64, resent bool) {
	if k == nil {
		return rand.Int64(), false
	}
	resent, k.sent = k.sent, true
	return k.id, resent
}

// A claimRow is what the schema's claim function returns.
type claimRow struct {
	asked    time.Time // when the claim was asked for
	status   string
	idx      *int32
	token    *int64
	attempts *int32
	inDoubt  *bool
	wakeUS   *int64
}

// claimed returns what claim returns for r.
func (w *worker) claimed(r *claimRow) (c *claim, finished bool, wake time.Duration, err error) {
	switch r.status {
	case "claimed", "rollback":
		if r.idx == nil || r.token == nil || r.attempts == nil || r.inDoubt == nil {
			return nil, false, -1, fmt.Errorf("pgrun: claimed a step of run %s without its lease", w.planID())
		}
		if int(*r.idx) < 0 || int(*r.idx) >= len(w.run.plan.Steps) {
			return nil, false, -1, fmt.Errorf("pgrun: claimed step #%d of run %s, which has %d", *r.idx, w.planID(), len(w.run.plan.Steps))
		}
		return &claim{idx: int(*r.idx), token: *r.token, attempts: int(*r.attempts), inDoubt: *r.inDoubt, rollback: r.status == "rollback",
			leaseEnd: r.asked.Add(w.o.Lease)}, false, -1, nil
	case "finished":
		return nil, true, -1, nil
	case "unknown":
		return nil, false, -1, fmt.Errorf("%w: run %s is gone", ErrUnknownRun, w.planID())
	case "rollbacker_wanted":
		if w.o.Logger != nil && !w.told.Swap(true) {
			w.o.Logger.Warn("pgrun: the run is rolling back and waits for a worker whose Executor can undo steps (an upgrade.Rollbacker); this worker's cannot",
				"run", w.planID())
		}
	}
	if r.wakeUS == nil {
		return nil, false, -1, nil
	}
	return nil, false, time.Duration(*r.wakeUS) * time.Microsecond, nil
}

// event records an event of the run, of a kind other than
// upgrade.StepStarted: not in doubt (see upgrade.Event's InDoubt).
func (w *worker) event(ctx context.Context, tx pgx.Tx, kind upgrade.EventKind, idx, attempt int, stepErr error, done int) error {
	var e *string
	if stepErr != nil {
		text := errorText(stepErr)
		e = &text
	}
	_, err := tx.Exec(ctx, w.s.q(`INSERT INTO {s}.events (plan_id, kind, idx, attempt, err, err_kinds, in_doubt, done, total, worker)
		VALUES ($1, $2, $3, $4, $5, $6, false, $7, $8, $9)`), w.planID(), int(kind), idx, attempt, e, errKinds(stepErr), done, w.run.total, w.o.Name)
	return err
}

// execute runs claimed step c, renewing its lease, and records the
// outcome; unless the worker is stopping or drained, it claims the slot's
// next step in the same transaction, and returns that claim (nil if it
// made none).
//
// The step goes through upgrade.Run, alone in a plan of its own (its After
// list succeeded: it was claimed ready), so that retries, timeouts,
// Verify, panics and grace periods mean exactly what they mean there; a
// step taken over is executed with upgrade.WithInDoubt.
func (w *worker) execute(ctx context.Context, c *claim) *next {
	st := w.run.plan.Steps[c.idx]
	st.After = nil
	mini := &upgrade.Plan{ID: w.planID(), Steps: []upgrade.Step{st}}
	base := c.attempts - 1 // attempts made before this claim
	c.stop = make(chan struct{})
	if !w.track(c) { // the host's code ended another slot as this claimed: not started
		w.handBack(ctx, c, false)
		return nil
	}
	g := &gate{}
	r := w.runStep(ctx, c, mini, base, g)
	halted := w.untrack(c)
	busy := g.close() // an abandoned call may still be under way

	bg, done := context.WithTimeout(context.WithoutCancel(ctx), w.o.Lease)
	defer done()
	if w.leaveCutShort(ctx, bg, c, r, halted, busy != nil) {
		return nil
	}
	cause := r.cause
	if r.settled {
		cause = nil // it failed on its own, before the cancel: its last attempt's error, as upgrade.Run reports
	}
	attempts, errText, kinds := stepResult(c, base, r.report, r.err, cause)
	abandoned := kinds&errKinds(upgrade.ErrAbandoned) != 0 // its Execute or Verify may still run
	cutShort := (errors.Is(cause, errRunCancelled) || abandoned) && errText != ""
	if cutShort {
		// Cut short by the cancel, or abandoned, the step may be done in
		// part: in doubt, as upgrade.Run leaves such a step for a resumed
		// run (Store.Retry offers it so). One whose failed attempt was
		// waiting out its retry backoff as the cancel came (r.settled) is
		// not cut short: nothing of it ran. If this is
		// not recorded, the lease expires and the step is in doubt all
		// the same.
		if err := w.persist(bg, func() error { return w.markInDoubt(bg, c) }); err != nil {
			w.recorded(c, err, "", 0)
			return nil
		}
	}
	switch {
	case busy != nil:
		w.recordHolding(ctx, bg, c, attempts, errText, kinds, busy)
		return nil
	case c.inDoubt && errText != "" && !cutShort:
		// Offered in doubt, it failed on its own: settled, as upgrade.Run
		// records it failed in its journal, so that a resumed run offers
		// it again not in doubt (see Store.Retry).
		w.recorded(c, w.persist(bg, func() error { return w.finishSettled(bg, c, attempts, errText, kinds) }), errText, kinds)
		return nil
	}
	return w.recordOutcome(ctx, bg, c, attempts, errText, kinds)
}

// finishSettled is finish, for claimed step c, offered in doubt, whose
// attempt failed on its own (errText): in the same transaction, it marks
// the step settled, which Store.Retry reads. (The slot claims its next
// step afterwards, in a transaction of its own.)
func (w *worker) finishSettled(ctx context.Context, c *claim, attempts int, errText string, kinds int) error {
	return w.s.inTx(ctx, w.o.Lease, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, w.s.q(`UPDATE {s}.steps SET settled = true WHERE plan_id = $1 AND idx = $2 AND token = $3 AND state = 'running'`),
			w.planID(), c.idx, c.token); err != nil {
			return &recordError{"step", string(w.run.plan.Steps[c.idx].ID), w.planID(), err}
		}
		return w.finishWith(ctx, tx, c, attempts, errText, kinds)
	})
}

// recordHolding records claimed step c's outcome under bg, as
// recordOutcome does, but for a step a call of whose, abandoned, is
// still under way, until busy is closed: it keeps the step's node locked
// meanwhile (see hold.go), and claims no step for the slot in the same
// transaction, which could be one on that node.
func (w *worker) recordHolding(ctx, bg context.Context, c *claim, attempts int, errText string, kinds int, busy <-chan struct{}) {
	held := false
	err := w.persist(bg, func() error {
		var err error
		held, err = w.finishHolding(bg, c, attempts, errText, kinds)
		return err
	})
	if held {
		w.hold(ctx, c, busy)
	}
	w.recorded(c, err, errText, kinds)
}

// A stepRun is how a claimed step's run through upgrade.Run ended.
type stepRun struct {
	report   *upgrade.Report // upgrade.Run's
	err      error           // upgrade.Run's
	returned bool            // false when upgrade.Run called runtime.Goexit
	cause    error           // what cut the step short (see leased), or nil
	// settled says that upgrade.Run recorded the step failed (see
	// failedJournal), which it does for a step that failed on its own, or
	// whose failed attempt was waiting out its retry backoff when the step
	// was cancelled or stopped, but not for one cut short or abandoned:
	// the step is not in doubt, whatever cause says.
	settled bool
}

// succeeded reports whether upgrade.Run reported the step succeeded.
func (r stepRun) succeeded() bool {
	return r.report != nil && r.report.Outcomes[len(r.report.Outcomes)-1].State == upgrade.Succeeded
}

// runStep runs claimed step c, alone in plan mini, through upgrade.Run
// while renewing its lease (see leased), base attempts of it having been
// made before this claim, and returns how the run ended. g counts the
// calls of the host's code.
func (w *worker) runStep(ctx context.Context, c *claim, mini *upgrade.Plan, base int, g *gate) stepRun {
	r := stepRun{returned: true}
	j := &failedJournal{}
	r.cause = w.leased(ctx, c, func(stepCtx context.Context) {
		opts := append(w.stepOptions(stepCtx, c, base), upgrade.WithJournal(j))
		// Run calls runtime.Goexit when the host's code does: in a
		// goroutine of its own, so that the slot hands the step back.
		r.returned = completes(func() { r.report, r.err = upgrade.Run(stepCtx, mini, g.executor(w.exec), opts...) })
	})
	r.settled = j.failed.Load()
	return r
}

// A failedJournal is the upgrade.Journal of a claimed step's run through
// upgrade.Run: it holds nothing to resume, and notes whether Run recorded
// the step failed. That is Run's own judgement of whether a step that
// failed as its context was cancelled is in doubt: one cut short is left
// started, for a resumed run to offer in doubt, and one whose failed
// attempt was waiting out its retry backoff is recorded failed, nothing
// of it running then (see upgrade.WithJournal). A worker follows it
// rather than decide again on the cancel alone.
type failedJournal struct{ failed atomic.Bool }

var _ upgrade.Journal = (*failedJournal)(nil)

func (j *failedJournal) Begin(context.Context, string) ([]upgrade.Record, error) { return nil, nil }

func (j *failedJournal) Append(_ context.Context, r upgrade.Record) error {
	if r.Kind == upgrade.RecordFailed {
		j.failed.Store(true)
	}
	return nil
}

// leaveCutShort leaves claimed step c, recording no outcome, when its run
// r was cut short by runtime.Goexit, or, before the step succeeded, by the
// lease's loss, the worker stopping or end (halted); except after the
// lease's loss, it hands the step back in doubt, under bg. A step that
// succeeded all the same as its lease was lost is recorded: nobody may
// have taken it over (its renewals failed, and the record, fenced by the
// lease's token, finds whether another did), and otherwise it would be
// executed again, in doubt, though it is done. A worker
// stopping with a call of the step abandoned (busy), which may still
// change the node, hands nothing back: the lease lapses, and another
// worker takes the step over then, as a lost worker's. It reports whether
// it left the step.
func (w *worker) leaveCutShort(ctx, bg context.Context, c *claim, r stepRun, halted, busy bool) bool {
	switch {
	case !r.returned:
		w.handBack(bg, c, true) // cut short, in doubt, as if the worker had stopped
		w.end(errGoexit)
		return true
	case errors.Is(r.cause, ErrLeaseLost) && !r.succeeded():
		w.recorded(c, r.cause, "", 0) // another worker has, or will have, the step: nothing to record
		return true
	case ctx.Err() != nil && !r.succeeded():
		if !busy {
			w.handBack(bg, c, true) // cut short as the worker stops
		}
		w.recorded(c, context.Cause(ctx), "", 0)
		return true
	case halted && r.report != nil && errors.Is(r.err, upgrade.ErrStopped) && !r.succeeded():
		// The host's code ended another slot, and the step's retry did
		// not start: the worker leaves it, as a worker stopping does.
		w.handBack(bg, c, true)
		w.recorded(c, errQuit, "", 0)
		return true
	}
	return false
}

// recordOutcome records claimed step c's outcome (attempts, and errText
// and kinds, none when it succeeded) under bg and, unless the worker is
// stopping or drained, claims the slot's next step in the same
// transaction, and returns that claim for loop (nil if it made none).
func (w *worker) recordOutcome(ctx, bg context.Context, c *claim, attempts int, errText string, kinds int) *next {
	if ctx.Err() != nil || isClosed(w.o.Drain) || isClosed(w.quit) {
		w.recorded(c, w.persist(bg, func() error { return w.finish(bg, c, attempts, errText, kinds) }), errText, kinds)
		return nil
	}
	n := &next{woken: w.waker.add(w.planID())} // before the claim, as in loop
	key := newClaimKey()
	perr := w.persist(bg, func() error {
		var err error
		n.c, n.finished, n.wake, n.err, err = w.finishAndClaim(bg, c, attempts, errText, kinds, key)
		return err
	})
	if !w.recorded(c, perr, errText, kinds) {
		w.giveUp(bg, n) // the hook ended the worker
		return nil
	}
	if bg.Err() != nil && n.c == nil && !n.finished && n.err == nil {
		w.waker.pass(w.planID(), n.woken) // not recorded: let loop look again, or stop
		return nil
	}
	return n
}

// stepOptions returns the options of upgrade.Run for claimed step c, base
// attempts of which were made before this claim: the run's retries left,
// its step timeout and the worker's grace period, with each retry recorded
// under ctx, the step's (see leased).
func (w *worker) stepOptions(ctx context.Context, c *claim, base int) []upgrade.RunOption {
	opts := []upgrade.RunOption{
		upgrade.WithRetry(max(w.run.opts.Attempts-base, 1), w.run.opts.Backoff, w.run.opts.MaxBackoff),
		upgrade.WithStop(c.stop),
		upgrade.WithEvents(func(e upgrade.Event) {
			if e.Kind == upgrade.StepRetrying {
				w.retrying(ctx, c, base+e.Attempt, e.Err)
			}
		}),
	}
	if w.run.opts.StepTimeout > 0 {
		opts = append(opts, upgrade.WithStepTimeout(w.run.opts.StepTimeout))
	}
	if w.o.GracePeriod > 0 {
		opts = append(opts, upgrade.WithGracePeriod(w.o.GracePeriod))
	}
	return opts
}

// stepResult returns what finish records for claimed step c, base attempts
// of which were made before this claim, from upgrade.Run's report and
// error and the cause that cut it short: the attempts, and the error's
// text and kinds (none when it succeeded). A step failed as its run was
// cancelled fails with ErrCancelled and context.Canceled, as upgrade.Run
// reports a step cut short by its context's cancel; one abandoned then (its Execute or
// Verify ignored the cancel past the grace period) keeps its
// *upgrade.AbandonedError, which names the cancel as its cause, and
// matches ErrCancelled too: it says that the call may still be running
// (Outcome.Abandoned), as upgrade.Run reports it.
func stepResult(c *claim, base int, report *upgrade.Report, err, cause error) (attempts int, errText string, kinds int) {
	attempts = c.attempts
	if report != nil {
		o := report.Outcomes[len(report.Outcomes)-1]
		attempts = base + max(o.Attempts, 1)
		if o.State != upgrade.Succeeded {
			errText = "step did not succeed"
			if o.Err != nil {
				errText, kinds = errorText(o.Err), errKinds(o.Err)
			}
		}
	} else if err != nil {
		errText, kinds = errorText(err), errKinds(err)
	}
	if errors.Is(cause, errRunCancelled) && errText != "" { // a step that succeeded all the same did
		if abandoned := errKinds(upgrade.ErrAbandoned); kinds&abandoned != 0 {
			kinds |= errKinds(errRunCancelled) // its text names the cancel as the cause
		} else {
			errText, kinds = errStepCancelled.Error(), errKinds(errStepCancelled)
		}
	}
	return attempts, errText, kinds
}

// maxErrText bounds the text of an error that a worker records.
const maxErrText = 16 << 10

// errorText returns err's text as a worker records it: what PostgreSQL
// text cannot hold (a NUL, invalid UTF-8, as a command's binary output
// may put in it) replaced with U+FFFD, and past maxErrText bytes cut
// short, saying how long it was, so that a command's whole output in an
// error does not weigh on every record and event of the step.
func errorText(err error) string {
	text := strings.ToValidUTF8(strings.ReplaceAll(err.Error(), "\x00", "\uFFFD"), "\uFFFD")
	if len(text) <= maxErrText {
		return text
	}
	cut := maxErrText
	for cut > 0 && !utf8.RuneStart(text[cut]) {
		cut--
	}
	return fmt.Sprintf("%s… (cut short: %d bytes in all)", text[:cut], len(text))
}

// markInDoubt marks claimed step c in doubt.
func (w *worker) markInDoubt(ctx context.Context, c *claim) error {
	tag, err := w.s.pool.Exec(ctx, w.s.q(`UPDATE {s}.steps SET in_doubt = true
		WHERE plan_id = $1 AND idx = $2 AND token = $3 AND state = 'running'`), w.planID(), c.idx, c.token)
	if err == nil && tag.RowsAffected() == 0 {
		err = ErrLeaseLost
	}
	return err
}

// recorded tells WorkerOptions.Recorded of c's step: not recorded for
// notRecorded (nil when it was), or else failed with errText (and its
// kinds), or succeeded. It reports false when Recorded panicked or
// called runtime.Goexit, which ends the worker (see end).
func (w *worker) recorded(c *claim, notRecorded error, errText string, kinds int) bool {
	if w.o.Recorded == nil {
		return true
	}
	id := w.run.plan.Steps[c.idx].ID
	var err error
	switch {
	case notRecorded != nil:
		if _, named := errors.AsType[*recordError](notRecorded); named {
			err = fmt.Errorf("%w: %w", ErrNotRecorded, notRecorded)
		} else {
			err = fmt.Errorf("%w: step %s of run %s: %w", ErrNotRecorded, topology.Quote(string(id)), topology.Quote(w.planID()), notRecorded)
		}
	case errText != "":
		err = &RemoteError{Message: errText, kinds: kinds}
	}
	var fault error
	if !completes(func() {
		defer func() {
			if v := recover(); v != nil {
				fault = &upgrade.PanicError{Method: "Recorded", Step: id, Value: v, Stack: debug.Stack()}
			}
		}()
		w.o.Recorded(w.planID(), id, err)
	}) {
		fault = errGoexit
	}
	if fault != nil {
		w.end(fault)
		return false
	}
	return true
}

// giveUp hands back, as it was, the step or rollback n claimed, if any,
// the worker leaving before it starts, and passes on a wake n's claim
// may have taken.
func (w *worker) giveUp(ctx context.Context, n *next) {
	switch {
	case n.c != nil && n.c.rollback:
		w.handOver(ctx, n.c, false)
	case n.c != nil:
		w.handBack(ctx, n.c, false)
	}
	w.waker.pass(w.planID(), n.woken)
}

// recordError is a worker's database error as it records a step's
// outcome: it names the step and the run.
type recordError struct {
	what, step, run string // what was recorded: "step" or "the rollback of step"
	err             error
}

func (e *recordError) Error() string {
	return fmt.Sprintf("pgrun: recording %s %s of run %s: %v", e.what, topology.Quote(e.step), topology.Quote(e.run), e.err)
}

func (e *recordError) Unwrap() error { return e.err }

// persist calls record until it succeeds, returns ErrLeaseLost or ctx is
// done, waiting between tries as Store.wait does after a database error;
// it returns record's last error.
func (w *worker) persist(ctx context.Context, record func() error) error {
	for {
		err := record()
		if err == nil || errors.Is(err, ErrLeaseLost) || ctx.Err() != nil {
			return err
		}
		if w.s.wait(ctx, w.o, err) != nil {
			return err
		}
	}
}

// leased calls do with a context that is cancelled when c's lease is
// taken over (cause ErrLeaseLost) or the run is cancelled (cause
// errRunCancelled), renewing the lease meanwhile, and returns that cause,
// or nil. A step, or rollback, taken over from a lost worker gets a
// context marked with upgrade.WithInDoubt.
//
// The lease is renewed every third of the lease, by a timer's function:
// a step that ends sooner (most) costs no goroutine.
func (w *worker) leased(ctx context.Context, c *claim, do func(context.Context)) error {
	stepCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	period := max(w.o.Lease/3, time.Millisecond)
	r := &renewal{}
	r.mu.Lock() // r.t is set before the function runs
	r.t = time.AfterFunc(period, func() {
		if !r.begin() {
			return
		}
		defer r.wg.Done()
		if w.renew(stepCtx, c, cancel, period) {
			r.again(period)
		}
	})
	r.mu.Unlock()
	if c.inDoubt {
		do(upgrade.WithInDoubt(stepCtx))
	} else {
		do(stepCtx)
	}
	r.stop()
	return context.Cause(stepCtx)
}

// A renewal is the timer that renews a lease, and the renewal under way.
type renewal struct {
	mu      sync.Mutex
	stopped bool
	t       *time.Timer
	wg      sync.WaitGroup // the renewal under way
}

// begin reports whether a renewal may start, and counts it as under way.
func (r *renewal) begin() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return false
	}
	r.wg.Add(1)
	return true
}

// again sets the timer for the next renewal, unless stopped.
func (r *renewal) again(d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.stopped {
		r.t.Reset(d)
	}
}

// stop stops the renewals and waits for the one under way, if any.
func (r *renewal) stop() {
	r.mu.Lock()
	r.stopped = true
	r.t.Stop()
	r.mu.Unlock()
	r.wg.Wait()
}

// renew extends c's lease once, and reports whether to go on renewing;
// it cancels the step with ErrLeaseLost when the lease was taken over, or
// may run out before the next renewal (the database out of reach: another
// worker may take the step over then), and with errRunCancelled when the
// run was cancelled. It waits for the database no later than the step is
// to be cut short, a renewal's period before the lease runs out: a
// database that does not answer (a connection whose packets are dropped)
// fails the renewal then, rather than let the step run on past the lease.
func (w *worker) renew(ctx context.Context, c *claim, cancel context.CancelCauseFunc, period time.Duration) bool {
	if ctx.Err() != nil {
		return false
	}
	asked := time.Now()
	var state string
	var stopping bool
	qctx, done := context.WithDeadline(ctx, c.leaseEnd.Add(-period))
	defer done()
	err := w.s.pool.QueryRow(qctx, w.s.q(`UPDATE {s}.steps SET lease_until = clock_timestamp() + $4 * interval '1 microsecond'
		WHERE plan_id = $1 AND idx = $2 AND token = $3 AND state IN ('running', 'rolling_back')
		RETURNING (SELECT state FROM {s}.runs WHERE plan_id = $1), (SELECT stopping FROM {s}.runs WHERE plan_id = $1)`),
		w.planID(), c.idx, c.token, w.o.Lease.Microseconds()).Scan(&state, &stopping)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		cancel(ErrLeaseLost)
		return false
	case err != nil && !time.Now().Add(period).Before(c.leaseEnd):
		if w.o.Logger != nil && ctx.Err() == nil {
			w.o.Logger.Warn("pgrun: renewing a lease failed, and it runs out before the next try: the step is cut short, for another worker to take over",
				"step", w.run.plan.Steps[c.idx].ID, "err", err)
		}
		cancel(fmt.Errorf("%w: renewing it failed until it ran out: %w", ErrLeaseLost, err))
		return false
	case err != nil:
		if w.o.Logger != nil && ctx.Err() == nil {
			w.o.Logger.Warn("pgrun: renewing a lease failed; trying again", "step", w.run.plan.Steps[c.idx].ID, "err", err)
		}
	case state == "cancelled":
		cancel(errRunCancelled)
		return false
	default:
		c.leaseEnd = asked.Add(w.o.Lease)
		if stopping {
			c.halt()
		}
	}
	return ctx.Err() == nil
}

// retrying records that attempt of c starts after err, if c is still
// held, or halts c if the run is stopping: under FailFast no step tries
// again once another has failed, as in upgrade.Run. ctx is the step's:
// upgrade.Run waits for this before the attempt, so a database that does
// not answer holds the step up no longer than its lease holds (the lease
// cut short ends ctx), nor than a lease in all. A database error does
// not lose the record: it is sent again till then (see persist).
func (w *worker) retrying(ctx context.Context, c *claim, attempt int, err error) {
	ctx, done := context.WithTimeout(ctx, w.o.Lease)
	defer done()
	_ = w.persist(ctx, func() error { return w.recordRetry(ctx, c, attempt, err) })
}

// recordRetry is retrying's transaction. Sent again after a lost reply
// whose transaction committed, it finds the attempts counted and records
// nothing more.
func (w *worker) recordRetry(ctx context.Context, c *claim, attempt int, stepErr error) error {
	return w.s.inTx(ctx, w.o.Lease, func(tx pgx.Tx) error {
		// Under the run's row lock, as every event of the run, so that
		// the run's events commit in the order of their sequence numbers
		// and a reader polling after the last it saw misses none.
		var stopping bool
		if err := tx.QueryRow(ctx, w.s.q(`SELECT stopping FROM {s}.runs WHERE plan_id = $1 FOR UPDATE`), w.planID()).Scan(&stopping); err != nil {
			return err
		}
		if stopping {
			c.halt() // the attempt does not start: nothing to record
			return nil
		}
		var done int
		err := tx.QueryRow(ctx, w.s.q(`UPDATE {s}.steps SET attempts = $4
			WHERE plan_id = $1 AND idx = $2 AND token = $3 AND state = 'running' AND attempts < $4
			RETURNING (SELECT done FROM {s}.runs WHERE plan_id = $1)`), w.planID(), c.idx, c.token, attempt).Scan(&done)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // recorded already, or the step is no longer c's
		}
		if err != nil {
			return err
		}
		return w.event(ctx, tx, upgrade.StepRetrying, c.idx, attempt, stepErr, done)
	})
}

// handBack makes c's step ready again as the worker stops, its node and
// slot freed, even once ctx has ended: in doubt if its step started, and
// otherwise as it was before the claim, the attempt not counted. A step
// started in a run cancelled or stopping (FailFast), which starts no step
// ready, ends as a lost worker's does, its lease expired at once: failed
// in doubt, or taken over by another worker. If that fails, sent again
// within a lease, the lease expires all the same.
func (w *worker) handBack(ctx context.Context, c *claim, started bool) {
	ctx, done := context.WithTimeout(context.WithoutCancel(ctx), w.o.Lease)
	defer done()
	_ = w.persist(ctx, func() error { return w.giveBack(ctx, c, started) })
}

// giveBack is handBack's transaction. Sent again after a lost reply whose
// transaction committed, it finds the token moved on and changes nothing.
func (w *worker) giveBack(ctx context.Context, c *claim, started bool) error {
	return w.s.inTx(ctx, w.o.Lease, func(tx pgx.Tx) error {
		var state string
		var stopping bool
		if err := tx.QueryRow(ctx, w.s.q(`SELECT state, stopping FROM {s}.runs WHERE plan_id = $1 FOR UPDATE`), w.planID()).Scan(
			&state, &stopping); err != nil {
			return err
		}
		if started && (state == "cancelled" || stopping) {
			// Made ready, it would never run again, and be reported not
			// started: its lease expires now instead, for a claim to fail
			// it (the run cancelled, at once: see Store.sweep) or take it
			// over, as a lost worker's step.
			tag, err := tx.Exec(ctx, w.s.q(`UPDATE {s}.steps SET lease_until = clock_timestamp() - interval '1 second'
				WHERE plan_id = $1 AND idx = $2 AND token = $3 AND state = 'running'`), w.planID(), c.idx, c.token)
			if err != nil || tag.RowsAffected() == 0 {
				return err
			}
			if state == "cancelled" {
				_, err = w.s.sweep(ctx, tx, w.planID())
			} else { // no change to the run's row tells the workers waiting (see notify_run)
				_, err = tx.Exec(ctx, `SELECT pg_notify($1, $2)`, w.s.channel, w.planID())
			}
			return err
		}
		var handed bool
		err := tx.QueryRow(ctx, w.s.q(`SELECT {s}.hand_back($1, $2, $3, $4)`), w.planID(), c.idx, c.token, started).Scan(&handed)
		if err != nil || !handed {
			return err
		}
		_, err = tx.Exec(ctx, w.s.q(`SELECT {s}.check_finished($1)`), w.planID())
		return err
	})
}

// handOver lets another worker take claimed rollback c up now, as the
// worker stops, even once ctx has ended: in doubt if it started, or was
// taken over (its lease expired at once), and otherwise as it was before
// the claim, its node and slot freed. If that fails, sent again within a
// lease, the lease expires all the same.
func (w *worker) handOver(ctx context.Context, c *claim, started bool) {
	ctx, done := context.WithTimeout(context.WithoutCancel(ctx), w.o.Lease)
	defer done()
	_ = w.persist(ctx, func() error { return w.giveOver(ctx, c, started) })
}

// giveOver is handOver's statement or transaction; as giveBack, it
// changes nothing once the token has moved on. A rollback not started in
// a run cancelled since it was claimed stays undone no more than those
// the cancel left in place (see Store.Cancel), and the run finishes.
func (w *worker) giveOver(ctx context.Context, c *claim, started bool) error {
	if started || c.inDoubt {
		// The workers waiting look again when told (see notify_run): no
		// change to the run's row tells them of this one.
		_, err := w.s.pool.Exec(ctx, w.s.q(`WITH expired AS (UPDATE {s}.steps SET lease_until = clock_timestamp() - interval '1 second'
				WHERE plan_id = $1 AND idx = $2 AND token = $3 AND state = 'rolling_back' RETURNING plan_id)
			SELECT pg_notify($4, plan_id) FROM expired`), w.planID(), c.idx, c.token, w.s.channel)
		return err
	}
	return w.s.inTx(ctx, w.o.Lease, func(tx pgx.Tx) error {
		var state string
		if err := tx.QueryRow(ctx, w.s.q(`SELECT state FROM {s}.runs WHERE plan_id = $1 FOR UPDATE`), w.planID()).Scan(&state); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, w.s.q(`UPDATE {s}.steps SET state = CASE WHEN err IS NULL THEN 'succeeded' ELSE 'failed' END,
				worker = NULL, lease_until = NULL, token = token + 1, rb_tried = false
			WHERE plan_id = $1 AND idx = $2 AND token = $3 AND state = 'rolling_back'`), w.planID(), c.idx, c.token)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		if _, err := tx.Exec(ctx, w.s.q(`DELETE FROM {s}.node_locks WHERE plan_id = $1 AND idx = $2`), w.planID(), c.idx); err != nil {
			return err
		}
		if state == "cancelled" {
			if err := w.s.keepInPlace(ctx, tx, w.planID()); err != nil {
				return err
			}
		}
		_, err = tx.Exec(ctx, w.s.q(`UPDATE {s}.runs SET running = running - 1 WHERE plan_id = $1`), w.planID())
		if err != nil || state != "cancelled" {
			return err
		}
		_, err = tx.Exec(ctx, w.s.q(`SELECT {s}.check_finished($1)`), w.planID())
		return err
	})
}

// finish records c's outcome, succeeded when errText is empty, in one
// transaction with its consequences (the schema's finish function): the
// steps after it made ready, or skipped; the run stopping (FailFast) or
// finished. It returns ErrLeaseLost, recording nothing, when c's lease was
// taken over.
func (w *worker) finish(ctx context.Context, c *claim, attempts int, errText string, kinds int) error {
	return w.finishWith(ctx, w.s.pool, c, attempts, errText, kinds)
}

// finishWith is finish, through q: the pool, or a transaction.
func (w *worker) finishWith(ctx context.Context, q rowQuerier, c *claim, attempts int, errText string, kinds int) error {
	var e *string
	if errText != "" {
		e = &errText
	}
	var status string
	if err := q.QueryRow(ctx, w.s.q(`SELECT {s}.finish($1, $2, $3, $4, $5, $6, $7)`),
		w.planID(), c.idx, c.token, attempts, e, kinds, w.o.Name).Scan(&status); err != nil {
		return &recordError{"step", string(w.run.plan.Steps[c.idx].ID), w.planID(), err}
	}
	if status == "lost" {
		return ErrLeaseLost
	}
	return nil
}

// finishAndClaim is finish, and then claim, in one transaction (the
// schema's finish_and_claim function). It returns the claim's results, and
// as its own error that of the database, or ErrLeaseLost when c's lease
// was taken over (the claim made all the same). The claim is tagged with
// key, as claim's: sent again with it, finish finds its own record, and
// the claim the step it took.
func (w *worker) finishAndClaim(ctx context.Context, c *claim, attempts int, errText string, kinds int, key *claimKey) (
	nc *claim, finished bool, wake time.Duration, claimErr, err error) {
	var e *string
	if errText != "" {
		e = &errText
	}
	var status string
	r := claimRow{asked: time.Now()}
	_, rollbacker := w.exec.(upgrade.Rollbacker)
	id, resent := key.send()
	if err := w.s.pool.QueryRow(ctx, w.s.q(`SELECT r_finish, r_status, r_idx, r_token, r_attempts, r_in_doubt, r_wake_us
		FROM {s}.finish_and_claim($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`),
		w.planID(), c.idx, c.token, attempts, e, kinds, w.o.Name, w.o.Lease.Microseconds(), rollbacker, id, resent).Scan(
		&status, &r.status, &r.idx, &r.token, &r.attempts, &r.inDoubt, &r.wakeUS); err != nil {
		return nil, false, -1, nil, &recordError{"step", string(w.run.plan.Steps[c.idx].ID), w.planID(), err}
	}
	nc, finished, wake, claimErr = w.claimed(&r)
	if status == "lost" {
		err = ErrLeaseLost
	}
	return nc, finished, wake, claimErr, err
}

// undo rolls claimed step c back, renewing its lease, and records the
// outcome (the schema's finish_rollback function). A panic in Rollback
// fails the rollback with an *upgrade.PanicError. A worker stopping hands
// the step over to another at once, unless its Rollback was abandoned, or
// undid the step all the same (it returned nil), which is recorded, as is
// one that did so as the lease was lost (fenced by the lease's token, as
// a step that succeeds so); a worker lost, once its lease expired. A
// Rollback abandoned keeps the node locked until it returns (see hold.go).
func (w *worker) undo(ctx context.Context, c *claim) {
	st := w.run.plan.Steps[c.idx]
	var err error
	g := &gate{}
	cause := w.leased(ctx, c, func(stepCtx context.Context) {
		if d := w.run.opts.StepTimeout; d > 0 { // as upgrade.Run bounds a Rollback
			var cancel context.CancelFunc
			stepCtx, cancel = context.WithTimeoutCause(stepCtx, d, fmt.Errorf("step timed out after %v: %w", d, context.DeadlineExceeded))
			defer cancel()
		}
		err = callRollback(stepCtx, w.exec.(upgrade.Rollbacker), st, w.grace(), g)
		if err == context.DeadlineExceeded && stepCtx.Err() == context.DeadlineExceeded {
			// Its context's error itself: say that the step timeout ended
			// it, and after how long, as upgrade.Run does.
			err = context.Cause(stepCtx)
		}
	})
	busy := g.close() // an abandoned Rollback may still be under way

	bg, done := context.WithTimeout(context.WithoutCancel(ctx), w.o.Lease)
	defer done()
	switch {
	case err == errGoexit:
		w.handOver(bg, c, true) // cut short, in doubt, as if the worker had stopped
		w.end(errGoexit)
		return
	case errors.Is(cause, ErrLeaseLost) && err != nil:
		return
	case ctx.Err() != nil && err != nil:
		if busy == nil { // else the lease lapses, and another worker takes the rollback over then, as a lost worker's
			w.handOver(bg, c, true)
		}
		return
	}
	held := false
	w.persist(bg, func() error {
		var ferr error
		held, ferr = w.finishRollback(bg, c, err, busy != nil)
		return ferr
	})
	if held {
		w.hold(ctx, c, busy)
	}
}

// finishRollback records the outcome of claimed rollback c, undone when
// err is nil (the schema's finish_rollback function); with hold (an
// abandoned Rollback may still be under way), in the same transaction, it
// keeps the step's node locked (holdLock), and reports whether it did.
func (w *worker) finishRollback(ctx context.Context, c *claim, err error, hold bool) (held bool, _ error) {
	var e *string
	kinds := 0
	if err != nil {
		text := errorText(err)
		e, kinds = &text, errKinds(err)
	}
	record := func(q rowQuerier) error {
		var status string
		if err := q.QueryRow(ctx, w.s.q(`SELECT {s}.finish_rollback($1, $2, $3, $4, $5, $6)`),
			w.planID(), c.idx, c.token, e, kinds, w.o.Name).Scan(&status); err != nil {
			return &recordError{"the rollback of step", string(w.run.plan.Steps[c.idx].ID), w.planID(), err}
		}
		return nil
	}
	if !hold {
		return false, record(w.s.pool)
	}
	// Sent again, its first reply lost, finish_rollback finds the
	// rollback recorded ('lost'), and holdLock the lock held already.
	txErr := w.s.inTx(ctx, w.o.Lease, func(tx pgx.Tx) error {
		if err := record(tx); err != nil {
			return err
		}
		var err error
		held, err = w.holdLock(ctx, tx, c)
		return err
	})
	return held, txErr // read after the call: in "return held, call()" the language leaves the order open
}

// callRollback calls rb.Rollback for st, turning a panic into a permanent
// *upgrade.PanicError, as upgrade.Run does, a nil pointer of an error type
// into a permanent error that says so (see nilerr), and a call of
// runtime.Goexit into errGoexit; and, as Run does with its grace
// period (WorkerOptions.GracePeriod), waits at most that long for a
// Rollback that ignores its context once it is done, then fails it with a
// permanent *upgrade.AbandonedError, leaving its goroutine behind. g
// counts the call (see gate).
func callRollback(ctx context.Context, rb upgrade.Rollbacker, st upgrade.Step, grace time.Duration, g *gate) error {
	done := make(chan error, 1) // the goroutine never blocks, even abandoned
	go func() {
		err := errGoexit // unless Rollback returns or panics
		defer func() {
			if v := recover(); v != nil {
				err = upgrade.Permanent(&upgrade.PanicError{Method: "Rollback", Step: st.ID, Value: v, Stack: debug.Stack()})
			}
			done <- err
		}()
		if !g.enter() {
			err = errGateClosed
			return
		}
		defer g.leave()
		err = rb.Rollback(ctx, st)
		if e := nilerr.Of("Rollback", stepText(st.ID), err); e != nil {
			err = upgrade.Permanent(e) // its Error may panic: recorded, it would end the worker
		}
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
		return upgrade.Permanent(&upgrade.AbandonedError{Method: "Rollback", Step: st.ID, Grace: grace, Cause: context.Cause(ctx)})
	}
}

// stepText is step ID id as upgrade's errors show it: as it is, or quoted
// when it is outside the safe set or longer than a step ID ReadJSON takes.
func stepText(id upgrade.StepID) string {
	if topology.CheckIDLength("", string(id), 3*topology.MaxIDLength) == nil {
		return string(id)
	}
	return topology.Quote(string(id))
}
