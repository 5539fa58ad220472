package main

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/upgrade"
)

// The files that serve and apply open by a name they make, in the state
// directory and beside the topology file, planted by another: a named
// pipe, whose open would wait for a writer that never comes, and a
// symbolic link, which would have stackup read or write another file.
// Each is refused, naming what it is, and nothing changes.

// TestHunt8DeploymentLockNotRegular plants the deployment's lock file
// (.NAME.stackup-lock, beside the topology file) as a symbolic link to
// the topology file itself, and as a named pipe: the lock is refused,
// naming what the file is, and the topology file is as it was. Before,
// the link was followed and the topology file emptied and overwritten
// with the holder's pid.
func TestHunt8DeploymentLockNotRegular(t *testing.T) {
	for _, tt := range []struct {
		name, want string
		plant      func(topo, lock string) error
	}{
		{"symlink", "a symbolic link", func(topo, lock string) error { return os.Symlink(filepath.Base(topo), lock) }},
		{"symlink-dangling", "a symbolic link", func(topo, lock string) error { return os.Symlink("elsewhere", lock) }},
		{"fifo", "a named pipe", func(topo, lock string) error { return syscall.Mkfifo(lock, 0o600) }},
		{"directory", "a directory", func(topo, lock string) error { return os.Mkdir(lock, 0o700) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			topo := filepath.Join(dir, "shop.yaml")
			data, err := os.ReadFile("testdata/shop.yaml")
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(topo, data, 0o600))
			lock := filepath.Join(dir, ".shop.yaml.stackup-lock")
			require.NoError(t, tt.plant(topo, lock))
			before := snapshot8(t, dir)
			unlock, err := lockRuns(&inputFlags{topology: topo})
			if err == nil {
				unlock()
			}
			require.Error(t, err, "the lock was taken")
			assert.Contains(t, err.Error(), tt.want)
			assert.Contains(t, err.Error(), ".shop.yaml.stackup-lock")
			assert.Equal(t, before, snapshot8(t, dir), "nothing changed: the topology file is as it was")
			assert.NoFileExists(t, filepath.Join(dir, "elsewhere"), "nothing was created through the link")
		})
	}
}

// TestHunt8ServeDeploymentLockLink: serve's run takes the deployment
// lock as apply does: one planted as a link to the topology file is
// refused, no step runs, and the topology file is unchanged.
func TestHunt8ServeDeploymentLockLink(t *testing.T) {
	e := newApplyEnv(t)
	exec, ran := marker(t)
	ts := startTestServer(t, e, filepath.Join(t.TempDir(), "state"), t.Context(), 0, e.topo, exec, access{token: testToken}, ts8Log())
	ts.srv.lockDeployment = func() (func(), error) { return lockRuns(&inputFlags{topology: e.topo}) }
	lock := filepath.Join(filepath.Dir(e.topo), "."+filepath.Base(e.topo)+".stackup-lock")
	require.NoError(t, os.Symlink(filepath.Base(e.topo), lock))
	before, err := os.ReadFile(e.topo)
	require.NoError(t, err)
	code, answer := ts.post(t, "/v1/apply", requestBody(t, "testdata/requests.json"))
	assert.Equal(t, http.StatusInternalServerError, code, answer)
	assert.Contains(t, answer["error"], "a symbolic link")
	assert.NoFileExists(t, ran, "no step ran")
	after, err := os.ReadFile(e.topo)
	require.NoError(t, err)
	assert.Equal(t, string(before), string(after), "the topology file is unchanged")
}

