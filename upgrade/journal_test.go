package upgrade_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/upgrade"
)

// jrOpen opens a FileJournal at path and closes it when the test ends
// unless the test closed it itself.
func jrOpen(t *testing.T, path string) *upgrade.FileJournal {
	t.Helper()
	j, err := upgrade.OpenFileJournal(path)
	require.NoError(t, err)
	t.Cleanup(func() { _ = j.Close() })
	return j
}

// jrPath returns a fresh journal path in a temporary directory.
func jrPath(t *testing.T) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "run.journal")
}

// jrLines returns the lines of the file at path, each without its
// newline, and whether the file ends with a newline.
func jrLines(t *testing.T, path string) (lines []string, endsWithNewline bool) {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	if len(data) == 0 {
		return nil, true
	}
	endsWithNewline = data[len(data)-1] == '\n'
	return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n"), endsWithNewline
}

func jrRec(kind upgrade.RecordKind, step upgrade.StepID) upgrade.Record {
	return upgrade.Record{Kind: kind, Step: step, Time: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)}
}

// jrSteps returns "kind step" for each record, for readable comparisons.
func jrSteps(recs []upgrade.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = string(r.Kind) + " " + string(r.Step)
	}
	return out
}

// jrAppendRaw appends raw bytes to the file at path, as a crash in the middle
// of a write could leave them.
func jrAppendRaw(t *testing.T, path, raw string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	_, err = f.WriteString(raw)
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

// jrSeed writes a journal for plan holding recs, and closes it.
func jrSeed(t *testing.T, path, plan string, recs ...upgrade.Record) {
	t.Helper()
	j, err := upgrade.OpenFileJournal(path)
	require.NoError(t, err)
	got, err := j.Begin(context.Background(), plan)
	require.NoError(t, err)
	require.Empty(t, got, "jrSeed wants a new journal")
	for _, r := range recs {
		require.NoError(t, j.Append(context.Background(), r))
	}
	require.NoError(t, j.Close())
}

// jrRecorder records every step it runs with whether it ran in doubt,
// and fails the steps named in fail.
type jrRecorder struct {
	mu      sync.Mutex
	ran     []upgrade.StepID
	inDoubt map[upgrade.StepID]bool
	fail    map[upgrade.StepID]error
}

func (r *jrRecorder) Execute(ctx context.Context, s upgrade.Step) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ran = append(r.ran, s.ID)
	if r.inDoubt == nil {
		r.inDoubt = map[upgrade.StepID]bool{}
	}
	if upgrade.InDoubt(ctx) {
		r.inDoubt[s.ID] = true
	}
	return r.fail[s.ID]
}

// TestFileJournalRefusesPlanWithoutID: a plan without an ID is refused
// before its first step, its journal left empty; its header could not
// name it, and a resume would find the journal corrupt.
func TestFileJournalRefusesPlanWithoutID(t *testing.T) {
	path := jrPath(t)
	j := jrOpen(t, path)
	plan := shopPlan(t, 1)
	plan.ID = ""
	ex := &jrRecorder{}
	report, err := upgrade.Run(context.Background(), plan, ex, upgrade.WithJournal(j))
	require.ErrorIs(t, err, upgrade.ErrInvalidPlan)
	assert.ErrorContains(t, err, "the plan has no ID, which a file journal is kept by: set Plan.ID to Plan.ComputeID()")
	assert.Nil(t, report)
	assert.Empty(t, ex.ran)
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Empty(t, data)
}

func TestFileJournalNewWritesHeader(t *testing.T) {
	path := jrPath(t)
	j := jrOpen(t, path)
	recs, err := j.Begin(context.Background(), "sha256:plan-a")
	require.NoError(t, err)
	assert.Empty(t, recs, "a new journal holds no records")

	lines, nl := jrLines(t, path)
	require.Len(t, lines, 1, "a new journal holds only the header")
	assert.True(t, nl, "the header ends with a newline")
	var header map[string]any
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &header))
	assert.Equal(t, "sha256:plan-a", header["plan"])

	// Beginning again with the same plan still finds nothing and keeps one header.
	recs, err = j.Begin(context.Background(), "sha256:plan-a")
	require.NoError(t, err)
	assert.Empty(t, recs)
	lines, _ = jrLines(t, path)
	assert.Len(t, lines, 1)
}

