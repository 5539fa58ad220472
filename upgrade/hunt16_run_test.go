package upgrade_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/upgrade/upgradetest"
)

// TestHunt16AllSucceededDespiteCancel: a run cancelled as its last step
// completes (an operator's Ctrl-C, a server's SIGTERM, during a step the
// executor carries through) has carried out every step: Run returns nil,
// as it promises when every step succeeded, not the context's error,
// which a host takes for a run to resume.
func TestHunt16AllSucceededDespiteCancel(t *testing.T) {
	for _, conc := range []int{1, 3} {
		p := h5Plan("a", "b", "c:a,b")
		ctx, cancel := context.WithCancel(context.Background())
		exec := upgrade.ExecutorFunc(func(_ context.Context, s upgrade.Step) error {
			if s.ID == "c" {
				cancel() // the run is cancelled as its last step completes
			}
			return nil
		})
		j := jrOpen(t, jrPath(t))
		report, err := upgrade.Run(ctx, p, exec, upgrade.WithConcurrency(conc), upgrade.WithJournal(j), upgrade.WithRollback())
		cancel()
		require.NoError(t, err, "concurrency %d: every step succeeded", conc)
		assert.Equal(t, 3, report.Count(upgrade.Succeeded))
	}
}

// h16PanickingOpener panics in Open once released: a host's Opener with a
// bug.
type h16PanickingOpener struct{ release chan struct{} }

func (o *h16PanickingOpener) Open(context.Context, pkgsource.Package) (io.ReadCloser, error) {
	<-o.release
	panic("opener bug")
}

// TestHunt16PanickingOpenerEndsRun: with WithPackages, two steps of one
// package (two Tomcats taking the same tarball) at once, and an Opener
// that panics while making the copy both wait for: Run panics with it, as
// it promises for a panic of the caller's code, once the other step has
// ended. It hung for ever: the other step waited for a copy that the
// panic left neither made nor failed.
func TestHunt16PanickingOpenerEndsRun(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		pk := &pkgsource.Package{Type: "tomcat", Version: v("10.1.34"), Location: "tomcat-10.1.34.tar.gz",
			Digest: pkgsource.Digest([]byte("tarball")), Size: 7}
		plan := &upgrade.Plan{ID: "h16", Steps: []upgrade.Step{
			{ID: "platform/tomcat-1@10.1.34", Kind: upgrade.Platform, Node: "tomcat-1", Package: pk},
			{ID: "platform/tomcat-2@10.1.34", Kind: upgrade.Platform, Node: "tomcat-2", Package: pk},
		}}
		o := &h16PanickingOpener{release: make(chan struct{})}
		panicked := make(chan any, 1)
		go func() {
			defer func() { panicked <- recover() }()
			_, _ = upgrade.Run(context.Background(), plan, upgrade.ExecutorFunc(func(context.Context, upgrade.Step) error { return nil }),
				upgrade.WithConcurrency(2), upgrade.WithPackages(o, dir))
		}()
		synctest.Wait() // one step makes the copy, the other waits for it
		close(o.release)
		assert.Equal(t, "opener bug", <-panicked)
	})
}

// TestHunt16StaleVersionSaysWhatToDo: the stale plan a user meets most, a
// node moved since the plan was made (another deployer upgraded the
// shared Tomcat), says what to do, as its sibling errors (a node gone, a
// dependent that now requires less, a satisfied check that no longer
// holds) do: plan again. It said only what was wrong.
func TestHunt16StaleVersionSaysWhatToDo(t *testing.T) {
	topo, plan := pfMovedNode(t, "1.0.0", "1.1.0", "2.0.0")
	exec := &upgradetest.Executor{}
	_, err := upgrade.Run(context.Background(), plan, exec, upgrade.WithStaleCheck(topo))
	require.ErrorIs(t, err, upgrade.ErrStalePlan)
	assert.Equal(t, `upgrade: stale plan: node "svc-1" has 1.1.0, but step app/svc-1@2.0.0 expects 1.0.0: plan again`, err.Error())
	assert.Empty(t, exec.Started(), "nothing runs")
}

// h16FailingOpener refuses every package, as a mirror that is down does.
type h16FailingOpener struct{}

func (h16FailingOpener) Open(context.Context, pkgsource.Package) (io.ReadCloser, error) {
	return nil, errors.New("mirror down")
}

// TestHunt16PrefetchErrorQuotesHostileIDs: a prefetch that fails names
// the step and the package's type as Run's other errors do: an ID outside
// the safe set (a plan built by hand, or from a tampered store) is quoted
// and shortened, so that no escape sequence reaches an operator's
// terminal, nor a megabyte a log line. They went into the message raw.
func TestHunt16PrefetchErrorQuotesHostileIDs(t *testing.T) {
	hostile := "\x1b[2J" + strings.Repeat("x", 1<<20)
	plan := &upgrade.Plan{ID: "sha256:hostile", Steps: []upgrade.Step{{ID: upgrade.StepID(hostile), Kind: upgrade.Platform, Node: "tomcat-1",
		Package: &pkgsource.Package{Type: hostile, Version: v("10.1.34"), Location: "tomcat-10.1.34.tar.gz"}}}}
	exec := &upgradetest.Executor{}
	_, err := upgrade.Run(context.Background(), plan, exec, upgrade.WithPrefetch(h16FailingOpener{}))
	require.ErrorIs(t, err, upgrade.ErrPrefetch)
	msg := err.Error()
	assert.NotContains(t, msg, "\x1b", "no escape sequence reaches a terminal")
	assert.Less(t, len(msg), 4096, "the IDs are shortened")
	assert.Contains(t, msg, topology.Quote(hostile), "the step is named")
	assert.Contains(t, msg, "mirror down")
	assert.Empty(t, exec.Started(), "nothing runs")
}

// TestHunt16StaleErrorShortensHostileNodeIDs: a stale plan's error names
// its node as Run's other errors do, quoted and shortened: a plan built by
// hand, or from a tampered store, whose node ID is a megabyte made a
// message of a megabyte.
func TestHunt16StaleErrorShortensHostileNodeIDs(t *testing.T) {
	hostile := "\x1b[2J" + strings.Repeat("x", 1<<20)
	topo, _ := pfMovedNode(t, "1.0.0", "1.0.0", "2.0.0")
	plan := &upgrade.Plan{Steps: []upgrade.Step{{ID: "app/svc-9@2.0.0", Kind: upgrade.Application, App: "svc", Node: topology.NodeID(hostile),
		Template: "svc_app", From: v("1.0.0"), To: v("2.0.0")}}}
	exec := &upgradetest.Executor{}
	_, err := upgrade.Run(context.Background(), plan, exec, upgrade.WithStaleCheck(topo))
	require.ErrorIs(t, err, upgrade.ErrStalePlan)
	msg := err.Error()
	assert.NotContains(t, msg, "\x1b", "no escape sequence reaches a terminal")
	assert.Less(t, len(msg), 4096, "the node ID is shortened")
	assert.Contains(t, msg, topology.Quote(hostile), "the node is named")
	assert.Empty(t, exec.Started(), "nothing runs")
}
