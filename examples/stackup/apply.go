package main

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/stackup/stackup/topology"
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
	// db, when not nil, are the --database flags: with a database, the
	// workers run the commands, which are not given here.
	db *dbFlags
}

func (rf *runFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&rf.exec, "exec", "", "`COMMAND` run for each step, without a shell: words, each a template giving one argument (required; with --database, give it to 'stackup worker' instead)")
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
	fs.BoolVar(&rf.rollback, "rollback", false, "when the run fails, undo the steps done with --rollback-exec (with --database, the workers'), last first")
	fs.BoolVar(&rf.prefetch, "prefetch", false, "fetch and verify every package before the first step")
	fs.BoolVar(&rf.staleCheck, "stale-check", false, "refuse to run when a node's version is not the one the plan expects")
}

// check reports a missing or contradictory flag.
func (rf *runFlags) check() error {
	if rf.db != nil {
		if err := rf.db.resolve(); err != nil {
			return err
		}
		if rf.db.on() {
			if err := rf.checkDatabase(); err != nil {
				return err
			}
		}
	}
	database := rf.db != nil && rf.db.on()
	switch {
	case rf.exec == "" && !database:
		return usageErr("give --exec COMMAND, or --database URL for 'stackup worker' processes to run the steps")
	case rf.rollback && rf.rollbackExec == "" && !database: // with --database, the workers' --rollback-exec
		return usageErr("--rollback needs --rollback-exec COMMAND")
	case rf.rollbackExec != "" && !rf.rollback:
		return usageErr("--rollback-exec needs --rollback")
	case rf.concurrency < 1:
		return usageErr("--concurrency must be at least 1")
	case rf.canaries < 0:
		return usageErr("--canaries must not be negative")
	case rf.retries < 0:
		return usageErr("--retries must not be negative")
	case rf.retries > maxRetries:
		return usageErr("--retries %d: at most %d", rf.retries, maxRetries)
	case rf.retryBackoff < 0: // each names its flag: "durations" left the user to guess which
		return usageErr("--retry-backoff %s must not be negative", rf.retryBackoff)
	case rf.stepTimeout < 0:
		return usageErr("--step-timeout %s must not be negative (0: no bound)", rf.stepTimeout)
	case rf.grace < 0:
		return usageErr("--grace %s must not be negative (0: stop running steps at once)", rf.grace)
	}
	if rf.maxInFlight != "" {
		n, err := strconv.Atoi(strings.TrimSuffix(rf.maxInFlight, "%"))
		if err != nil || n < 1 || (strings.HasSuffix(rf.maxInFlight, "%") && n > 100) {
			return usageErr("--max-in-flight %q: want a count or a percentage, such as 2 or 25%%", rf.maxInFlight)
		}
	}
	if database {
		return nil
	}
	cmds, err := parseCommands(rf.exec, rf.verify, rf.rollbackExec)
	if err != nil {
		return err
	}
	if err := cmds.findPrograms(); err != nil {
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
		topo, _ := e.current()
		opts = append(opts, upgrade.WithStaleCheck(topo))
	}
	return opts
}

// maxRetries is the most --retries allows: a step tried a thousand times
// is not going to succeed, and a larger count would overflow.
const maxRetries = 1000

const applySynopsis = `stackup apply [PLANFILE] (--topology FILE | --tosca FILE --instances FILE) --repo DIR|URL [--requests FILE] --exec COMMAND [flags]

Plans the requests, prints the plan, and runs it; or, given PLANFILE (a
plan saved by 'stackup plan --out'), runs exactly that plan, after checking
it against the topology, with its journal in PLANFILE.journal. On a
terminal, apply asks before running anything (--yes does not ask). For
each step, the --exec command, such as 'deploy --node {{.Node}} --to
{{.To}}', runs without a shell. Its words are split once, at startup, with
quotes but no expansion; each word after the program is a template
rendered with the step (fields .ID .Kind .App .Node .Template .Type .From
.To .Package .NewTemplate .Reason .InDoubt .PackageFile) into exactly one
argument. For a shell, run one: sh -c 'deploy "$STACKUP_NODE"'. A non-zero
exit fails the step; .PackageFile is a checked private copy of the
package. After each step, the topology file (or the TOSCA instance file)
records the node's new version (--learn=false: not). With --journal,
running the same apply again resumes where the last run stopped.`

