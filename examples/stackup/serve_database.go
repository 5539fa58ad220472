package main

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/upgrade/pgrun"
)

// A server with --database submits the plans it applies to the database
// (upgrade/pgrun), where workers run them, and follows each run there:
// a follower reads the run's events and status from the database into
// the run's runState, which the API, the event streams, the dashboard and
// the metrics read as they read an in-process run's.

// databaseRunID returns the run ID of the database run of plan planID: a
// run ID as rand.Text makes them (26 characters A-Z and 2-7), made from
// the plan ID, so that applying one plan twice names one run, as the
// database keeps one run per plan.
func databaseRunID(planID string) string {
	sum := sha256.Sum256([]byte("stackup database run\x00" + planID))
	return base32.StdEncoding.EncodeToString(sum[:])[:26]
}

// startDatabase submits plan to the database, unless a run of it is
// known already, and follows its run. Its errors are *failure values, on
// which it calls forget (see keepPlan). s.mu is held, and startDatabase
// releases it: the state directory and the database are read and
// written without it, so that a slow database holds up only this call.
// Meanwhile the run is starting (s.starting): another apply of the plan
// waits for it (see start), and the plan's applications are busy with it,
// so that no other plan's run starts on them.
func (s *server) startDatabase(ctx context.Context, plan *upgrade.Plan, apps []topology.AppID, forget func()) (applyAnswer, error) {
	id := databaseRunID(plan.ID)
	answer := applyAnswer{Run: id, Plan: plan.ID, Events: "/v1/runs/" + id + "/events"}
	known := s.runs[id]
	if known != nil {
		switch known.status().State {
		case runFailed, runCancelled: // taken up again
		case runInterrupted:
			known = nil // read again from the state directory
		default:
			s.mu.Unlock()
			return answer, nil // the same plan again: the same run
		}
	}
	done := make(chan struct{})
	s.starting[id] = done
	for _, app := range apps { // free: start refused a plan whose applications another run has
		s.busy[app] = id
	}
	s.plans[id] = plan
	s.wg.Add(1) // Close waits for the start, as for the follower it starts
	s.mu.Unlock()

	ctx, stop := context.WithCancel(ctx)
	defer context.AfterFunc(s.ctx, stop)() // the server's end ends the start too
	rs, err := s.submitDatabase(ctx, plan, apps, known)
	stop()

	s.mu.Lock()
	for _, app := range apps {
		delete(s.busy, app) // follow marks them busy again while the run goes on
	}
	switch {
	case err != nil:
		forget()
		delete(s.plans, id)
	case rs != nil:
		s.follow(rs)
	default: // over: not followed
		delete(s.plans, id)
	}
	delete(s.starting, id)
	close(done)
	s.mu.Unlock()
	s.wg.Done()
	if err != nil {
		return applyAnswer{}, err
	}
	return answer, nil
}

// submitDatabase is the part of startDatabase without s.mu: it returns
// the run to follow, known (ended without succeeding) taken up again,
// one of the state directory, or one just submitted; or none, for a run
// that succeeded. Its errors are *failure values.
func (s *server) submitDatabase(ctx context.Context, plan *upgrade.Plan, apps []topology.AppID, known *runState) (*runState, error) {
	id := databaseRunID(plan.ID)
	if known != nil {
		return known, s.retryDatabase(ctx, plan, known)
	}
	if rec, err := s.state.loadRun(id); err == nil && rec.Database { // a run forgotten since
		rs := newRunState(*rec)
		switch rec.State { // as one remembered
		case runFailed, runCancelled:
			return rs, s.retryDatabase(ctx, plan, rs)
		case runSucceeded:
			return nil, nil // over: following it again would count it again
		}
		return rs, nil
	}
	if err := s.env.refresh(); err != nil { // for the stale check
		return nil, fail(http.StatusInternalServerError, "internal", err)
	}
	if err := s.checkStale(plan); err != nil {
		return nil, err
	}
	s.hook("submit")
	if err := s.submit(ctx, plan); err != nil {
		return nil, err
	}
	rec := runRecord{Run: id, Plan: plan.ID, Applications: apps, Total: len(plan.Steps), Database: true,
		Started: time.Now().UTC(), Steps: map[upgrade.StepID]string{}}
	for _, st := range plan.Steps {
		rec.Steps[st.ID] = stepPending
	}
	s.log.Info("run submitted to the database", "run", id, "plan", plan.ID, "applications", apps, "steps", len(plan.Steps))
	return newRunState(rec), nil
}

