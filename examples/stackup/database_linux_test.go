package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/upgrade"
)

// TestApplyDatabaseWorkers: apply --database submits the plan and prints
// its progress while two worker processes run it; one worker is killed
// with SIGKILL during a step, which the other takes over, in doubt, once
// its lease expires. Every step ran once (the killed one twice, the second
// time in doubt), each after the steps it needs.
func TestApplyDatabaseWorkers(t *testing.T) {
	db := testDatabase(t)
	schema := testSchema()
	e := newApplyEnv(t)
	blocked := allSteps[2] // platform/tomcat-1@9.0.98: after java-1, before others
	started, pidFile := filepath.Join(e.dir, "started"), filepath.Join(e.dir, "pid")
	// Each step appends "ID IN_DOUBT" to the ledger; the blocked step, not
	// in doubt, writes its worker's PID and then waits for ever.
	script := `echo "$1 $2" >> "$4"; if [ "$1" = ` + sq(blocked) + ` ] && [ "$2" = false ]; then echo $PPID > ` + sq(pidFile) + `.tmp; mv ` + sq(pidFile) + `.tmp ` + sq(pidFile) + `; touch ` + sq(started) + `; while :; do sleep 1; done; fi`
	worker := func(name string) *child {
		return startChild(t, "worker", "--database", db, "--database-schema", schema, "--exec", e.script(script),
			"--name", name, "--lease", "2s", "--poll", "50ms")
	}
	w1, w2 := worker("w1"), worker("w2")
	args := e.args("--database", db, "--database-schema", schema, "--quiet")
	for i, a := range args {
		if a == "--concurrency" {
			args[i+1] = "2"
		}
	}
	ap := startChild(t, args...)
	waitFile(t, pidFile)
	data, err := os.ReadFile(pidFile)
	require.NoError(t, err)
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	require.NoError(t, err)
	killed, other := w1, w2
	if pid == w2.cmd.Process.Pid {
		killed, other = w2, w1
	}
	require.Equal(t, pid, killed.cmd.Process.Pid, "the step's parent is a worker")
	require.NoError(t, killed.cmd.Process.Signal(syscall.SIGKILL))
	assert.Equal(t, -1, killed.wait(t), "killed by SIGKILL")

	require.Equal(t, exitOK, ap.wait(t), "apply: stdout:\n%s\nstderr:\n%s", ap.stdout.String(), ap.stderr.String())
	out := ap.stdout.String()
	assert.Contains(t, out, "submitted run sha256:")
	assert.Contains(t, out, "start  "+blocked+"\n")
	assert.Contains(t, out, "start  "+blocked+" (in doubt: an earlier run was interrupted during this step)")
	assert.Contains(t, out, "[8/8] done   ")
	assert.Contains(t, out, "8 succeeded, 0 failed, 0 skipped, 0 rolled back")
	assert.Contains(t, out, "in doubt (offered again after a worker was lost): "+blocked)

	// The other worker, idle, drains on SIGTERM: exit 0, saying so.
	require.NoError(t, other.cmd.Process.Signal(syscall.SIGTERM))
	assert.Equal(t, exitOK, other.wait(t), other.stderr.String())
	assert.Contains(t, other.stderr.String(), "drained: 0 steps finished, nothing new claimed")

	// The ledger: each step once, the blocked one twice, and each step
	// after the last run of every step it needs.
	last := map[string]int{}
	first := map[string]int{}
	for i, l := range e.checkTakenOver(t, blocked) {
		id, _, _ := strings.Cut(l, " ")
		if _, ok := first[id]; !ok {
			first[id] = i
		}
		last[id] = i
	}
	plan := planOf(t, e)
	for _, s := range plan.Steps {
		for _, d := range plan.Prerequisites(s.ID) {
			assert.Less(t, last[string(d)], first[string(s.ID)], "%s ran before %s, which it needs", s.ID, d)
		}
	}
}

// checkTakenOver checks the ledger of a run whose step blocked was taken
// over after its worker was lost: each step ran once, and blocked twice,
// the second time in doubt. It returns the ledger's lines.
func (e *applyEnv) checkTakenOver(t *testing.T, blocked string) []string {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(e.readLedger(t)), "\n")
	count := map[string]int{}
	for _, l := range lines {
		id, doubt, _ := strings.Cut(l, " ")
		count[id]++
		if id == blocked && count[id] == 2 {
			assert.Equal(t, "true", doubt, "the blocked step offered again in doubt")
		} else {
			assert.Equal(t, "false", doubt, l)
		}
	}
	for _, s := range allSteps {
		want := 1
		if s == blocked {
			want = 2
		}
		assert.Equal(t, want, count[s], "runs of %s; ledger:\n%s", s, strings.Join(lines, "\n"))
	}
	return lines
}

