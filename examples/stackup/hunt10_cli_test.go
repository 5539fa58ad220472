package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestHunt10EmptyPathFlag gives each command a file or directory flag as
// "", as a shell gives --tls-cert "$CERT" with CERT unset: it is refused
// (exit 2, naming the flag), rather than taken for the flag not given,
// which served plain HTTP for --tls-cert and --tls-key, made up a token
// for --token-file, dropped the replay check of --trust-store and saved
// no plan for --out, each without a word.
func TestHunt10EmptyPathFlag(t *testing.T) {
	unsetToken(t)
	e := newApplyEnv(t)
	plan := []string{"plan", "--topology", e.topo, "--repo", e.repo, "--key", e.key, "--requests", "testdata/requests.yaml"}
	tests := []struct {
		name string
		args []string
		flag string
	}{
		{"serve-tls", []string{"--tls-cert", "", "--tls-key", ""}, "--tls-cert"},
		{"serve-token-file", []string{"--token-file", ""}, "--token-file"},
		{"serve-state-dir", []string{"--state-dir", ""}, "--state-dir"},
		{"serve-repo", []string{"--repo", ""}, "--repo"},
		{"plan-out", append(plan, "--out", ""), "--out"},
		{"plan-trust-store", append(plan, "--trust-store", ""), "--trust-store"},
		{"plan-key", append(plan[:len(plan):len(plan)], "--key", ""), "--key"},
		{"apply-journal", e.args("--exec", "true", "--journal", ""), "--journal"},
		{"apply-topology", e.args("--exec", "true", "--topology", ""), "--topology"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args, ran := tt.args, ""
			if strings.HasPrefix(tt.name, "serve-") {
				args, ran = serveArgs(t, tt.args...)
			}
			// Cancelled, so that a serve that does start stops at once.
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			var stdout, stderr strings.Builder
			code := run(ctx, args, &stdout, &stderr)
			assert.Equal(t, exitUsage, code, stderr.String())
			assert.Contains(t, stderr.String(), tt.flag+" is empty: give the ")
			assert.Empty(t, stdout.String(), "no plan printed, no server listening")
			if ran != "" {
				assert.NoFileExists(t, ran)
			}
		})
	}
	// The control: a flag not given at all is not one given empty.
	r := stackup(t, plan...)
	assert.Equal(t, exitOK, r.code, r.stderr)
}

// TestHunt10PlanOutNotRegular gives plan --out a path it cannot write the
// plan to: it is refused as a usage error (exit 2) before the plan is
// made or printed, as the documentation says, rather than exit 1 after
// planning (reading the repository) with no plan printed; a symbolic
// link's target is left alone.
func TestHunt10PlanOutNotRegular(t *testing.T) {
	e := newApplyEnv(t)
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	require.NoError(t, os.WriteFile(target, []byte("keep"), 0o644))
	link := filepath.Join(dir, "link.json")
	require.NoError(t, os.Symlink(target, link))
	tests := []struct{ name, out, error string }{
		{"directory", dir, "--out " + dir + " is a directory, not a regular file"},
		{"link", link, "--out " + link + " is a symbolic link, not a regular file"},
		{"missing-directory", filepath.Join(dir, "nope", "plan.json"), "the directory " + filepath.Join(dir, "nope") + " does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := stackup(t, "plan", "--topology", e.topo, "--repo", e.repo, "--key", e.key,
				"--requests", "testdata/requests.yaml", "--out", tt.out)
			assert.Equal(t, exitUsage, r.code, r.stderr)
			assert.Contains(t, r.stderr, tt.error)
			assert.Empty(t, r.stdout)
			data, err := os.ReadFile(target)
			require.NoError(t, err)
			assert.Equal(t, "keep", string(data))
		})
	}
}

// TestHunt10NegativeDurationNamesFlag gives each duration flag a negative
// value: the error names that flag and its value, not "durations".
func TestHunt10NegativeDurationNamesFlag(t *testing.T) {
	e := newApplyEnv(t)
	for _, flag := range []string{"--retry-backoff", "--step-timeout", "--grace"} {
		r := stackup(t, e.args("--exec", "true", flag, "-2s")...)
		assert.Equal(t, exitUsage, r.code, r.stderr)
		assert.Contains(t, r.stderr, flag+" -2s must not be negative", flag)
		assert.NoFileExists(t, e.ledger)
	}
}

// TestHunt10WorkerDurationNamesFlag gives the worker a lease, a poll
// interval or a grace out of range: the error names that flag and its
// value, and the worker exits 2 before it connects to the database.
func TestHunt10WorkerDurationNamesFlag(t *testing.T) {
	t.Setenv("STACKUP_DATABASE_URL", "postgres://stackup@db.invalid/stackup")
	for _, tt := range []struct{ flag, value, error string }{
		{"--lease", "0s", "--lease 0s must be positive"},
		{"--poll", "-1s", "--poll -1s must be positive"},
		{"--grace", "-2s", "--grace -2s must not be negative (0: kill a command cut short at once)"},
	} {
		r := stackup(t, "worker", "--exec", "true", tt.flag, tt.value)
		assert.Equal(t, exitUsage, r.code, r.stderr)
		assert.Contains(t, r.stderr, tt.error, tt.flag)
		assert.NotContains(t, r.stderr, "db.invalid", "not connected")
	}
}
