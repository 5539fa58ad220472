package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/upgrade/pgrun"
)

// databaseEnv names the environment variable that gives the database URL
// when --database is not given.
const databaseEnv = "STACKUP_DATABASE_URL"

// databasePoll is how often apply --database looks for new events.
const databasePoll = 200 * time.Millisecond

// dbFlags are --database and --database-schema.
type dbFlags struct {
	url    string
	schema string
}

func (d *dbFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&d.url, "database", "", "run through the PostgreSQL database at `URL` (postgres://...; else "+databaseEnv+"): workers run the steps")
	fs.StringVar(&d.schema, "database-schema", "stackup", "keep runs in the database schema `NAME`")
}

// resolve takes the URL from the environment when --database was not
// given, and checks it; the URL is a secret, so errors show it redacted.
func (d *dbFlags) resolve() error {
	name := "--database"
	if d.url == "" {
		if v, ok := os.LookupEnv(databaseEnv); ok {
			if v == "" {
				return usageErr("%s is set and empty: unset it, or give a postgres:// URL", databaseEnv)
			}
			d.url, name = v, databaseEnv
		}
	}
	if d.url == "" {
		return nil
	}
	u, err := url.Parse(d.url)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		// The value is not shown: it may be a password given by mistake.
		what := "cannot be parsed as a URL"
		if err == nil {
			what = fmt.Sprintf("has scheme %q", u.Scheme)
		}
		return usageErr("%s: the value given %s: give a postgres:// or postgresql:// URL", name, what)
	}
	if d.schema == "" {
		return usageErr("--database-schema: give a schema name")
	}
	return nil
}

// on reports whether runs go through the database.
func (d *dbFlags) on() bool { return d.url != "" }

// redact removes the URL's password from err's text.
func (d *dbFlags) redact(err error) error {
	if err == nil {
		return nil
	}
	u, perr := url.Parse(d.url)
	if perr != nil {
		return errors.New(strings.ReplaceAll(err.Error(), d.url, "(the database URL)"))
	}
	text := strings.ReplaceAll(err.Error(), d.url, u.Redacted())
	if p, ok := u.User.Password(); ok && p != "" {
		text = strings.ReplaceAll(text, p, "xxxxx")
	}
	return errors.New(text)
}

// open connects to the database and opens the store in its schema.
func (d *dbFlags) open(ctx context.Context) (*pgrun.Store, *pgxpool.Pool, error) {
	pool, err := pgxpool.New(ctx, d.url)
	if err != nil {
		return nil, nil, failedErr(fmt.Errorf("database: %w", d.redact(err)))
	}
	store, err := pgrun.Open(ctx, pool, d.schema)
	if err != nil {
		pool.Close()
		if errors.Is(err, pgrun.ErrInvalidSchema) {
			return nil, nil, usageErr("--database-schema: %w", err)
		}
		return nil, nil, failedErr(fmt.Errorf("database: %w", d.redact(err)))
	}
	return store, pool, nil
}

// pgOptions maps the run flags to a database run's options.
func (rf *runFlags) pgOptions() pgrun.Options {
	o := pgrun.Options{Concurrency: rf.concurrency, StepTimeout: rf.stepTimeout, Rollback: rf.rollback}
	if rf.continueOn {
		o.Policy = upgrade.ContinueIndependent
	}
	if rf.retries > 0 {
		o.Attempts, o.Backoff = rf.retries+1, rf.retryBackoff
	}
	return o
}

// submit submits plan to store with the run flags. A run of plan there
// already, going or ended, is that run when it was submitted with the
// same run flags, and refused otherwise, with an error matching
// pgrun.ErrPlanConflict that says to give those flags: a run keeps its
// own, also when taken up again (pgrun.Store.Retry), so that the flags
// given now would be ignored. (A plan's ID hashes its content: another
// plan cannot have it.)
func (rf *runFlags) submit(ctx context.Context, store *pgrun.Store, plan *upgrade.Plan) error {
	err := store.Submit(ctx, plan, rf.pgOptions())
	if errors.Is(err, pgrun.ErrPlanConflict) {
		return fmt.Errorf("%w: the run of plan %s was submitted with other run flags (--concurrency, --continue, --retries, --retry-backoff, --step-timeout, --rollback), "+
			"which it keeps, taken up again too: give the run flags it was submitted with", pgrun.ErrPlanConflict, plan.ID)
	}
	return err
}

