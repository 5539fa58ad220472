package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/stackup/stackup/upgrade"
)

// runFlags say how to run a plan; apply and serve share them.
type runFlags struct {
	exec, verify, rollbackExec string
	cmds                       *scripts // parsed by check
	concurrency                int
	canaries                   int
	maxInFlight                string
	continueOn                 bool
	retries                    int
	retryBackoff               time.Duration
	stepTimeout                time.Duration
	grace                      time.Duration
	rollback                   bool
	prefetch                   bool
	staleCheck                 bool
}

func (rf *runFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&rf.exec, "exec", "", "`COMMAND` run for each step, without a shell: words, each a template giving one argument (required)")
	fs.StringVar(&rf.verify, "verify-exec", "", "health check `COMMAND` run after each step, like --exec")
	fs.StringVar(&rf.rollbackExec, "rollback-exec", "", "`COMMAND` that undoes a step, like --exec (with --rollback)")
	fs.IntVar(&rf.concurrency, "concurrency", 1, "run up to `N` steps at once")
	fs.IntVar(&rf.canaries, "canaries", 0, "roll out `N` instances of each application template first")
	fs.StringVar(&rf.maxInFlight, "max-in-flight", "", "then the other instances in batches of `N or P%`")
	fs.BoolVar(&rf.continueOn, "continue", false, "after a failure, go on with the steps that do not depend on it")
	fs.IntVar(&rf.retries, "retries", 0, "retry a failed step `N` times")
	fs.DurationVar(&rf.retryBackoff, "retry-backoff", time.Second, "wait `D` before the first retry, twice as long before each next")
	fs.DurationVar(&rf.stepTimeout, "step-timeout", 0, "bound each attempt of a step to `D` (0: no bound)")
	fs.DurationVar(&rf.grace, "grace", time.Minute, "after SIGINT or SIGTERM, give running steps `D` to finish, then stop them (0: at once)")
	fs.BoolVar(&rf.rollback, "rollback", false, "when the run fails, undo the steps done with --rollback-exec, last first")
	fs.BoolVar(&rf.prefetch, "prefetch", false, "fetch and verify every package before the first step")
	fs.BoolVar(&rf.staleCheck, "stale-check", false, "refuse to run when a node's version is not the one the plan expects")
}

// check reports a missing or contradictory flag.
func (rf *runFlags) check() error {
	switch {
	case rf.exec == "":
		return usageErr("give --exec COMMAND")
	case rf.rollback && rf.rollbackExec == "":
		return usageErr("--rollback needs --rollback-exec COMMAND")
	case rf.rollbackExec != "" && !rf.rollback:
		return usageErr("--rollback-exec needs --rollback")
	case rf.concurrency < 1:
		return usageErr("--concurrency must be at least 1")
	case rf.canaries < 0:
		return usageErr("--canaries must not be negative")
	case rf.retries < 0:
		return usageErr("--retries must not be negative")
	case rf.retryBackoff < 0 || rf.stepTimeout < 0 || rf.grace < 0:
		return usageErr("durations must not be negative")
	}
	if rf.maxInFlight != "" {
		n, err := strconv.Atoi(strings.TrimSuffix(rf.maxInFlight, "%"))
		if err != nil || n < 1 || (strings.HasSuffix(rf.maxInFlight, "%") && n > 100) {
			return usageErr("--max-in-flight %q: want a count or a percentage, such as 2 or 25%%", rf.maxInFlight)
		}
	}
	cmds, err := parseCommands(rf.exec, rf.verify, rf.rollbackExec)
	if err != nil {
		return err
	}
	rf.cmds = &cmds
	return nil
}

// scripts returns the commands that check parsed, or parses them.
func (rf *runFlags) scripts() (scripts, error) {
	if rf.cmds != nil {
		return *rf.cmds, nil
	}
	return parseCommands(rf.exec, rf.verify, rf.rollbackExec)
}

// roll applies the rolling strategy, if any, to plan.
func (rf *runFlags) roll(plan *upgrade.Plan) (*upgrade.Plan, error) {
	if rf.canaries == 0 && rf.maxInFlight == "" {
		return plan, nil
	}
	rolled, err := plan.Roll(upgrade.Rolling{Canaries: rf.canaries, MaxInFlight: rf.maxInFlight})
	if err != nil {
		return nil, usageErr("rolling: %w", err)
	}
	return rolled, nil
}