// applyFlags are apply's own flags.
type applyFlags struct {
	planFile string // the positional PLANFILE, or ""
	journal  string
	quiet    bool
	yes      bool
	learn    optionalBool
}

// optionalBool is a boolean flag whose default depends on other flags: it
// tells whether it was given, and its help states the default itself (the
// flag package would print a single "(default true)").
type optionalBool struct{ value, given bool }

func (b *optionalBool) String() string   { return "" }
func (b *optionalBool) IsBoolFlag() bool { return true }

func (b *optionalBool) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return errors.New("want true or false")
	}
	b.value, b.given = v, true
	return nil
}

// or returns the value given, or def when none was.
func (b *optionalBool) or(def bool) bool {
	if b.given {
		return b.value
	}
	return def
}

func runApply(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := newRunCommand("apply", applySynopsis, true)
	var af applyFlags
	c.fs.StringVar(&af.journal, "journal", "", "record progress in `FILE`; apply again with it to resume (default with PLANFILE: PLANFILE.journal)")
	c.fs.BoolVar(&af.quiet, "quiet", false, "do not print the plan (but when asking for confirmation)")
	c.fs.BoolVar(&af.yes, "yes", false, "run without asking for confirmation on a terminal")
	c.fs.Var(&af.learn, "learn", "after each step, record the node's new version in the topology (or instance) file\n(default true; false with --requests and --journal, whose resume replans from the same topology)")
	c.planFile = &af.planFile
	c.rf.db = &dbFlags{}
	c.rf.db.register(c.fs)
	if code, ok := c.parse(args, stdout, stderr); !ok {
		return code
	}
	if err := apply(ctx, &c.in, &c.rf, &af, stdout, stderr); err != nil {
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
	// planFile, when set, receives the one positional argument allowed,
	// anywhere among the flags; with it, --requests is refused.
	planFile *string
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
	if c.planFile != nil {
		var positional []string
		args, positional = splitArgs(c.fs, args)
		if len(positional) > 1 {
			return checkFlags(c.fs, c.synopsis, fmt.Errorf("unexpected argument %q: give one plan file", positional[1]), stderr), false
		}
		if len(positional) == 1 {
			*c.planFile = positional[0]
		}
	}
	if code, ok := parseFlags(c.fs, c.synopsis, args, stdout, stderr); !ok {
		return code, false
	}
	requests := c.requests
	var err error
	if c.planFile != nil && *c.planFile != "" {
		requests = false
		if c.in.requests != "" {
			err = usageErr("a plan file and --requests exclude each other: the plan file is what runs")
		}
	}
	if err == nil {
		err = c.in.check(requests)
	}
	if err == nil {
		err = c.rf.check()
	}
	if err != nil {
		return checkFlags(c.fs, c.synopsis, err, stderr), false
	}
	return 0, true
}

// splitArgs separates the flags of fs in args from the positional
// arguments, which may come anywhere among them (or after "--"). Values
// are parsed into stand-ins: parse parses the flags for real.
func splitArgs(fs *flag.FlagSet, args []string) (flags, positional []string) {
	probe := newFlagSet(fs.Name())
	fs.VisitAll(func(f *flag.Flag) {
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			probe.Bool(f.Name, false, "")
		} else {
			probe.String(f.Name, "", "")
		}
	})
	rest := args
	for {
		if err := probe.Parse(rest); err != nil {
			return args, nil // parse reports it
		}
		n := len(rest) - probe.NArg()
		flags = append(flags, rest[:n]...)
		switch {
		case probe.NArg() == 0:
			return flags, positional
		case n > 0 && rest[n-1] == "--":
			return flags[:len(flags)-1], append(positional, probe.Args()...)
		}
		positional = append(positional, probe.Arg(0))
		rest = probe.Args()[1:]
	}
}

