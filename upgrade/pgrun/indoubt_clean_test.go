package pgrun

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/upgrade/upgradetest"
)

// memJournal is an upgrade.Journal in memory, holding the records it was
// made with and those appended since.
type memJournal struct {
	mu      sync.Mutex
	records []upgrade.Record
}

func (j *memJournal) Begin(context.Context, string) ([]upgrade.Record, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return slices.Clone(j.records), nil
}

func (j *memJournal) Append(_ context.Context, r upgrade.Record) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.records = append(j.records, r)
	return nil
}

// TestTakenOverCleanFailureSettlesDoubt: a step offered in doubt (its
// worker lost; in upgrade.Run, a journal's step started and never ended)
// whose attempt then fails cleanly, its Execute returning an error, is
// reported in doubt for that run, as upgrade.Run reports it; but the
// failure settles it: upgrade.Run resumed offers it again not in doubt,
// and so must a Retry of the run.
func TestTakenOverCleanFailureSettlesDoubt(t *testing.T) {
	ctx := context.Background()
	plan := onNode("settled", "x", "n-x")

	j := &memJournal{records: []upgrade.Record{{Kind: upgrade.RecordStarted, Step: "x"}}} // a crash as x ran
	inProc := &upgradetest.Executor{}
	inProc.FailAt("x", errBoom)
	first, err := upgrade.Run(ctx, plan, inProc, upgrade.WithJournal(j))
	require.Error(t, err)
	want1 := first.Outcomes[0]
	require.Equal(t, upgrade.Failed, want1.State)
	require.True(t, want1.InDoubt, "the test's premise: Run offers x in doubt")
	inProcAgain := &upgradetest.Executor{}
	second, err := upgrade.Run(ctx, plan, inProcAgain, upgrade.WithJournal(j))
	require.NoError(t, err)
	want2 := second.Outcomes[0]

	s, _ := testStore(t)
	require.NoError(t, s.Submit(ctx, plan, Options{}))
	dead := testWorker(t, s, plan.ID, &upgradetest.Executor{}, WorkerOptions{Name: "dead", Lease: 100 * time.Millisecond})
	c, _, _, err := dead.claim(ctx, nil)
	require.NoError(t, err)
	require.NotNil(t, c, "the dead worker's claim")
	remote := &upgradetest.Executor{}
	remote.FailAt("x", errBoom)
	work(t, s, plan.ID, 1, remote, fastWorker) // takes x over once the dead worker's lease expired
	require.Equal(t, []upgrade.StepID{"x"}, remote.InDoubt(), "the test's premise: x taken over in doubt")
	st, err := s.Status(ctx, plan.ID)
	require.NoError(t, err)
	require.True(t, st.Finished)
	got1 := st.Report.Outcomes[0]
	assert.Equal(t, want1.State, got1.State)
	assert.Equal(t, want1.InDoubt, got1.InDoubt, "in doubt, the run that took it over")

	retried, err := s.Retry(ctx, plan.ID)
	require.NoError(t, err)
	require.True(t, retried)
	remoteAgain := &upgradetest.Executor{}
	work(t, s, plan.ID, 1, remoteAgain, fastWorker)
	assert.Equal(t, inProcAgain.InDoubt(), remoteAgain.InDoubt(), "offered in doubt after its clean failure")
	st, err = s.Status(ctx, plan.ID)
	require.NoError(t, err)
	require.True(t, st.Finished)
	require.NoError(t, st.Err)
	assert.Equal(t, want2.InDoubt, st.Report.Outcomes[0].InDoubt, "in doubt, the run retried")
	assert.Empty(t, st.InDoubt)
}