// checkDatabase refuses the run flags that a run through the database
// cannot honour yet.
func (rf *runFlags) checkDatabase() error {
	switch {
	case rf.exec != "" || rf.verify != "" || rf.rollbackExec != "":
		return usageErr("with --database the workers run the steps: give --exec, --verify-exec and --rollback-exec to 'stackup worker'")
	case rf.prefetch:
		return usageErr("--prefetch is not supported with --database: give the workers --repo, and each fetches and checks a step's package before it runs the step")
	}
	return nil
}

// refuseExecutor is the executor of the preflight run: it runs nothing.
type refuseExecutor struct{}

func (refuseExecutor) Execute(context.Context, upgrade.Step) error {
	return upgrade.Permanent(errors.New("stackup: the preflight ran a step; please report this"))
}

// preflight runs plan's stale check against topo, without running a step:
// upgrade.Run checks before it starts steps, and a closed stop starts none.
func preflight(ctx context.Context, plan *upgrade.Plan, opts ...upgrade.RunOption) error {
	stop := make(chan struct{})
	close(stop)
	_, err := upgrade.Run(ctx, plan, refuseExecutor{}, append(opts, upgrade.WithStop(stop))...)
	if err == nil || errors.Is(err, upgrade.ErrStopped) {
		return nil
	}
	return err
}

// startDatabase submits plan to the database, or, ended, takes its run
// up again, or, known, follows its run, and returns the sequence number of
// the last event of the run not to print (those of the run that ended).
func startDatabase(ctx context.Context, store *pgrun.Store, db *dbFlags, rf *runFlags, plan *upgrade.Plan, ended, known bool, stdout io.Writer) (int64, error) {
	var seq int64
	// A run ended is taken up with its own flags: refused if they are
	// not those given now.
	if err := rf.submit(ctx, store, plan); err != nil {
		switch {
		case errors.Is(err, pgrun.ErrPlanConflict), errors.Is(err, upgrade.ErrInvalidPlan):
			return 0, inputErr(db.redact(err))
		}
		return 0, failedErr(fmt.Errorf("database: %w", db.redact(err)))
	}
	if ended {
		// The run of this plan ended without succeeding: it is taken up
		// again, as a journal resumes a run, and its old events are not
		// printed again.
		var err error
		if seq, err = eachEvent(ctx, store, plan.ID, 0, func(pgrun.Event) {}); err != nil {
			return 0, failedErr(fmt.Errorf("database: %w", db.redact(err)))
		}
		if _, err := store.Retry(ctx, plan.ID); err != nil && !errors.Is(err, pgrun.ErrNotFinished) { // not finished: taken up since
			return 0, failedErr(fmt.Errorf("database: %w", db.redact(err)))
		}
		fmt.Fprintf(stdout, "run %s had ended without succeeding: taken up again, its steps not done run again; waiting for workers (stackup worker --plan %s)\n",
			plan.ID, plan.ID)
	} else if known { // going on, or done: nothing submitted
		fmt.Fprintf(stdout, "run %s is in schema %s already: following it\n", plan.ID, db.schema)
	} else {
		fmt.Fprintf(stdout, "submitted run %s to schema %s; waiting for workers (stackup worker --plan %s)\n", plan.ID, db.schema, plan.ID)
	}
	return seq, nil
}

// heldBy returns the plan ID of the run not finished in store whose steps
// include every step of plan, a plan no run was submitted for: plan is
// the rest of that run, planned again from a topology that learned the
// steps the run did so far (an apply of it interrupted, then run again
// with the same requests), and apply follows that run rather than submit
// another that would do its steps again; "" when there is none. A run not
// finished that has some of plan's steps, not all, is refused (exit 1):
// the two runs would each do those steps.
func heldBy(ctx context.Context, store *pgrun.Store, db *dbFlags, plan *upgrade.Plan) (string, error) {
	if len(plan.Steps) == 0 {
		return "", nil
	}
	ids, err := store.Unfinished(ctx)
	for _, id := range ids {
		var st *pgrun.Status
		if st, err = store.Status(ctx, id); err != nil {
			break
		}
		has := map[upgrade.StepID]bool{}
		for _, o := range st.Report.Outcomes {
			has[o.Step] = true
		}
		var shared []upgrade.StepID
		for _, s := range plan.Steps {
			if has[s.ID] {
				shared = append(shared, s.ID)
			}
		}
		switch {
		case len(shared) == len(plan.Steps):
			return id, nil
		case len(shared) > 0:
			return "", failedErr(fmt.Errorf("run %s, still going in the database, has steps of this plan too (%s): submitted, they would run twice; "+
				"wait for that run to end (its workers go on with it), or cancel it, then plan again", id, joinIDs(shared)))
		}
	}
	if err != nil {
		return "", failedErr(fmt.Errorf("database: %w", db.redact(err)))
	}
	return "", nil
}

