package pgrun

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"slices"
	"time"

	"github.com/hashicorp/go-multierror"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
)

// ErrCancelled reports a run that was cancelled (Store.Cancel).
var ErrCancelled = errors.New("pgrun: run cancelled")

// RemoteError is a step's error as a worker recorded it: its text, and
// which of the sentinels in remoteSentinels it matched, which errors.Is
// still sees: context.DeadlineExceeded (a step timeout),
// context.Canceled, upgrade.ErrAbandoned, upgrade.ErrRollback and
// ErrCancelled.
type RemoteError struct {
	Message string
	kinds   int
}

func (e *RemoteError) Error() string { return e.Message }

// Is reports whether the worker's error matched target, one of the
// sentinels RemoteError keeps.
func (e *RemoteError) Is(target error) bool {
	for k, s := range remoteSentinels {
		if e.kinds&(1<<k) != 0 && target == s {
			return true
		}
	}
	return false
}

// remoteSentinels are the errors a RemoteError remembers matching, by
// their place in the list: append only, the database keeps the bits.
var remoteSentinels = [...]error{context.DeadlineExceeded, context.Canceled, upgrade.ErrAbandoned, upgrade.ErrRollback, ErrCancelled}

// errKinds returns the bits of the sentinels in remoteSentinels that err
// matches.
func errKinds(err error) int {
	k := 0
	for i, s := range remoteSentinels {
		if errors.Is(err, s) {
			k |= 1 << i
		}
	}
	return k
}

// Status is what the database holds of a run.
type Status struct {
	// Report has the outcome of every step, as upgrade.Run's. A step
	// waiting or ready is NotStarted; a step running is NotStarted too,
	// with its Attempts so far. A step that Store.Retry kept as
	// succeeded is Resumed, with no Attempts. Errors are *RemoteError.
	Report *upgrade.Report
	// Finished says that no step runs and none will start.
	Finished  bool
	Cancelled bool
	// InDoubt lists, in the plan's order, the steps that were offered
	// again after their worker was lost, or cut short (by a cancel as an
	// attempt ran, not as a failed one's retry waited out its backoff; or
	// abandoned past the grace period), or after a rollback of theirs
	// failed (see Store.Retry): they may have been carried out, or rolled
	// back, more than once, or in part. Their Outcomes in Report say
	// InDoubt too. A step that Store.Retry kept as succeeded is not
	// listed: it is resumed, not in doubt, as upgrade.Run resumed reports
	// it; nor is a step that Store.Retry is to offer in doubt until it has
	// been offered (until then its Outcome says NotStarted, not InDoubt),
	// as upgrade.Run resumed says a step is in doubt once it has offered
	// it so.
	InDoubt []upgrade.StepID
	// Err is what upgrade.Run would return once the run is finished: nil
	// when every step succeeded; otherwise every step failure, as a
	// *upgrade.StepError, and ErrCancelled for a cancelled run.
	Err error
}

// Status returns the state of the run of plan planID, or an error
// matching ErrUnknownRun. It reads in one transaction, which the server
// ends if it is left idle for DefaultLease (its process frozen), so that
// a frozen follower holds no lock that a migration waits for.
func (s *Store) Status(ctx context.Context, planID string) (*Status, error) {
	if err := checkRunID(planID); err != nil {
		return nil, err
	}
	var st Status
	var state string
	var steps []stepFacts // of each step, for st.Err
	err := s.readTx(ctx, DefaultLease, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, s.q(`SELECT state, finished_at IS NOT NULL FROM {s}.runs WHERE plan_id = $1`), planID).Scan(&state, &st.Finished); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return fmt.Errorf("%w: plan %s was not submitted to schema %s", ErrUnknownRun, planID, s.schema)
			}
			return err
		}
		var err error
		steps, err = s.readOutcomes(ctx, tx, planID, &st)
		return err
	})
	if err != nil {
		if errors.Is(err, ErrUnknownRun) {
			return nil, err
		}
		return nil, fmt.Errorf("pgrun: reading run %s: %w", planID, err)
	}
	st.Cancelled = state == "cancelled"
	if st.Finished {
		st.Err = runError(&st, steps)
	}
	return &st, nil
}