// readPlanFile reads a plan saved by plan --out.
func readPlanFile(path string) (*upgrade.Plan, error) {
	f, err := topology.OpenRegular(path)
	if err != nil {
		return nil, inputErr(fmt.Errorf("plan file: %w", err))
	}
	defer f.Close()
	plan, err := upgrade.ReadJSON(f)
	if err != nil {
		return nil, inputErr(fmt.Errorf("plan file %s: %w; make a new one with stackup plan --out", path, err))
	}
	return plan, nil
}

func apply(ctx context.Context, in *inputFlags, rf *runFlags, af *applyFlags, stdout, stderr io.Writer) error {
	database := rf.db != nil && rf.db.on()
	if database && af.journal != "" {
		return usageErr("--journal and --database exclude each other: the database keeps the run, and applying the same plan again follows it")
	}
	journalPath := af.journal
	if journalPath == "" && af.planFile != "" {
		journalPath = af.planFile + ".journal"
	}
	var cmds scripts
	var err error
	if !database {
		if cmds, err = rf.scripts(); err != nil {
			return err
		}
		if err := checkJournal(journalPath, af.journal != ""); err != nil {
			return err
		}
		// The database keeps runs of one node apart; here, one apply at
		// a time runs on a deployment.
		unlock, err := lockRuns(in)
		if err != nil {
			return failedErr(err)
		}
		defer unlock()
	}
	var e *env
	var plan *upgrade.Plan
	if af.planFile != "" {
		if plan, err = readPlanFile(af.planFile); err != nil {
			return err
		}
		if e, err = loadEnv(ctx, in); err != nil {
			return err
		}
	} else if e, plan, err = makePlan(ctx, in); err != nil {
		return err
	}
	defer e.Close()
	if plan, err = rf.roll(plan); err != nil {
		return err
	}
	if !database {
		if err := cmds.check(plan); err != nil {
			return err
		}
	}
	var inv *inventory
	if af.learn.or(af.planFile != "" || af.journal == "") {
		inv = newInventory(in)
		if err := cmp.Or(inv.Ready(), inv.Admits(plan)); err != nil {
			return inputErr(err)
		}
	}
	ask := !af.yes && len(plan.Steps) > 0 && stdinOf(ctx) != nil && isTerminal(stdinOf(ctx))
	// The plan is the output, unless --quiet; the question, and with
	// --quiet the plan it asks about, are for the person at the terminal,
	// on standard error: standard output may be going to a file.
	var show io.Writer
	switch {
	case !af.quiet:
		show = stdout
	case ask:
		show = stderr
	}
	if show != nil {
		if err := plan.WriteText(show); err != nil {
			return err
		}
		fmt.Fprintln(show)
	}
	if ask {
		if err := confirm(ctx, stdinOf(ctx), stderr, len(plan.Steps)); err != nil {
			return err
		}
	}

	if database {
		return applyThroughDatabase(ctx, e, rf, af, plan, inv, stdout, stderr)
	}
	opts := rf.options(ctx, e)
	if af.planFile != "" && !rf.staleCheck {
		topo, _ := e.current()
		opts = append(opts, upgrade.WithStaleCheck(topo)) // a saved plan is always checked
	}
	var newJournal *upgrade.FileJournal // made by this apply, and removed if the plan is refused before it runs
	if journalPath != "" {
		_, statErr := os.Lstat(journalPath)
		j, err := upgrade.OpenFileJournal(journalPath)
		if err != nil {
			return failedErr(err)
		}
		defer j.Close()
		if errors.Is(statErr, fs.ErrNotExist) {
			newJournal = j
		}
		opts = append(opts, upgrade.WithJournal(j))
	}
	learnCtx := context.WithoutCancel(ctx) // record what was done, even when interrupted
	var learnErr error
	learn := func(err error) {
		if err != nil {
			warn(stderr, "apply", err)
			learnErr = cmp.Or(learnErr, err)
		}
	}
	clock := newStepClock(time.Now)
	var rec *recorder
	if inv != nil {
		rec = newRecorder(inv.LearnAll, inv.UnlearnAll)
	}
	opts = append(opts, upgrade.WithEvents(func(ev upgrade.Event) {
		fmt.Fprintln(stdout, clock.line(ev))
		if rec != nil {
			rec.event(ev)
		}
	}))
	runCtx, cancel := afterStop(ctx, rf.grace)
	defer cancel()
	rep, err := upgrade.Run(runCtx, plan, newExecutorWith(cmds, stderr, rf.concurrency > 1, rf.stepTimeout), opts...)
	if rec != nil {
		for _, err := range rec.Wait() {
			learn(err)
		}
	}
	if rep != nil {
		if inv != nil {
			learnResumed(learnCtx, inv, plan, rep, learn)
		}
		fmt.Fprintln(stdout, summary(rep)+clock.total())
	}
	switch {
	case err == nil:
		if learnErr != nil {
			return failedErr(fmt.Errorf("every step succeeded, but the inventory does not say so: %w", learnErr))
		}
		return nil
	case errors.Is(err, upgrade.ErrStopped) || errors.Is(context.Cause(runCtx), errInterrupted):
		if errors.Is(context.Cause(runCtx), errInterrupted) {
			err = fmt.Errorf("%w: running steps stopped after --grace %v: %w", errInterrupted, rf.grace, err)
		}
		switch {
		case af.planFile != "":
			return failedErr(fmt.Errorf("%w; to resume, run the same command again (journal %s)", err, journalPath))
		case journalPath != "":
			return failedErr(fmt.Errorf("%w; to resume, run the same command again with --journal %s", err, journalPath))
		}
		return failedErr(fmt.Errorf("%w; without --journal, a new apply starts over from the first step", err))
	case errors.Is(err, upgrade.ErrPlanMismatch), errors.Is(err, upgrade.ErrCorruptJournal), errors.Is(err, upgrade.ErrInvalidPlan):
		return inputErr(err)
	case errors.Is(err, upgrade.ErrStalePlan):
		if newJournal != nil { // it holds only its header: leave nothing behind
			os.Remove(journalPath) // while holding it, so that no other apply has it locked
			os.Remove(journalPath + ".lock")
			newJournal.Close()
		}
		return staleErr(err)
	}
	return failedErr(err)
}

