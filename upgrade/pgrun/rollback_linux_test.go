package pgrun

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/upgrade"
)

// doubtRecorder records each Rollback and whether it was told it is in
// doubt, and when the first one started.
type doubtRecorder struct {
	mu     sync.Mutex
	rolled []string
	first  time.Time
}

func (e *doubtRecorder) Execute(context.Context, upgrade.Step) error { return nil }

func (e *doubtRecorder) Rollback(ctx context.Context, st upgrade.Step) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.first.IsZero() {
		e.first = time.Now()
	}
	tag := string(st.ID)
	if upgrade.InDoubt(ctx) {
		tag += " in doubt"
	}
	e.rolled = append(e.rolled, tag)
	return nil
}

// TestRollbackWorkerKilled: a worker process killed with SIGKILL in the
// middle of a rollback; another worker, once the lease expired, rolls the
// step back, told it is in doubt, and finishes the rollback; the step is
// listed in doubt.
func TestRollbackWorkerKilled(t *testing.T) {
	s, _ := testStore(t)
	ctx := context.Background()
	plan := chain3("rb-killed")
	plan.Steps = plan.Steps[:3] // a, b after a, c after b: c fails; c, b, a are undone
	require.NoError(t, s.Submit(ctx, plan, Options{Rollback: true}))
	marker := filepath.Join(t.TempDir(), "victim-mid-rollback")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=victim", "PGRUN_TEST_URL="+databaseURL,
		"PGRUN_TEST_SCHEMA="+s.name, "PGRUN_TEST_PLAN="+plan.ID, "PGRUN_TEST_ROLLBACK_HANG="+marker)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill() }) // it outlives no failed test
	// A failure bound:
	require.Eventually(t, func() bool {
		_, err := os.Stat(marker)
		return err == nil
	}, 2*time.Minute, pollEvery, "the victim never reached b's rollback")
	require.NoError(t, cmd.Process.Kill())
	killed := time.Now()
	assert.Error(t, cmd.Wait())

	rec := &doubtRecorder{}
	work(t, s, plan.ID, 1, rec, lapsingWorker)
	assert.Equal(t, []string{"b in doubt", "a"}, rec.rolled)
	t.Logf("takeover of the rollback %v after the kill (lease %v)", rec.first.Sub(killed), lapsingWorker.Lease)
	st, err := s.Status(ctx, plan.ID)
	require.NoError(t, err)
	require.True(t, st.Finished)
	for _, id := range []upgrade.StepID{"a", "b", "c"} {
		o, _ := st.Report.Outcome(id)
		assert.Equal(t, upgrade.RolledBack, o.State, id)
	}
	assert.Equal(t, []upgrade.StepID{"b"}, st.InDoubt)
	assert.ErrorIs(t, st.Err, upgrade.ErrStepFailed)
	assert.NotErrorIs(t, st.Err, upgrade.ErrRollback)
}