// stepFacts is what Status reads of a step beyond its outcome, for the
// run's error: its node, its place in the order of completion (0 for a
// step the run did not complete, failed by the sweep of a cancelled run
// as its worker was lost, say), and the error of its rollback if that
// failed.
type stepFacts struct {
	node      topology.NodeID
	completed int
	rbErr     error
}

// readOutcomes reads in tx the outcome of each step of the run of planID
// into st's Report, and the steps in doubt into its InDoubt, and returns
// the other facts of each step.
func (s *Store) readOutcomes(ctx context.Context, tx pgx.Tx, planID string, st *Status) ([]stepFacts, error) {
	rows, err := tx.Query(ctx, s.q(`SELECT step_id, node, state, attempts, in_doubt, resumed, coalesce(err, ''), err_kinds,
		coalesce(rb_err, ''), rb_kinds, coalesce(completed, 0) FROM {s}.steps
		WHERE plan_id = $1 AND idx < (SELECT total FROM {s}.runs WHERE plan_id = $1) ORDER BY idx`), planID)
	if err != nil {
		return nil, err
	}
	st.Report = &upgrade.Report{}
	var steps []stepFacts
	var row stepRow
	_, err = pgx.ForEachRow(rows, []any{&row.id, &row.node, &row.state, &row.attempts, &row.inDoubt, &row.resumed, &row.errText, &row.kinds,
		&row.rbText, &row.rbKinds, &row.completed}, func() error {
		o, rbErr := row.outcome()
		if row.inDoubt {
			st.InDoubt = append(st.InDoubt, o.Step)
		}
		st.Report.Outcomes = append(st.Report.Outcomes, o)
		steps = append(steps, stepFacts{node: topology.NodeID(row.node), completed: row.completed, rbErr: rbErr})
		return nil
	})
	return steps, err
}

// stepRow is a step's row of the steps table, as Status reads it.
type stepRow struct {
	id, node, state, errText, rbText    string
	attempts, kinds, rbKinds, completed int
	inDoubt, resumed                    bool
}

// outcome returns the step's outcome as upgrade.Run reports it, and the
// error of its rollback if that failed.
func (r *stepRow) outcome() (upgrade.Outcome, error) {
	o := upgrade.Outcome{Step: upgrade.StepID(r.id), Attempts: r.attempts, State: outcomeState(r.state, r.errText), InDoubt: r.inDoubt,
		Resumed: r.resumed}
	if r.errText != "" && (o.State == upgrade.Failed || o.State == upgrade.RolledBack) {
		o.Err = &RemoteError{Message: r.errText, kinds: r.kinds}
	}
	// Abandoned: its Execute (Verify), if it failed and was not undone, or
	// its Rollback, was given up on past the grace period, as Run says.
	abandoned := errKinds(upgrade.ErrAbandoned)
	o.Abandoned = (o.State == upgrade.Failed && r.kinds&abandoned != 0) || r.rbKinds&abandoned != 0
	if r.rbText == "" {
		return o, nil
	}
	rbErr := fmt.Errorf("upgrade: %w: step %s on node %q: %w", upgrade.ErrRollback, o.Step, r.node,
		&RemoteError{Message: r.rbText, kinds: r.rbKinds})
	if o.State == upgrade.Succeeded {
		o.Err = &RemoteError{Message: r.rbText, kinds: r.rbKinds}
	}
	return o, rbErr
}

// outcomeState returns the state upgrade.Run reports for a step in the
// given state of the steps table, with the given error: a step rolling
// back is in place until undone, and so succeeded unless it failed.
func outcomeState(state, errText string) upgrade.State {
	switch state {
	case "succeeded":
		return upgrade.Succeeded
	case "failed":
		return upgrade.Failed
	case "rolling_back":
		if errText != "" {
			return upgrade.Failed
		}
		return upgrade.Succeeded
	case "rolled_back":
		return upgrade.RolledBack
	case "skipped":
		return upgrade.Skipped
	}
	return upgrade.NotStarted
}

