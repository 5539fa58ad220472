package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestHunt14InterruptedWhileReadingRepository: a SIGINT while plan (or
// apply) waits for the repository's index is an interrupt, exit 1, not
// an invalid input: it exited 2 ("usage, or an input that cannot be read
// or is invalid"), saying the repository failed, "interrupted", so that
// a script took the repository for broken.
func TestHunt14InterruptedWhileReadingRepository(t *testing.T) {
	asked := make(chan struct{}, 1)
	repo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case asked <- struct{}{}:
		default:
		}
		<-r.Context().Done() // a repository that does not answer
	}))
	t.Cleanup(repo.Close)
	args := []string{"plan", "--topology", "testdata/shop.yaml", "--repo", repo.URL, "--requests", "testdata/requests.yaml"}
	stop := make(chan struct{})
	var stdout, stderr bytes.Buffer
	code := make(chan int, 1)
	go func() { code <- run(withStop(t.Context(), stop), args, &stdout, &stderr) }()
	<-asked
	close(stop)
	got := <-code
	assert.Equal(t, exitFailed, got, "an interrupt, not an invalid input: %s", stderr.String())
	assert.Contains(t, stderr.String(), "interrupted")
	require.Empty(t, stdout.String())
}

// TestHunt14StateDirInUseExitsOne: serve on a state directory that
// another serve holds exits 1, as apply does on a deployment another
// apply holds: the directory is busy, not an invalid input. It exited 2,
// the code a supervisor configured not to restart on a usage error
// (systemd's RestartPreventExitStatus=2) takes for a mistake in the
// flags, and so never tried again once the other had stopped.
func TestHunt14StateDirInUseExitsOne(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	held, err := openStateDir(dir)
	require.NoError(t, err)
	t.Cleanup(func() { held.Close() })
	r := stackup(t, "serve", "--topology", "testdata/shop.yaml", "--repo", "testdata/repo", "--exec", "true",
		"--state-dir", dir, "--listen", "127.0.0.1:0")
	assert.Equal(t, exitFailed, r.code, r.stderr)
	assert.Contains(t, r.stderr, "is in use by another stackup serve")
}

// TestHunt14EmptyFlagTurnsNothingOff gives a flag whose value turns a
// safeguard on or narrows what runs as "", as a shell gives
// --verify-exec "$CHECK" with CHECK unset: it is refused (exit 2, naming
// the flag) before anything runs, as a file flag given empty is, rather
// than taken for the flag left out, which ran every step without its
// health check (--verify-exec), every instance at once (--max-in-flight),
// a worker meant for one plan on every run (--plan), and a worker's steps
// without their checked package (worker --repo), each without a word.
func TestHunt14EmptyFlagTurnsNothingOff(t *testing.T) {
	e := newApplyEnv(t)
	db := []string{"worker", "--database", "postgres://stackup@127.0.0.1:1/stackup", "--exec", "true"}
	tests := []struct {
		name string
		args []string
		flag string
	}{
		{"apply-verify-exec", e.args("--exec", "sh -c 'echo {{.ID}} >> LEDGER'", "--verify-exec", ""), "--verify-exec"},
		{"apply-max-in-flight", e.args("--exec", "true", "--canaries", "1", "--max-in-flight", ""), "--max-in-flight"},
		{"worker-plan", append(db, "--plan", ""), "--plan"},
		{"worker-repo", append(db, "--repo", ""), "--repo"},
		{"worker-verify-exec", append(db, "--verify-exec", ""), "--verify-exec"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i, a := range tt.args {
				tt.args[i] = strings.ReplaceAll(a, "LEDGER", e.ledger)
			}
			r := stackup(t, tt.args...)
			assert.Equal(t, exitUsage, r.code, r.stderr)
			assert.Contains(t, r.stderr, tt.flag+" is empty: give the ")
			assert.Empty(t, e.readLedger(t), "nothing ran")
		})
	}
}