// submit submits plan to the database with the server's run flags (see
// runFlags.submit): a run of it there already is left as it is, or, with
// other run flags, refused. Its errors are *failure values.
func (s *server) submit(ctx context.Context, plan *upgrade.Plan) error {
	if err := s.rf.submit(ctx, s.db, plan); err != nil {
		switch {
		case errors.Is(err, pgrun.ErrPlanConflict):
			return fail(http.StatusConflict, "conflict", s.rf.db.redact(err))
		case errors.Is(err, upgrade.ErrInvalidPlan):
			return fail(http.StatusUnprocessableEntity, "invalid_plan", s.rf.db.redact(err))
		}
		return fail(http.StatusBadGateway, "database", fmt.Errorf("database: %w", s.rf.db.redact(err)))
	}
	return nil
}

// retryDatabase takes up again database run rs of plan, which ended
// without succeeding, as a journal resumes a run (see pgrun.Store.Retry),
// for its caller to follow: the plan is stale-checked as a resumed run
// is, the steps the run did at either end. Its errors are *failure
// values. s.mu is not held.
func (s *server) retryDatabase(ctx context.Context, plan *upgrade.Plan, rs *runState) error {
	if err := s.env.refresh(); err != nil { // for the stale check
		return fail(http.StatusInternalServerError, "internal", err)
	}
	done, _, _, err := databaseRun(ctx, s.db, plan.ID)
	if err != nil {
		return fail(http.StatusBadGateway, "database", fmt.Errorf("database: %w", s.rf.db.redact(err)))
	}
	if err := s.checkStale(plan, upgrade.WithJournal(done)); err != nil {
		return err
	}
	if err := s.submit(ctx, plan); err != nil { // the run keeps its run flags: refused if not the server's
		return err
	}
	// Its follower reads the run again from its first event: those it has
	// had so far, counted when this server first read them or before it
	// started (a run it had forgotten, or read ended), are not counted again.
	had := 0
	if _, err := eachEvent(ctx, s.db, plan.ID, 0, func(pgrun.Event) { had++ }); err != nil {
		return fail(http.StatusBadGateway, "database", fmt.Errorf("database: %w", s.rf.db.redact(err)))
	}
	rs.mu.Lock()
	rs.counted = max(rs.counted, had)
	rs.superseded = had // the record has their outcome (see unsettle)
	rs.mu.Unlock()
	if _, err := s.db.Retry(ctx, plan.ID); err != nil && !errors.Is(err, pgrun.ErrNotFinished) { // not finished: taken up since
		return fail(http.StatusBadGateway, "database", fmt.Errorf("database: %w", s.rf.db.redact(err)))
	}
	s.log.Info("database run taken up again", "run", rs.status().Run, "plan", plan.ID)
	return nil
}

// follow marks rs running, remembers it, and starts its follower. s.mu is
// held.
func (s *server) follow(rs *runState) {
	rs.mu.Lock()
	rs.rec.takeUp()
	rs.counted = max(rs.counted, len(rs.events))
	rs.events, rs.begun = nil, map[upgrade.StepID]time.Time{} // read again from the database
	rs.learnErr = nil                                         // and learned again
	rs.cancel = func(error) {}                                // running: see handleCancel
	rs.notify()
	rs.mu.Unlock()
	id := rs.status().Run
	if err := rs.save(s.state); err != nil {
		s.log.Error("run record not saved", "run", id, "err", err)
	}
	s.runs[id] = rs
	if i := slices.Index(s.finished, id); i >= 0 { // ended before: running now, not to forget
		s.finished = slices.Delete(s.finished, i, i+1)
	}
	for _, app := range rs.status().Applications {
		s.busy[app] = id
	}
	s.metrics.running.Inc()
	s.wg.Add(1)
	go s.followRun(rs)
}

// followRun reads run rs's events and status from the database until it
// has finished, or the server stops (the run goes on with its workers;
// the server follows it again when it starts).
func (s *server) followRun(rs *runState) {
	defer s.wg.Done()
	st0 := rs.status()
	id, planID := st0.Run, st0.Plan
	var seq int64
	var settle settler
	defer settle.stop()
	for {
		st, err := s.db.Status(s.ctx, planID)
		settle.start(s.ctx, s.db, st, planID)
		if err == nil {
			seq, err = eachEvent(s.ctx, s.db, planID, seq, func(ev pgrun.Event) { s.followed(rs, ev) })
		}
		switch {
		case errors.Is(err, pgrun.ErrUnknownRun):
			// Not in this schema (another --database-schema, or dropped):
			// nothing to follow.
			s.databaseRunLost(rs, fmt.Errorf("%w; serve with the --database and --database-schema the run was submitted to", err))
			return
		case err != nil && s.ctx.Err() == nil:
			s.log.Warn("reading the run from the database failed; trying again", "run", id, "err", s.rf.db.redact(err))
		case err == nil && st.Finished:
			s.databaseRunEnded(rs, st)
			return
		}
		t := time.NewTimer(databasePoll)
		select {
		case <-t.C:
		case <-s.ctx.Done():
			t.Stop()
			s.metrics.running.Dec()
			return
		case <-stopOf(s.ctx):
			t.Stop()
			s.metrics.running.Dec()
			return
		}
	}
}

