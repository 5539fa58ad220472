package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/upgrade/pgrun"
)

// packageScript records each step as "ID|MODE|CONTENT" of its
// STACKUP_PACKAGE_FILE, or "ID|none" for a step without one, and checks
// that .PackageFile is the same path.
const packageScript = `f="$STACKUP_PACKAGE_FILE"; if [ "$f" != "$5" ]; then echo "template and environment differ" >&2; exit 1; fi; ` +
	`if [ -n "$f" ]; then printf '%s|%s|%s\n' "$1" "$(stat -c %a "$f")" "$(cat "$f")" >> "$4"; else echo "$1|none" >> "$4"; fi`

func (e *applyEnv) packageExec() string {
	return "sh -c " + sq(packageScript) + " sh {{.ID}} {{.InDoubt}} {{.Node}} " + sq(e.ledger) + " {{.PackageFile}}"
}

// TestWorkerPackageFile: a worker with --repo, a directory or an http
// URL, gives each platform step's command a read-only private copy of its
// package, with the content the plan's digest names; an application step
// gets none.
func TestWorkerPackageFile(t *testing.T) {
	db := testDatabase(t)
	e := newApplyEnv(t)
	plan := planOf(t, e)
	hs := httptest.NewServer(http.FileServer(http.Dir(e.repo)))
	defer hs.Close()
	for name, repo := range map[string]string{"dir": e.repo, "http": hs.URL + "/"} {
		t.Run(name, func(t *testing.T) {
			e.fresh(t)
			workerPackageFile(t, db, e, plan, repo)
		})
	}
}

func workerPackageFile(t *testing.T, db string, e *applyEnv, plan *upgrade.Plan, repo string) {
	schema := testSchema()
	store := openStore(t, db, schema)
	require.NoError(t, store.Submit(t.Context(), plan, pgrun.Options{}))
	w := startChild(t, "worker", "--database", db, "--database-schema", schema, "--exec", e.packageExec(),
		"--repo", repo, "--plan", plan.ID, "--poll", "50ms")
	require.Equal(t, exitOK, w.wait(t), w.stderr.String())
	st, err := store.Status(t.Context(), plan.ID)
	require.NoError(t, err)
	require.NoError(t, st.Err)
	var want strings.Builder
	for _, s := range plan.Steps {
		if s.Package == nil {
			want.WriteString(string(s.ID) + "|none\n")
			continue
		}
		_, content := packageFile(s.Package.Type, s.Package.Version.String())
		want.WriteString(string(s.ID) + "|400|" + strings.TrimSuffix(string(content), "\n") + "\n")
	}
	assert.Equal(t, want.String(), e.readLedger(t))
}

// forge returns plan with the package location of its steps of package
// name changed to location, under the ID that content has.
func forge(t *testing.T, plan *upgrade.Plan, name, location string) *upgrade.Plan {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, plan.WriteJSON(&b))
	back, err := upgrade.ReadJSON(&b)
	require.NoError(t, err)
	changed := false
	for i := range back.Steps {
		if p := back.Steps[i].Package; p != nil && p.Location == name {
			c := *p
			c.Location = location
			back.Steps[i].Package, changed = &c, true
		}
	}
	require.True(t, changed, "the plan names %s", name)
	back.ID = back.ComputeID()
	b.Reset()
	require.NoError(t, back.WriteJSON(&b))
	forged, err := upgrade.ReadJSON(&b)
	require.NoError(t, err)
	return forged
}

// TestWorkerPackageEscape: a package whose name leads outside the
// worker's repository, by "..", an absolute path or a symbolic link in
// the repository, is not read, and one whose content is not what the
// plan's digest says is not used: its steps fail, naming the package,
// without a retry, and their commands do not run; the other steps run.
func TestWorkerPackageEscape(t *testing.T) {
	db := testDatabase(t)
	e := newApplyEnv(t)
	plan := planOf(t, e)
	name, content := packageFile("tomcat", "10.1.34")
	// The same content outside the repository, so that only the path
	// could fail it.
	outside := filepath.Join(e.dir, name)
	require.NoError(t, os.WriteFile(outside, content, 0o644))
	linked := filepath.Join(t.TempDir(), "repo")
	require.NoError(t, os.CopyFS(linked, os.DirFS(e.repo)))
	require.NoError(t, os.Remove(filepath.Join(linked, name)))
	require.NoError(t, os.Symlink(outside, filepath.Join(linked, name)))
	changed := filepath.Join(t.TempDir(), "repo")
	require.NoError(t, os.CopyFS(changed, os.DirFS(e.repo)))
	require.NoError(t, os.Chmod(filepath.Join(changed, name), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(changed, name), bytes.ToUpper(content), 0o644))
	for _, tt := range []struct {
		name, repo string
		plan       *upgrade.Plan
		want       string
	}{
		{"dot-dot", e.repo, forge(t, plan, name, "../"+name), `"../` + name + `" is not a local file name`},
		{"absolute", e.repo, forge(t, plan, name, outside), `is not a local file name`},
		{"link", linked, plan, `leads outside the repository`},
		{"changed", changed, plan, `sha256 mismatch`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e.fresh(t)
			schema := testSchema()
			store := openStore(t, db, schema)
			require.NoError(t, store.Submit(t.Context(), tt.plan, pgrun.Options{Policy: upgrade.ContinueIndependent}))
			w := startChild(t, "worker", "--database", db, "--database-schema", schema, "--exec", e.packageExec(),
				"--repo", tt.repo, "--plan", tt.plan.ID, "--poll", "50ms")
			require.Equal(t, exitOK, w.wait(t), w.stderr.String())
			st, err := store.Status(t.Context(), tt.plan.ID)
			require.NoError(t, err)
			require.Error(t, st.Err)
			ledger := e.readLedger(t)
			failed := 0
			for i, o := range st.Report.Outcomes {
				s := tt.plan.Steps[i]
				if s.Package != nil && s.Package.Type == "tomcat" && s.Package.Version.String() == "10.1.34" {
					failed++
					assert.Equal(t, upgrade.Failed, o.State, s.ID)
					require.Error(t, o.Err, s.ID)
					assert.Contains(t, o.Err.Error(), tt.want, s.ID)
					assert.Contains(t, o.Err.Error(), "tomcat 10.1.34", s.ID)
					assert.Equal(t, 1, o.Attempts, "%s: not retried", s.ID)
					assert.NotContains(t, ledger, string(s.ID)+"|", "its command did not run")
				} else if o.State == upgrade.Succeeded {
					assert.Contains(t, ledger, string(s.ID)+"|", "the others ran")
				}
			}
			assert.Equal(t, 2, failed, "tomcat-1 and tomcat-2 both install 10.1.34")
			assert.NotContains(t, ledger, "stand-in for the tomcat 10.1.34", "the file outside was not read")
		})
	}
}
