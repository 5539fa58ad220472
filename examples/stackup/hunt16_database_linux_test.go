package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/upgrade/pgrun"
)

// TestHunt16ApplyDatabaseTakenUpWithOtherFlags: a plan whose run in the
// database failed, applied again with other run flags (--retries 2 where
// it had none), is refused (exit 2), naming the run flags, and the run is
// not taken up: nothing runs. Before, apply took the run up again with
// the flags it was first submitted with, saying nothing: the operator who
// added --retries for a flaky step had it run once, as before, and a run
// still going, applied so, was refused (ErrPlanConflict) while one ended
// was not. Applied again with its own flags, the run is taken up.
func TestHunt16ApplyDatabaseTakenUpWithOtherFlags(t *testing.T) {
	db := testDatabase(t)
	schema := testSchema()
	e := newApplyEnv(t)
	f := e.failedDatabaseRun(t, db, schema)
	planFile, first, w := f.planFile, f.ledger, f.worker
	r := stackup(t, e.planFileArgs(planFile, "--database", db, "--database-schema", schema, "--quiet", "--continue", "--retries", "2")...)
	require.Equal(t, exitUsage, r.code, r.String())
	assert.Contains(t, r.stderr, "--retries")
	assert.Contains(t, r.stderr, "give the run flags it was submitted with")
	assert.NotContains(t, r.stdout, "taken up again")

	// With the flags it was submitted with, it is taken up: only then does
	// anything run.
	assert.Equal(t, first, e.readLedger(t), "nothing ran")
	r = stackup(t, e.planFileArgs(planFile, "--database", db, "--database-schema", schema, "--quiet", "--continue")...)
	require.Equal(t, exitOK, r.code, r.String())
	assert.Contains(t, r.stdout, "8 succeeded (5 in an earlier run), 0 failed, 0 skipped")
	assert.Equal(t, exitOK, w.wait(t), w.stderr.String())
}

// TestHunt16ServeDatabaseResumeWithOtherFlags: a database run that failed,
// resumed by a server restarted with other run flags (--retries 2), is
// refused, 409 {"kind": "conflict"} naming the run flags, and not taken
// up: nothing runs, and the run stays failed. Before, the server took it
// up with the flags it was first submitted with, saying nothing, as
// apply --database did (TestHunt16ApplyDatabaseTakenUpWithOtherFlags).
// A server with the run's own flags takes it up.
func TestHunt16ServeDatabaseResumeWithOtherFlags(t *testing.T) {
	db := testDatabase(t)
	schema := testSchema()
	e := newApplyEnv(t)
	stateDir := filepath.Join(t.TempDir(), "state")
	ts1 := newDatabaseServerIn(t, e, db, schema, stateDir)
	code, ans := ts1.post(t, "/v1/apply", requestBody(t, "testdata/requests.json"))
	require.Equal(t, http.StatusAccepted, code, ans)
	run, planID := ans["run"].(string), ans["plan"].(string)
	w := startChild(t, "worker", "--database", db, "--database-schema", schema, "--exec", e.failOn(allSteps[0]),
		"--plan", planID, "--poll", "50ms")
	events := ts1.follow(t, "/v1/runs/"+run+"/events", "")
	require.Contains(t, events[len(events)-1].data, `"state":"failed"`)
	require.Equal(t, exitOK, w.wait(t), w.stderr.String())
	ts1.stop()

	ts2 := newDatabaseServerWith(t, e, db, schema, stateDir, func(rf *runFlags) { rf.retries = 2 })
	code, ans = ts2.post(t, "/v1/runs/"+run+"/resume", "")
	require.Equal(t, http.StatusConflict, code, ans)
	assert.Equal(t, "conflict", ans["kind"])
	assert.Contains(t, ans["error"], "--retries")
	code, ans = ts2.post(t, "/v1/plans/"+planID+"/apply", "")
	require.Equal(t, http.StatusConflict, code, ans)
	assert.Equal(t, "conflict", ans["kind"])
	st, err := ts2.srv.db.Status(t.Context(), planID)
	require.NoError(t, err)
	assert.True(t, st.Finished, "not taken up")
	_, status := ts2.get(t, "/v1/runs/"+run)
	assert.Equal(t, "failed", status["state"])
	ts2.stop()

	ts3 := newDatabaseServerIn(t, e, db, schema, stateDir)
	code, ans = ts3.post(t, "/v1/runs/"+run+"/resume", "")
	require.Equal(t, http.StatusAccepted, code, ans)
	w = startChild(t, "worker", "--database", db, "--database-schema", schema, "--exec", e.record(), "--plan", planID, "--poll", "50ms")
	events = ts3.follow(t, "/v1/runs/"+run+"/events", "")
	assert.Contains(t, events[len(events)-1].data, `"state":"succeeded"`)
	assert.Equal(t, exitOK, w.wait(t), w.stderr.String())
}

