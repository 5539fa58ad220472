package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/upgrade/pgrun"
)

// openStore opens the test database's schema, as a worker or serve does.
func openStore(t *testing.T, db, schema string) *pgrun.Store {
	t.Helper()
	pool, err := pgxpool.New(t.Context(), db)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	store, err := pgrun.Open(t.Context(), pool, schema)
	require.NoError(t, err)
	return store
}

// startServeChild starts "stackup serve" as a child process and returns it
// with the URL it listens on, read from the line it prints once listening.
func startServeChild(t *testing.T, args ...string) (*exec.Cmd, string, *syncBuffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"serve"}, args...)...)
	cmd.Env = childEnv(t)
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err, "serve did not start; stderr:\n%s", stderr.String())
	go io.Copy(io.Discard, out)
	url, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
	require.True(t, ok, line)
	return cmd, url, stderr
}

// call sends a request to the server with token (none if empty) and
// returns the status and decoded answer.
func call(t *testing.T, method, url, token, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	require.NoError(t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	client := &http.Client{Timeout: 30 * time.Second}
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	return resp.StatusCode, decodeJSON(t, resp)
}

// readmeDeployment returns the arguments of the serve and worker
// commands of the README's server-backed deployment, as written there,
// with these changes: "$in" is in, and the values of --repo, --token-file,
// --state-dir and --exec (whose value must parse) are the test's.
func readmeDeployment(t *testing.T, in []string, repo, tokenFile, stateDir, exec string) (serve, worker []string) {
	t.Helper()
	data, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	_, block, ok := strings.Cut(string(data), "<!-- TestServeDatabaseDeployment runs the two stackup commands of this block as written -->\n```sh\n")
	require.True(t, ok, "the README's deployment block")
	block, _, ok = strings.Cut(block, "```")
	require.True(t, ok)
	comment := regexp.MustCompile(`\s{2,}#.*$`)
	values := map[string]string{"--repo": repo, "--token-file": tokenFile, "--state-dir": stateDir, "--exec": exec}
	for line := range strings.SplitSeq(strings.TrimSpace(block), "\n") {
		line = comment.ReplaceAllString(line, "")
		if strings.HasPrefix(line, "export STACKUP_DATABASE_URL=") {
			continue // the test's database, set by the test
		}
		words, err := splitWords(strings.ReplaceAll(line, "$in", "IN"))
		require.NoError(t, err, line)
		require.Equal(t, "./stackup", words[0], line)
		var args []string
		for i := 1; i < len(words); i++ {
			w := words[i]
			if w == "IN" {
				args = append(args, in...)
				continue
			}
			args = append(args, w)
			if v, ok := values[w]; ok && i+1 < len(words) {
				if w == "--exec" {
					_, err := parseCommands(words[i+1], "", "")
					require.NoError(t, err, "the README's --exec")
				}
				args = append(args, v)
				i++
			}
		}
		switch args[0] {
		case "serve":
			serve = args
		case "worker":
			worker = args
		}
	}
	require.NotNil(t, serve, "the README's serve command")
	require.NotNil(t, worker, "the README's worker command")
	return serve, worker
}

// TestServeDatabaseDeployment runs the server-backed deployment of the
// README, its commands taken from there: "stackup serve" and two "stackup
// worker" processes, with STACKUP_DATABASE_URL set. Calls without the token are refused (401) and submit
// nothing; the plan posted and applied (twice: one run) is run by the
// workers, each step once; the run's status and its event stream, read
// from the database, say so; resuming it is refused.
func TestServeDatabaseDeployment(t *testing.T) {
	db := testDatabase(t)
	schema := testSchema()
	e := newApplyEnv(t)
	store := openStore(t, db, schema)
	token := testToken
	tokenFile := filepath.Join(e.dir, "token")
	require.NoError(t, os.WriteFile(tokenFile, []byte(token+"\n"), 0o600))

	// The README's commands, on the deployer hosts: the workers, then the
	// server.
	t.Setenv(databaseEnv, db)
	serveArgs, workerArgs := readmeDeployment(t, []string{"--topology", e.topo, "--repo", e.repo, "--key", e.key},
		e.repo, tokenFile, filepath.Join(e.dir, "state"), e.packageExec())
	worker := func(name string) *child {
		return startChild(t, append(workerArgs, "--database-schema", schema, "--name", name, "--poll", "50ms")...)
	}
	w1, w2 := worker("w1"), worker("w2")
	srv, url, srvErr := startServeChild(t, append(serveArgs[1:], "--database-schema", schema, "--listen", "127.0.0.1:0")...)

	body := requestBody(t, "testdata/requests.json")
	plan := planOf(t, e)
	// Without the token, or with another: 401, and nothing submitted.
	for _, bad := range []string{"", "wrong-token-0123456789abcdef"} {
		code, ans := call(t, "POST", url+"/v1/apply", bad, body)
		assert.Equal(t, http.StatusUnauthorized, code)
		assert.Equal(t, "unauthorized", ans["kind"])
		code, _ = call(t, "POST", url+"/v1/plans/"+plan.ID+"/apply", bad, `{}`)
		assert.Equal(t, http.StatusUnauthorized, code)
		code, _ = call(t, "GET", url+"/v1/runs", bad, "")
		assert.Equal(t, http.StatusUnauthorized, code)
	}
	unfinished, err := store.Unfinished(t.Context())
	require.NoError(t, err)
	assert.Empty(t, unfinished, "nothing submitted")
	_, err = store.Status(t.Context(), plan.ID)
	assert.ErrorIs(t, err, pgrun.ErrUnknownRun)

	code, ans := call(t, "POST", url+"/v1/plans", token, body)
	require.Equal(t, http.StatusCreated, code, ans)
	require.Equal(t, plan.ID, ans["id"])
	code, ans = call(t, "POST", url+"/v1/plans/"+plan.ID+"/apply", token, `{}`)
	require.Equal(t, http.StatusAccepted, code, ans)
	run := ans["run"].(string)
	code, again := call(t, "POST", url+"/v1/plans/"+plan.ID+"/apply", token, `{}`)
	require.Equal(t, http.StatusAccepted, code, again)
	assert.Equal(t, run, again["run"], "the same plan applied twice is one run")

	ts := &testServer{url: url, client: &http.Client{Timeout: time.Minute, Transport: bearer{token, http.DefaultTransport}}}
	defer ts.client.CloseIdleConnections()
	events := ts.follow(t, "/v1/runs/"+run+"/events", "")
	started, succeeded := map[string]int{}, map[string]int{}
	for _, ev := range events[:len(events)-1] {
		var se stepEvent
		require.NoError(t, json.Unmarshal([]byte(ev.data), &se))
		switch se.Kind {
		case "started":
			started[string(se.Step)]++
		case "succeeded":
			succeeded[string(se.Step)]++
		}
	}
	for _, s := range allSteps {
		assert.Equal(t, 1, started[s], s)
		assert.Equal(t, 1, succeeded[s], s)
	}
	done := events[len(events)-1]
	require.Equal(t, "done", done.event)
	assert.Contains(t, done.data, `"state":"succeeded"`)

	code, st := call(t, "GET", url+"/v1/runs/"+run, token, "")
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, "succeeded", st["state"])
	assert.Equal(t, plan.ID, st["plan"])
	assert.Equal(t, true, st["database"])
	assert.EqualValues(t, 8, st["succeeded"])
	code, list := call(t, "GET", url+"/v1/runs", token, "")
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, list["runs"].([]any)[0], "run")
	dbst, err := store.Status(t.Context(), plan.ID)
	require.NoError(t, err)
	assert.True(t, dbst.Finished)
	assert.NoError(t, dbst.Err)

	code, ans = call(t, "POST", url+"/v1/runs/"+run+"/resume", token, `{}`)
	assert.Equal(t, http.StatusConflict, code)
	assert.Equal(t, "not_resumable", ans["kind"])
	assert.Contains(t, ans["error"], "kept in the database")
	code, ans = call(t, "POST", url+"/v1/runs/"+run+"/cancel", token, `{}`)
	assert.Equal(t, http.StatusConflict, code)
	assert.Equal(t, "not_running", ans["kind"])

	lines := strings.Split(strings.TrimSpace(e.readLedger(t)), "\n")
	assert.Len(t, lines, len(allSteps), "each step once")
	at := map[string]int{}
	for i, l := range lines {
		id, pkg, _ := strings.Cut(l, "|")
		at[id] = i
		if s, ok := plan.Step(upgrade.StepID(id)); ok && s.Package != nil {
			_, content := packageFile(s.Package.Type, s.Package.Version.String())
			assert.Equal(t, "400|"+strings.TrimSpace(string(content)), pkg, "%s got its package", id)
		}
	}
	for _, s := range plan.Steps {
		for _, d := range plan.Prerequisites(s.ID) {
			assert.Less(t, at[string(d)], at[string(s.ID)], "%s ran before %s, which it needs", s.ID, d)
		}
	}
	// The topology learned the new versions, as apply's does.
	assert.Equal(t, "10.1.34", e.nodeVersion(t, "tomcat-1"))

	for _, w := range []*child{w1, w2} {
		require.NoError(t, w.cmd.Process.Signal(syscall.SIGTERM))
		assert.Equal(t, exitOK, w.wait(t), "an idle worker drains")
	}
	require.NoError(t, srv.Process.Signal(syscall.SIGTERM))
	require.NoError(t, srv.Wait(), srvErr.String())
	assert.NotContains(t, srvErr.String(), db, "the database URL is not printed")
}

