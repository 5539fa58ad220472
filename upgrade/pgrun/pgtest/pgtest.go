// Package pgtest gives tests a PostgreSQL server of their own: a
// throwaway one in a temporary directory, listening only on a Unix socket
// there, started as the postgres user when the tests run as root (initdb
// refuses root). It needs initdb and pg_ctl on the PATH. Tests of
// upgrade/pgrun and of the example program share it.
package pgtest

import (
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
)

// Environment variables the tests read.
const (
	// EnvURL names a server to use rather than start one.
	EnvURL = "STACKUP_TEST_DATABASE_URL"
	// EnvRequire, set to 1 (as .ci/run does), makes a test that cannot
	// have a server fail rather than skip.
	EnvRequire = "STACKUP_REQUIRE_POSTGRES"
)

// Required reports whether tests must fail rather than skip when no
// server can be had.
func Required() bool { return os.Getenv(EnvRequire) == "1" }

// Server is a throwaway PostgreSQL server.
type Server struct {
	// URL connects to it as the postgres user, over its Unix socket.
	URL string

	dir, data, opts string
	as              func(name string, args ...string) *exec.Cmd
}

// Start initialises and starts a server, fsync off (a test's data need
// not survive a crash of the machine). Stop removes it.
func Start() (*Server, error) {
	if _, err := exec.LookPath("initdb"); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "stackup-pg-")
	if err != nil {
		return nil, err
	}
	s := &Server{dir: dir, data: filepath.Join(dir, "data"),
		opts: fmt.Sprintf("-k %s -c listen_addresses='' -F -c max_connections=200", dir),
		as:   exec.Command}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("running as root and no postgres user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		s.as = func(name string, args ...string) *exec.Cmd {
			return exec.Command("runuser", append([]string{"-u", "postgres", "--", name}, args...)...)
		}
	}
	if out, err := s.as("initdb", "-D", s.data, "-A", "trust", "-U", "postgres", "-N").CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %v: %s", err, out)
	}
	if err := s.pgCtl("start"); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	q := url.Values{"host": {dir}, "sslmode": {"disable"}}
	s.URL = "postgres://postgres@/postgres?" + q.Encode()
	return s, nil
}

// Restart stops the server at once (connections are cut) and starts it
// again.
func (s *Server) Restart() error { return s.pgCtl("restart", "-m", "fast") }

// Down stops the server, as an operator's pg_ctl stop -m fast does
// (connections are cut), keeping its files: Up starts it again.
func (s *Server) Down() error { return s.pgCtl("stop", "-m", "fast") }

// Up starts the server that Down stopped.
func (s *Server) Up() error { return s.pgCtl("start") }

// Stop stops the server and removes its files.
func (s *Server) Stop() {
	_ = s.as("pg_ctl", "stop", "-m", "immediate", "-w", "-D", s.data).Run()
	os.RemoveAll(s.dir)
}

func (s *Server) pgCtl(action string, more ...string) error {
	args := append(append([]string{action}, more...), "-w", "-D", s.data, "-l", filepath.Join(s.dir, "log"), "-o", s.opts)
	if out, err := s.as("pg_ctl", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("pg_ctl %s: %v: %s", action, err, out)
	}
	return nil
}