// staleErr is the error of a run refused by the stale check (err), saying
// what to do.
func staleErr(err error) error {
	return failedErr(fmt.Errorf("%w; nothing ran: plan again from the topology as it is (stackup plan --out FILE) and apply that", err))
}

// checkJournal refuses, as invalid input, a journal path that names
// something other than a regular file, such as a directory or a device
// (following a symbolic link, as opening the journal does); given says
// whether --journal named it, or else PLANFILE.journal. A path that names
// nothing yet is a new journal, refused as well when --journal named it in
// a directory that does not exist; an error reading it is left to opening the journal to report.
func checkJournal(path string, given bool) error {
	if path == "" {
		return nil
	}
	info, err := os.Stat(path)
	if given && errors.Is(err, fs.ErrNotExist) { // PLANFILE.journal's directory is PLANFILE's, which reading it checks
		return checkParentDir("--journal", path)
	}
	if err != nil || info.Mode().IsRegular() {
		return nil
	}
	if given {
		return inputErr(fmt.Errorf("--journal %s: not a regular file (%s): give the path of a journal, or of a new file", path, fileKind(info.Mode())))
	}
	return inputErr(fmt.Errorf("journal %s: not a regular file (%s): move it away, or give --journal FILE", path, fileKind(info.Mode())))
}

// learnResumed records the version of every node whose last step done was
// done by an earlier run, whose write a crash may have lost.
func learnResumed(ctx context.Context, inv *inventory, plan *upgrade.Plan, rep *upgrade.Report, learn func(error)) {
	last := map[topology.NodeID]int{}
	var order []topology.NodeID
	for i, o := range rep.Outcomes {
		if o.State != upgrade.Succeeded {
			continue
		}
		n := plan.Steps[i].Node
		if _, ok := last[n]; !ok {
			order = append(order, n)
		}
		last[n] = i
	}
	for _, n := range order {
		if i := last[n]; rep.Outcomes[i].Resumed {
			learn(inv.Learn(ctx, plan.Steps[i]))
		}
	}
}

