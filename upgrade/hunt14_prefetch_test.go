package upgrade_test

import (
	"context"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/upgrade/upgradetest"
)

// h14Mirror is a pkgsource.Opener that has the packages at the locations
// it holds, and counts the opens of each location.
type h14Mirror struct {
	have map[string]bool

	mu     sync.Mutex
	opened map[string]int
}

func (m *h14Mirror) Open(_ context.Context, p pkgsource.Package) (io.ReadCloser, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.opened[p.Location]++
	if !m.have[p.Location] {
		return nil, &pkgsource.PackageError{Package: p.Key(), Err: pkgsource.ErrNotFound}
	}
	return io.NopCloser(strings.NewReader("content")), nil
}

// TestHunt14PrefetchEveryPackage runs, with WithPrefetch, a plan built by
// a host program from two planners' plans: two platform steps install a
// package of one type and version but from two places (a build for each
// OS, a mirror each), and the second cannot be had. The prefetch reads
// "the package of every platform step", so Run executes nothing; it used
// to fetch one package per type and version only, so the run started and
// failed at the second step, after the first had changed its node.
func TestHunt14PrefetchEveryPackage(t *testing.T) {
	first := pkgsource.Package{Type: "tomcat", Version: v("10.1.34"), Location: "mirror-a/tomcat-10.1.34.tar.gz"}
	second := pkgsource.Package{Type: "tomcat", Version: v("10.1.34"), Location: "mirror-b/tomcat-10.1.34.tar.gz"}
	plan := &upgrade.Plan{Steps: []upgrade.Step{
		{ID: "platform/tomcat-1@10.1.34", Kind: upgrade.Platform, Node: "tomcat-1", From: v("9.0.0"), To: v("10.1.34"), Package: &first},
		{ID: "platform/tomcat-2@10.1.34", Kind: upgrade.Platform, Node: "tomcat-2", From: v("9.0.0"), To: v("10.1.34"), Package: &second},
		{ID: "platform/tomcat-3@10.1.34", Kind: upgrade.Platform, Node: "tomcat-3", From: v("9.0.0"), To: v("10.1.34"), Package: new(first)},
	}}
	plan.ID = plan.ComputeID()
	o := &h14Mirror{have: map[string]bool{first.Location: true}, opened: map[string]int{}}
	exec := new(upgradetest.Executor)
	report, err := upgrade.Run(t.Context(), plan, exec, upgrade.WithPrefetch(o))
	require.ErrorIs(t, err, upgrade.ErrPrefetch)
	require.ErrorIs(t, err, pkgsource.ErrNotFound)
	assert.ErrorContains(t, err, "platform/tomcat-2@10.1.34")
	assert.Nil(t, report)
	assert.Empty(t, exec.Started(), "nothing runs when a package cannot be had")
	assert.Equal(t, map[string]int{first.Location: 1, second.Location: 1}, o.opened, "each package fetched once")
}
