package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestPlanOutInRepository: plan --out naming a file of the --repo
// directory (its index, the index's signature, a package), which the plan
// would replace, is refused as an input file is (exit 2), and nothing is
// written: the repository stays as it was.
func TestPlanOutInRepository(t *testing.T) {
	e := newApplyEnv(t)
	linkDir := filepath.Join(e.dir, "repo-link")
	assert.NoError(t, os.Symlink(e.repo, linkDir))
	for _, out := range []string{
		filepath.Join(e.repo, "index.json"),
		filepath.Join(e.repo, "index.json.sig"),
		filepath.Join(e.repo, "jdk-17.0.13.pkg"),
		filepath.Join(linkDir, "index.json"), // through a link to the repository
	} {
		t.Run(filepath.Base(out), func(t *testing.T) {
			before := snapshot(t, e.dir)
			r := stackup(t, e.planArgs("--out", out)...)
			assert.Equal(t, exitUsage, r.code, r.String())
			assert.Contains(t, r.stderr, "--out "+out+" is a file of the --repo directory "+e.repo+": give --out a file of its own, such as plan.json")
			assert.Empty(t, r.stdout)
			assert.Equal(t, before, snapshot(t, e.dir), "nothing was written")
		})
	}
	// A new file beside the repository is fine.
	r := stackup(t, e.planArgs("--out", filepath.Join(e.dir, "plan.json"))...)
	assert.Equal(t, exitOK, r.code, r.String())
}