// confirm shows the question and reads one line from in: anything but y
// or yes, or an interrupt, is a no.
func confirm(ctx context.Context, in io.Reader, out io.Writer, n int) error {
	steps := "these " + strconv.Itoa(n) + " steps"
	if n == 1 {
		steps = "this step"
	}
	fmt.Fprintf(out, "Apply %s? [y/N] ", steps)
	answer := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(in).ReadString('\n')
		answer <- line
	}()
	var a string
	select {
	case a = <-answer:
	case <-stopOf(ctx):
		fmt.Fprintln(out)
		return failedErr(errors.New("not applied: interrupted; nothing ran"))
	}
	switch strings.ToLower(strings.TrimSpace(a)) {
	case "y", "yes":
		return nil
	}
	if !strings.HasSuffix(a, "\n") {
		fmt.Fprintln(out)
	}
	return failedErr(fmt.Errorf("not applied: the answer was %q, not yes; nothing ran", strings.TrimSpace(a)))
}

// eventVerbs are the words of the progress lines, of one width.
var eventVerbs = map[upgrade.EventKind]string{
	upgrade.StepStarted:        "start ",
	upgrade.StepRetrying:       "retry ",
	upgrade.StepSucceeded:      "done  ",
	upgrade.StepFailed:         "FAILED",
	upgrade.StepSkipped:        "skip  ",
	upgrade.StepRolledBack:     "undone",
	upgrade.StepRollbackFailed: "KEPT  ",
	upgrade.StepWaiting:        "wait  ",
}

// progressLine describes an event in one line, such as
// "[3/8] done   platform/tomcat-1@10.1.34"; took, when not negative, is
// how long the step took, added as "  (2.1s)".
func progressLine(ev upgrade.Event, took time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[%d/%d] %s %s", ev.Done, ev.Total, eventVerbs[ev.Kind], ev.Step.ID)
	if took >= 0 {
		fmt.Fprintf(&b, "  (%s)", formatDuration(took))
	}
	switch {
	case ev.Kind == upgrade.StepStarted && ev.InDoubt:
		b.WriteString(" (in doubt: an earlier run was interrupted during this step)")
	case ev.Kind == upgrade.StepRetrying:
		fmt.Fprintf(&b, " (attempt %d)", ev.Attempt)
		if ev.Err != nil { // a database run's event has none for an error without text
			fmt.Fprintf(&b, ": %s", topology.Printable(ev.Err.Error()))
		}
	case ev.Kind == upgrade.StepWaiting && ev.WaitingFor != nil: // a database run's step, whose node another run holds
		fmt.Fprintf(&b, ": node %s is held by step %s of plan %s", topology.Printable(string(ev.WaitingFor.Node)),
			topology.Printable(string(ev.WaitingFor.Step)), topology.Printable(ev.WaitingFor.Plan))
	case ev.Err != nil:
		fmt.Fprintf(&b, ": %s", topology.Printable(ev.Err.Error()))
	}
	return b.String()
}

// formatDuration rounds d for people: 850ms, 2.1s, 1m5s.
func formatDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// stepClock times the steps of a run from its events, with now as the
// clock (time.Now; tests may give another).
type stepClock struct {
	now     func() time.Time
	start   time.Time
	started map[upgrade.StepID]time.Time
}

func newStepClock(now func() time.Time) *stepClock {
	return &stepClock{now: now, start: now(), started: map[upgrade.StepID]time.Time{}}
}

// line is the progress line of ev, with how long the step took when it
// ends.
func (c *stepClock) line(ev upgrade.Event) string {
	took := time.Duration(-1)
	switch ev.Kind {
	case upgrade.StepStarted:
		c.started[ev.Step.ID] = c.now()
	case upgrade.StepSucceeded, upgrade.StepFailed:
		if t, ok := c.started[ev.Step.ID]; ok {
			took = c.now().Sub(t)
		}
	}
	return progressLine(ev, took)
}

// total is "; D in all", how long the run has taken.
func (c *stepClock) total() string {
	return "; " + formatDuration(c.now().Sub(c.start)) + " in all"
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

// printableLines is topology.Printable, keeping line breaks and tabs: the
// layout of an error that joins several.
func printableLines(s string) string {
	lines := strings.Split(s, "\n")
	for i, line := range lines {
		parts := strings.Split(line, "\t")
		for k, p := range parts {
			parts[k] = topology.Printable(p)
		}
		lines[i] = strings.Join(parts, "\t")
	}
	return strings.Join(lines, "\n")
}
