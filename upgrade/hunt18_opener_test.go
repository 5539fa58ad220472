package upgrade_test

import (
	"context"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/upgrade/upgradetest"
)

// h18NilOpener returns neither content nor an error, as a map-backed
// mirror may for a package it does not hold.
type h18NilOpener struct{}

func (h18NilOpener) Open(context.Context, pkgsource.Package) (io.ReadCloser, error) { return nil, nil }

// TestHunt18OpenerWithoutContentFailsTheStep: an Opener that returned no
// content and no error made Run panic (a nil io.ReadCloser read), under
// WithPrefetch and WithPackages alike. It is the host's error: the
// prefetch, or the step, fails, saying what the Opener should return, and
// nothing runs.
func TestHunt18OpenerWithoutContentFailsTheStep(t *testing.T) {
	plan := &upgrade.Plan{ID: "sha256:nil-opener", Steps: []upgrade.Step{{ID: "platform/tomcat-1@10.1.34", Kind: upgrade.Platform, Node: "tomcat-1",
		Package: &pkgsource.Package{Type: "tomcat", Version: v("10.1.34"), Location: "tomcat-10.1.34.tar.gz"}, To: v("10.1.34")}}}
	for name, opts := range map[string][]upgrade.RunOption{
		"prefetch":          {upgrade.WithPrefetch(h18NilOpener{})},
		"packages":          {upgrade.WithPackages(h18NilOpener{}, t.TempDir())},
		"packages prefetch": {upgrade.WithPackages(h18NilOpener{}, t.TempDir()), upgrade.WithPrefetch(h18NilOpener{})},
	} {
		t.Run(name, func(t *testing.T) {
			exec := &upgradetest.Executor{}
			_, err := upgrade.Run(context.Background(), plan, exec, opts...)
			require.Error(t, err)
			assert.ErrorContains(t, err, "tomcat 10.1.34")
			assert.ErrorIs(t, err, pkgsource.ErrNoContent)
			assert.ErrorContains(t, err, "no content and no error: return an error")
			assert.Empty(t, exec.Started(), "nothing runs")
		})
	}
}