// runError returns what upgrade.Run would return for the finished run st,
// given the other facts of each step: every step failure, maybe undone, in
// the order the steps failed, then the errors of the rollbacks that
// failed, in the order the rollback met them (last completed first), and
// ErrCancelled. Steps the run did not complete come after the others, in
// the plan's order.
func runError(st *Status, steps []stepFacts) error {
	var failed, kept []int // steps, by index
	for i, o := range st.Report.Outcomes {
		if o.State == upgrade.Failed || o.State == upgrade.RolledBack && o.Err != nil { // failed, maybe undone
			failed = append(failed, i)
		}
		if steps[i].rbErr != nil {
			kept = append(kept, i)
		}
	}
	// sortBy sorts which by the steps' place in the order of completion, first
	// or last completed first, the steps not completed last.
	sortBy := func(which []int, sign int) {
		place := func(i int) int {
			if c := steps[i].completed; c > 0 {
				return sign * c
			}
			return math.MaxInt
		}
		slices.SortStableFunc(which, func(i, j int) int { return cmp.Compare(place(i), place(j)) })
	}
	sortBy(failed, 1)
	sortBy(kept, -1) // last completed first
	errs := &multierror.Error{ErrorFormat: topology.JoinErrors}
	for _, i := range failed {
		o := st.Report.Outcomes[i]
		errs = multierror.Append(errs, &upgrade.StepError{Step: o.Step, Node: steps[i].node, Err: o.Err})
	}
	for _, i := range kept {
		errs = multierror.Append(errs, steps[i].rbErr)
	}
	if st.Cancelled {
		errs = multierror.Append(errs, ErrCancelled)
	}
	return errs.ErrorOrNil()
}

// Wait waits until the run of plan planID has finished or ctx is done,
// and returns its last Status. It looks at the run each time the run's
// workers notify a change (see WorkerOptions.Poll), and at least every
// interval; an interval of 0 or below is DefaultPoll, as for
// WorkerOptions.Poll. A cancelled run whose steps' workers were lost
// finishes under Wait too, no worker of it left: Wait fails those steps,
// in doubt, once their leases expire, as a worker's claim would. Wait
// rides out, as the workers do, the errors of a connection lost or of a
// server restarting, shutting down or out of connections, and looks again
// after the interval, or a second, whichever is shorter; once ctx is done
// after such an error, its error says so. Other errors it returns at
// once.
func (s *Store) Wait(ctx context.Context, planID string, interval time.Duration) (*Status, error) {
	if interval <= 0 {
		interval = DefaultPoll
	}
	k, unsubscribe := s.subscribe(&WorkerOptions{Poll: interval})
	defer unsubscribe()
	var last *Status
	for {
		woken := k.watch(planID)
		st, lost, err := s.look(ctx, planID, last)
		if err != nil || lost == nil && st.Finished {
			k.leave(woken)
			return st, err
		}
		last = st
		d := interval
		if lost != nil {
			d = min(d, listenRetry)
		}
		k.sleep(ctx, woken, d)
		switch {
		case ctx.Err() != nil && lost != nil:
			return st, fmt.Errorf("%w (the last read of run %s failed: %w)", ctx.Err(), planID, lost)
		case ctx.Err() != nil:
			return st, ctx.Err()
		}
	}
}

// look reads the Status of the run of planID for Wait, failing the steps
// of a cancelled run whose workers were lost. An error that the next look
// may not meet (see transient) it returns as lost, with last, the Status
// of the look before.
func (s *Store) look(ctx context.Context, planID string, last *Status) (st *Status, lost, err error) {
	st, err = s.Status(ctx, planID)
	if err == nil && st.Cancelled && !st.Finished {
		// Nobody may be left to fail the steps of its lost workers.
		if st, err = s.sweepCancelled(ctx, planID); err != nil {
			err = fmt.Errorf("pgrun: reading run %s: %w", planID, err)
		}
	}
	if err != nil && ctx.Err() == nil && transient(err) {
		return last, err, nil
	}
	return st, nil, err
}

