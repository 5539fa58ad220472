package pgrun

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/jackc/pgx/v5"
)

// ErrNotFinished reports a run that Retry cannot take up: it has not
// finished.
var ErrNotFinished = errors.New("pgrun: run not finished")

// Retry takes up again the finished run of plan planID that did not
// succeed, as upgrade.Run resumed from its journal would: its steps that
// succeeded (and whose rollback, if any, was not tried) are not run
// again, and Status reports them as upgrade.Run reports the steps its
// journal recorded succeeded: Resumed, with no attempts, and not in
// doubt, even one that was taken over in doubt before it succeeded (the
// run taken up offered it nothing); those that failed, were skipped, were rolled back or never
// started run again, each after the steps it needs, with its retries
// counted afresh. A step that failed in doubt (its worker lost, or cut
// short) is offered again in doubt, but not one offered in doubt whose
// attempt then failed on its own, its Execute returning an error; and a
// step whose rollback failed, or was cut short, whether the step had
// succeeded or failed, runs again in doubt (it may be undone in part), as
// upgrade.Run resumed offers them; Status says they are in doubt once
// they have been offered so, not before. The run's
// Options are kept, its events too: read on from the last one seen. The
// run's workers (Store.Work) come back for it, as for a run just
// submitted.
//
// Retry reports whether the run was taken up: false, changing nothing,
// when every step had succeeded. A run not finished yet gives an error
// matching ErrNotFinished (cancel it and wait for it to finish, or let
// it finish), an unknown one ErrUnknownRun. A Retry whose COMMIT reached
// the database, the reply lost with the connection, learns from the run
// that it took it up, and reports that.
func (s *Store) Retry(ctx context.Context, planID string) (bool, error) {
	if err := checkRunID(planID); err != nil {
		return false, err
	}
	retried := false
	key := rand.Int64() // tags the run taken up by this Retry
	err := s.inTx(ctx, DefaultLease, func(tx pgx.Tx) error {
		var err error
		retried, err = s.takeUp(ctx, tx, planID, key)
		return err
	})
	if err != nil {
		return s.retryFailed(ctx, planID, key, err)
	}
	return retried, nil
}

// takeUp is Retry's transaction: it takes up again in tx finished run
// planID, tagged with key, and reports whether it did (not when every
// step had succeeded, changing nothing).
func (s *Store) takeUp(ctx context.Context, tx pgx.Tx, planID string, key int64) (bool, error) {
	total, err := s.lockFinished(ctx, tx, planID)
	if err != nil {
		return false, err
	}
	var undone int
	if err := tx.QueryRow(ctx, s.q(`SELECT count(*) FROM {s}.steps WHERE plan_id = $1 AND idx < $2 AND (state <> 'succeeded' OR rb_tried)`),
		planID, total).Scan(&undone); err != nil {
		return false, err
	}
	if undone == 0 {
		return false, nil
	}
	if err := s.resetSteps(ctx, tx, planID, total); err != nil {
		return false, err
	}
	if err := s.readyRetried(ctx, tx, planID, total); err != nil {
		return false, err
	}
	if err := s.restartRun(ctx, tx, planID, total, key); err != nil {
		return false, err
	}
	return true, nil
}

// lockFinished locks, in tx, the row of run planID and returns its total
// (its steps, barriers aside), or an error matching ErrUnknownRun or
// ErrNotFinished if there is no such run or it has not finished; a
// cancelled run is first swept, as its lost workers' steps, failed now,
// may be all that kept it from finishing.
func (s *Store) lockFinished(ctx context.Context, tx pgx.Tx, planID string) (total int, err error) {
	var over bool
	var state string
	err = tx.QueryRow(ctx, s.q(`SELECT finished_at IS NOT NULL, total, state FROM {s}.runs WHERE plan_id = $1 FOR UPDATE`), planID).Scan(&over, &total, &state)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("%w: plan %s was not submitted to schema %s", ErrUnknownRun, planID, s.schema)
	}
	if err != nil {
		return 0, err
	}
	if !over && state == "cancelled" {
		// Its lost workers' steps, failed now, may be all that is left.
		if over, err = s.sweep(ctx, tx, planID); err != nil {
			return 0, err
		}
		if !over {
			return 0, fmt.Errorf("%w: run %s is cancelled, and steps of it still run: retry once they have ended (a step whose worker was lost fails once its lease expires)", ErrNotFinished, planID)
		}
	}
	if !over {
		return 0, fmt.Errorf("%w: run %s is still going: follow it, or cancel it and retry once it has finished", ErrNotFinished, planID)
	}
	return total, nil
}

