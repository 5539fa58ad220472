//go:build unix

package upgrade_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/upgrade"
)

// The crash test runs a plan in a child process (this test binary, running
// TestCrashHelper), kills the child with SIGKILL at a chosen step and
// point, then resumes the plan in another child and checks what was
// executed, through a ledger the executor keeps.
const (
	crashHelperEnv = "STACKUP_CRASH_HELPER" // "1" in a child
	crashDirEnv    = "STACKUP_CRASH_DIR"    // where the journal, ledger and report go
	crashStepEnv   = "STACKUP_CRASH_STEP"   // the step at which the child kills itself
	crashPointEnv  = "STACKUP_CRASH_POINT"  // one of crashPoints; empty: no kill

	crashInstances = 7 // shop instances: 3 steps each
)

// The points at which a child kills itself:
//   - before: in Execute, before the step is carried out (appended to the
//     ledger); the journal has recorded the step as started;
//   - after-exec: in Execute, once the step is carried out, before the
//     journal records it as succeeded;
//   - after-record: on the StepSucceeded event, once the journal holds the
//     success.
var crashPoints = []string{"before", "after-exec", "after-record"}

// crashOutcome is what a child writes of its report.
type crashOutcome struct {
	Step    upgrade.StepID `json:"step"`
	State   string         `json:"state"`
	Resumed bool           `json:"resumed"`
}

// TestCrashHelper is not a test: it is the child process of
// TestCrashResume, and returns at once unless run as one.
func TestCrashHelper(t *testing.T) {
	if os.Getenv(crashHelperEnv) != "1" {
		return
	}
	dir := os.Getenv(crashDirEnv)
	killAt := upgrade.StepID(os.Getenv(crashStepEnv))
	point := os.Getenv(crashPointEnv)
	require.NotEmpty(t, dir)
	require.True(t, point == "" || slices.Contains(crashPoints, point), "unknown crash point %q", point)

	plan := shopPlan(t, crashInstances)
	if point != "" {
		_, ok := plan.Step(killAt)
		require.True(t, ok, "no step %s", killAt)
	}
	kill := func() {
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		time.Sleep(time.Minute) // the signal is on its way
	}

	ledger, err := os.OpenFile(filepath.Join(dir, "ledger"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	require.NoError(t, err)
	defer ledger.Close()
	execute := upgrade.ExecutorFunc(func(ctx context.Context, s upgrade.Step) error {
		if point == "before" && s.ID == killAt {
			kill()
		}
		if _, err := fmt.Fprintf(ledger, "%s %t\n", s.ID, upgrade.InDoubt(ctx)); err != nil {
			return err
		}
		if err := ledger.Sync(); err != nil {
			return err
		}
		if point == "after-exec" && s.ID == killAt {
			kill()
		}
		return nil
	})
	events := func(e upgrade.Event) {
		if point == "after-record" && e.Kind == upgrade.StepSucceeded && e.Step.ID == killAt {
			kill()
		}
	}

	j, err := upgrade.OpenFileJournal(filepath.Join(dir, "journal"))
	require.NoError(t, err)
	report, err := upgrade.Run(context.Background(), plan, execute,
		upgrade.WithJournal(j), upgrade.WithConcurrency(1), upgrade.WithEvents(events))
	require.NoError(t, err)
	require.NoError(t, j.Close())
	require.Empty(t, point, "the run should have been killed at %s %s", point, killAt)

	outcomes := make([]crashOutcome, len(report.Outcomes))
	for i, o := range report.Outcomes {
		outcomes[i] = crashOutcome{Step: o.Step, State: o.State.String(), Resumed: o.Resumed}
	}
	data, err := json.Marshal(outcomes)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "report.json"), data, 0o644))
}