// transient reports whether err, a database error, is one that a
// connection lost or a server restarting, shutting down, short of
// connections or too busy gives, which the next try may not meet.
func transient(err error) bool {
	if errors.Is(err, ErrUnknownRun) {
		return false
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		// The connection's own: cut, refused, timed out, closed. Not
		// any other error from outside the server, such as a closed
		// Store's or a row that does not scan, which a look again meets
		// again.
		var ne net.Error
		var ce *pgconn.ConnectError
		return errors.As(err, &ce) || errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
			errors.Is(err, pgconn.ErrConnClosed) || pgconn.Timeout(err) || pgconn.SafeToRetry(err)
	}
	switch pe.Code[:min(2, len(pe.Code))] {
	case "08", "53", "57": // connection exception; insufficient resources; operator intervention (a shutdown, a statement timeout)
		return true
	}
	return pe.Code == "40001" || pe.Code == "40P01" // serialization failure, deadlock
}

// sweepCancelled fails the steps of cancelled run planID whose leases
// have expired, their workers lost, as a claim by a worker of the run does
// (and claims nothing: the run is cancelled), and returns its Status. A
// run no longer cancelled (finished and taken up again since it was read)
// is left alone: a claim would take a step of it.
func (s *Store) sweepCancelled(ctx context.Context, planID string) (*Status, error) {
	err := s.inTx(ctx, DefaultLease, func(tx pgx.Tx) error {
		var state string
		if err := tx.QueryRow(ctx, s.q(`SELECT state FROM {s}.runs WHERE plan_id = $1 FOR UPDATE`), planID).Scan(&state); err != nil {
			return err
		}
		if state != "cancelled" {
			return nil
		}
		_, err := s.sweep(ctx, tx, planID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return s.Status(ctx, planID)
}

// sweep runs, through q (the pool or a transaction), the claim of
// cancelled run planID that fails its lost workers' steps, and reports
// whether the run is finished.
func (s *Store) sweep(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, planID string) (finished bool, err error) {
	err = q.QueryRow(ctx, s.q(`SELECT r_status = 'finished' FROM {s}.claim($1, 'pgrun:sweep', 0, false)`), planID).Scan(&finished)
	return finished, err
}

// Unfinished returns the plan IDs of the runs not finished yet, oldest
// first: what a worker that serves every run works on.
func (s *Store) Unfinished(ctx context.Context) ([]string, error) {
	rows, err := s.pool.Query(ctx, s.q(`SELECT plan_id FROM {s}.runs WHERE finished_at IS NULL ORDER BY created_at, plan_id`))
	var ids []string
	if err == nil {
		ids, err = pgx.CollectRows(rows, pgx.RowTo[string])
	}
	if err != nil {
		return nil, fmt.Errorf("pgrun: listing the runs not finished in schema %s: %w", s.schema, err)
	}
	return ids, nil
}

// errRollbackCancelled is the rollback error of the steps a cancel leaves
// in place.
var errRollbackCancelled = fmt.Errorf("%w before the step was rolled back: %w", ErrCancelled, context.Canceled)

// Cancel cancels the run of plan planID: no step starts any more, and the
// steps running get their context cancelled at their worker's next lease
// renewal and end Failed, in doubt if cut short (see Status.InDoubt), with
// an error matching ErrCancelled and, as upgrade.Run's for a step its
// context's cancel cut short, context.Canceled: a
// step whose failed attempt waits out its retry backoff is not, as
// upgrade.Run records it. A run rolling back stops: the rollback under way
// gets its context cancelled likewise, and the steps not undone yet stay
// in place with an error matching ErrCancelled and context.Canceled, as
// upgrade.Run leaves them when its context is cancelled during the
// rollback: once the rollback under way, if any, has ended, so that their
// events (upgrade.StepRollbackFailed) come after its, as upgrade.Run's
// do. A step whose worker was lost keeps its node from other runs
// until its lease expires; it then fails, in doubt, at the next claim of
// the run, Wait on it, or claim of another run that wants the node, with
// an error matching ErrCancelled and context.Canceled too (and so does
// the rollback of a worker lost during the rollback).
// Cancelling a finished run does nothing.
func (s *Store) Cancel(ctx context.Context, planID string) error {
	if err := checkRunID(planID); err != nil {
		return err
	}
	err := s.inTx(ctx, DefaultLease, func(tx pgx.Tx) error {
		var over bool
		var state string
		err := tx.QueryRow(ctx, s.q(`SELECT finished_at IS NOT NULL, state FROM {s}.runs WHERE plan_id = $1 FOR UPDATE`), planID).Scan(&over, &state)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%w: plan %s was not submitted to schema %s", ErrUnknownRun, planID, s.schema)
		}
		if err != nil || over {
			return err
		}
		if state == "rolling_back" {
			if err := s.keepInPlace(ctx, tx, planID); err != nil {
				return err
			}
		}
		_, err = tx.Exec(ctx, s.q(`UPDATE {s}.runs SET state = 'cancelled',
			finished_at = CASE WHEN running = 0 THEN clock_timestamp() END WHERE plan_id = $1`), planID)
		return err
	})
	if err != nil && !errors.Is(err, ErrUnknownRun) {
		return fmt.Errorf("pgrun: cancelling run %s: %w", planID, err)
	}
	return err
}

// keepInPlace leaves in place, in tx, the steps of the run of planID, a
// rollback of which is cancelled, that are not undone yet, once no
// rollback of the run is under way (the schema's keep_in_place).
func (s *Store) keepInPlace(ctx context.Context, tx pgx.Tx, planID string) error {
	_, err := tx.Exec(ctx, s.q(`SELECT {s}.keep_in_place($1)`), planID)
	return err
}

// Event is an upgrade.Event as the database holds it.
type Event struct {
	upgrade.Event
	// Seq orders the events of a store; pass the last one seen to Events
	// to read those after it.
	Seq    int64
	Worker string
	Time   time.Time
}

// Events returns up to limit events of the run of plan planID after
// sequence number after (0 for the first), oldest first; none for a limit
// of 0 or less. Read them in pages, from the last Seq of each. A run's events
// are written under its row lock, so they commit in the order of their
// sequence numbers: reading on from the last one seen misses none. The
// start of a step whose worker hands it back before starting it (as it
// stops) is taken back: a reader that had read it reads the step's start
// again when it does start.
func (s *Store) Events(ctx context.Context, planID string, after int64, limit int) ([]Event, error) {
	run, err := s.loadRun(ctx, planID)
	if err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, s.q(`SELECT seq, kind, idx, attempt, coalesce(err, ''), err_kinds, in_doubt, done, total, coalesce(worker, ''), at,
		wait_plan, wait_step FROM {s}.events WHERE plan_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`), planID, after, max(limit, 0))
	if err != nil {
		return nil, fmt.Errorf("pgrun: reading events of run %s: %w", planID, err)
	}
	var out []Event
	var e Event
	var kind, idx, kinds int
	var errText string
	var waitPlan, waitStep *string
	_, err = pgx.ForEachRow(rows, []any{&e.Seq, &kind, &idx, &e.Attempt, &errText, &kinds, &e.InDoubt, &e.Done, &e.Total, &e.Worker, &e.Time,
		&waitPlan, &waitStep}, func() error {
		if idx < 0 || idx >= len(run.plan.Steps) {
			return fmt.Errorf("event %d names step #%d of %d", e.Seq, idx, len(run.plan.Steps))
		}
		ev := e
		ev.Kind, ev.Step, ev.Err = upgrade.EventKind(kind), &run.plan.Steps[idx], nil
		if errText != "" {
			ev.Err = &RemoteError{Message: errText, kinds: kinds}
		}
		if waitPlan != nil && waitStep != nil {
			ev.WaitingFor = &upgrade.Holder{Node: ev.Step.Node, Plan: *waitPlan, Step: upgrade.StepID(*waitStep)}
		}
		out = append(out, ev)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("pgrun: reading events of run %s: %w", planID, err)
	}
	return out, nil
}