// resetSteps sets waiting again, in tx, the steps of run planID (of total
// steps, barriers aside) that are to run again, and the barriers, and
// clears the rollback outcomes of those kept, which belong to the run
// that ended.
func (s *Store) resetSteps(ctx context.Context, tx pgx.Tx, planID string, total int) error {
	// Every vertex not succeeded waits again, and every barrier: one
	// passed may have had a step before it rolled back since. So does
	// a step whose Rollback was called and did not undo it (rb_tried),
	// even one that had succeeded: its node may be undone in part, and
	// it is in doubt. A step in doubt (its worker lost, or stopped
	// during it) stays so, unless a rollback has undone it since, or it
	// failed on its own since it was offered in doubt (settled): it is
	// doubt_before, and in doubt again (in_doubt) only once it is offered
	// so (see the schema's claim), as upgrade.Run resumed reports a step
	// in doubt once it offers it; a step that failed, and was not undone,
	// is failed_before until it runs again.
	if _, err := tx.Exec(ctx, s.q(`UPDATE {s}.steps SET state = 'waiting', waiting = 0, attempts = 0, err = NULL, err_kinds = 0,
				worker = NULL, lease_until = NULL, completed = NULL, wait_plan = NULL, wait_idx = NULL,
				rb_done = false, rb_err = NULL, rb_kinds = 0, rb_tried = false, settled = false, resumed = false,
				in_doubt = false, doubt_before = (in_doubt AND NOT settled OR rb_tried
					OR doubt_before AND state IN ('waiting', 'ready', 'skipped')) AND state <> 'rolled_back',
				failed_before = state = 'failed' OR failed_before AND state IN ('waiting', 'ready', 'skipped')
			WHERE plan_id = $1 AND (state <> 'succeeded' OR rb_tried OR idx >= $2)`), planID, total); err != nil {
		return err
	}
	// A rollback's outcome belongs to the run that ended, and so do
	// the attempts of the steps kept, and their doubt: they are resumed,
	// not run, as upgrade.Run reports a step its journal recorded
	// succeeded. They are numbered 1, 2, … in the order they completed,
	// so that those completing from now on (numbered from the run's
	// done + 1) come after them for a rollback.
	_, err := tx.Exec(ctx, s.q(`UPDATE {s}.steps st SET rb_done = false, rb_err = NULL, rb_kinds = 0, rb_tried = false, completed = k.n,
				attempts = 0, in_doubt = false, doubt_before = false, resumed = true
			FROM (SELECT idx, row_number() OVER (ORDER BY completed, idx) AS n FROM {s}.steps
				WHERE plan_id = $1 AND idx < $2 AND state = 'succeeded') k
			WHERE st.plan_id = $1 AND st.idx = k.idx`), planID, total)
	return err
}

// readyRetried counts, in tx, the prerequisites not succeeded that each
// waiting step of run planID (of total steps) waits for, passes the
// barriers left with none, and readies the steps left with none, so
// that the run's workers claim them.
func (s *Store) readyRetried(ctx context.Context, tx pgx.Tx, planID string, total int) error {
	// Each vertex waits for its prerequisites not succeeded; a
	// barrier with none passes, which may let the next ones pass.
	for {
		if _, err := tx.Exec(ctx, s.q(`UPDATE {s}.steps st SET waiting = (SELECT count(*) FROM {s}.edges e
					JOIN {s}.steps b ON b.plan_id = e.plan_id AND b.idx = e.before
					WHERE e.plan_id = $1 AND e.after = st.idx AND b.state <> 'succeeded')
				WHERE st.plan_id = $1 AND st.state = 'waiting'`), planID); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, s.q(`UPDATE {s}.steps SET state = 'succeeded'
				WHERE plan_id = $1 AND idx >= $2 AND state = 'waiting' AND waiting = 0`), planID, total)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			break
		}
	}
	_, err := tx.Exec(ctx, s.q(`UPDATE {s}.steps SET state = 'ready' WHERE plan_id = $1 AND idx < $2 AND state = 'waiting' AND waiting = 0`),
		planID, total)
	return err
}

// restartRun frees, in tx, the nodes run planID (of total steps) held
// and sets it running again, tagged with key, so that its workers come
// back for it and a Retry whose reply is lost can tell it took the run
// up. A node held for a call abandoned on it stays held until the call
// has returned, or the lock has lapsed (see the schema's node_locks).
func (s *Store) restartRun(ctx context.Context, tx pgx.Tx, planID string, total int, key int64) error {
	if _, err := tx.Exec(ctx, s.q(`DELETE FROM {s}.node_locks WHERE plan_id = $1 AND held_until IS NULL`), planID); err != nil {
		return err
	}
	// Back to running, which wakes the workers (see notify_run).
	_, err := tx.Exec(ctx, s.q(`UPDATE {s}.runs SET state = 'running', stopping = false, running = 0, starved = false,
				finished_at = NULL, done = (SELECT count(*) FROM {s}.steps WHERE plan_id = $1 AND idx < $2 AND state = 'succeeded'),
				retry_key = $3
			WHERE plan_id = $1`), planID, total, key)
	return err
}

// retryFailed returns what Retry of run planID reports when its
// transaction, tagged with key, failed with err: the error may have come
// after the COMMIT was carried out, which the run's retry_key tells.
func (s *Store) retryFailed(ctx context.Context, planID string, key int64, err error) (bool, error) {
	if errors.Is(err, ErrUnknownRun) || errors.Is(err, ErrNotFinished) {
		return false, err
	}
	var took bool
	switch rerr := s.pool.QueryRow(ctx, s.q(`SELECT retry_key IS NOT DISTINCT FROM $2 FROM {s}.runs WHERE plan_id = $1`),
		planID, key).Scan(&took); {
	case rerr == nil && took:
		return true, nil
	case rerr != nil:
		return false, fmt.Errorf("pgrun: retrying run %s, which may have been taken up all the same (read its Status): %w", planID, err)
	}
	return false, fmt.Errorf("pgrun: retrying run %s: %w", planID, err)
}