func TestFileJournalAppendAndReopen(t *testing.T) {
	path := jrPath(t)
	want := []upgrade.Record{
		jrRec(upgrade.RecordStarted, "platform/java-1@21.0.2"),
		jrRec(upgrade.RecordSucceeded, "platform/java-1@21.0.2"),
		jrRec(upgrade.RecordStarted, "platform/tomcat-1@10.1.34"),
		jrRec(upgrade.RecordFailed, "platform/tomcat-1@10.1.34"),
		jrRec(upgrade.RecordRolledBack, "platform/java-1@21.0.2"),
	}
	jrSeed(t, path, "sha256:plan-a", want...)

	lines, nl := jrLines(t, path)
	assert.Len(t, lines, 1+len(want), "a header and one line per record")
	assert.True(t, nl)

	j := jrOpen(t, path)
	got, err := j.Begin(context.Background(), "sha256:plan-a")
	require.NoError(t, err)
	require.Len(t, got, len(want))
	for i := range want {
		assert.Equal(t, want[i].Kind, got[i].Kind, "record %d", i)
		assert.Equal(t, want[i].Step, got[i].Step, "record %d", i)
		assert.True(t, want[i].Time.Equal(got[i].Time), "record %d: time %v, want %v", i, got[i].Time, want[i].Time)
	}

	// Appending after a resume goes after the old records.
	require.NoError(t, j.Append(context.Background(), jrRec(upgrade.RecordStarted, "app/shop-1@2.0.0")))
	require.NoError(t, j.Close())
	j2 := jrOpen(t, path)
	got, err = j2.Begin(context.Background(), "sha256:plan-a")
	require.NoError(t, err)
	assert.Equal(t, append(jrSteps(want), "started app/shop-1@2.0.0"), jrSteps(got))
}

func TestFileJournalAppendIsDurable(t *testing.T) {
	path := jrPath(t)
	j := jrOpen(t, path)
	_, err := j.Begin(context.Background(), "sha256:plan-a")
	require.NoError(t, err)
	for i := 1; i <= 3; i++ {
		step := upgrade.StepID(fmt.Sprintf("step-%d", i))
		require.NoError(t, j.Append(context.Background(), jrRec(upgrade.RecordStarted, step)))
		// Another handle, without closing or syncing j, sees the whole line.
		lines, nl := jrLines(t, path)
		require.Len(t, lines, 1+i)
		assert.True(t, nl, "every appended line ends with a newline")
		var r upgrade.Record
		require.NoError(t, json.Unmarshal([]byte(lines[i]), &r))
		assert.Equal(t, step, r.Step)
		assert.Equal(t, upgrade.RecordStarted, r.Kind)
	}
}

func TestFileJournalPlanMismatch(t *testing.T) {
	plan := shopPlan(t, 1)
	path := jrPath(t)
	jrSeed(t, path, "sha256:another-plan", jrRec(upgrade.RecordSucceeded, plan.Steps[0].ID))
	before, err := os.ReadFile(path)
	require.NoError(t, err)

	j := jrOpen(t, path)
	_, err = j.Begin(context.Background(), plan.ID)
	require.ErrorIs(t, err, upgrade.ErrPlanMismatch)
	assert.Contains(t, err.Error(), "sha256:another-plan")

	ex := &jrRecorder{}
	report, err := upgrade.Run(context.Background(), plan, ex, upgrade.WithJournal(j))
	require.ErrorIs(t, err, upgrade.ErrPlanMismatch)
	assert.Nil(t, report)
	assert.Empty(t, ex.ran, "a journal of another plan runs nothing")

	after, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, string(before), string(after), "the other plan's journal is left alone")
}

