package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/upgrade/pgrun/pgtest"
)

// The PostgreSQL server of the tests: STACKUP_TEST_DATABASE_URL, or a
// throwaway one started on first use (as upgrade/pgrun's tests do) and
// stopped by TestMain through stopPostgres.
var (
	pgOnce       sync.Once
	pgURL, pgWhy string
	stopPostgres = func() {}
)

// testDatabase returns the URL of the test server, skipping the test when
// there is none, or failing it with STACKUP_REQUIRE_POSTGRES=1.
func testDatabase(t *testing.T) string {
	t.Helper()
	pgOnce.Do(func() {
		if pgURL = os.Getenv(pgtest.EnvURL); pgURL != "" {
			return
		}
		srv, err := pgtest.Start()
		if err != nil {
			pgWhy = "no PostgreSQL server: " + err.Error() + " (set " + pgtest.EnvURL + ", or put initdb and pg_ctl on the PATH)"
			return
		}
		pgURL, stopPostgres = srv.URL, srv.Stop
	})
	if pgWhy != "" {
		if pgtest.Required() {
			t.Fatal(pgtest.EnvRequire + "=1 but " + pgWhy)
		}
		t.Skip(pgWhy)
	}
	return pgURL
}

var schemaCount int

// schema returns a schema name of the test's own.
func testSchema() string {
	schemaCount++
	return fmt.Sprintf("stackup_test_%d_%d", os.Getpid(), schemaCount)
}

// TestDatabaseURLRefused: a URL that is not postgres:// is refused, naming
// the flag, before anything is read or run; its password is never shown.
func TestDatabaseURLRefused(t *testing.T) {
	e := newApplyEnv(t)
	for _, bad := range []string{"mysql://admin:hunter2secret@db/x", "hunter2secret", "http://u:hunter2secret@h/", "://hunter2secret"} {
		for _, args := range [][]string{
			e.args("--database", bad),
			{"worker", "--database", bad, "--exec", e.record()},
		} {
			r := stackup(t, args...)
			assert.Equal(t, exitUsage, r.code, "%v", args)
			assert.Contains(t, r.stderr, "--database", "%v", args)
			assert.NotContains(t, r.stderr+r.stdout, "hunter2secret", "%v", args)
		}
		t.Setenv(databaseEnv, bad)
		r := stackup(t, "worker", "--exec", e.record())
		assert.Equal(t, exitUsage, r.code)
		assert.Contains(t, r.stderr, databaseEnv)
		assert.NotContains(t, r.stderr, "hunter2secret")
	}
	assert.Empty(t, e.readLedger(t), "nothing ran")
	data, err := os.ReadFile("testdata/shop.yaml")
	require.NoError(t, err)
	now, err := os.ReadFile(e.topo)
	require.NoError(t, err)
	assert.Equal(t, string(data), string(now), "nothing changed")
}

// TestDatabaseRefusals: apply --database refuses what the workers do, or
// what a database run cannot do yet, naming the flag; nothing runs.
func TestDatabaseRefusals(t *testing.T) {
	e := newApplyEnv(t)
	db := "postgres://u:hunter2secret@127.0.0.1:1/db"
	for _, tt := range []struct {
		args []string
		want string
	}{
		{e.args("--database", db, "--exec", e.record()), "--exec"},
		{e.args("--database", db, "--rollback", "--rollback-exec", e.record()), "--rollback-exec"},
		{e.args("--database", db, "--prefetch"), "--prefetch"},
		{e.args("--database", db, "--journal", filepath.Join(e.dir, "j")), "--journal"},
		{e.args("--database", db, "--database-schema", ""), "--database-schema"},
		{[]string{"worker", "--database", db}, "--exec"},
		{[]string{"worker", "--exec", e.record()}, "--database"},
	} {
		r := stackup(t, tt.args...)
		assert.Equal(t, exitUsage, r.code, "%v", tt.args)
		assert.Contains(t, r.stderr, tt.want, "%v", tt.args)
		assert.NotContains(t, r.stderr, "hunter2secret", "%v", tt.args)
	}
	// A server that cannot be reached: the error, exit 1, hides the password.
	r := stackup(t, e.args("--database", db, "--quiet")...)
	assert.Equal(t, exitFailed, r.code)
	assert.Contains(t, r.stderr, "database")
	assert.NotContains(t, r.stderr, "hunter2secret")
	assert.Empty(t, e.readLedger(t), "nothing ran")
}

// TestWorkerHostilePlan: a worker given a hostile plan ID exits 2
// naming --plan, before it connects (the URL names no server); nothing
// runs. (A plan ID not submitted yet is waited for: see
// TestWorkerWaitsForPlan.)
func TestWorkerHostilePlan(t *testing.T) {
	e := newApplyEnv(t)
	for _, id := range []string{"sha256:" + strings.Repeat("0", 63), "../../etc/passwd", "x'; DROP SCHEMA public; --", strings.Repeat("a", 5000), "SHA256:" + strings.Repeat("A", 64)} {
		r := stackup(t, "worker", "--database", "postgres://nobody@127.0.0.1:1/none", "--exec", e.record(), "--plan", id)
		assert.Equal(t, exitUsage, r.code, "%q", id)
		assert.Contains(t, r.stderr, "--plan", "%q", id)
		assert.NotContains(t, r.stderr, "database:", "%q: refused before connecting", id)
	}
	assert.Empty(t, e.readLedger(t), "nothing ran")
}

// planOf returns the plan of e's requests, as apply makes it.
func planOf(t *testing.T, e *applyEnv) *upgrade.Plan {
	t.Helper()
	out := filepath.Join(t.TempDir(), "plan.json")
	fresh := filepath.Join(t.TempDir(), "shop.yaml")
	data, err := os.ReadFile("testdata/shop.yaml")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(fresh, data, 0o644))
	r := stackup(t, "plan", "--topology", fresh, "--repo", e.repo, "--key", e.key, "--requests", "testdata/requests.yaml", "--out", out)
	require.Equal(t, exitOK, r.code, r.stderr)
	plan, err := readPlanFile(out)
	require.NoError(t, err)
	return plan
}

// TestApplyDatabaseStale applies, through the database, a plan file whose
// topology changed after the review: refused by the stale check (exit 1),
// nothing followed, and the error says what to do, as apply's own run
// says it. It said only "stale plan: ...", leaving the user to find out
// whether anything ran and how to go on.
func TestApplyDatabaseStale(t *testing.T) {
	db := testDatabase(t)
	schema := testSchema()
	e := newApplyEnv(t)
	planFile := filepath.Join(e.dir, "plan.json")
	require.Equal(t, exitOK, stackup(t, e.planArgs("--out", planFile)...).code)
	topo, err := os.ReadFile(e.topo)
	require.NoError(t, err)
	changed := strings.Replace(string(topo), "{id: java-1, template: java_runtime,", "{id: java-1, template: java_runtime, version: 11.0.25,", 1)
	require.NotEqual(t, string(topo), changed)
	require.NoError(t, os.WriteFile(e.topo, []byte(changed), 0o644))

	r := stackup(t, e.planFileArgs(planFile, "--database", db, "--database-schema", schema, "--quiet", "--yes")...)
	assert.Equal(t, exitFailed, r.code, r.stderr)
	assert.Contains(t, r.stderr, `stale plan: node "java-1" has 11.0.25`)
	assert.Contains(t, r.stderr, "nothing ran: plan again from the topology as it is (stackup plan --out FILE) and apply that")
	assert.Empty(t, r.stdout, "no run was followed")
}