// againWithRequests is what an interrupted apply --database with
// --requests adds to its advice to run it again: the topology file
// learns a run's steps only while an apply follows it, and the requests
// planned again once the run has ended find them not done.
const againWithRequests = ", while it goes on: the topology file learns its steps only while apply follows it, so that the same requests " +
	"applied once it has ended plan again the steps it did meanwhile, for another run to do them again " +
	"(an apply of a PLANFILE, from plan --out, follows its run at any time)"

// followDatabase follows the run of plan planID, printing its events
// after sequence number seq as apply prints a run's, until it has
// finished. It rides out the database's errors as the workers do, saying
// so on stderr, but for a run gone. Interrupted, it says to run the same
// apply again, and caveat.
func followDatabase(ctx context.Context, store *pgrun.Store, db *dbFlags, rf *runFlags, planID string, seq int64, caveat string, onEvent func(upgrade.Event), stdout, stderr io.Writer) error {
	start := time.Now()
	var at time.Time // the time of the event being printed
	clock := newStepClock(func() time.Time { return at })
	clock.start = start
	told := false    // that the workers with --rollback-exec roll the run back
	failing := false // that the last read failed, and apply said so
	var settle settler
	defer settle.stop()
	for {
		st, err := store.Status(ctx, planID)
		settle.start(ctx, store, st, planID)
		if err == nil {
			seq, err = eachEvent(ctx, store, planID, seq, func(ev pgrun.Event) {
				at = ev.Time
				fmt.Fprintln(stdout, clock.line(ev.Event))
				onEvent(ev.Event)
				if rf.rollback && ev.Kind == upgrade.StepFailed && !told {
					fmt.Fprintln(stdout, "the run is to be rolled back: the workers given --rollback-exec undo its steps")
					told = true
				}
			})
		}
		switch {
		case err != nil && (errors.Is(err, pgrun.ErrUnknownRun) || ctx.Err() != nil):
			return failedErr(fmt.Errorf("database: %w", db.redact(err)))
		case err != nil:
			// A restart of the database, a connection lost: the run goes
			// on with its workers, which ride it out, and so does apply,
			// as serve's follower does.
			if !failing {
				warn(stderr, "apply", fmt.Errorf("database: reading run %s failed; trying again until the database answers (the run goes on with its workers; interrupt to stop following it): %w",
					planID, db.redact(err)))
			}
			failing = true
		case st.Finished:
			at = time.Now()
			fmt.Fprintln(stdout, summary(st.Report)+clock.total())
			if len(st.InDoubt) > 0 {
				fmt.Fprintf(stdout, "in doubt (offered again after a worker was lost): %s\n", joinIDs(st.InDoubt))
			}
			if st.Err != nil {
				return failedErr(st.Err)
			}
			return nil
		default:
			failing = false
		}
		t := time.NewTimer(databasePoll)
		select {
		case <-t.C:
		case <-stopOf(ctx):
			t.Stop()
			return failedErr(fmt.Errorf("%w: stopped following run %s, which goes on with its workers; run the same apply again to follow it%s", errInterrupted, planID, caveat))
		case <-ctx.Done():
			t.Stop()
			return failedErr(context.Cause(ctx))
		}
	}
}

// A settler ends a cancelled run that a follower reads, when the workers
// of its steps running were lost: those steps fail, in doubt, once their
// leases have expired, at a claim of a worker or in pgrun.Store.Wait (see
// pgrun.Store.Cancel), never at a read of the run's status. With no
// worker left on the run, a follower reading its status would wait for
// ever; a settler has a Wait on the run beside it. The zero settler has
// none.
type settler struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// start starts the Wait on run planID, once, if st (nil after a failed
// read) says the run is cancelled and not finished.
func (t *settler) start(ctx context.Context, store *pgrun.Store, st *pgrun.Status, planID string) {
	if t.done != nil || st == nil || !st.Cancelled || st.Finished {
		return
	}
	ctx, t.cancel = context.WithCancel(ctx)
	t.done = make(chan struct{})
	go func() {
		defer close(t.done)
		store.Wait(ctx, planID, databasePoll) // what it finds, the follower reads
	}()
}

// stop ends the Wait, if any, and waits for it to return.
func (t *settler) stop() {
	if t.done != nil {
		t.cancel()
		<-t.done
	}
}