// newDatabaseServer is a server of e's inputs that keeps its runs in the
// database schema.
func newDatabaseServer(t *testing.T, e *applyEnv, db, schema string) *testServer {
	t.Helper()
	return newDatabaseServerIn(t, e, db, schema, filepath.Join(t.TempDir(), "state"))
}

// newDatabaseServerIn is newDatabaseServer with state directory stateDir,
// whose database runs not seen ending it follows again.
func newDatabaseServerIn(t *testing.T, e *applyEnv, db, schema, stateDir string) *testServer {
	t.Helper()
	return newDatabaseServerWith(t, e, db, schema, stateDir, nil)
}

// newDatabaseServerWith is newDatabaseServerIn with its run flags changed
// by edit, if not nil.
func newDatabaseServerWith(t *testing.T, e *applyEnv, db, schema, stateDir string, edit func(*runFlags)) *testServer {
	t.Helper()
	in := inputFlags{topology: e.topo, repo: e.repo, keys: stringList{e.key}, policy: "newest"}
	env, err := in.load(t.Context())
	require.NoError(t, err)
	t.Cleanup(func() { env.Close() })
	rf := runFlags{concurrency: 1, db: &dbFlags{url: db, schema: schema}}
	if edit != nil {
		edit(&rf)
	}
	require.NoError(t, rf.check())
	state, err := openStateDir(stateDir)
	require.NoError(t, err)
	t.Cleanup(func() { state.Close() })
	acc := access{token: testToken}
	srv, err := newServer(t.Context(), env, &rf, acc, state, io.Discard, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	srv.db = openStore(t, db, schema)
	srv.followDatabaseRuns()
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	t.Cleanup(srv.Close)
	client := &http.Client{Timeout: 20 * time.Second, Transport: bearer{acc.token, http.DefaultTransport}}
	t.Cleanup(client.CloseIdleConnections)
	return &testServer{applyEnv: e, srv: srv, hs: hs, stateDir: stateDir, state: state, url: hs.URL, client: client}
}

// TestServeDatabaseCancel: POST /v1/runs/RUN/cancel without the token is
// refused (401) and cancels nothing; with it, it cancels a database run
// while a worker runs its first step: the step's command is stopped,
// no other step starts, and the run ends cancelled, in the server and in
// the database. Resumed, it is taken up again there and succeeds.
func TestServeDatabaseCancel(t *testing.T) {
	db := testDatabase(t)
	schema := testSchema()
	e := newApplyEnv(t)
	ts := newDatabaseServer(t, e, db, schema)
	started, release := filepath.Join(e.dir, "started"), filepath.Join(e.dir, "release")
	w := startChild(t, "worker", "--database", db, "--database-schema", schema, "--exec", e.blockingStep(started, release),
		"--poll", "50ms", "--lease", "1s", "--grace", "1s")
	code, ans := ts.post(t, "/v1/apply", requestBody(t, "testdata/requests.json"))
	require.Equal(t, http.StatusAccepted, code, ans)
	run, planID := ans["run"].(string), ans["plan"].(string)
	waitFile(t, started)
	// Without the token: 401, and the run goes on.
	code, ans = call(t, "POST", ts.url+"/v1/runs/"+run+"/cancel", "", `{}`)
	assert.Equal(t, http.StatusUnauthorized, code, ans)
	dbst, err := ts.srv.db.Status(t.Context(), planID)
	require.NoError(t, err)
	assert.False(t, dbst.Cancelled || dbst.Finished, "not cancelled")
	code, ans = ts.post(t, "/v1/runs/"+run+"/cancel", `{}`)
	require.Equal(t, http.StatusAccepted, code, ans)
	events := ts.follow(t, "/v1/runs/"+run+"/events", "")
	done := events[len(events)-1]
	assert.Contains(t, done.data, `"state":"cancelled"`)
	code, st := ts.get(t, "/v1/runs/"+run)
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, "cancelled", st["state"])
	// Cut short, the step may be done in part: in doubt, as a run of the
	// server's own reports it (TestServeCancelResume), not failed.
	assert.Equal(t, stepInDoubt, st["steps"].(map[string]any)[allSteps[0]])
	assert.EqualValues(t, 0, st["failed"])
	dbst, err = ts.srv.db.Status(t.Context(), planID)
	require.NoError(t, err)
	assert.True(t, dbst.Cancelled)
	assert.ErrorIs(t, dbst.Err, pgrun.ErrCancelled)
	assert.Equal(t, allSteps[0]+" false\n", e.readLedger(t), "no step after the cancelled one")
	require.NoError(t, w.cmd.Process.Signal(syscall.SIGTERM))
	w.wait(t)

	// Resumed, the cancelled run is taken up again in the database: the
	// cancelled step runs again, in doubt (it was cut short, and may be
	// done in part), then the others, and the run succeeds.
	code, ans = ts.post(t, "/v1/runs/"+run+"/resume", "")
	require.Equal(t, http.StatusAccepted, code, ans)
	assert.Equal(t, run, ans["run"])
	_, st = ts.get(t, "/v1/runs/"+run)
	assert.Equal(t, stepInDoubt, st["steps"].(map[string]any)[allSteps[0]], "in doubt until it starts again")
	w = startChild(t, "worker", "--database", db, "--database-schema", schema, "--exec", e.record(), "--plan", planID, "--poll", "50ms")
	events = ts.follow(t, "/v1/runs/"+run+"/events", "")
	assert.Contains(t, events[len(events)-1].data, `"state":"succeeded"`)
	assert.Equal(t, exitOK, w.wait(t), w.stderr.String())
	assert.Equal(t, allSteps[0]+" false\n"+allSteps[0]+" true\n"+ledgerOf(allSteps[1:]...), e.readLedger(t))
	dbst, err = ts.srv.db.Status(t.Context(), planID)
	require.NoError(t, err)
	assert.NoError(t, dbst.Err)
}