// TestHunt16WorkerNameNotUTF8: worker --name that is not UTF-8 (a name
// made from a host name or a variable in Latin-1) is refused at start,
// exit 2, naming --name, before the database is reached. Before, it was
// taken, and every Work call refused it: with --plan the worker exited 1
// saying "pgrun: WorkerOptions.Name ... is not text PostgreSQL can hold",
// an option the operator never gave; without, it logged "working on a
// run failed" at every --poll, for every run, and ran nothing, for ever.
func TestHunt16WorkerNameNotUTF8(t *testing.T) {
	db := testDatabase(t)
	schema := testSchema()
	plan := planOf(t, newApplyEnv(t))
	require.NoError(t, openStore(t, db, schema).Submit(t.Context(), plan, pgrun.Options{}))
	for _, args := range [][]string{
		{"--database", db, "--database-schema", schema, "--plan", plan.ID},
		{"--database", "postgres://127.0.0.1:1/none"}, // not reached
	} {
		r := stackup(t, append([]string{"worker", "--exec", "true", "--name", "w\xff1"}, args...)...)
		assert.Equal(t, exitUsage, r.code, r.String())
		assert.Contains(t, r.stderr, `--name "w\xff1" is not UTF-8`)
	}
}

// TestHunt16WorkerRemovesPackagesOfRunsDone: a worker with --repo and
// without --plan, which works on every run until stopped, removes the
// copies of a run's packages once the run has finished, and makes new
// ones for the next run. Before, it kept every copy it had made until it
// exited: a worker daemon held a copy of every package of every run it
// had worked on (a JDK, a Tomcat, each version), in the directory for
// temporary files, often a tmpfs in memory, for weeks.
func TestHunt16WorkerRemovesPackagesOfRunsDone(t *testing.T) {
	db := testDatabase(t)
	schema := testSchema()
	e := newApplyEnv(t)
	store := openStore(t, db, schema)
	exec := "sh -c " + sq(`[ -z "$STACKUP_PACKAGE_FILE" ] || echo "$STACKUP_PACKAGE_FILE" >> "$1"`) + " sh " + sq(e.ledger)
	w := startChild(t, "worker", "--database", db, "--database-schema", schema, "--exec", exec, "--repo", e.repo, "--poll", "50ms")
	runOnce := func(plan *upgrade.Plan) []string {
		t.Helper()
		require.NoError(t, store.Submit(t.Context(), plan, pgrun.Options{}))
		st, err := store.Wait(t.Context(), plan.ID, 20*time.Millisecond)
		require.NoError(t, err)
		require.NoError(t, st.Err)
		copies := strings.Fields(e.readLedger(t))
		require.NoError(t, os.Remove(e.ledger))
		require.NotEmpty(t, copies)
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) { // a failure bound
			left := slices.DeleteFunc(slices.Clone(copies), func(f string) bool {
				_, err := os.Lstat(f)
				return errors.Is(err, fs.ErrNotExist)
			})
			if len(left) == 0 {
				break
			}
			require.True(t, time.Now().Before(deadline), "the worker still holds, after the run has finished, %s", left)
		}
		return copies
	}
	first := runOnce(planOf(t, e))
	// The next run that needs those packages has copies of its own.
	plan := &upgrade.Plan{ID: "again", Steps: []upgrade.Step{planOf(t, e).Steps[0]}}
	plan.Steps[0].After = nil
	second := runOnce(plan)
	assert.NotContains(t, first, second[0])
	require.NoError(t, w.cmd.Process.Signal(syscall.SIGTERM))
	assert.Equal(t, exitOK, w.wait(t), w.stderr.String())
}