// crashChild runs TestCrashHelper in a child process on dir, killing itself
// at step killAt and point, or not at all when point is empty. It returns
// the child's output and error (nil for exit status 0).
func crashChild(exe, dir string, killAt upgrade.StepID, point string) (string, error) {
	cmd := exec.Command(exe, "-test.run=^TestCrashHelper$", "-test.count=1", "-test.timeout=2m")
	cmd.Env = append(os.Environ(),
		crashHelperEnv+"=1", crashDirEnv+"="+dir, crashStepEnv+"="+string(killAt), crashPointEnv+"="+point)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// killedBySIGKILL reports whether err says the process died of SIGKILL.
func killedBySIGKILL(err error) bool {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

// crashLedgerEntry is one line of the ledger: a step the executor carried
// out, and whether it was in doubt then.
type crashLedgerEntry struct {
	Step    upgrade.StepID
	InDoubt bool
}

func crashReadLedger(t require.TestingT, dir string) []crashLedgerEntry {
	data, err := os.ReadFile(filepath.Join(dir, "ledger"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	require.NoError(t, err)
	var entries []crashLedgerEntry
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		id, doubt, ok := strings.Cut(sc.Text(), " ")
		require.True(t, ok, "bad ledger line %q", sc.Text())
		b, err := strconv.ParseBool(doubt)
		require.NoError(t, err, "bad ledger line %q", sc.Text())
		entries = append(entries, crashLedgerEntry{upgrade.StepID(id), b})
	}
	require.NoError(t, sc.Err())
	require.True(t, len(data) == 0 || data[len(data)-1] == '\n', "the ledger ends in a torn line")
	return entries
}

// crashReadJournal reads a FileJournal's file by hand, without taking its
// lock or cutting it: the header's plan and the complete records.
func crashReadJournal(t require.TestingT, dir string) (plan string, recs []upgrade.Record) {
	data, err := os.ReadFile(filepath.Join(dir, "journal"))
	require.NoError(t, err)
	lines := strings.Split(string(data), "\n")
	lines = lines[:len(lines)-1] // after the last newline: empty or torn
	require.NotEmpty(t, lines, "the journal has no header")
	var header struct {
		Plan string `json:"plan"`
	}
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &header))
	for _, l := range lines[1:] {
		var r upgrade.Record
		require.NoError(t, json.Unmarshal([]byte(l), &r), "journal line %q", l)
		recs = append(recs, r)
	}
	return header.Plan, recs
}

// crashLastKinds returns, per step, the kind of its last record.
func crashLastKinds(recs []upgrade.Record) map[upgrade.StepID]upgrade.RecordKind {
	last := map[upgrade.StepID]upgrade.RecordKind{}
	for _, r := range recs {
		last[r.Step] = r.Kind
	}
	return last
}

func crashStepsOf(entries []crashLedgerEntry) []upgrade.StepID {
	out := make([]upgrade.StepID, len(entries))
	for i, e := range entries {
		out[i] = e.Step
	}
	return out
}

func TestCrashResume(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the plan in 120-odd child processes")
	}
	if os.Getenv(crashHelperEnv) == "1" {
		t.Skip("in a child")
	}
	start := time.Now()
	exe, err := os.Executable()
	require.NoError(t, err)
	plan := shopPlan(t, crashInstances)
	require.GreaterOrEqual(t, len(plan.Steps), 20)

	// A run without a crash: what every resumed run must add up to.
	baseDir := t.TempDir()
	out, err := crashChild(exe, baseDir, "", "")
	require.NoError(t, err, "the child without a crash failed:\n%s", out)
	baseline := crashReadLedger(t, baseDir)
	order := crashStepsOf(baseline) // the execution order at concurrency 1
	require.ElementsMatch(t, ids(plan), order, "the run without a crash executes every step once")
	for _, e := range baseline {
		require.False(t, e.InDoubt, "step %s in doubt without a crash", e.Step)
	}
	_, err = os.Stat(filepath.Join(baseDir, "journal.lock"))
	require.ErrorIs(t, err, os.ErrNotExist, "the lock is released at the end of a run")

	type crashCase struct {
		point string
		k     int
	}
	var cases []crashCase
	for _, point := range crashPoints {
		for k := range order {
			cases = append(cases, crashCase{point, k})
		}
	}

	var tried, resumed atomic.Int64
	// Run the cases on a few workers: the children spend their time in fsync.
	work := make(chan crashCase)
	var wg sync.WaitGroup
	var mu sync.Mutex // guards failed
	var failed []string
	for range max(8, 2*runtime.NumCPU()) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range work {
				name := fmt.Sprintf("%s/%02d_%s", c.point, c.k, order[c.k])
				tried.Add(1)
				if errs := crashCheck(exe, plan, order, c.point, c.k); len(errs) > 0 {
					mu.Lock()
					failed = append(failed, name+":\n\t"+strings.Join(errs, "\n\t"))
					mu.Unlock()
					continue
				}
				resumed.Add(1)
			}
		}()
	}
	for _, c := range cases {
		work <- c
	}
	close(work)
	wg.Wait()

	slices.Sort(failed)
	for _, f := range failed {
		t.Error(f)
	}
	t.Logf("crash points tried: %d (%d steps × %d points); resumed correctly: %d; in %v",
		tried.Load(), len(order), len(crashPoints), resumed.Load(), time.Since(start).Round(time.Millisecond))
	assert.Equal(t, int64(len(cases)), tried.Load())
	assert.Equal(t, tried.Load(), resumed.Load())
}

// crashCheck kills a child at step order[k] and point, resumes in another
// child and returns what went wrong.
func crashCheck(exe string, plan *upgrade.Plan, order []upgrade.StepID, point string, k int) (errs []string) {
	fail := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	// The checks use require on a throwaway T so that a failure ends this
	// case only; its messages are collected.
	ct := &crashT{}
	func() {
		defer func() {
			if r := recover(); r != nil && r != (crashFailNow{}) {
				panic(r)
			}
		}()
		crashCheckCase(ct, exe, plan, order, point, k, fail)
	}()
	return append(errs, ct.msgs...)
}

// crashT is a require.TestingT that stops the case by panicking.
type crashT struct{ msgs []string }