// followed records event ev of database run rs, read from the database.
func (s *server) followed(rs *runState, ev pgrun.Event) {
	rs.mu.Lock()
	counted := len(rs.events) < rs.counted // read again: counted when first read
	rs.mu.Unlock()
	took, ok := rs.addAt(ev.Event, ev.Time)
	if !counted {
		s.metrics.step(apiName(ev.Kind), took, ok)
	}
	f := map[upgrade.EventKind]func(context.Context, []upgrade.Step) error{upgrade.StepSucceeded: s.learn, upgrade.StepRolledBack: s.unlearn}[ev.Kind]
	if f != nil {
		if err := f(context.WithoutCancel(s.ctx), []upgrade.Step{*ev.Step}); err != nil {
			s.log.Error("the inventory did not learn a step's result", "run", rs.status().Run, "step", ev.Step.ID, "err", err)
			rs.mu.Lock()
			rs.learnErr = cmp.Or(rs.learnErr, err)
			rs.mu.Unlock()
		}
	}
}

// databaseRunEnded records the end of database run rs, with status st.
func (s *server) databaseRunEnded(rs *runState, st *pgrun.Status) {
	state, err := runSucceeded, st.Err
	rs.mu.Lock()
	learnErr := rs.learnErr
	rs.mu.Unlock()
	switch {
	case st.Cancelled:
		state = runCancelled
	case st.Err != nil:
		state = runFailed
	case learnErr != nil:
		// As a run of the server's own: see execute.
		state, err = runFailed, unlearnedError(learnErr, rs.status().Run)
	}
	s.metrics.runs.WithLabelValues(state).Inc()
	s.end(rs, st.Report, state, err, cutShort(st.Report))
	s.log.Info("run ended", "run", rs.status().Run, "state", state, "err", st.Err, "in_doubt", st.InDoubt)
}

// cutShort returns the steps of a database run's report that are in
// doubt as a run of the server's own leaves them in its journal, started
// and never finished: those whose attempt a cancel or a lost worker cut
// short, which a retry offers again in doubt (see pgrun.Status.InDoubt
// and pgrun.Store.Retry). A step that, offered again in doubt, succeeded
// is done, and one rolled back undone: neither is in doubt any more.
func cutShort(rep *upgrade.Report) []upgrade.StepID {
	if rep == nil {
		return nil
	}
	var ids []upgrade.StepID
	for _, o := range rep.Outcomes {
		if o.InDoubt && o.State != upgrade.Succeeded && o.State != upgrade.RolledBack {
			ids = append(ids, o.Step)
		}
	}
	return ids
}

// databaseRunLost records that database run rs is not in the database:
// interrupted, so that a server given the right database follows it again.
func (s *server) databaseRunLost(rs *runState, err error) {
	s.end(rs, nil, runInterrupted, err, nil)
	s.log.Error("run not found in the database", "run", rs.status().Run, "err", err)
}

// cancelDatabase cancels database run rs: no step starts any more, and
// the workers stop the running ones at their next lease renewal.
func (s *server) cancelDatabase(ctx context.Context, rs *runState) error {
	if err := s.db.Cancel(ctx, rs.status().Plan); err != nil {
		return fail(http.StatusBadGateway, "database", fmt.Errorf("database: %w", s.rf.db.redact(err)))
	}
	return nil
}

// followDatabaseRuns follows the database runs of the state directory
// that had not finished when the server last stopped. s.db is set.
func (s *server) followDatabaseRuns() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rs := range s.runs {
		if st := rs.status(); st.Database && (st.State == runRunning || st.State == runInterrupted) {
			// Its follower reads it from its first event; those it has had
			// so far came before this server started, and are not counted.
			had := 0
			if _, err := eachEvent(s.ctx, s.db, st.Plan, 0, func(pgrun.Event) { had++ }); err != nil && !errors.Is(err, pgrun.ErrUnknownRun) {
				s.log.Warn("reading the run's events from the database failed: the metrics may count them", "run", st.Run, "err", s.rf.db.redact(err))
			}
			rs.mu.Lock()
			rs.counted = max(rs.counted, had)
			rs.mu.Unlock()
			s.follow(rs)
		}
	}
}