func TestFileJournalTornLastLine(t *testing.T) {
	good := []upgrade.Record{
		jrRec(upgrade.RecordStarted, "a"),
		jrRec(upgrade.RecordSucceeded, "a"),
	}
	whole, err := json.Marshal(jrRec(upgrade.RecordStarted, "b"))
	require.NoError(t, err)
	tests := []struct {
		name string
		torn string
	}{
		{"half a line", string(whole[:len(whole)/2])},
		{"whole JSON without newline", string(whole)},
		{"one byte", "{"},
		{"zeros", "\x00\x00\x00\x00"},
		// The line break and the page before it synced, the start of the
		// record not: zeros, or the record's end, then a line break.
		{"zeros and a line break", "\x00\x00\x00\x00\x00\x00\n"},
		{"an end and a line break", string(whole[len(whole)/2:]) + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := jrPath(t)
			jrSeed(t, path, "sha256:plan-a", good...)
			intact, err := os.ReadFile(path)
			require.NoError(t, err)
			jrAppendRaw(t, path, tt.torn)

			j := jrOpen(t, path)
			got, err := j.Begin(context.Background(), "sha256:plan-a")
			require.NoError(t, err)
			assert.Equal(t, jrSteps(good), jrSteps(got), "the torn line is ignored")

			cut, err := os.ReadFile(path)
			require.NoError(t, err)
			assert.Equal(t, string(intact), string(cut), "the torn line is cut off")

			require.NoError(t, j.Append(context.Background(), jrRec(upgrade.RecordStarted, "c")))
			lines, nl := jrLines(t, path)
			assert.True(t, nl)
			for i, l := range lines {
				assert.True(t, json.Valid([]byte(l)), "line %d is not valid JSON: %q", i+1, l)
			}
			require.NoError(t, j.Close())

			j2 := jrOpen(t, path)
			got, err = j2.Begin(context.Background(), "sha256:plan-a")
			require.NoError(t, err)
			assert.Equal(t, append(jrSteps(good), "started c"), jrSteps(got))
		})
	}
}

func TestFileJournalTornHeader(t *testing.T) {
	path := jrPath(t)
	require.NoError(t, os.WriteFile(path, []byte(`{"plan":"sha256:pl`), 0o644))
	j := jrOpen(t, path)
	got, err := j.Begin(context.Background(), "sha256:plan-a")
	require.NoError(t, err)
	assert.Empty(t, got)
	lines, nl := jrLines(t, path)
	assert.True(t, nl)
	require.Len(t, lines, 1)
	assert.JSONEq(t, `{"plan":"sha256:plan-a"}`, lines[0])
}

func TestFileJournalCorrupt(t *testing.T) {
	line := func(r upgrade.Record) string {
		b, err := json.Marshal(r)
		require.NoError(t, err)
		return string(b) + "\n"
	}
	a, b := line(jrRec(upgrade.RecordStarted, "a")), line(jrRec(upgrade.RecordSucceeded, "a"))
	tests := []struct {
		name, content string
	}{
		{"malformed middle line", `{"plan":"p"}` + "\n" + a + "not json\n" + b},
		{"record without step", `{"plan":"p"}` + "\n" + a + `{"kind":"started"}` + "\n" + b},
		{"record without kind", `{"plan":"p"}` + "\n" + a + `{"step":"a"}` + "\n" + b},
		{"empty middle line", `{"plan":"p"}` + "\n" + a + "\n" + b},
		{"bad header", "garbage\n" + a},
		{"header without plan", `{"plan":""}` + "\n" + a},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := jrPath(t)
			require.NoError(t, os.WriteFile(path, []byte(tt.content), 0o644))
			j := jrOpen(t, path)
			got, err := j.Begin(context.Background(), "p")
			require.ErrorIs(t, err, upgrade.ErrCorruptJournal)
			assert.Nil(t, got)
			assert.Contains(t, err.Error(), path)
			if strings.Contains(tt.name, "middle") || strings.HasPrefix(tt.name, "record") {
				assert.Contains(t, err.Error(), "is not a record, and records follow it: move the journal aside to start over")
			}
			after, rerr := os.ReadFile(path)
			require.NoError(t, rerr)
			assert.Equal(t, tt.content, string(after), "a corrupt journal is not changed")
		})
	}
}