// options returns the run options the flags ask for, with e's topology
// and repository for the stale check and the prefetch, and the first
// interrupt that ctx carries as the run's stop.
func (rf *runFlags) options(ctx context.Context, e *env) []upgrade.RunOption {
	opts := []upgrade.RunOption{upgrade.WithConcurrency(rf.concurrency)}
	if stop := stopOf(ctx); stop != nil {
		opts = append(opts, upgrade.WithStop(stop))
	}
	if rf.continueOn {
		opts = append(opts, upgrade.WithFailurePolicy(upgrade.ContinueIndependent))
	}
	if rf.retries > 0 {
		opts = append(opts, upgrade.WithRetry(rf.retries+1, rf.retryBackoff, 0))
	}
	if rf.stepTimeout > 0 {
		opts = append(opts, upgrade.WithStepTimeout(rf.stepTimeout))
	}
	if rf.rollback {
		opts = append(opts, upgrade.WithRollback())
	}
	// Every platform step gets a verified private copy of its package,
	// made before the first step with --prefetch.
	opts = append(opts, upgrade.WithPackages(e.repo, ""))
	if rf.prefetch {
		opts = append(opts, upgrade.WithPrefetch(e.repo))
	}
	if rf.staleCheck {
		opts = append(opts, upgrade.WithStaleCheck(e.topo))
	}
	return opts
}

const applySynopsis = `stackup apply (--topology FILE | --tosca FILE --instances FILE) --repo DIR|URL --requests FILE --exec COMMAND [flags]

Plans the requests, prints the plan, and runs it: for each step, the
--exec command, such as 'deploy --node {{.Node}} --to {{.To}}', runs
without a shell. Its words are split once, at startup, with quotes but no
expansion; each word after the program is a template rendered with the
step (fields .ID .Kind .App .Node .Template .Type .From .To .Package
.NewTemplate .Reason .InDoubt .PackageFile) into exactly one argument.
For a shell, run one: sh -c 'deploy "$STACKUP_NODE"'. A non-zero exit
fails the step; .PackageFile is a checked private copy of the package.
With --journal, running the same apply again resumes where the last run
stopped.`

func runApply(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := newRunCommand("apply", applySynopsis, true)
	journal := c.fs.String("journal", "", "record progress in `FILE`; apply again with it to resume")
	quiet := c.fs.Bool("quiet", false, "do not print the plan")
	if code, ok := c.parse(args, stdout, stderr); !ok {
		return code
	}
	if err := apply(ctx, &c.in, &c.rf, *journal, *quiet, stdout, stderr); err != nil {
		return report(stderr, "apply", err)
	}
	return exitOK
}

// runCommand is the flag handling that apply and serve share: the input
// flags (with a request file when requests is set) and the run flags,
// beside the command's own.
type runCommand struct {
	fs       *flag.FlagSet
	synopsis string
	requests bool
	in       inputFlags
	rf       runFlags
}

func newRunCommand(name, synopsis string, requests bool) *runCommand {
	c := &runCommand{fs: newFlagSet(name), synopsis: synopsis, requests: requests}
	c.in.register(c.fs, requests)
	c.rf.register(c.fs)
	return c
}

// parse parses and checks args; ok is false when the command should
// return code.
func (c *runCommand) parse(args []string, stdout, stderr io.Writer) (code int, ok bool) {
	if code, ok := parseFlags(c.fs, c.synopsis, args, stdout, stderr); !ok {
		return code, false
	}
	err := c.in.check(c.requests)
	if err == nil {
		err = c.rf.check()
	}
	if err != nil {
		return checkFlags(c.fs, c.synopsis, err, stderr), false
	}
	return 0, true
}