// TestHunt8StateFilesNotRegular plants, under the names of a reviewed
// plan and of a run's record, a named pipe and a symbolic link to a copy
// of the right file elsewhere in the state directory: GET answers 500
// naming what the file is, at once rather than waiting for a writer, and
// a server that starts on the directory starts, skipping the record.
func TestHunt8StateFilesNotRegular(t *testing.T) {
	outer := t // the servers started again live as long as the test
	ts := newTestServer(t, "true")
	id := ts.reviewed(t)
	hex := strings.TrimPrefix(id, "sha256:")
	code, answer := ts.post(t, "/v1/plans/"+id+"/apply", "")
	require.Equal(t, http.StatusAccepted, code, answer)
	run := answer["run"].(string)
	ts.follow(t, answer["events"].(string), "")
	// The run's record is saved after its end is told: a server that has
	// closed has saved it.
	ts.stop()
	ts = startTestServer(t, ts.applyEnv, ts.stateDir, t.Context(), 0, "testdata/shop.yaml", "true", access{token: testToken}, ts8Log())
	planFile := filepath.Join(ts.stateDir, "plans", "sha256-"+hex+".json")
	runFile := filepath.Join(ts.stateDir, "runs", run+".json")

	for _, tt := range []struct{ name, want string }{{"fifo", "a named pipe"}, {"symlink", "a symbolic link"}} {
		t.Run(tt.name, func(t *testing.T) {
			for _, f := range []struct{ path, file string }{{"/v1/plans/" + id, planFile}, {"/v1/runs/" + run, runFile}} {
				saved := filepath.Join(ts.stateDir, "saved-"+filepath.Base(f.file))
				require.NoError(t, os.Rename(f.file, saved))
				if tt.name == "fifo" {
					require.NoError(t, syscall.Mkfifo(f.file, 0o600))
				} else {
					require.NoError(t, os.Symlink("../"+filepath.Base(saved), f.file))
				}
				ts.srv.mu.Lock()
				delete(ts.srv.runs, run) // read from the state directory
				ts.srv.mu.Unlock()
				code, answer := ts.get(t, f.path)
				assert.Equal(t, http.StatusInternalServerError, code, "%s: %v", f.path, answer)
				assert.Contains(t, answer["error"], tt.want, f.path)
				if f.file == runFile {
					ts.stop()
					again := startTestServer(t, ts.applyEnv, ts.stateDir, t.Context(), 0, "testdata/shop.yaml", "true", access{token: testToken}, ts8Log())
					code, answer := again.get(t, f.path)
					assert.Equal(t, http.StatusInternalServerError, code, "%s: %v", f.path, answer)
					assert.Contains(t, answer["error"], tt.want, f.path)
					again.stop()
					ts = startTestServer(outer, ts.applyEnv, ts.stateDir, t.Context(), 0, "testdata/shop.yaml", "true", access{token: testToken}, ts8Log())
				}
				require.NoError(t, os.Remove(f.file))
				require.NoError(t, os.Rename(saved, f.file))
			}
		})
	}
}

// TestHunt8StateDirLockNotRegular: the state directory's lock file
// planted as a symbolic link (to a plan, here) or a named pipe: serve
// refuses the directory, naming what the file is, and nothing changes.
func TestHunt8StateDirLockNotRegular(t *testing.T) {
	for _, tt := range []struct{ name, want string }{{"fifo", "a named pipe"}, {"symlink", "a symbolic link"}} {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "state")
			require.NoError(t, os.MkdirAll(filepath.Join(dir, "plans"), 0o700))
			require.NoError(t, os.WriteFile(filepath.Join(dir, "plans", "keep"), []byte("kept"), 0o600))
			if tt.name == "fifo" {
				require.NoError(t, syscall.Mkfifo(filepath.Join(dir, "lock"), 0o600))
			} else {
				require.NoError(t, os.Symlink("plans/keep", filepath.Join(dir, "lock")))
			}
			before := snapshot8(t, dir)
			st, err := openStateDir(dir)
			if err == nil {
				st.Close()
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			delete(before, "runs") // made by openStateDir, before the lock
			after := snapshot8(t, dir)
			delete(after, "runs")
			assert.Equal(t, before, after, "nothing changed")
		})
	}
}

// ts8Log is the log of the servers of these tests: none.
func ts8Log() *slog.Logger { return slog.New(slog.DiscardHandler) }