func TestFileJournalLock(t *testing.T) {
	needFlock(t)
	path := jrPath(t)
	j, err := upgrade.OpenFileJournal(path)
	require.NoError(t, err)
	_, err = os.Stat(path + ".lock")
	require.NoError(t, err, "the lock file sits beside the journal")

	_, err = upgrade.OpenFileJournal(path)
	require.ErrorIs(t, err, upgrade.ErrLocked)
	var le *upgrade.LockError
	require.ErrorAs(t, err, &le)
	assert.Equal(t, path, le.Path, "the lock is on the journal itself")
	pid := fmt.Sprintf("pid %d", os.Getpid())
	assert.Contains(t, le.Holder, pid)
	assert.Contains(t, err.Error(), pid)
	host, _ := os.Hostname()
	assert.Contains(t, err.Error(), host)

	require.NoError(t, j.Close())
	_, err = os.Stat(path + ".lock")
	require.ErrorIs(t, err, os.ErrNotExist, "Close releases the lock")

	j2, err := upgrade.OpenFileJournal(path)
	require.NoError(t, err, "after Close the journal can be opened again")
	require.NoError(t, j2.Close())
}

// jrWriteLock writes a lock file by hand, as another runner would have.
func jrWriteLock(t *testing.T, path string, pid int, host string) {
	t.Helper()
	data, err := json.Marshal(map[string]any{"pid": pid, "host": host, "since": time.Now().UTC().Add(-time.Hour)})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path+".lock", data, 0o644))
}

// jrDeadPID returns the ID of a process that has run and exited.
func jrDeadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skipf("cannot run true: %v", err)
	}
	return cmd.ProcessState.Pid()
}

func TestFileJournalStaleLockTakenOver(t *testing.T) {
	needFlock(t)
	path := jrPath(t)
	host, err := os.Hostname()
	require.NoError(t, err)
	dead := jrDeadPID(t)
	jrWriteLock(t, path, dead, host)

	j, err := upgrade.OpenFileJournal(path)
	require.NoError(t, err, "a lock left by a dead process is taken over")
	data, err := os.ReadFile(path + ".lock")
	require.NoError(t, err)
	var lock struct {
		PID  int    `json:"pid"`
		Host string `json:"host"`
	}
	require.NoError(t, json.Unmarshal(data, &lock))
	assert.Equal(t, os.Getpid(), lock.PID, "the lock now names this process")
	assert.Equal(t, host, lock.Host)

	_, err = upgrade.OpenFileJournal(path)
	require.ErrorIs(t, err, upgrade.ErrLocked, "the taken-over lock holds")
	require.NoError(t, j.Close())
}

func TestFileJournalLockWithoutHolderTakenOver(t *testing.T) {
	needFlock(t)
	// A lock is held by a live process's flock, not by what the file says:
	// a file that no process holds is taken over, whatever it names.
	host, err := os.Hostname()
	require.NoError(t, err)
	tests := map[string]func(path string){
		"own pid":        func(path string) { jrWriteLock(t, path, os.Getpid(), host) },
		"another host":   func(path string) { jrWriteLock(t, path, jrDeadPID(t), host+"-elsewhere") },
		"unreadable":     func(path string) { require.NoError(t, os.WriteFile(path+".lock", []byte("held by hand\n"), 0o644)) },
		"empty (torn)":   func(path string) { require.NoError(t, os.WriteFile(path+".lock", nil, 0o644)) },
		"no file at all": func(string) {},
	}
	for name, write := range tests {
		t.Run(name, func(t *testing.T) {
			path := jrPath(t)
			write(path)
			j, err := upgrade.OpenFileJournal(path)
			require.NoError(t, err)
			data, err := os.ReadFile(path + ".lock")
			require.NoError(t, err)
			assert.Contains(t, string(data), fmt.Sprintf(`"pid":%d`, os.Getpid()), "the lock now names this process")
			require.NoError(t, j.Close())
		})
	}
}