// TestApplyDatabaseFailure: a step that fails fails apply (exit 1) with
// the step's error; with --continue, the steps that do not depend on it
// still run, through a worker working on that plan only, which exits 0
// once the run has finished.
func TestApplyDatabaseFailure(t *testing.T) {
	db := testDatabase(t)
	schema := testSchema()
	e := newApplyEnv(t)
	plan := planOf(t, e)
	failing := allSteps[2] // platform/tomcat-1@9.0.98
	// Started first, the worker waits for the plan to be submitted.
	w := startChild(t, "worker", "--database", db, "--database-schema", schema, "--exec", e.failOn(failing),
		"--plan", plan.ID, "--poll", "50ms")
	r := stackup(t, e.args("--database", db, "--database-schema", schema, "--quiet", "--continue")...)
	assert.Equal(t, exitFailed, r.code, r.stderr)
	assert.Contains(t, r.stdout, "FAILED "+failing)
	assert.Contains(t, r.stdout, "disk full on tomcat-1")
	assert.Contains(t, r.stderr, "disk full on tomcat-1")
	assert.Contains(t, r.stdout, "5 succeeded, 1 failed, 2 skipped")
	assert.Equal(t, exitOK, w.wait(t), w.stderr.String())
	assert.NotContains(t, e.readLedger(t), failing)
}

// TestApplyDatabaseTakenUpAgain: applying again a plan whose run in the
// database failed takes the run up again, as a journal resumes one: the
// steps done do not run again (and pass the stale check though the
// topology has moved past them), the failed step and those it held back
// run, and the old run's events are not printed again. A worker started
// with --plan on the failed run waits for it to be taken up.
func TestApplyDatabaseTakenUpAgain(t *testing.T) {
	db := testDatabase(t)
	schema := testSchema()
	e := newApplyEnv(t)
	// Started on the failed run, the worker waits for it to be taken up
	// again rather than exiting at once, before the apply does.
	f := e.failedDatabaseRun(t, db, schema)
	planFile, plan, failing, first, w := f.planFile, f.plan, f.failing, f.ledger, f.worker
	r := stackup(t, e.planFileArgs(planFile, "--database", db, "--database-schema", schema, "--quiet", "--continue")...)
	require.Equal(t, exitOK, r.code, r.String())
	assert.Contains(t, r.stdout, "run "+plan.ID+" had ended without succeeding: taken up again")
	assert.NotContains(t, r.stdout, "FAILED", "the old run's events are not printed again")
	assert.Contains(t, r.stdout, "8 succeeded (5 in an earlier run), 0 failed, 0 skipped")
	assert.Equal(t, exitOK, w.wait(t), w.stderr.String())
	again := strings.TrimPrefix(e.readLedger(t), first)
	assert.ElementsMatch(t, []string{failing + " false", "platform/tomcat-1@10.1.34 false", "app/shop-1@2.0.0 false"},
		strings.Split(strings.TrimSpace(again), "\n"), "only the failed step and those it held back ran")
	assert.Equal(t, "10.1.34", e.nodeVersion(t, "tomcat-1"), "the topology learned the steps of the run taken up")
}

// failedRun is a run in the database that failed (see failedDatabaseRun).
type failedRun struct {
	planFile string
	plan     *upgrade.Plan
	failing  string // the step that failed
	ledger   string // the ledger once the run had failed
	worker   *child // a worker of the plan, waiting for its run to be taken up
}