type crashFailNow struct{}

func (c *crashT) Errorf(format string, args ...any) {
	c.msgs = append(c.msgs, strings.ReplaceAll(fmt.Sprintf(format, args...), "\n", "\n\t"))
}
func (c *crashT) FailNow() { panic(crashFailNow{}) }

func crashCheckCase(t *crashT, exe string, plan *upgrade.Plan, order []upgrade.StepID, point string, k int, fail func(string, ...any)) {
	dir, err := os.MkdirTemp("", "stackup-crash-")
	require.NoError(t, err)
	defer os.RemoveAll(dir)
	killAt := order[k]

	// The crash.
	out, err := crashChild(exe, dir, killAt, point)
	require.True(t, killedBySIGKILL(err), "the child was not killed by SIGKILL: %v\n%s", err, out)
	_, err = os.Stat(filepath.Join(dir, "journal.lock"))
	require.NoError(t, err, "the killed child left no lock behind")

	// What was durable at the crash.
	before := crashReadLedger(t, dir)
	planID, recs := crashReadJournal(t, dir)
	require.Equal(t, plan.ID, planID)
	last := crashLastKinds(recs)
	succeededBefore := map[upgrade.StepID]bool{}
	var unfinished []upgrade.StepID
	for id, kind := range last {
		switch kind {
		case upgrade.RecordSucceeded:
			succeededBefore[id] = true
		case upgrade.RecordStarted:
			unfinished = append(unfinished, id)
		default:
			fail("step %s recorded as %s before the crash", id, kind)
		}
	}
	slices.Sort(unfinished)
	executed := k // steps carried out before the crash
	var wantInDoubt []upgrade.StepID
	if point == "before" || point == "after-exec" {
		wantInDoubt = []upgrade.StepID{killAt}
	}
	if point != "before" {
		executed = k + 1
	}
	wantSucceeded := k
	if point == "after-record" {
		wantSucceeded = k + 1
	}
	assert.Equal(t, order[:executed], crashStepsOf(before), "the ledger at the crash")
	assert.Equal(t, wantInDoubt, unfinished, "steps started but not finished at the crash")
	assert.Len(t, succeededBefore, wantSucceeded, "steps recorded as succeeded at the crash")
	for _, id := range order[:wantSucceeded] {
		assert.True(t, succeededBefore[id], "step %s done before the crash but not recorded", id)
	}

	// The resumed run.
	out, err = crashChild(exe, dir, "", "")
	require.NoError(t, err, "the resumed child failed:\n%s", out)
	all := crashReadLedger(t, dir)
	require.GreaterOrEqual(t, len(all), len(before))
	assert.True(t, slices.Equal(before, all[:len(before)]), "the ledger before the crash was changed")
	after := all[len(before):]

	var inDoubtAfter []upgrade.StepID
	for _, e := range after {
		assert.False(t, succeededBefore[e.Step], "step %s recorded as succeeded before the crash ran again", e.Step)
		if e.InDoubt {
			inDoubtAfter = append(inDoubtAfter, e.Step)
		}
	}
	assert.Equal(t, wantInDoubt, inDoubtAfter, "steps executed in doubt after the crash")

	count := map[upgrade.StepID]int{}
	for i, e := range all {
		count[e.Step]++
		s, ok := plan.Step(e.Step)
		if !assert.True(t, ok, "unknown step %s in the ledger", e.Step) {
			continue
		}
		for _, a := range s.After {
			assert.True(t, slices.Contains(crashStepsOf(all[:i]), a), "step %s ran before %s, which it comes after", e.Step, a)
		}
	}
	for _, id := range order {
		switch {
		case count[id] == 0:
			fail("step %s never executed", id)
		case count[id] > 1 && !slices.Contains(wantInDoubt, id):
			fail("step %s executed %d times, but it was not in doubt", id, count[id])
		case count[id] > 2:
			fail("step %s executed %d times", id, count[id])
		}
	}
	assert.ElementsMatch(t, order, slices.Collect(maps.Keys(count)), "the steps executed in all differ from a run without a crash")

	// The resumed run's report and journal.
	data, err := os.ReadFile(filepath.Join(dir, "report.json"))
	require.NoError(t, err)
	var outcomes []crashOutcome
	require.NoError(t, json.Unmarshal(data, &outcomes))
	require.Len(t, outcomes, len(plan.Steps))
	for _, o := range outcomes {
		assert.Equal(t, "succeeded", o.State, "step %s", o.Step)
		assert.Equal(t, succeededBefore[o.Step], o.Resumed, "step %s: resumed", o.Step)
	}
	_, recs = crashReadJournal(t, dir)
	for _, id := range order {
		assert.Equal(t, upgrade.RecordSucceeded, crashLastKinds(recs)[id], "step %s in the final journal", id)
	}
	_, err = os.Stat(filepath.Join(dir, "journal.lock"))
	assert.ErrorIs(t, err, os.ErrNotExist, "the resumed run released the lock")
}