// snapshot8 is snapshot, which would wait on a named pipe for a writer:
// a file that is neither regular nor a link nor a directory is recorded
// by its type.
func snapshot8(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	require.NoError(t, filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(path)
			files[rel] = "link " + target
			return err
		case d.IsDir():
			files[rel] = "dir"
		case !d.Type().IsRegular():
			files[rel] = d.Type().String()
		default:
			data, err := os.ReadFile(path)
			files[rel] = fmt.Sprintf("%x", sha256.Sum256(data))
			return err
		}
		return nil
	}))
	return files
}

// TestHunt8JournalNotRegular plants a run's journal (runs/ID.journal) as
// a named pipe, and as a symbolic link to an empty file inside the
// state directory (an os.Root refuses one that leads out of it anyway),
// which a journal opened through the link would be written into: a server that starts on the directory, finding the run
// interrupted, starts, and says what its journal is; a resume is refused
// the same way, runs nothing, and the file the link leads to is as it was.
func TestHunt8JournalNotRegular(t *testing.T) {
	for _, tt := range []struct{ name, want string }{{"fifo", "not a regular file"}, {"symlink", "not a regular file"}} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			stateDir := filepath.Join(dir, "state")
			e := newApplyEnv(t)
			ts := startTestServer(t, e, stateDir, t.Context(), 0, "testdata/shop.yaml", `sh -c 'echo "$1" >> LEDGER' sh {{.ID}}`, access{token: testToken}, ts8Log())
			id := ts.reviewed(t)
			run := strings.Repeat("C", 26)
			rec := runRecord{Run: run, Plan: id, State: runRunning, Total: 1,
				Steps: map[upgrade.StepID]string{upgrade.StepID(allSteps[0]): stepRunning}}
			require.NoError(t, ts.state.saveRun(&rec))
			ts.stop()
			journal := filepath.Join(stateDir, "runs", run+".journal")
			victim := filepath.Join(stateDir, "runs", "victim") // inside: an os.Root follows a link there
			require.NoError(t, os.WriteFile(victim, nil, 0o600))
			if tt.name == "fifo" {
				require.NoError(t, syscall.Mkfifo(journal, 0o600))
			} else {
				require.NoError(t, os.Symlink(victim, journal))
			}

			again := startTestServer(t, e, stateDir, t.Context(), 0, "testdata/shop.yaml", `sh -c 'echo "$1" >> LEDGER' sh {{.ID}}`, access{token: testToken}, ts8Log())
			code, status := again.get(t, "/v1/runs/"+run)
			require.Equal(t, http.StatusOK, code, status)
			assert.Equal(t, "interrupted", status["state"])
			assert.Contains(t, status["error"], tt.want, "the journal's problem is told")
			code, answer := again.post(t, "/v1/runs/"+run+"/resume", "")
			assert.Equal(t, http.StatusInternalServerError, code, answer)
			assert.Contains(t, answer["error"], tt.want)
			assert.Empty(t, again.readLedger(t), "no step ran")
			data, err := os.ReadFile(victim)
			require.NoError(t, err)
			assert.Empty(t, string(data), "nothing was written through the link")
		})
	}
}