// failedDatabaseRun writes the plan to a plan file and applies it with
// --database --continue, a worker failing step platform/tomcat-1@9.0.98:
// the run ends failed, 5 steps done. It then starts a worker of the plan
// that records the steps it runs, once it says that it waits for the run
// to be taken up again.
func (e *applyEnv) failedDatabaseRun(t *testing.T, db, schema string) failedRun {
	t.Helper()
	planFile := filepath.Join(e.dir, "plan.json")
	require.Equal(t, exitOK, stackup(t, e.planArgs("--out", planFile)...).code)
	plan, err := readPlanFile(planFile)
	require.NoError(t, err)
	failing := allSteps[2] // platform/tomcat-1@9.0.98
	w := startChild(t, "worker", "--database", db, "--database-schema", schema, "--exec", e.failOn(failing),
		"--plan", plan.ID, "--poll", "50ms")
	r := stackup(t, e.planFileArgs(planFile, "--database", db, "--database-schema", schema, "--quiet", "--continue")...)
	require.Equal(t, exitFailed, r.code, r.String())
	assert.Contains(t, r.stdout, "5 succeeded, 1 failed, 2 skipped")
	assert.Equal(t, exitOK, w.wait(t), w.stderr.String())
	f := failedRun{planFile: planFile, plan: plan, failing: failing, ledger: e.readLedger(t)}
	f.worker = startChild(t, "worker", "--database", db, "--database-schema", schema, "--exec", e.record(),
		"--plan", plan.ID, "--poll", "50ms")
	f.worker.waitLine(t, "waiting for it to be taken up again")
	return f
}

// TestApplyDatabaseRollback: apply --database --rollback submits a run
// that, when a step fails, is rolled back by the workers given
// --rollback-exec, the failed step first, then the others, last done
// first, as a run in one process is (TestApplyRollback).
func TestApplyDatabaseRollback(t *testing.T) {
	db := testDatabase(t)
	schema := testSchema()
	e := newApplyEnv(t)
	plan := planOf(t, e)
	w := startChild(t, "worker", "--database", db, "--database-schema", schema, "--exec", e.failOn("app/shop-2@2.0.0"),
		"--rollback-exec", e.script(`echo "undo $1" >> "$4"`), "--plan", plan.ID, "--poll", "50ms")
	r := stackup(t, e.args("--database", db, "--database-schema", schema, "--quiet", "--rollback")...)
	assert.Equal(t, exitFailed, r.code, r.String())
	assert.Contains(t, r.stdout, "0 succeeded, 0 failed, 0 skipped, 8 rolled back (1 of them after failing)")
	assert.Contains(t, r.stdout, "the run is to be rolled back: the workers given --rollback-exec undo its steps")
	assert.Equal(t, exitOK, w.wait(t), w.stderr.String())
	var undo []string
	for _, line := range strings.Split(strings.TrimSpace(e.readLedger(t)), "\n") {
		if s, ok := strings.CutPrefix(line, "undo "); ok {
			undo = append(undo, s)
		}
	}
	assert.Equal(t, []string{"app/shop-2@2.0.0", "app/shop-1@2.0.0", "platform/tomcat-2@10.1.34", "platform/tomcat-2@9.0.98",
		"platform/tomcat-1@10.1.34", "platform/tomcat-1@9.0.98", "platform/java-2@17.0.13", "platform/java-1@17.0.13"}, undo)
}

// TestWorkerWaitsForPlan: a worker started with --plan before the plan is
// submitted waits for it (it says so), then runs its steps once apply
// --database submits it, and exits 0 when the run has finished.
func TestWorkerWaitsForPlan(t *testing.T) {
	db := testDatabase(t)
	schema := testSchema()
	e := newApplyEnv(t)
	plan := planOf(t, e)
	w := startChild(t, "worker", "--database", db, "--database-schema", schema, "--exec", e.record(),
		"--plan", plan.ID, "--poll", "50ms")
	w.waitLine(t, "waiting for the plan to be submitted")
	assert.Empty(t, e.readLedger(t), "nothing ran before the plan was submitted")
	r := stackup(t, e.args("--database", db, "--database-schema", schema, "--quiet")...)
	require.Equal(t, exitOK, r.code, r.String())
	assert.Contains(t, r.stdout, "submitted run "+plan.ID+" to schema "+schema)
	assert.Contains(t, r.stdout, "8 succeeded, 0 failed")
	assert.Equal(t, exitOK, w.wait(t), w.stderr.String())
	assert.Equal(t, ledgerOf(allSteps...), e.readLedger(t))
}

