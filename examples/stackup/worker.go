package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/upgrade/pgrun"
)

const workerSynopsis = `stackup worker --database URL --exec COMMAND [--verify-exec COMMAND] [--repo DIR|URL] [--plan ID] [flags]

Runs the steps of the runs that 'stackup apply --database' (or serve with
--database) submitted to the database, with --exec as apply runs them:
the same templates, environment and process groups. Any number of workers,
on any hosts, may work on one run; the run's --concurrency holds across
all of them. With --plan, the worker works on that run, waiting for it to
be submitted if it has not been yet (or, if it ended without succeeding,
to be taken up again by applying the plan again), and exits 0 once it
has finished; without, on every run not finished, until interrupted.
With --repo, a platform step's command gets its package (.PackageFile,
STACKUP_PACKAGE_FILE) as apply's does: a private copy read from the
repository and checked against the plan's digest; without, "".
A step whose worker dies is offered again, in doubt (.InDoubt,
STACKUP_IN_DOUBT=true), once its lease expires. The first SIGINT or
SIGTERM drains the worker: it claims no more steps, its running commands
finish and their outcomes are recorded, and it exits 0 ("drained: N steps
finished, nothing new claimed"), or 1 if one of them failed. A second
signal exits at once (code 130); the steps still running go back to the
other workers, in doubt, once their lease expires.`

// workerFlags are worker's flags.
type workerFlags struct {
	db                         dbFlags
	exec, verify, rollbackExec string
	repo                       string
	plan                       string
	name                       string
	slots                      int
	lease, poll, grace         time.Duration
}

func runWorker(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("worker")
	var wf workerFlags
	wf.db.register(fs)
	fs.StringVar(&wf.exec, "exec", "", "`COMMAND` run for each step, as apply's --exec (required)")
	fs.StringVar(&wf.verify, "verify-exec", "", "health check `COMMAND` run after each step, like --exec")
	fs.StringVar(&wf.rollbackExec, "rollback-exec", "", "`COMMAND` that undoes a step, like --exec")
	fs.StringVar(&wf.repo, "repo", "", "give platform steps' commands their package (.PackageFile, STACKUP_PACKAGE_FILE) from the repository `DIR|URL`, checked against the plan's digest")
	fs.StringVar(&wf.plan, "plan", "", "work on the run of plan `ID` only, and exit once it has finished")
	fs.StringVar(&wf.name, "name", "", "the worker's `NAME` in events (default host:pid)")
	fs.IntVar(&wf.slots, "slots", 1, "run up to `N` steps at once (per run)")
	fs.DurationVar(&wf.lease, "lease", pgrun.DefaultLease, "a step's lease: another worker takes it over `D` after this one is lost")
	fs.DurationVar(&wf.poll, "poll", pgrun.DefaultPoll, "look for ready steps and new runs every `D`")
	fs.DurationVar(&wf.grace, "grace", defaultGrace, "give a command cut short (its run cancelled, its lease lost, its step timed out) `D` between SIGTERM and SIGKILL")
	if code, ok := parseFlags(fs, workerSynopsis, args, stdout, stderr); !ok {
		return code
	}
	err := wf.check()
	if err != nil {
		return checkFlags(fs, workerSynopsis, err, stderr)
	}
	if err := work(ctx, &wf, stderr); err != nil {
		return report(stderr, "worker", err)
	}
	return exitOK
}

