package pgrun

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/stackup/stackup/upgrade"
)

// A call of the host's code for a step (Execute, Verify, Rollback) that
// ignores its context past the grace period is abandoned: upgrade.Run,
// and callRollback, record it failed and return, but the call may go on
// changing the step's node. The worker records the outcome all the same,
// as upgrade.Run does, and the run goes on (or finishes); but it keeps
// the node's lock, held past the record, until the call has returned, so
// that no step of any run, the same step retried included, starts on the
// node beside it. A gate tells the worker which calls are still under
// way; a held lock is a row of node_locks with held_until set (see the
// schema), whose lease the worker renews (hold) until the call has
// returned, and then deletes. A worker that stops, or is lost, meanwhile
// leaves the lock to lapse after its lease, as a lost worker's step is
// taken over after its lease; a claim then deletes it.

// A gate counts the calls of the host's code for one claimed step, or
// rollback, under way, and, once closed (the claim's run through
// upgrade.Run, or its rollback, over), lets no call start any more: a
// call that upgrade.Run abandoned before it began is not made late.
type gate struct {
	mu     sync.Mutex
	calls  int
	closed bool
	idle   chan struct{} // made by close while calls are under way, closed once they have returned
}

// errGateClosed is the error of a call of the host's code that the gate
// of its claim did not let start: the claim was over, the call abandoned.
var errGateClosed = upgrade.Permanent(errors.New("pgrun: the step's attempt was abandoned before this call started: not made"))

// enter counts a call starting and reports whether it may: not once the
// gate is closed.
func (g *gate) enter() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.calls++
	return true
}

// leave counts a call returned.
func (g *gate) leave() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.calls--
	if g.calls == 0 && g.idle != nil {
		close(g.idle)
	}
}

// close lets no call start any more, and returns a channel closed once
// the calls under way have returned, or nil when none is.
func (g *gate) close() <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed = true
	if g.calls == 0 {
		return nil
	}
	g.idle = make(chan struct{})
	return g.idle
}

// executor returns exec with its calls counted by g: an upgrade.Verifier
// if exec is one, and nothing else that upgrade.Run looks for (a claimed
// step's run through it does not roll back).
func (g *gate) executor(exec upgrade.Executor) upgrade.Executor {
	e := gatedExecutor{exec: exec, g: g}
	if _, ok := exec.(upgrade.Verifier); ok {
		return gatedVerifier{e}
	}
	return e
}

type gatedExecutor struct {
	exec upgrade.Executor
	g    *gate
}

func (e gatedExecutor) Execute(ctx context.Context, s upgrade.Step) error {
	if !e.g.enter() {
		return errGateClosed
	}
	defer e.g.leave()
	return e.exec.Execute(ctx, s)
}

type gatedVerifier struct{ gatedExecutor }

func (e gatedVerifier) Verify(ctx context.Context, s upgrade.Step) error {
	if !e.g.enter() {
		return errGateClosed
	}
	defer e.g.leave()
	return e.exec.(upgrade.Verifier).Verify(ctx, s)
}

// A rowQuerier is a pool or a transaction.
type rowQuerier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// holdLock keeps, in tx, the lock on the node of claimed step c, whose
// outcome tx has just recorded (which deleted it), held under c's token
// for a lease: the claims of every run wait for it as for a step's. It
// reports whether the lock is held: not when another holds the node (a
// step that took it over), unless the lock is c's already (a record sent
// again, its first reply lost).
func (w *worker) holdLock(ctx context.Context, tx pgx.Tx, c *claim) (bool, error) {
	var held bool
	err := tx.QueryRow(ctx, w.s.q(`INSERT INTO {s}.node_locks AS l (node, plan_id, idx, token, held_until)
			SELECT node, plan_id, idx, $3, clock_timestamp() + $4 * interval '1 microsecond' FROM {s}.steps WHERE plan_id = $1 AND idx = $2
		ON CONFLICT (node) DO UPDATE SET held_until = excluded.held_until
			WHERE l.plan_id = excluded.plan_id AND l.idx = excluded.idx AND l.token = excluded.token
		RETURNING true`), w.planID(), c.idx, c.token, w.o.Lease.Microseconds()).Scan(&held)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	return held, err
}

// finishHolding is finish, for a step whose call of the host's code was
// abandoned (a call of it still under way): in the same transaction, it
// keeps the step's node locked (holdLock), and reports whether it did.
func (w *worker) finishHolding(ctx context.Context, c *claim, attempts int, errText string, kinds int) (held bool, err error) {
	err = w.s.inTx(ctx, w.o.Lease, func(tx pgx.Tx) error {
		if err := w.finishWith(ctx, tx, c, attempts, errText, kinds); err != nil {
			return err
		}
		held, err = w.holdLock(ctx, tx, c)
		return err
	})
	return held, err
}

// hold keeps the lock that holdLock took on claimed step c's node until
// idle is closed (the calls abandoned for c have returned), renewing its
// lease every third of a lease, and then deletes it; or until ctx is
// done, leaving it to lapse after its lease. It does so in a goroutine
// that Work waits for.
func (w *worker) hold(ctx context.Context, c *claim, idle <-chan struct{}) {
	w.holds.Go(func() {
		period := max(w.o.Lease/3, time.Millisecond)
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
			case <-idle:
			case <-t.C:
				if w.renewHeld(ctx, c, period) {
					continue
				}
				return // the lock lapsed, and was taken
			}
			if isClosed(idle) { // even as ctx ends: the node is free
				w.unhold(ctx, c)
			} else {
				w.left.Store(true) // the lock lapses after its lease
			}
			return
		}
	})
}

// renewHeld extends the lease of the lock held for claimed step c once,
// waiting for the database at most period, and reports whether the lock
// is still c's: not once it lapsed, and a claim deleted it. A database
// error is logged: the next renewal tries again.
func (w *worker) renewHeld(ctx context.Context, c *claim, period time.Duration) bool {
	qctx, done := context.WithTimeout(ctx, period)
	defer done()
	tag, err := w.s.pool.Exec(qctx, w.s.q(`UPDATE {s}.node_locks SET held_until = clock_timestamp() + $4 * interval '1 microsecond'
		WHERE plan_id = $1 AND idx = $2 AND token = $3 AND held_until IS NOT NULL`), w.planID(), c.idx, c.token, w.o.Lease.Microseconds())
	if err != nil {
		if w.o.Logger != nil && ctx.Err() == nil {
			w.o.Logger.Warn("pgrun: renewing the lock of a node, held while a call abandoned on it runs, failed; trying again",
				"step", w.run.plan.Steps[c.idx].ID, "err", err)
		}
		return true
	}
	return tag.RowsAffected() > 0
}

// unhold deletes the lock held for claimed step c, even once ctx has
// ended, and wakes the workers waiting (a step of any run may wait for
// the node). If that fails, sent again within a lease, the lock lapses
// all the same.
func (w *worker) unhold(ctx context.Context, c *claim) {
	ctx, done := context.WithTimeout(context.WithoutCancel(ctx), w.o.Lease)
	defer done()
	_ = w.persist(ctx, func() error {
		_, err := w.s.pool.Exec(ctx, w.s.q(`WITH freed AS (DELETE FROM {s}.node_locks
				WHERE plan_id = $1 AND idx = $2 AND token = $3 AND held_until IS NOT NULL RETURNING plan_id)
			SELECT pg_notify($4, plan_id) FROM freed`), w.planID(), c.idx, c.token, w.s.channel)
		return err
	})
}
