package upgrade_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
)

// TestRunErrorsQuoteHostileStepIDs runs plans built by hand, as a host's
// test or a tampered store may give Run, whose step and node IDs hold an
// escape sequence and a megabyte: the errors of a step that fails, one
// that panics and a rollback that fails must neither carry the escape to
// an operator's terminal nor grow with the ID, and must still name it.
// Safe IDs read as they are (see TestApplyResume's golden output).
func TestRunErrorsQuoteHostileStepIDs(t *testing.T) {
	hostile := "\x1b[2J" + strings.Repeat("x", 1<<20)
	check := func(t *testing.T, err error) {
		t.Helper()
		require.Error(t, err)
		msg := err.Error()
		assert.NotContains(t, msg, "\x1b", "no escape sequence reaches a terminal")
		assert.Less(t, len(msg), 4096, "the IDs are shortened")
		assert.Contains(t, msg, topology.Quote(hostile), "the step is named")
	}
	plan := func() *upgrade.Plan {
		return &upgrade.Plan{ID: "sha256:hostile", Steps: []upgrade.Step{
			{ID: upgrade.StepID(hostile), Kind: upgrade.Platform, Node: topology.NodeID(hostile)},
		}}
	}
	t.Run("fails", func(t *testing.T) {
		_, err := upgrade.Run(context.Background(), plan(), upgrade.ExecutorFunc(func(context.Context, upgrade.Step) error {
			return errors.New("disk full")
		}))
		var se *upgrade.StepError
		require.ErrorAs(t, err, &se)
		check(t, se)
	})
	t.Run("panics", func(t *testing.T) {
		_, err := upgrade.Run(context.Background(), plan(), upgrade.ExecutorFunc(func(context.Context, upgrade.Step) error {
			panic("boom")
		}))
		var pe *upgrade.PanicError
		require.ErrorAs(t, err, &pe)
		check(t, pe)
	})
	t.Run("safe IDs as they are", func(t *testing.T) {
		p := &upgrade.Plan{ID: "sha256:safe", Steps: []upgrade.Step{{ID: "platform/tomcat-1@9.0.98", Kind: upgrade.Platform, Node: "tomcat-1"}}}
		_, err := upgrade.Run(context.Background(), p, upgrade.ExecutorFunc(func(context.Context, upgrade.Step) error {
			return errors.New("disk full")
		}))
		var se *upgrade.StepError
		require.ErrorAs(t, err, &se)
		assert.Equal(t, `upgrade: step platform/tomcat-1@9.0.98 on node "tomcat-1": disk full`, se.Error())
	})
}
