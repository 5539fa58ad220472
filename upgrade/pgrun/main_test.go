package pgrun

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/goleak"

	"github.com/stackup/stackup/upgrade/pgrun/pgtest"
)

// databaseURL is the test server's, or "" with skipReason set.
var databaseURL, skipReason string

// restartServer stops the test server and starts it again; nil when the
// tests use a server of STACKUP_TEST_DATABASE_URL.
var restartServer func() error

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(childMain())
	}
	databaseURL = os.Getenv(pgtest.EnvURL)
	stop := func() {}
	if databaseURL == "" {
		if srv, err := pgtest.Start(); err != nil {
			skipReason = "no PostgreSQL server: " + err.Error() + " (set " + pgtest.EnvURL + ", or put initdb and pg_ctl on the PATH)"
			if pgtest.Required() {
				fmt.Fprintln(os.Stderr, pgtest.EnvRequire+"=1 but", skipReason)
				os.Exit(1)
			}
		} else {
			databaseURL, stop, restartServer = srv.URL, srv.Stop, srv.Restart
		}
	}
	code := m.Run()
	stop()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

var schemaSeq atomic.Int64

// testStore opens a store in a schema of the test's own, and the pool.
func testStore(t *testing.T) (*Store, *pgxpool.Pool) { return testStoreB(t) }

func testStoreB(t testing.TB) (*Store, *pgxpool.Pool) {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
	pool, err := pgxpool.New(context.Background(), databaseURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	name := strings.ToLower(regexp.MustCompile(`[^A-Za-z0-9]+`).ReplaceAllString(t.Name(), "_"))
	schema := fmt.Sprintf("t%d_%.40s", schemaSeq.Add(1), name)
	s, err := Open(context.Background(), pool, schema)
	if err != nil {
		t.Fatal(err)
	}
	return s, pool
}