func (wf *workerFlags) check() error {
	if err := wf.db.resolve(); err != nil {
		return err
	}
	switch {
	case !wf.db.on():
		return usageErr("give --database URL (or set %s)", databaseEnv)
	case wf.exec == "":
		return usageErr("give --exec COMMAND")
	case wf.plan != "" && !planIDPattern.MatchString(wf.plan):
		return usageErr("--plan %q is not a plan ID: give the ID stackup plan or apply printed, \"sha256:\" and 64 lower-case hex digits", truncate(wf.plan))
	case !utf8.ValidString(wf.name): // which the database cannot hold (an argument holds no NUL)
		return usageErr("--name %s is not UTF-8: give a name in UTF-8, or none (host:pid)", topology.Quote(wf.name))
	case wf.slots < 1:
		return usageErr("--slots must be at least 1")
	case wf.lease <= 0: // each names its flag and value, not all three
		return usageErr("--lease %s must be positive", wf.lease)
	case wf.poll <= 0:
		return usageErr("--poll %s must be positive", wf.poll)
	case wf.grace < 0:
		return usageErr("--grace %s must not be negative (0: kill a command cut short at once)", wf.grace)
	}
	return nil
}

func work(ctx context.Context, wf *workerFlags, stderr io.Writer) error {
	cmds, err := parseCommands(wf.exec, wf.verify, wf.rollbackExec)
	if err != nil {
		return err
	}
	if err := cmds.findPrograms(); err != nil {
		return err
	}
	var repo repository
	if wf.repo != "" { // before the database: a wrong --repo is the user's to fix, whatever the database
		if repo, err = (&inputFlags{repo: wf.repo}).openRepo(); err != nil {
			return inputErr(err) // naming --repo
		}
		if c, ok := repo.(io.Closer); ok {
			defer c.Close()
		}
	}
	store, pool, err := wf.db.open(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	// The first interrupt drains the worker: it claims no more steps, and
	// those it runs go on to their end and are recorded. Waiting (for a
	// plan, for new runs) stops at once.
	drain := stopOf(ctx)
	waitCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-drain:
			cancel()
		case <-waitCtx.Done():
		}
	}()
	r := &runner{cmds: cmds, out: &lockedWriter{w: stderr}, grace: wf.grace, prefix: true}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	var tally drainTally
	opts := pgrun.WorkerOptions{Name: wf.name, Slots: wf.slots, Lease: wf.lease, Poll: wf.poll, Logger: log, Drain: drain,
		Recorded: func(planID string, step upgrade.StepID, err error) {
			if isClosed(drain) {
				tally.add(planID, step, err)
			}
		}}
	// Each run has its own copies of its packages, removed once Work has
	// returned (its steps are over): a worker that works on runs for
	// weeks keeps no copy of a run done.
	workOn := func(ctx context.Context, planID string) error {
		rr := *r
		if repo != nil {
			rr.packages = newPackageCopies(repo)
			defer rr.packages.Close()
		}
		return store.Work(ctx, planID, newRunnerWith(&rr), opts)
	}
	if wf.plan != "" {
		if err = awaitRun(waitCtx, store, wf.plan, wf.poll, log); err == nil {
			err = workOn(ctx, wf.plan)
		}
	} else {
		err = workAll(ctx, waitCtx, store, wf, workOn, log)
	}
	switch {
	case isClosed(drain) && ctx.Err() == nil:
		return tally.report(stderr)
	case errors.Is(err, pgrun.ErrUnknownRun):
		return inputErr(fmt.Errorf("--plan: %w", wf.db.redact(err)))
	case err != nil:
		return failedErr(wf.db.redact(err))
	}
	return nil
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

// A drainTally counts the steps a worker finished after its drain began
// (those it held then, or claimed as it began), and those it could not
// record. It is safe for concurrent use.
type drainTally struct {
	mu       sync.Mutex
	finished int
	failed   []drainedStep
	lost     []drainedStep
	runs     map[string]bool // of the steps tallied
}

// drainedStep names a step of a run.
type drainedStep struct {
	planID string
	step   upgrade.StepID
}

// add counts what pgrun told of step: recorded (err nil, or the step's
// failure) or not (pgrun.ErrNotRecorded).
func (t *drainTally) add(planID string, step upgrade.StepID, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := drainedStep{planID, step}
	if t.runs == nil {
		t.runs = map[string]bool{}
	}
	t.runs[planID] = true
	switch {
	case errors.Is(err, pgrun.ErrNotRecorded):
		t.lost = append(t.lost, s)
	case err != nil:
		t.finished++
		t.failed = append(t.failed, s)
	default:
		t.finished++
	}
}