// eventPage is how many events one read of a run's events asks for.
const eventPage = 1000

// eachEvent calls f with each event of the run of plan planID after
// sequence number seq, oldest first, reading them a page at a time, and
// returns the sequence number of the last one it read (seq if none).
func eachEvent(ctx context.Context, store *pgrun.Store, planID string, seq int64, f func(pgrun.Event)) (int64, error) {
	for {
		evs, err := store.Events(ctx, planID, seq, eventPage)
		if err != nil {
			return seq, err
		}
		for _, ev := range evs {
			seq = ev.Seq
			f(ev)
		}
		if len(evs) < eventPage {
			return seq, nil
		}
	}
}

func joinIDs(ids []upgrade.StepID) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = string(id)
	}
	return strings.Join(s, ", ")
}

// applyThroughDatabase is apply's run with --database: the stale check
// here (always for a PLANFILE), then the run submitted and followed, the
// inventory learning each step's version as apply's own run does.
func applyThroughDatabase(ctx context.Context, e *env, rf *runFlags, af *applyFlags, plan *upgrade.Plan, inv *inventory, stdout, stderr io.Writer) error {
	store, pool, err := rf.db.open(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	done, ended, known, err := databaseRun(ctx, store, plan.ID)
	if err != nil {
		return failedErr(fmt.Errorf("database: %w", rf.db.redact(err)))
	}
	held := ""
	if !known {
		if held, err = heldBy(ctx, store, rf.db, plan); err != nil {
			return err
		}
	}
	if af.planFile != "" || rf.staleCheck {
		topo, _ := e.current()
		// The steps a run of the plan did may be at either end, as with
		// a journal (see upgrade.WithStaleCheck).
		opts := []upgrade.RunOption{upgrade.WithStaleCheck(topo), upgrade.WithJournal(done)}
		if err := preflight(ctx, plan, opts...); errors.Is(err, upgrade.ErrStalePlan) {
			return staleErr(err)
		} else if err != nil {
			return failedErr(err)
		}
	}
	learnCtx := context.WithoutCancel(ctx)
	var learnErr error
	onEvent := func(ev upgrade.Event) {
		if inv == nil {
			return
		}
		var err error
		switch ev.Kind {
		case upgrade.StepSucceeded:
			err = inv.Learn(learnCtx, *ev.Step)
		case upgrade.StepRolledBack: // as apply's own run: its node is back at From
			err = inv.Unlearn(learnCtx, *ev.Step)
		}
		if err != nil {
			warn(stderr, "apply", err)
			learnErr = cmp.Or(learnErr, err)
		}
	}
	planID, seq := plan.ID, int64(0)
	if held != "" {
		fmt.Fprintf(stdout, "run %s, still going in schema %s, has every step of this plan, which is the rest of it: following it\n", held, rf.db.schema)
		planID = held
	} else if seq, err = startDatabase(ctx, store, rf.db, rf, plan, ended, known, stdout); err != nil {
		return err
	}
	caveat := ""
	if af.planFile == "" && inv != nil {
		caveat = againWithRequests
	}
	if err := followDatabase(ctx, store, rf.db, rf, planID, seq, caveat, onEvent, stdout, stderr); err != nil {
		return err
	}
	if learnErr != nil {
		return failedErr(fmt.Errorf("every step succeeded, but the inventory does not say so: %w", learnErr))
	}
	return nil
}

// databaseRun returns what the run of plan planID in the database did,
// as a journal of its steps that succeeded, whether it ended without
// succeeding, and whether there is such a run at all (an empty journal
// and false, false when not).
func databaseRun(ctx context.Context, store *pgrun.Store, planID string) (done doneJournal, ended, known bool, err error) {
	st, err := store.Status(ctx, planID)
	if errors.Is(err, pgrun.ErrUnknownRun) {
		return nil, false, false, nil
	}
	if err != nil {
		return nil, false, false, err
	}
	for _, o := range st.Report.Outcomes {
		if o.State == upgrade.Succeeded {
			done = append(done, upgrade.Record{Kind: upgrade.RecordSucceeded, Step: o.Step})
		}
	}
	return done, st.Finished && st.Err != nil, true, nil
}

// doneJournal is an upgrade.Journal that holds the steps a database run
// did, for the stale check, and keeps nothing.
type doneJournal []upgrade.Record

func (j doneJournal) Begin(context.Context, string) ([]upgrade.Record, error) { return j, nil }
func (doneJournal) Append(context.Context, upgrade.Record) error              { return nil }