func TestFileJournalLockRace(t *testing.T) {
	needFlock(t)
	// Runners opening one journal at once, over a lock left by a dead
	// process: exactly one wins, every time.
	for trial := range 30 {
		path := jrPath(t)
		jrWriteLock(t, path, jrDeadPID(t), "somewhere")
		var (
			mu      sync.Mutex
			winners []*upgrade.FileJournal
			start   = make(chan struct{})
			wg      sync.WaitGroup
		)
		for range 8 {
			wg.Go(func() {
				<-start
				j, err := upgrade.OpenFileJournal(path)
				if err == nil {
					mu.Lock()
					winners = append(winners, j)
					mu.Unlock()
				} else {
					assert.ErrorIs(t, err, upgrade.ErrLocked)
				}
			})
		}
		close(start)
		wg.Wait()
		require.Len(t, winners, 1, "trial %d", trial)
		require.NoError(t, winners[0].Close())
	}
}

func TestFileJournalCloseTwice(t *testing.T) {
	path := jrPath(t)
	j1, err := upgrade.OpenFileJournal(path)
	require.NoError(t, err)
	require.NoError(t, j1.Close())
	j2, err := upgrade.OpenFileJournal(path)
	require.NoError(t, err)
	require.NoError(t, j1.Close(), "closing again does nothing")
	_, err = upgrade.OpenFileJournal(path)
	require.ErrorIs(t, err, upgrade.ErrLocked, "a second Close of an old holder does not release the new holder's lock")
	require.NoError(t, j2.Close())
}

func TestRunResumesAfterFailure(t *testing.T) {
	plan := shopPlan(t, 2)
	path := jrPath(t)
	boom := errors.New("disk full")
	failing := plan.Steps[2].ID // platform/tomcat-1@10.1.34, after both java steps

	j, err := upgrade.OpenFileJournal(path)
	require.NoError(t, err)
	first := &jrRecorder{fail: map[upgrade.StepID]error{failing: boom}}
	_, err = upgrade.Run(context.Background(), plan, first, upgrade.WithJournal(j), upgrade.WithFailurePolicy(upgrade.FailFast))
	require.ErrorIs(t, err, boom)
	require.Equal(t, ids(plan)[:3], first.ran)
	require.NoError(t, j.Close())

	j = jrOpen(t, path)
	second := &jrRecorder{}
	var events []upgrade.Event
	report, err := upgrade.Run(context.Background(), plan, second, upgrade.WithJournal(j),
		upgrade.WithEvents(func(e upgrade.Event) { events = append(events, e) }))
	require.NoError(t, err)
	assert.Equal(t, ids(plan)[2:], second.ran, "steps that succeeded before are not run again")
	assert.Empty(t, second.inDoubt, "a step that failed is not in doubt")
	for i, o := range report.Outcomes {
		assert.Equal(t, upgrade.Succeeded, o.State, "step %s", o.Step)
		assert.Equal(t, i < 2, o.Resumed, "step %s resumed", o.Step)
		if o.Resumed {
			assert.Zero(t, o.Attempts, "step %s resumed but executed", o.Step)
		} else {
			assert.Equal(t, 1, o.Attempts, "step %s", o.Step)
		}
	}
	for _, e := range events {
		assert.False(t, e.InDoubt, "event %v for %s", e.Kind, e.Step.ID)
		assert.Equal(t, len(plan.Steps), e.Total)
	}

	// A third run finds everything done and runs nothing.
	require.NoError(t, j.Close())
	j = jrOpen(t, path)
	third := &jrRecorder{}
	report, err = upgrade.Run(context.Background(), plan, third, upgrade.WithJournal(j))
	require.NoError(t, err)
	assert.Empty(t, third.ran)
	assert.Equal(t, len(plan.Steps), report.Count(upgrade.Succeeded))
	for _, o := range report.Outcomes {
		assert.True(t, o.Resumed, "step %s", o.Step)
	}
}