// TestServeDatabaseRestart: a server stops while a database run goes on
// (a worker holds its first step); the run finishes meanwhile; a new
// server on the same state directory follows it again: its status and
// its event stream, every event from the first, say it succeeded, and
// applying the plan again answers with the same run.
func TestServeDatabaseRestart(t *testing.T) {
	db := testDatabase(t)
	schema := testSchema()
	e := newApplyEnv(t)
	stateDir := filepath.Join(t.TempDir(), "state")
	started, release := filepath.Join(e.dir, "started"), filepath.Join(e.dir, "release")
	w := startChild(t, "worker", "--database", db, "--database-schema", schema, "--exec", e.blockingStep(started, release), "--poll", "50ms")
	ts1 := newDatabaseServerIn(t, e, db, schema, stateDir)
	body := requestBody(t, "testdata/requests.json")
	code, ans := ts1.post(t, "/v1/apply", body)
	require.Equal(t, http.StatusAccepted, code, ans)
	run, planID := ans["run"].(string), ans["plan"].(string)
	waitFile(t, started)
	ts1.stop()
	require.NoError(t, os.WriteFile(release, nil, 0o644))
	// The run finishes without a server.
	store := openStore(t, db, schema)
	st, err := store.Wait(t.Context(), planID, 20*time.Millisecond)
	require.NoError(t, err)
	require.NoError(t, st.Err)

	ts2 := newDatabaseServerIn(t, e, db, schema, stateDir)
	events := ts2.follow(t, "/v1/runs/"+run+"/events", "")
	kinds := map[string]int{}
	for _, ev := range events[:len(events)-1] {
		var se stepEvent
		require.NoError(t, json.Unmarshal([]byte(ev.data), &se))
		kinds[se.Kind]++
	}
	assert.Equal(t, map[string]int{"started": 8, "succeeded": 8}, kinds)
	assert.Contains(t, events[len(events)-1].data, `"state":"succeeded"`)
	code, status := ts2.get(t, "/v1/runs/"+run)
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, "succeeded", status["state"])
	code, ans = ts2.post(t, "/v1/plans/"+planID+"/apply", `{}`)
	require.Equal(t, http.StatusAccepted, code, ans)
	assert.Equal(t, run, ans["run"])
	assert.Equal(t, ledgerOf(allSteps...), e.readLedger(t), "each step once")
	require.NoError(t, w.cmd.Process.Signal(syscall.SIGTERM))
	w.wait(t)

	// A server given another schema, which does not hold the run, says so
	// (interrupted, to follow again with the right one) rather than wait.
	ts2.srv.Close()
	rec, err := ts2.srv.state.loadRun(run)
	require.NoError(t, err)
	rec.State = runRunning // as if the server had stopped during the run
	require.NoError(t, ts2.srv.state.saveRun(rec))
	ts2.stop()
	ts3 := newDatabaseServerIn(t, e, db, testSchema(), stateDir)
	events = ts3.follow(t, "/v1/runs/"+run+"/events", "")
	done := events[len(events)-1]
	assert.Contains(t, done.data, `"state":"interrupted"`)
	assert.Contains(t, done.data, "no such run")
	assert.Contains(t, done.data, "--database-schema")
}