// TestHunt16ApplyDatabaseAgainAfterInterruptFollows: apply --database
// --requests, interrupted once the topology file has learned the first
// steps, says to run the same apply again to follow the run; run again
// while the run goes on, it plans only the steps left (the topology
// learned the others), finds them in that run, and follows it to its end,
// the topology learning the rest. Before, it submitted the steps left as
// a second run, which the workers ran after the first had run them: each
// Tomcat taken back to 9.0.98 and up again, each application deployed
// twice.
func TestHunt16ApplyDatabaseAgainAfterInterruptFollows(t *testing.T) {
	db := testDatabase(t)
	schema := testSchema()
	e := newApplyEnv(t)
	started, release := filepath.Join(e.dir, "started"), filepath.Join(e.dir, "release")
	t.Cleanup(func() { os.WriteFile(release, nil, 0o600) })
	blocked := allSteps[2] // platform/tomcat-1@9.0.98, after java-1
	script := `echo "$1 $2" >> "$4"; if [ "$1" = ` + sq(blocked) + ` ]; then touch ` + sq(started) +
		`; while [ ! -e ` + sq(release) + ` ]; do sleep 0.01; done; fi`
	w := startChild(t, "worker", "--database", db, "--database-schema", schema, "--exec", e.script(script), "--poll", "50ms")
	a := startChild(t, e.args("--database", db, "--database-schema", schema, "--quiet")...)
	waitFile(t, started)
	for deadline := time.Now().Add(time.Minute); e.nodeVersion(t, "java-1") != "17.0.13"; time.Sleep(10 * time.Millisecond) { // a failure bound
		require.True(t, time.Now().Before(deadline), "the topology never learned java-1's step")
	}
	require.NoError(t, a.cmd.Process.Signal(syscall.SIGINT))
	require.Equal(t, exitFailed, a.wait(t), a.stderr.String())
	require.Contains(t, a.stderr.String(), "run the same apply again to follow it")

	// The step goes on once the apply run again has said what it does
	// (its first line): while the run still goes.
	pr, pw := io.Pipe()
	var stderr bytes.Buffer
	code := make(chan int, 1)
	go func() {
		c := run(t.Context(), e.args("--database", db, "--database-schema", schema, "--quiet"), pw, &stderr)
		pw.Close()
		code <- c
	}()
	var out strings.Builder
	for lines := bufio.NewScanner(pr); lines.Scan(); {
		if out.Len() == 0 {
			require.NoError(t, os.WriteFile(release, nil, 0o600))
		}
		out.WriteString(lines.Text() + "\n")
	}
	require.Equal(t, exitOK, <-code, "stdout:\n%s\nstderr:\n%s", out.String(), stderr.String())
	assert.Contains(t, out.String(), "has every step of this plan, which is the rest of it: following it")
	assert.NotContains(t, out.String(), "submitted run")
	assert.Contains(t, out.String(), "8 succeeded, 0 failed")
	assert.Equal(t, ledgerOf(allSteps...), e.readLedger(t), "every step ran once")
	assert.Equal(t, "10.1.34", e.nodeVersion(t, "tomcat-2"), "the topology learned the steps of the run followed")
	require.NoError(t, w.cmd.Process.Signal(syscall.SIGTERM))
	assert.Equal(t, exitOK, w.wait(t), w.stderr.String())
}