// report prints how the drain went, and returns nil when every step it
// finished succeeded; an error naming the steps that failed, and those
// whose outcome it could not record, otherwise: after their runs when
// they come from several.
func (t *drainTally) report(stderr io.Writer) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	byRun := len(t.runs) > 1
	names := func(steps []drainedStep) string {
		out := make([]string, len(steps))
		for i, s := range steps {
			out[i] = string(s.step)
			if byRun {
				out[i] = "run " + s.planID + " step " + out[i]
			}
		}
		slices.Sort(out)
		return strings.Join(out, ", ")
	}
	msg := "drained: " + count(t.finished, "step") + " finished, nothing new claimed"
	if len(t.failed) == 0 && len(t.lost) == 0 {
		fmt.Fprintf(stderr, "%s worker: %s\n", programName, msg)
		return nil
	}
	if len(t.failed) > 0 {
		msg += "; failed: " + names(t.failed)
	}
	if len(t.lost) > 0 {
		msg += "; not recorded, going back to the other workers, in doubt, once their lease expires: " + names(t.lost)
	}
	return failedErr(errors.New(msg))
}

// awaitRun waits until the run of plan planID has been submitted and has
// not ended without succeeding, looking every poll, or until ctx is done:
// a worker started before the plan was submitted (a deployment's workers
// start with it) waits for it, and one started on a run that failed or
// was cancelled waits for apply to take it up again, as it would race
// that apply otherwise. A plan ID that no run can have is refused at
// once.
func awaitRun(ctx context.Context, store *pgrun.Store, planID string, poll time.Duration, log *slog.Logger) error {
	logged, ended := false, false
	for {
		st, err := store.Status(ctx, planID)
		switch {
		case err == nil && !(st.Finished && st.Err != nil):
			return nil
		case err == nil:
			if !ended {
				log.Info("the run has ended without succeeding; waiting for it to be taken up again (apply the plan again)", "plan", planID)
				ended = true
			}
		case !errors.Is(err, pgrun.ErrUnknownRun):
			if ctx.Err() != nil {
				return ctx.Err()
			}
			log.Warn("reading the run failed; trying again", "plan", planID, "err", err)
		case !logged:
			log.Info("waiting for the plan to be submitted", "plan", planID)
			logged = true
		}
		t := time.NewTimer(poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// workAll works on every run not finished, with workOn, starting on new
// ones as they are submitted, until waitCtx is done; ctx bounds the
// workOn calls, which a drain ends once their steps are.
func workAll(ctx, waitCtx context.Context, store *pgrun.Store, wf *workerFlags, workOn func(context.Context, string) error, log *slog.Logger) error {
	var wg sync.WaitGroup
	working := map[string]bool{}
	var mu sync.Mutex
	for {
		ids, err := store.Unfinished(waitCtx)
		if err != nil && waitCtx.Err() == nil {
			log.Warn("listing runs failed; trying again", "err", wf.db.redact(err))
		}
		for _, id := range ids {
			mu.Lock()
			busy := working[id]
			working[id] = true
			mu.Unlock()
			if busy || waitCtx.Err() != nil {
				continue
			}
			wg.Go(func() {
				err := workOn(ctx, id)
				if err != nil && ctx.Err() == nil && !errors.Is(err, pgrun.ErrDrained) {
					log.Warn("working on a run failed", "run", id, "err", wf.db.redact(err))
				}
				mu.Lock()
				delete(working, id)
				mu.Unlock()
			})
		}
		t := time.NewTimer(wf.poll)
		select {
		case <-waitCtx.Done():
			t.Stop()
			wg.Wait()
			return waitCtx.Err()
		case <-t.C:
		}
	}
}