// TestServeDatabaseFlags: serve --database (or STACKUP_DATABASE_URL)
// refuses the flags of commands it does not run, and a URL that is not
// postgres://, without showing it; it stops before listening, and nothing
// runs.
func TestServeDatabaseFlags(t *testing.T) {
	unsetToken(t)
	e := newApplyEnv(t)
	exec, ran := marker(t)
	base := []string{"serve", "--topology", e.topo, "--repo", e.repo, "--key", e.key, "--state-dir", filepath.Join(t.TempDir(), "state")}
	url := "postgres://stackup:hunter2secret@127.0.0.1:1/none"
	tests := []struct {
		name  string
		args  []string
		env   string
		error string
	}{
		{"exec", []string{"--database", url, "--exec", exec}, "", "with --database the workers run the steps"},
		{"exec-env", []string{"--exec", exec}, url, "with --database the workers run the steps"},
		{"rollback", []string{"--database", url, "--rollback", "--rollback-exec", exec}, "", "with --database the workers run the steps"},
		{"prefetch", []string{"--database", url, "--prefetch"}, "", "--prefetch is not supported with --database"},
		{"scheme", []string{"--database", "mysql://root:hunter2secret@db/x"}, "", `--database: the value given has scheme "mysql"`},
		{"scheme-env", nil, "hunter2secret", databaseEnv + `: the value given has scheme ""`},
		{"schema", []string{"--database", url, "--database-schema", ""}, "", "--database-schema: give a schema name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.env != "" {
				t.Setenv(databaseEnv, tt.env)
			}
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			var stdout, stderr strings.Builder
			code := run(ctx, append(slices.Clone(base), tt.args...), &stdout, &stderr)
			assert.Equal(t, exitUsage, code, stderr.String())
			assert.Contains(t, stderr.String(), tt.error)
			assert.NotContains(t, stderr.String()+stdout.String(), "hunter2secret")
			assert.NotContains(t, stdout.String(), "listening on")
			assert.NoFileExists(t, ran)
		})
	}
}

