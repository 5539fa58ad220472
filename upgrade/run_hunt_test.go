package upgrade_test

import (
	"context"
	"runtime"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/upgrade"
)

// An Execute that ignores the run's cancellation past the grace period is
// abandoned; when it later ends its goroutine with runtime.Goexit (as
// t.FailNow does), nothing of the run is touched again and the process
// lives on.
func TestHuntAbandonedCallLaterGoexits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		plan := &upgrade.Plan{Steps: []upgrade.Step{{ID: "x"}}}
		entered, release := make(chan struct{}), make(chan struct{})
		exec := upgrade.ExecutorFunc(func(ctx context.Context, s upgrade.Step) error {
			close(entered)
			<-release
			runtime.Goexit()
			return nil
		})
		ctx, cancel := context.WithCancel(t.Context())
		go func() { <-entered; cancel() }()
		report, err := upgrade.Run(ctx, plan, exec, upgrade.WithGracePeriod(time.Second))
		require.ErrorIs(t, err, context.Canceled)
		o, _ := report.Outcome("x")
		assert.True(t, o.Abandoned)
		close(release)
		synctest.Wait()
	})
}

// A journal record of a kind Run does not know is not a record it can
// resume from: refused, nothing run, rather than taken for "never ran".
func TestHuntJournalUnknownKind(t *testing.T) {
	plan := &upgrade.Plan{ID: "sha256:hunt", Steps: []upgrade.Step{{ID: "a"}, {ID: "b", After: []upgrade.StepID{"a"}}}}
	path := jrPath(t)
	jrSeed(t, path, plan.ID,
		jrRec(upgrade.RecordStarted, "a"),
		jrRec("verifying", "a"), // written by some other version
		jrRec(upgrade.RecordStarted, "b"),
	)
	j := jrOpen(t, path)
	ex := &jrRecorder{}
	report, err := upgrade.Run(context.Background(), plan, ex, upgrade.WithJournal(j))
	require.ErrorIs(t, err, upgrade.ErrCorruptJournal)
	assert.Nil(t, report)
	assert.Empty(t, ex.ran)
}

// A nil *FileJournal, left by an OpenFileJournal that failed, is refused
// with an error before anything runs, rather than crashing the caller.
func TestHuntNilFileJournal(t *testing.T) {
	var j *upgrade.FileJournal
	plan := &upgrade.Plan{ID: "sha256:hunt", Steps: []upgrade.Step{{ID: "a"}}}
	ex := &jrRecorder{}
	report, err := upgrade.Run(context.Background(), plan, ex, upgrade.WithJournal(j))
	require.ErrorContains(t, err, "nil *FileJournal")
	assert.Nil(t, report)
	assert.Empty(t, ex.ran)
}
