package upgrade_test

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test -update to create it")
	assert.Equal(t, string(want), string(got), "output differs from %s; if intended, run go test -update", path)
}

func TestTextGolden(t *testing.T) {
	// Two instances, one of them sharing its Tomcat with a billing node of
	// another application, with an OS requirement already met.
	b := shopBuilder(2).
		Template("billing", topology.Template{ID: "billing_app", Type: "webapp", Version: v("3.1.0"),
			Requirements: []topology.Requirement{{Template: "tomcat_server", Constraint: c(">=8.5")}}}).
		Node("billing", topology.Node{ID: "billing-1", Template: "billing_app", Relationships: on("tomcat-1")})
	plan, err := upgrade.NewPlanner(build(t, b), catalogue(t)).
		Plan(context.Background(), shop2("tomcat_server", ">=9.0, <11", "java_runtime", ">=11", "ubuntu_os", ">=18.04"))
	require.NoError(t, err)
	golden(t, "shop.txt", []byte(plan.String()))
}
