package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/upgrade"
)

// TestServeDatabaseLearnFailureReported is TestServeLearnFailureReported
// for serve --database: the topology file broken while a worker runs the
// first step, the run must not end "succeeded" with nothing recorded;
// resumed once the file is mended, it records the steps (read again from
// the database) and succeeds, and planning again gives no step.
func TestServeDatabaseLearnFailureReported(t *testing.T) {
	db := testDatabase(t)
	schema := testSchema()
	e := newApplyEnv(t)
	ts := newDatabaseServer(t, e, db, schema)
	inv := newInventory(&inputFlags{topology: e.topo})
	ts.srv.learn = func(ctx context.Context, steps []upgrade.Step) error {
		if err := inv.LearnAll(ctx, steps); err != nil {
			return err
		}
		ts.srv.env.changed()
		return nil
	}
	good, err := os.ReadFile(e.topo)
	require.NoError(t, err)
	started, release := filepath.Join(e.dir, "started"), filepath.Join(e.dir, "release")
	w := startChild(t, "worker", "--database", db, "--database-schema", schema, "--exec", e.blockingStep(started, release), "--poll", "50ms")
	code, ans := ts.post(t, "/v1/apply", requestBody(t, "testdata/requests.json"))
	require.Equal(t, http.StatusAccepted, code, ans)
	run := ans["run"].(string)
	waitFile(t, started)
	require.NoError(t, os.WriteFile(e.topo, []byte("schema: [broken by hand\n"), 0o644))
	require.NoError(t, os.WriteFile(release, nil, 0o600))
	events := ts.follow(t, "/v1/runs/"+run+"/events", "")
	var done map[string]any
	require.NoError(t, json.Unmarshal([]byte(events[len(events)-1].data), &done))
	assert.Equal(t, "failed", done["state"], "every command succeeded, but nothing was recorded")
	assert.Contains(t, done["error"], "the inventory does not say so")
	assert.Contains(t, done["error"], "/v1/runs/"+run+"/resume")

	require.NoError(t, os.WriteFile(e.topo, good, 0o644))
	code, ans = ts.post(t, "/v1/runs/"+run+"/resume", "")
	require.Equal(t, http.StatusAccepted, code, ans)
	events = ts.follow(t, "/v1/runs/"+run+"/events", "")
	require.NoError(t, json.Unmarshal([]byte(events[len(events)-1].data), &done))
	assert.Equal(t, "succeeded", done["state"], done)
	assert.Equal(t, ledgerOf(allSteps...), e.readLedger(t), "no step ran twice")
	code, plan := ts.post(t, "/v1/plan", requestBody(t, "testdata/requests.json"))
	require.Equal(t, http.StatusOK, code, plan)
	assert.Empty(t, plan["steps"], "the topology file knows every step")
	require.NoError(t, w.cmd.Process.Signal(syscall.SIGTERM))
	w.wait(t)
}

// TestApplyDatabaseRollbackUnlearns: apply --database --rollback, whose
// workers roll every step back after the last fails, must leave the
// topology file with the versions of before, as apply without a database
// does (inventory.Unlearn), not those of the steps undone.
func TestApplyDatabaseRollbackUnlearns(t *testing.T) {
	db := testDatabase(t)
	schema := testSchema()
	e := newApplyEnv(t)
	before, err := os.ReadFile(e.topo)
	require.NoError(t, err)
	plan := planOf(t, e)
	w := startChild(t, "worker", "--database", db, "--database-schema", schema, "--exec", e.failOn("app/shop-2@2.0.0"),
		"--rollback-exec", e.script(`echo "undo $1" >> "$4"`), "--plan", plan.ID, "--poll", "50ms")
	r := stackup(t, e.args("--database", db, "--database-schema", schema, "--quiet", "--rollback")...)
	assert.Equal(t, exitFailed, r.code, r.String())
	assert.Contains(t, r.stdout, "8 rolled back")
	assert.Equal(t, exitOK, w.wait(t), w.stderr.String())
	for _, node := range []string{"java-1", "java-2", "tomcat-1", "tomcat-2", "shop-1", "shop-2"} {
		assert.Equal(t, versionIn(t, before, node), e.nodeVersion(t, node), "node %s is back where it was", node)
	}
}