// TestHunt16ApplyDatabaseRefusesStepsOfRunGoing: apply --database of a
// plan some of whose steps (not all) are steps of a run still going in the
// database is refused, exit 1, naming that run and those steps, and
// submits nothing: the two runs would each do them.
func TestHunt16ApplyDatabaseRefusesStepsOfRunGoing(t *testing.T) {
	e := newApplyEnv(t)
	db, schema := testDatabase(t), testSchema()
	args := e.args("--database", db, "--database-schema", schema, "--quiet")
	store := openStore(t, db, schema)
	// java-1 and java-2, which depend on nothing, in a run no worker runs
	going := &upgrade.Plan{ID: "going", Steps: planOf(t, e).Steps[:2]}
	require.NoError(t, store.Submit(t.Context(), going, pgrun.Options{}))
	// Submitted, as before, its run would wait for a worker: the bound ends that.
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	r := result{args: args, code: run(ctx, args, &stdout, &stderr), stdout: stdout.String(), stderr: stderr.String()}
	require.Equal(t, exitFailed, r.code, r.String())
	assert.Contains(t, r.stderr, "run going, still going in the database, has steps of this plan too ("+allSteps[0]+", "+allSteps[1]+")")
	ids, err := store.Unfinished(t.Context())
	require.NoError(t, err)
	assert.Equal(t, []string{"going"}, ids, "nothing submitted")
}

// TestHunt16ApplyDatabaseInterruptedSaysWhenToApplyAgain: an interrupted
// apply --database with --requests, whose topology file learns the run's
// steps only while it follows the run, says to run it again while the
// run goes on: once the run has ended, the same requests plan again the
// steps it did unfollowed, and another run does them again. Before, it
// said only "run the same apply again to follow it", which, run once the
// run had ended, did that. An apply of a PLANFILE, which follows its run
// at any time, says no more than that.
func TestHunt16ApplyDatabaseInterruptedSaysWhenToApplyAgain(t *testing.T) {
	db := testDatabase(t)
	e := newApplyEnv(t)
	planFile := filepath.Join(e.dir, "plan.json")
	require.Equal(t, exitOK, stackup(t, e.planArgs("--out", planFile)...).code)
	for name, args := range map[string][]string{"requests": e.args(), "planfile": e.planFileArgs(planFile)} {
		t.Run(name, func(t *testing.T) {
			e.fresh(t)
			started, release := filepath.Join(e.dir, "started"), filepath.Join(e.dir, "release")
			os.Remove(started)
			os.Remove(release)
			t.Cleanup(func() { os.WriteFile(release, nil, 0o600) })
			schema := testSchema()
			startChild(t, "worker", "--database", db, "--database-schema", schema, "--exec", e.blockingStep(started, release), "--poll", "50ms")
			a := startChild(t, append(args, "--database", db, "--database-schema", schema, "--quiet")...)
			waitFile(t, started)
			require.NoError(t, a.cmd.Process.Signal(syscall.SIGINT))
			require.Equal(t, exitFailed, a.wait(t), a.stderr.String())
			assert.Contains(t, a.stderr.String(), "run the same apply again to follow it")
			caveat := "the same requests applied once it has ended plan again the steps it did meanwhile, for another run to do them again"
			if name == "requests" {
				assert.Contains(t, a.stderr.String(), caveat)
			} else {
				assert.NotContains(t, a.stderr.String(), caveat)
			}
		})
	}
}