// TestApplyDatabaseRetryVerify: through the database, apply's --retries
// reach the workers (a step whose first attempt fails is retried and
// succeeds), and a worker's --verify-exec fails a step whose health check
// fails, as in a run in one process.
func TestApplyDatabaseRetryVerify(t *testing.T) {
	db := testDatabase(t)
	schema := testSchema()
	e := newApplyEnv(t)
	plan := planOf(t, e)
	marker := filepath.Join(e.dir, "tried")
	flaky := e.script(`if [ "$3" = java-2 ] && [ ! -e ` + sq(marker) + ` ]; then touch ` + sq(marker) + `; echo "mirror timed out" >&2; exit 1; fi; ` + recordBody)
	verify := e.script(`if [ "$3" = tomcat-1 ]; then echo "HTTP 503 from :8080" >&2; exit 1; fi`)
	w := startChild(t, "worker", "--database", db, "--database-schema", schema, "--exec", flaky, "--verify-exec", verify,
		"--plan", plan.ID, "--poll", "50ms")
	r := stackup(t, e.args("--database", db, "--database-schema", schema, "--quiet", "--continue",
		"--retries", "2", "--retry-backoff", "1ms")...)
	assert.Equal(t, exitFailed, r.code, r.String())
	assert.Contains(t, r.stdout, "retry  platform/java-2@17.0.13 (attempt 2)")
	assert.Contains(t, r.stdout, "mirror timed out")
	assert.Contains(t, r.stdout, "FAILED platform/tomcat-1@9.0.98")
	assert.Contains(t, r.stdout, "HTTP 503 from :8080")
	assert.Contains(t, r.stdout, "5 succeeded, 1 failed, 2 skipped")
	assert.Equal(t, exitOK, w.wait(t), w.stderr.String())
	ledger := e.readLedger(t)
	assert.Equal(t, 1, strings.Count(ledger, "platform/java-2@17.0.13 "), "java-2's failed attempt recorded nothing; its retry once:\n%s", ledger)
	assert.Contains(t, ledger, "platform/tomcat-1@9.0.98 ", "tomcat-1's command ran; its health check failed it")
}

// TestApplyDatabaseInterrupted: an interrupted apply --database stops
// following its run, which goes on with its workers, and says so; the
// same apply run again follows the run to its end.
func TestApplyDatabaseInterrupted(t *testing.T) {
	db := testDatabase(t)
	schema := testSchema()
	e := newApplyEnv(t)
	plan := planOf(t, e)
	started, release := filepath.Join(e.dir, "started"), filepath.Join(e.dir, "release")
	t.Cleanup(func() { os.WriteFile(release, nil, 0o600) })
	w := startChild(t, "worker", "--database", db, "--database-schema", schema, "--exec", e.blockingStep(started, release),
		"--plan", plan.ID, "--poll", "50ms")
	a := startChild(t, e.args("--database", db, "--database-schema", schema, "--quiet")...)
	waitFile(t, started) // the run was submitted, and its first step is running
	require.NoError(t, a.cmd.Process.Signal(syscall.SIGINT))
	assert.Equal(t, exitFailed, a.wait(t), a.stderr.String())
	assert.Contains(t, a.stderr.String(), "stopped following run "+plan.ID+", which goes on with its workers; run the same apply again to follow it")

	require.NoError(t, os.WriteFile(release, nil, 0o600))
	r := stackup(t, e.args("--database", db, "--database-schema", schema, "--quiet")...)
	require.Equal(t, exitOK, r.code, r.String())
	assert.Contains(t, r.stdout, "run "+plan.ID+" is in schema "+schema+" already: following it\n")
	assert.NotContains(t, r.stdout, "submitted run", "nothing submitted: the run was there")
	assert.Contains(t, r.stdout, "8 succeeded, 0 failed")
	assert.Equal(t, exitOK, w.wait(t), w.stderr.String())
	assert.Equal(t, ledgerOf(allSteps...), e.readLedger(t), "every step ran once, the interrupted apply's too")
}

// TestApplyDatabaseStepTimeout: apply's --step-timeout reaches the
// workers: a step that overruns it is stopped and fails, saying so, as in
// a run in one process.
func TestApplyDatabaseStepTimeout(t *testing.T) {
	db := testDatabase(t)
	schema := testSchema()
	e := newApplyEnv(t)
	plan := planOf(t, e)
	w := startChild(t, "worker", "--database", db, "--database-schema", schema,
		"--exec", e.script(`if [ "$3" = java-1 ]; then sleep 30; fi; `+recordBody), "--plan", plan.ID, "--poll", "50ms")
	r := stackup(t, e.args("--database", db, "--database-schema", schema, "--quiet", "--step-timeout", "200ms")...)
	assert.Equal(t, exitFailed, r.code, r.String())
	assert.Contains(t, r.stderr, `step platform/java-1@17.0.13 on node "java-1": execute command stopped: step timed out after 200ms`)
	assert.Equal(t, exitOK, w.wait(t), w.stderr.String())
	assert.NotContains(t, e.readLedger(t), allSteps[0])
}