// TestServeDatabaseRollbackUnlearns is TestServeRollbackUnlearns for
// serve --database --rollback: the workers roll every step back, and the
// server, following the run, puts each node back in the topology file.
func TestServeDatabaseRollbackUnlearns(t *testing.T) {
	db := testDatabase(t)
	schema := testSchema()
	e := newApplyEnv(t)
	ts := newDatabaseServer(t, e, db, schema)
	ts.srv.rf.rollback = true
	ts.srv.learnInto(newInventory(&inputFlags{topology: e.topo}))
	before, err := os.ReadFile(e.topo)
	require.NoError(t, err)
	w := startChild(t, "worker", "--database", db, "--database-schema", schema, "--exec", e.failOn("app/shop-2@2.0.0"),
		"--rollback-exec", e.script(`echo "undo $1" >> "$4"`), "--poll", "50ms")
	code, ans := ts.post(t, "/v1/apply", requestBody(t, "testdata/requests.json"))
	require.Equal(t, http.StatusAccepted, code, ans)
	events := ts.follow(t, ans["events"].(string), "")
	var done map[string]any
	require.NoError(t, json.Unmarshal([]byte(events[len(events)-1].data), &done))
	require.Equal(t, "failed", done["state"])
	require.Equal(t, float64(len(allSteps)), done["rolled_back"], done)
	for _, node := range []string{"java-1", "java-2", "tomcat-1", "tomcat-2", "shop-1", "shop-2"} {
		assert.Equal(t, versionIn(t, before, node), e.nodeVersion(t, node), "node %s is back where it was", node)
	}
	require.NoError(t, w.cmd.Process.Signal(syscall.SIGTERM))
	w.wait(t)
}

// TestServeDatabaseMetricsOnResume cancels a database run during its
// first step and resumes it: the server follows it again, reading its
// events from the first, and must not count again in its metrics the
// step events it had counted before: 9 starts (the first step twice), 8
// successes, 1 failure.
func TestServeDatabaseMetricsOnResume(t *testing.T) {
	db := testDatabase(t)
	schema := testSchema()
	e := newApplyEnv(t)
	ts := newDatabaseServer(t, e, db, schema)
	started, release := filepath.Join(e.dir, "started"), filepath.Join(e.dir, "release")
	w := startChild(t, "worker", "--database", db, "--database-schema", schema, "--exec", e.blockingStep(started, release),
		"--poll", "50ms", "--lease", "1s", "--grace", "1s")
	code, ans := ts.post(t, "/v1/apply", requestBody(t, "testdata/requests.json"))
	require.Equal(t, http.StatusAccepted, code, ans)
	run := ans["run"].(string)
	waitFile(t, started)
	code, ans = ts.post(t, "/v1/runs/"+run+"/cancel", "")
	require.Equal(t, http.StatusAccepted, code, ans)
	events := ts.follow(t, "/v1/runs/"+run+"/events", "")
	require.Contains(t, events[len(events)-1].data, `"state":"cancelled"`)
	require.NoError(t, w.cmd.Process.Signal(syscall.SIGTERM))
	w.wait(t)

	code, ans = ts.post(t, "/v1/runs/"+run+"/resume", "")
	require.Equal(t, http.StatusAccepted, code, ans)
	w = startChild(t, "worker", "--database", db, "--database-schema", schema, "--exec", e.record(), "--plan", ans["plan"].(string), "--poll", "50ms")
	events = ts.follow(t, "/v1/runs/"+run+"/events", "")
	require.Contains(t, events[len(events)-1].data, `"state":"succeeded"`)
	assert.Equal(t, exitOK, w.wait(t), w.stderr.String())

	resp, err := ts.client.Get(ts.url + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var ours strings.Builder // the server's own metrics, for a short message
	for _, line := range strings.SplitAfter(string(body), "\n") {
		if strings.HasPrefix(line, "stackup_") {
			ours.WriteString(line)
		}
	}
	for _, line := range []string{
		`stackup_steps_total{state="started"} 9`,
		`stackup_steps_total{state="succeeded"} 8`,
		`stackup_steps_total{state="failed"} 1`,
		`stackup_runs_total{outcome="cancelled"} 1`,
		`stackup_runs_total{outcome="succeeded"} 1`,
	} {
		assert.Contains(t, ours.String(), line+"\n")
	}
}