func TestRunResumesStepInDoubt(t *testing.T) {
	plan := shopPlan(t, 2)
	path := jrPath(t)
	s := ids(plan)
	jrSeed(t, path, plan.ID,
		jrRec(upgrade.RecordStarted, s[0]),
		jrRec(upgrade.RecordSucceeded, s[0]),
		jrRec(upgrade.RecordStarted, s[1]), // then a crash
	)

	j := jrOpen(t, path)
	ex := &jrRecorder{}
	var startedInDoubt []upgrade.StepID
	report, err := upgrade.Run(context.Background(), plan, ex, upgrade.WithJournal(j),
		upgrade.WithEvents(func(e upgrade.Event) {
			if e.Kind == upgrade.StepStarted && e.InDoubt {
				startedInDoubt = append(startedInDoubt, e.Step.ID)
			}
		}))
	require.NoError(t, err)
	assert.Equal(t, s[1:], ex.ran, "the step in doubt is offered again, and the rest run")
	assert.Equal(t, map[upgrade.StepID]bool{s[1]: true}, ex.inDoubt, "only the unfinished step is in doubt")
	assert.Equal(t, []upgrade.StepID{s[1]}, startedInDoubt)
	o, _ := report.Outcome(s[0])
	assert.True(t, o.Resumed)
	o, _ = report.Outcome(s[1])
	assert.False(t, o.Resumed)
	assert.Equal(t, upgrade.Succeeded, o.State)
	require.NoError(t, j.Close())

	// The journal now records the in-doubt step as finished: nothing is in doubt any more.
	j = jrOpen(t, path)
	recs, err := j.Begin(context.Background(), plan.ID)
	require.NoError(t, err)
	last := map[upgrade.StepID]upgrade.RecordKind{}
	for _, r := range recs {
		last[r.Step] = r.Kind
	}
	for _, id := range s {
		assert.Equal(t, upgrade.RecordSucceeded, last[id], "step %s", id)
	}
}

func TestRunInDoubtAfterEarlierFailure(t *testing.T) {
	// A step that failed once, then started again and was cut short, is in doubt.
	plan := shopPlan(t, 1)
	path := jrPath(t)
	s := ids(plan)
	jrSeed(t, path, plan.ID,
		jrRec(upgrade.RecordStarted, s[0]),
		jrRec(upgrade.RecordFailed, s[0]),
		jrRec(upgrade.RecordStarted, s[0]),
	)
	j := jrOpen(t, path)
	ex := &jrRecorder{}
	_, err := upgrade.Run(context.Background(), plan, ex, upgrade.WithJournal(j))
	require.NoError(t, err)
	assert.Equal(t, s, ex.ran)
	assert.Equal(t, map[upgrade.StepID]bool{s[0]: true}, ex.inDoubt)
}

func TestRunJournalUnknownStep(t *testing.T) {
	plan := shopPlan(t, 1)
	path := jrPath(t)
	jrSeed(t, path, plan.ID,
		jrRec(upgrade.RecordStarted, plan.Steps[0].ID),
		jrRec(upgrade.RecordSucceeded, plan.Steps[0].ID),
		jrRec(upgrade.RecordSucceeded, "platform/ghost-1@1.0.0"),
	)
	j := jrOpen(t, path)
	ex := &jrRecorder{}
	report, err := upgrade.Run(context.Background(), plan, ex, upgrade.WithJournal(j))
	require.ErrorIs(t, err, upgrade.ErrPlanMismatch)
	assert.Contains(t, err.Error(), "platform/ghost-1@1.0.0")
	assert.Nil(t, report)
	assert.Empty(t, ex.ran)
}

