package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/upgrade/pgrun"
)

const workerSynopsis = `stackup worker --database URL --exec COMMAND [--verify-exec COMMAND] [--repo DIR|URL] [--plan ID] [flags]

Runs the steps of the runs that 'stackup apply --database' (or serve with
--database) submitted to the database, with --exec as apply runs them:
the same templates, environment and process groups. Any number of workers,
on any hosts, may work on one run; the run's --concurrency holds across
all of them. With --plan, the worker works on that run, waiting for it to
be submitted if it has not been yet, and exits 0 once it has finished; without, on every run not finished, until interrupted.
With --repo, a platform step's command gets its package (.PackageFile,
STACKUP_PACKAGE_FILE) as apply's does: a private copy read from the
repository and checked against the plan's digest; without, "".
A step whose worker dies is offered again, in doubt (.InDoubt,
STACKUP_IN_DOUBT=true), once its lease expires. The first SIGINT or
SIGTERM stops the worker: its running commands get SIGTERM, and --grace
later SIGKILL, and their steps go back to the other workers, in doubt; a
second signal exits at once (code 130).`

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
	fs.DurationVar(&wf.grace, "grace", defaultGrace, "after SIGINT or SIGTERM, give running commands `D` between SIGTERM and SIGKILL")
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
	case wf.slots < 1:
		return usageErr("--slots must be at least 1")
	case wf.lease <= 0 || wf.poll <= 0 || wf.grace < 0:
		return usageErr("--lease and --poll must be positive, --grace not negative")
	}
	return nil
}

func work(ctx context.Context, wf *workerFlags, stderr io.Writer) error {
	cmds, err := parseCommands(wf.exec, wf.verify, wf.rollbackExec)
	if err != nil {
		return err
	}
	store, pool, err := wf.db.open(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	// The first interrupt cancels the work: the commands get SIGTERM, and
	// their steps go back to the queue.
	workCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		select {
		case <-stopOf(ctx):
			cancel(errInterrupted)
		case <-workCtx.Done():
		}
	}()
	r := &runner{cmds: cmds, out: &lockedWriter{w: stderr}, grace: wf.grace, prefix: true}
	if wf.repo != "" {
		repo, err := (&inputFlags{repo: wf.repo}).openRepo()
		if err != nil {
			return inputErr(fmt.Errorf("--repo: %w", err))
		}
		if c, ok := repo.(io.Closer); ok {
			defer c.Close()
		}
		r.packages = newPackageCopies(repo)
		defer r.packages.Close() // once the steps are over: Work has returned
	}
	exec := newRunnerWith(r)
	log := slog.New(slog.NewTextHandler(stderr, nil))
	opts := pgrun.WorkerOptions{Name: wf.name, Slots: wf.slots, Lease: wf.lease, Poll: wf.poll, Logger: log}
	if wf.plan != "" {
		if err = awaitRun(workCtx, store, wf.plan, wf.poll, log); err == nil {
			err = store.Work(workCtx, wf.plan, exec, opts)
		}
	} else {
		err = workAll(workCtx, store, wf, exec, opts, log)
	}
	switch {
	case errors.Is(context.Cause(workCtx), errInterrupted):
		return failedErr(fmt.Errorf("%w: the steps this worker was running go back to the other workers, in doubt", errInterrupted))
	case errors.Is(err, pgrun.ErrUnknownRun):
		return inputErr(fmt.Errorf("--plan: %w", wf.db.redact(err)))
	case err != nil:
		return failedErr(wf.db.redact(err))
	}
	return nil
}

// awaitRun waits until the run of plan planID has been submitted, looking
// every poll, or until ctx is done: a worker started before the plan was
// submitted (a deployment's workers start with it) waits for it. A plan ID
// that no run can have is refused at once.
func awaitRun(ctx context.Context, store *pgrun.Store, planID string, poll time.Duration, log *slog.Logger) error {
	logged := false
	for {
		_, err := store.Status(ctx, planID)
		switch {
		case err == nil:
			return nil
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

// workAll works on every run not finished, starting on new ones as they
// are submitted, until ctx is done.
func workAll(ctx context.Context, store *pgrun.Store, wf *workerFlags, exec upgrade.Executor, opts pgrun.WorkerOptions, log *slog.Logger) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	working := map[string]bool{}
	var mu sync.Mutex
	for {
		ids, err := store.Unfinished(ctx)
		if err != nil && ctx.Err() == nil {
			log.Warn("listing runs failed; trying again", "err", wf.db.redact(err))
		}
		for _, id := range ids {
			mu.Lock()
			busy := working[id]
			working[id] = true
			mu.Unlock()
			if busy {
				continue
			}
			wg.Go(func() {
				err := store.Work(ctx, id, exec, opts)
				if err != nil && ctx.Err() == nil {
					log.Warn("working on a run failed", "run", id, "err", wf.db.redact(err))
				}
				mu.Lock()
				delete(working, id)
				mu.Unlock()
			})
		}
		t := time.NewTimer(wf.poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}