func apply(ctx context.Context, in *inputFlags, rf *runFlags, journalPath string, quiet bool, stdout, stderr io.Writer) error {
	cmds, err := rf.scripts()
	if err != nil {
		return err
	}
	e, plan, err := makePlan(ctx, in)
	if err != nil {
		return err
	}
	defer e.Close()
	if plan, err = rf.roll(plan); err != nil {
		return err
	}
	if err := cmds.check(plan); err != nil {
		return err
	}
	if !quiet {
		if err := plan.WriteText(stdout); err != nil {
			return err
		}
		fmt.Fprintln(stdout)
	}

	opts := rf.options(ctx, e)
	if journalPath != "" {
		j, err := upgrade.OpenFileJournal(journalPath)
		if err != nil {
			return failedErr(err)
		}
		defer j.Close()
		opts = append(opts, upgrade.WithJournal(j))
	}
	opts = append(opts, upgrade.WithEvents(func(ev upgrade.Event) { fmt.Fprintln(stdout, progressLine(ev)) }))
	runCtx, cancel := afterStop(ctx, rf.grace)
	defer cancel()
	rep, err := upgrade.Run(runCtx, plan, newExecutor(cmds, stderr), opts...)
	if rep != nil {
		fmt.Fprintln(stdout, summary(rep))
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, upgrade.ErrStopped) || errors.Is(context.Cause(runCtx), errInterrupted):
		if errors.Is(context.Cause(runCtx), errInterrupted) {
			err = fmt.Errorf("%w: running steps stopped after --grace %v: %w", errInterrupted, rf.grace, err)
		}
		if journalPath != "" {
			return failedErr(fmt.Errorf("%w; to resume, run the same command again with --journal %s", err, journalPath))
		}
		return failedErr(fmt.Errorf("%w; without --journal, a new apply starts over from the first step", err))
	case errors.Is(err, upgrade.ErrPlanMismatch), errors.Is(err, upgrade.ErrCorruptJournal), errors.Is(err, upgrade.ErrInvalidPlan):
		return inputErr(err)
	}
	return failedErr(err)
}

// eventVerbs are the words of the progress lines, of one width.
var eventVerbs = map[upgrade.EventKind]string{
	upgrade.StepStarted:    "start ",
	upgrade.StepRetrying:   "retry ",
	upgrade.StepSucceeded:  "done  ",
	upgrade.StepFailed:     "FAILED",
	upgrade.StepSkipped:    "skip  ",
	upgrade.StepRolledBack: "undone",
}

// progressLine describes an event in one line, such as
// "[3/8] done   platform/tomcat-1@10.1.34".
func progressLine(ev upgrade.Event) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[%d/%d] %s %s", ev.Done, ev.Total, eventVerbs[ev.Kind], ev.Step.ID)
	switch {
	case ev.Kind == upgrade.StepStarted && ev.InDoubt:
		b.WriteString(" (in doubt: an earlier run was interrupted during this step)")
	case ev.Kind == upgrade.StepRetrying:
		fmt.Fprintf(&b, " (attempt %d): %v", ev.Attempt, ev.Err)
	case ev.Err != nil:
		fmt.Fprintf(&b, ": %v", ev.Err)
	}
	return b.String()
}

// summary counts the outcomes of a run, such as
// "8 succeeded, 0 failed, 0 skipped, 0 rolled back".
func summary(rep *upgrade.Report) string {
	resumed := 0
	for _, o := range rep.Outcomes {
		if o.Resumed && o.State == upgrade.Succeeded {
			resumed++
		}
	}
	s := fmt.Sprintf("%d succeeded", rep.Count(upgrade.Succeeded))
	if resumed > 0 {
		s += fmt.Sprintf(" (%d in an earlier run)", resumed)
	}
	s += fmt.Sprintf(", %d failed, %d skipped, %d rolled back", rep.Count(upgrade.Failed), rep.Count(upgrade.Skipped), rep.Count(upgrade.RolledBack))
	if n := failedThenRolledBack(rep); n > 0 {
		s += fmt.Sprintf(" (%d of them after failing)", n)
	}
	if n := rep.Count(upgrade.NotStarted); n > 0 {
		s += fmt.Sprintf(", %d not started", n)
	}
	return s
}

// failedThenRolledBack counts the steps that failed and were then rolled
// back: their outcome keeps the failure.
func failedThenRolledBack(rep *upgrade.Report) int {
	n := 0
	for _, o := range rep.Outcomes {
		if o.State == upgrade.RolledBack && o.Err != nil {
			n++
		}
	}
	return n
}