func TestRunCorruptJournalRunsNothing(t *testing.T) {
	plan := shopPlan(t, 1)
	path := jrPath(t)
	jrSeed(t, path, plan.ID, jrRec(upgrade.RecordStarted, plan.Steps[0].ID))
	jrAppendRaw(t, path, "oops\n")
	jrAppendRaw(t, path, string(jrMust(json.Marshal(jrRec(upgrade.RecordSucceeded, plan.Steps[0].ID))))+"\n")
	j := jrOpen(t, path)
	ex := &jrRecorder{}
	report, err := upgrade.Run(context.Background(), plan, ex, upgrade.WithJournal(j))
	require.ErrorIs(t, err, upgrade.ErrCorruptJournal)
	assert.Nil(t, report)
	assert.Empty(t, ex.ran)
}

// jrFailingJournal fails every Append after the first n.
type jrFailingJournal struct {
	n    int
	recs []upgrade.Record
}

func (j *jrFailingJournal) Begin(context.Context, string) ([]upgrade.Record, error) { return nil, nil }

func (j *jrFailingJournal) Append(_ context.Context, r upgrade.Record) error {
	if len(j.recs) >= j.n {
		return errors.New("journal disk gone")
	}
	j.recs = append(j.recs, r)
	return nil
}

func TestRunJournalAppendFails(t *testing.T) {
	plan := shopPlan(t, 1)
	t.Run("started not recorded", func(t *testing.T) {
		ex := &jrRecorder{}
		_, err := upgrade.Run(context.Background(), plan, ex, upgrade.WithJournal(&jrFailingJournal{n: 0}))
		require.ErrorContains(t, err, "journal disk gone")
		assert.Empty(t, ex.ran, "a step whose start is not durable is not run")
	})
	t.Run("success not recorded", func(t *testing.T) {
		ex := &jrRecorder{}
		report, err := upgrade.Run(context.Background(), plan, ex, upgrade.WithJournal(&jrFailingJournal{n: 1}))
		require.ErrorContains(t, err, "journal disk gone")
		assert.Equal(t, ids(plan)[:1], ex.ran, "nothing after a step whose success is not durable runs")
		o, _ := report.Outcome(plan.Steps[0].ID)
		assert.Equal(t, upgrade.Failed, o.State)
	})
}

// jrFlakyJournal is an in-memory journal whose Append of the first record
// that failOn picks fails, once: a network journal briefly unreachable.
type jrFlakyJournal struct {
	recs   []upgrade.Record
	failOn func(upgrade.Record) bool
	failed bool
}

func (j *jrFlakyJournal) Begin(context.Context, string) ([]upgrade.Record, error) {
	return slices.Clone(j.recs), nil
}

func (j *jrFlakyJournal) Append(_ context.Context, r upgrade.Record) error {
	if !j.failed && j.failOn(r) {
		j.failed = true
		return errors.New("journal briefly unreachable")
	}
	j.recs = append(j.recs, r)
	return nil
}

// TestRunSuccessNotRecordedIsInDoubt: a step carried out whose success
// could not be recorded is not recorded failed either: a resumed run
// offers it again in doubt, not as new.
func TestRunSuccessNotRecordedIsInDoubt(t *testing.T) {
	plan := shopPlan(t, 1)
	first := plan.Steps[0].ID
	j := &jrFlakyJournal{failOn: func(r upgrade.Record) bool { return r.Kind == upgrade.RecordSucceeded && r.Step == first }}
	ex := &jrRecorder{}
	_, err := upgrade.Run(context.Background(), plan, ex, upgrade.WithJournal(j))
	require.ErrorContains(t, err, "journal briefly unreachable")
	require.Equal(t, []upgrade.StepID{first}, ex.ran)
	assert.Equal(t, []string{"started " + string(first)}, jrSteps(j.recs), "the step is left started")

	inDoubt := map[upgrade.StepID]bool{}
	_, err = upgrade.Run(context.Background(), plan, upgrade.ExecutorFunc(func(ctx context.Context, s upgrade.Step) error {
		inDoubt[s.ID] = upgrade.InDoubt(ctx)
		return nil
	}), upgrade.WithJournal(j))
	require.NoError(t, err)
	assert.True(t, inDoubt[first], "offered again in doubt")
	assert.Len(t, inDoubt, len(plan.Steps))
}