// killedWorker starts a worker of the runs in schema whose first step
// blocks, calls submit, which submits a run, waits until the worker runs
// its first step, and kills the worker (SIGKILL), leaving the step's
// lease (1s) to expire.
func (e *applyEnv) killedWorker(t *testing.T, db, schema string, submit func()) {
	t.Helper()
	started, release := filepath.Join(e.dir, "started"), filepath.Join(e.dir, "release")
	t.Cleanup(func() { os.WriteFile(release, nil, 0o600) })
	w := startChild(t, "worker", "--database", db, "--database-schema", schema, "--exec", e.blockingStep(started, release),
		"--poll", "50ms", "--lease", "1s")
	submit()
	waitFile(t, started)
	require.NoError(t, w.cmd.Process.Signal(syscall.SIGKILL))
	w.wait(t)
}

// TestHunt16ApplyDatabaseCancelledWorkerLost: a run whose only worker
// dies during a step (SIGKILL) and which is then cancelled ends, for the
// apply --database following it, once the step's lease has expired: the
// step fails, in doubt, and apply prints the summary and exits 1. Before,
// the step of the lost worker was failed only by a worker's claim (or
// pgrun's Wait), which a follower reading the run's status never made:
// with no worker left on the run, apply followed it for ever (and serve's
// follower showed it running, its applications busy).
func TestHunt16ApplyDatabaseCancelledWorkerLost(t *testing.T) {
	e := newApplyEnv(t)
	db, schema := testDatabase(t), testSchema()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute) // a failure bound: before, apply followed the run until then
	defer cancel()
	args := e.args("--database", db, "--database-schema", schema, "--quiet")
	var stdout, stderr bytes.Buffer
	code := make(chan int, 1)
	e.killedWorker(t, db, schema, func() {
		go func() { code <- run(ctx, args, &stdout, &stderr) }()
	})
	require.NoError(t, openStore(t, db, schema).Cancel(t.Context(), planOf(t, e).ID))
	r := result{args: args, code: <-code}
	r.stdout, r.stderr = stdout.String(), stderr.String()
	require.Equal(t, exitFailed, r.code, r.String())
	assert.Contains(t, r.stdout, "FAILED "+allSteps[0], r.String())
	assert.Contains(t, r.stdout, "run cancelled; its worker was lost")
	assert.Contains(t, r.stdout, "0 succeeded, 1 failed, 3 skipped, 0 rolled back, 4 not started")
	assert.Contains(t, r.stdout, "in doubt (offered again after a worker was lost): "+allSteps[0])
	assert.Contains(t, r.stderr, "cancelled")
	assert.NotContains(t, r.stderr, "deadline")
}

// TestHunt16ServeDatabaseCancelledWorkerLost is
// TestHunt16ApplyDatabaseCancelledWorkerLost for serve --database: a run
// whose only worker died during a step, cancelled through the API, ends
// cancelled once the step's lease has expired, and its application is
// free again. Before, the server showed it running, its application busy,
// until a worker came back for it.
func TestHunt16ServeDatabaseCancelledWorkerLost(t *testing.T) {
	e := newApplyEnv(t)
	db, schema := testDatabase(t), testSchema()
	ts := newDatabaseServer(t, e, db, schema)
	var run string
	e.killedWorker(t, db, schema, func() {
		code, ans := ts.post(t, "/v1/apply", requestBody(t, "testdata/requests.json"))
		require.Equal(t, http.StatusAccepted, code, ans)
		run = ans["run"].(string)
	})
	code, ans := ts.post(t, "/v1/runs/"+run+"/cancel", "")
	require.Equal(t, http.StatusAccepted, code, ans)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute) // a failure bound: before, the stream went on until then
	defer cancel()
	events, err := ts.events(ctx, "/v1/runs/"+run+"/events", "")
	require.NoError(t, err)
	require.NotEmpty(t, events)
	assert.Contains(t, events[len(events)-1].data, `"state":"cancelled"`)
	_, st := ts.get(t, "/v1/runs/"+run)
	assert.Equal(t, stepInDoubt, st["steps"].(map[string]any)[allSteps[0]])
}