// post8 is testServer.post for any goroutine: it returns what went wrong
// rather than failing the test.
func post8(ts *testServer, path, body string) (int, map[string]any, error) {
	resp, err := ts.client.Post(ts.url+path, "application/json", strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var answer map[string]any
	err = json.NewDecoder(resp.Body).Decode(&answer)
	return resp.StatusCode, answer, err
}

// postResult is what post8 returned.
type postResult struct {
	code   int
	answer map[string]any
	err    error
}

// postAsync calls post8 in a goroutine of its own, for a call that waits
// on the server, and returns where its result comes.
func postAsync(ts *testServer, path, body string) <-chan postResult {
	c := make(chan postResult, 1)
	go func() {
		code, answer, err := post8(ts, path, body)
		c <- postResult{code, answer, err}
	}()
	return c
}

// TestHunt8DatabaseSubmitOutsideLock holds the submission of a plan to
// the database (serve --database) as a slow database would: the server
// answers other calls meanwhile (before, it held its mutex through the
// round trip, and every call waited); another plan on the same
// application waits for the start, then is refused busy, naming the run,
// which exists by then; and the same plan applied again waits for the
// first apply and answers with its run: the plan is submitted once.
func TestHunt8DatabaseSubmitOutsideLock(t *testing.T) {
	db := testDatabase(t)
	schema := testSchema()
	e := newApplyEnv(t)
	ts := newDatabaseServer(t, e, db, schema)
	id := ts.reviewed(t)
	run := databaseRunID(id)
	submitting, release, waiting := make(chan struct{}), make(chan struct{}), make(chan struct{}, 2)
	var submits atomic.Int32
	ts.srv.testHook = func(point string) {
		switch point {
		case "submit":
			if submits.Add(1) == 1 {
				close(submitting)
				<-release
			}
		case "wait":
			waiting <- struct{}{}
		}
	}
	post := func(path, body string) <-chan postResult { return postAsync(ts, path, body) }
	apply := func() <-chan postResult { return post("/v1/plans/"+id+"/apply", "") }
	var releaseOnce sync.Once
	letGo := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(letGo) // before the server closes, which waits for the apply
	first := apply()
	<-submitting

	// The first apply is in the database's hands: the server's mutex is
	// free, and the server answers.
	if !ts.srv.mu.TryLock() {
		t.Fatal("the server's mutex is held while the plan is submitted to the database")
	}
	ts.srv.mu.Unlock()
	code, runs := ts.get(t, "/v1/runs")
	assert.Equal(t, http.StatusOK, code, runs)
	// Another plan on shop waits for the start, as does the same plan
	// applied again.
	other := post("/v1/apply", hunt6Request("shop_app_v3", hunt6Host))
	<-waiting
	second := apply()
	<-waiting
	letGo()
	for _, c := range []<-chan postResult{first, second} {
		r := <-c
		require.NoError(t, r.err)
		assert.Equal(t, http.StatusAccepted, r.code, r.answer)
		assert.Equal(t, run, r.answer["run"], "one run")
	}
	// The other plan is refused once the run exists, naming it.
	r := <-other
	require.NoError(t, r.err)
	assert.Equal(t, http.StatusConflict, r.code, r.answer)
	assert.Equal(t, "busy", r.answer["kind"])
	assert.Equal(t, run, r.answer["run"])
	code, status := ts.get(t, "/v1/runs/"+run)
	assert.Equal(t, http.StatusOK, code, status)
	assert.Equal(t, int32(1), submits.Load(), "the plan was submitted once")
	st, err := ts.srv.db.Status(t.Context(), id)
	require.NoError(t, err)
	assert.False(t, st.Finished, "the run waits for a worker")
}

// TestHunt8PlanNamePlanted plants a named pipe, or a symbolic link to a
// copy of the plan elsewhere in the state directory, under the name a
// plan is to be stored by: posting the plan for review, or applying it,
// was answered as if the plan were stored (201, 202) though it never was
// (a resume could not read it). Both are now refused, 500 naming what the
// file is, and nothing runs.
func TestHunt8PlanNamePlanted(t *testing.T) {
	for _, tt := range []struct{ name, want string }{{"fifo", "a named pipe"}, {"symlink", "a symbolic link"}} {
		t.Run(tt.name, func(t *testing.T) {
			exec, ran := marker(t)
			ts := newTestServer(t, exec)
			id := ts.reviewed(t)
			file := filepath.Join(ts.stateDir, "plans", "sha256-"+strings.TrimPrefix(id, "sha256:")+".json")
			require.NoError(t, os.Rename(file, filepath.Join(ts.stateDir, "copy.json")))
			if tt.name == "fifo" {
				require.NoError(t, syscall.Mkfifo(file, 0o600))
			} else {
				require.NoError(t, os.Symlink("../copy.json", file))
			}
			for _, path := range []string{"/v1/plans", "/v1/apply"} {
				code, answer := ts.post(t, path, requestBody(t, "testdata/requests.json"))
				assert.Equal(t, http.StatusInternalServerError, code, "%s: %v", path, answer)
				assert.Contains(t, answer["error"], tt.want, path)
			}
			assert.Zero(t, ts.runCount(), "no run was created")
			assert.NoFileExists(t, ran, "no command ran")
		})
	}
}