// TestServeDatabaseStale: with --stale-check, a reviewed plan whose
// topology changed since is refused (409 "stale", naming the node) and
// not submitted.
func TestServeDatabaseStale(t *testing.T) {
	db := testDatabase(t)
	schema := testSchema()
	e := newApplyEnv(t)
	ts := newDatabaseServer(t, e, db, schema)
	ts.srv.rf.staleCheck = true
	id := ts.reviewed(t)
	data, err := os.ReadFile(e.topo)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(e.topo, []byte(strings.Replace(string(data),
		"{id: java-1, template: java_runtime,", "{id: java-1, template: java_runtime, version: 11.0.25,", 1)), 0o600))
	ts.srv.env.changed()
	code, ans := ts.post(t, "/v1/plans/"+id+"/apply", `{}`)
	assert.Equal(t, http.StatusConflict, code, ans)
	assert.Equal(t, "stale", ans["kind"])
	assert.Contains(t, ans["error"], `node "java-1" has 11.0.25`)
	_, err = ts.srv.db.Status(t.Context(), id)
	assert.ErrorIs(t, err, pgrun.ErrUnknownRun, "not submitted")
	code, list := ts.get(t, "/v1/runs")
	require.Equal(t, http.StatusOK, code)
	assert.Empty(t, list["runs"])
}
