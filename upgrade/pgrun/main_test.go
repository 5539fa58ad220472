package pgrun

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/goleak"
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
	databaseURL = os.Getenv("STACKUP_TEST_DATABASE_URL")
	stop := func() {}
	if databaseURL == "" {
		var err error
		databaseURL, stop, err = startServer()
		if err != nil {
			skipReason = "no PostgreSQL server: " + err.Error() + " (set STACKUP_TEST_DATABASE_URL, or put initdb and pg_ctl on the PATH)"
			if os.Getenv("STACKUP_REQUIRE_POSTGRES") == "1" {
				fmt.Fprintln(os.Stderr, "STACKUP_REQUIRE_POSTGRES=1 but", skipReason)
				os.Exit(1)
			}
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

// startServer starts a throwaway PostgreSQL in a temporary directory,
// listening on a Unix socket there only, as the postgres user when run as
// root (initdb refuses root).
func startServer() (url string, stop func(), err error) {
	if _, err := exec.LookPath("initdb"); err != nil {
		return "", nil, err
	}
	dir, err := os.MkdirTemp("", "pgrun-test-")
	if err != nil {
		return "", nil, err
	}
	cleanup := func() { os.RemoveAll(dir) }
	as := func(name string, args ...string) *exec.Cmd { return exec.Command(name, args...) }
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			cleanup()
			return "", nil, fmt.Errorf("running as root and no postgres user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			cleanup()
			return "", nil, err
		}
		as = func(name string, args ...string) *exec.Cmd {
			return exec.Command("runuser", append([]string{"-u", "postgres", "--", name}, args...)...)
		}
	}
	data := filepath.Join(dir, "data")
	if out, err := as("initdb", "-D", data, "-A", "trust", "-U", "postgres", "-N").CombinedOutput(); err != nil {
		cleanup()
		return "", nil, fmt.Errorf("initdb: %v: %s", err, out)
	}
	opts := fmt.Sprintf("-k %s -c listen_addresses='' -F -c max_connections=200", dir)
	if out, err := as("pg_ctl", "start", "-w", "-D", data, "-l", filepath.Join(dir, "log"), "-o", opts).CombinedOutput(); err != nil {
		cleanup()
		return "", nil, fmt.Errorf("pg_ctl start: %v: %s", err, out)
	}
	restartServer = func() error {
		if out, err := as("pg_ctl", "restart", "-m", "fast", "-w", "-D", data, "-l", filepath.Join(dir, "log"), "-o", opts).CombinedOutput(); err != nil {
			return fmt.Errorf("pg_ctl restart: %v: %s", err, out)
		}
		return nil
	}
	stop = func() {
		as("pg_ctl", "stop", "-m", "immediate", "-w", "-D", data).Run()
		cleanup()
	}
	return fmt.Sprintf("host=%s user=postgres dbname=postgres sslmode=disable", dir), stop, nil
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
