package upgrade_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/version"
)

// TestPlanningErrorsSayWhatToDo: each error that refuses a plan for what
// the topology, the packages or the requests hold ends by saying what to
// change, not only what is wrong.
func TestPlanningErrorsSayWhatToDo(t *testing.T) {
	v := version.MustParse
	ge := upgrade.Demand{Constraint: version.MustParseConstraint(">=11"), App: "shop", Template: "shop_app", Version: v("3.0.0")}
	for _, tc := range []struct {
		err    error
		advice string
	}{
		{&upgrade.MissingNodeError{App: "shop", Template: "shop_app"},
			"replace a template it has nodes of, or deploy one first"},
		{&upgrade.MissingNodeError{App: "shop", Type: "postgres", Beneath: "tomcat-1", Package: "tomcat 10.1.34"},
			"relate the node to one, or publish a package that does not require it"},
		{&upgrade.MissingNodeError{App: "shop", Template: "postgres", Beneath: "shop-1"},
			"relate the node to one, or fix the requirement"},
		{&upgrade.NoPackageError{Node: "tomcat-1", Type: "tomcat", Installed: v("8.5.100"), Demands: []upgrade.Demand{ge}, Considered: []version.Version{v("10.1.34")}},
			"add one that does to the package source, or relax the demands"},
		{&upgrade.DowngradeError{Node: "tomcat-1", Type: "tomcat", Installed: v("12.0.0"), Demands: []upgrade.Demand{ge}, Candidates: []version.Version{v("11.0.2")}},
			"allow them (upgrade.AllowDowngrades), or relax the demands"},
		{&upgrade.NoPathError{Node: "vm-1", Type: "ubuntu", Installed: v("18.04"), Targets: []version.Version{v("22.04.5")}, Furthest: v("18.04"), Reason: "no package upgrades from there to a higher version"},
			"add packages that lead on to the package source, or relax the demands"},
		{&upgrade.ConflictError{Node: "tomcat-1", Type: "tomcat", Installed: v("8.5.100"), Wanted: []upgrade.Demand{ge},
			Blocking: []upgrade.Demand{{Constraint: version.MustParseConstraint("<11"), App: "billing", Node: "billing-1"}}, Tried: []version.Version{v("11.0.2")}},
			"change the demands so that one version meets them all, or add such a version to the package source"},
		{&upgrade.CycleError{Path: []string{"a", "b", "a"}}, "a node cannot be beneath itself: fix the topology's relationships"},
		{&upgrade.CycleError{Requirements: true, Path: []string{"tomcat 10.1.34", "jdk 21.0.2", "tomcat"}}, "fix the index"},
	} {
		msg := tc.err.Error()
		assert.True(t, strings.HasSuffix(msg, tc.advice), "%T: %s", tc.err, msg)
	}
}