func jrMust[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestCancelledStepIsInDoubtOnResume(t *testing.T) {
	plan := shopPlan(t, 1)
	path := jrPath(t)
	j, err := upgrade.OpenFileJournal(path)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	hang := upgrade.ExecutorFunc(func(ctx context.Context, s upgrade.Step) error {
		cancel() // the first step is cut short by cancellation
		<-ctx.Done()
		return ctx.Err()
	})
	_, err = upgrade.Run(ctx, plan, hang, upgrade.WithJournal(j))
	require.ErrorIs(t, err, context.Canceled)
	require.NoError(t, j.Close())

	j, err = upgrade.OpenFileJournal(path)
	require.NoError(t, err)
	defer j.Close()
	var inDoubt []upgrade.StepID
	_, err = upgrade.Run(context.Background(), plan, upgrade.ExecutorFunc(func(ctx context.Context, s upgrade.Step) error {
		if upgrade.InDoubt(ctx) {
			inDoubt = append(inDoubt, s.ID)
		}
		return nil
	}), upgrade.WithJournal(j))
	require.NoError(t, err)
	assert.Equal(t, []upgrade.StepID{plan.Steps[0].ID}, inDoubt, "the cancelled step is offered again, in doubt")
}

// TestFileJournalOneRunAtATime starts a second Run with a FileJournal a
// first Run has: refused with ErrLocked, nothing executed twice; once the
// first has ended, the journal serves another Run.
func TestFileJournalOneRunAtATime(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j")
	j, err := upgrade.OpenFileJournal(path)
	require.NoError(t, err)
	defer j.Close()
	plan := &upgrade.Plan{ID: "p", Steps: []upgrade.Step{{ID: "a", Node: "n"}}}
	inA, release := make(chan struct{}), make(chan struct{})
	var mu sync.Mutex
	calls := 0
	exec := upgrade.ExecutorFunc(func(context.Context, upgrade.Step) error {
		mu.Lock()
		calls++
		first := calls == 1
		mu.Unlock()
		if first {
			close(inA)
			<-release
		}
		return nil
	})
	done := make(chan error)
	go func() {
		_, err := upgrade.Run(context.Background(), plan, exec, upgrade.WithJournal(j))
		done <- err
	}()
	<-inA
	report, err := upgrade.Run(context.Background(), plan, exec, upgrade.WithJournal(j))
	close(release)
	require.NoError(t, <-done)
	require.ErrorIs(t, err, upgrade.ErrLocked)
	assert.Nil(t, report)
	assert.Equal(t, "upgrade: journal locked: "+path+" is held by another Run of this process: wait for that run to end, or end it, and run again", err.Error())
	assert.Equal(t, 1, calls, "step a executed once")

	report, err = upgrade.Run(context.Background(), plan, exec, upgrade.WithJournal(j))
	require.NoError(t, err, "the first Run has ended")
	assert.Equal(t, upgrade.Succeeded, report.Outcomes[0].State)
	assert.True(t, report.Outcomes[0].Resumed, "done by the first Run")
}

// jrClosingJournal is a FileJournal whose file is closed once the run has
// begun, so that every Append fails.
type jrClosingJournal struct{ *upgrade.FileJournal }

func (j jrClosingJournal) Begin(ctx context.Context, plan string) ([]upgrade.Record, error) {
	recs, err := j.FileJournal.Begin(ctx, plan)
	if err == nil {
		err = j.FileJournal.Close()
	}
	return recs, err
}
