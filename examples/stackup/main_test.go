package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/stackup/stackup/topology"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// childEnv returns the environment of a test's child process that runs
// stackup itself (see TestMain), with extra added. Its temporary files go
// to a directory of the test's: a child the test kills, or that exits at
// a second signal, leaves its package copies there, not in the machine's.
func childEnv(t *testing.T, extra ...string) []string {
	return append(os.Environ(), append([]string{"STACKUP_TEST_MAIN=1", "TMPDIR=" + t.TempDir()}, extra...)...)
}

// TestMain checks for leaked goroutines. With STACKUP_TEST_MAIN=1 in the
// environment, the test binary is stackup itself: the crash test runs it
// as a child process it can kill. With STACKUP_TEST_ARGV=FILE, it is a
// step command that writes its arguments to FILE (see dumpArgv).
func TestMain(m *testing.M) {
	if file := os.Getenv("STACKUP_TEST_ARGV"); file != "" {
		os.Exit(dumpArgv(file))
	}
	if os.Getenv("STACKUP_TEST_MAIN") == "1" {
		if node := os.Getenv("STACKUP_TEST_CRASH_LEARN"); node != "" {
			// Die by SIGKILL after the step named has run and the journal
			// has recorded it, before the inventory records it.
			learnHook = func(n topology.NodeID) {
				if string(n) == node {
					if p, err := os.FindProcess(os.Getpid()); err == nil {
						_ = p.Kill() // SIGKILL on Unix
					}
					select {}
				}
			}
		}
		os.Exit(runMain(os.Args[1:], os.Stdout, os.Stderr, os.Exit))
	}
	// A database URL in the environment would send every apply to it.
	os.Unsetenv(databaseEnv)
	// The tests work on copies of the topology, which apply and serve
	// rewrite as steps are done: testdata itself must come out unchanged.
	before := testdataSum()
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		stopPostgres()
		if after := testdataSum(); after != before {
			fmt.Fprintln(os.Stderr, "FAIL: a test changed testdata/shop.yaml or testdata/tosca: work on a copy")
			code = max(code, 1)
		}
		os.Exit(code)
	}))
}

// testdataSum returns a digest of the deployment files under testdata.
func testdataSum() string {
	h := sha256.New()
	for _, name := range []string{"testdata/shop.yaml", "testdata/tosca"} {
		_ = filepath.WalkDir(name, func(path string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				data, _ := os.ReadFile(path)
				fmt.Fprintf(h, "%s %d\n", path, len(data))
				h.Write(data)
			}
			return nil
		})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// result is what one invocation of stackup did.
type result struct {
	args           []string
	code           int
	stdout, stderr string
}

// stackup runs the program in-process with args.
func stackup(t testing.TB, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), args, &stdout, &stderr)
	return result{args: args, code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// String renders the invocation for a golden file.
func (r result) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "$ stackup")
	for _, a := range r.args {
		if a == "" || strings.ContainsAny(a, " \"'{}<>|$;&") {
			a = sq(a)
		}
		fmt.Fprintf(&b, " %s", a)
	}
	fmt.Fprintf(&b, "\nexit %d\n", r.code)
	section(&b, "stdout", r.stdout)
	section(&b, "stderr", r.stderr)
	return b.String()
}

func section(b *strings.Builder, name, content string) {
	if content == "" {
		return
	}
	fmt.Fprintf(b, "-- %s --\n%s", name, content)
	if !strings.HasSuffix(content, "\n") {
		b.WriteString("\n")
	}
}

// checkGolden compares got, with the paths in replace (path → name)
// replaced, to testdata/golden/name.txt; -update rewrites the file.
// stepDuration and runDuration match the durations of progress lines and
// summaries, which golden files do not hold.
var (
	stepDuration = regexp.MustCompile(`  \((?:[0-9]+m)?[0-9.]+(?:ns|µs|ms|s)\)`)
	runDuration  = regexp.MustCompile(`; (?:[0-9]+m)?[0-9.]+(?:ns|µs|ms|s) in all\n`)
)

func checkGolden(t *testing.T, name, got string, replace map[string]string) {
	t.Helper()
	for path, placeholder := range replace {
		got = strings.ReplaceAll(got, path, placeholder)
	}
	got = stepDuration.ReplaceAllString(got, "  (D)")
	got = runDuration.ReplaceAllString(got, "; D in all\n")
	file := filepath.Join("testdata", "golden", name+".txt")
	if *update {
		require.NoError(t, os.WriteFile(file, []byte(got), 0o644))
	}
	want, err := os.ReadFile(file)
	require.NoError(t, err, "run go test -update to create it")
	assert.Equal(t, string(want), got, "output differs from %s (go test -update rewrites it)", file)
}

// inputs are the flags naming the test deployment and a signed
// repository.
func inputs(t *testing.T) (repo string, flags []string, replace map[string]string) {
	repo, key := signedRepo(t)
	dir := filepath.Dir(repo)
	return repo, []string{"--topology", "testdata/shop.yaml", "--repo", repo, "--key", key}, map[string]string{dir: "$TMP"}
}

func TestPlan(t *testing.T) {
	tests := []struct {
		name string
		args []string // after "plan" and the inputs
		code int
		// in the output, besides what the golden file holds
		stdout, stderr string
	}{
		{name: "plan-text", args: []string{"--requests", "testdata/requests.yaml"},
			stdout: "platform/tomcat-1@10.1.34"},
		{name: "plan-json", args: []string{"--requests", "testdata/requests.json", "--format", "json"},
			stdout: `"schema": "stackup.plan/v3"`},
		{name: "plan-mermaid", args: []string{"--requests", "testdata/requests.yaml", "--format", "mermaid"},
			stdout: "flowchart"},
		{name: "plan-dot", args: []string{"--requests", "testdata/requests.yaml", "--format", "dot"},
			stdout: "digraph"},
		{name: "plan-explain", args: []string{"--requests", "testdata/requests.yaml", "--explain", "tomcat-1", "--explain", "vm-2"},
			stdout: "Why tomcat-1:"},
		{name: "plan-nearest", args: []string{"--requests", "testdata/requests.yaml", "--policy", "nearest"},
			stdout: "platform/tomcat-1@10.1.18"},
		{name: "plan-conflict", args: []string{"--requests", "testdata/requests-conflict.yaml"}, code: exitNoPlan,
			stderr: "node billing-1 (billing) requires >=8.5.50, <11"},
		{name: "plan-nopath", args: []string{"--requests", "testdata/requests-nopath.yaml"}, code: exitNoPlan,
			stderr: "no upgrade path"},
		{name: "plan-bad-request", args: []string{"--requests", "testdata/requests-bad.yaml"}, code: exitUsage,
			stderr: "requests[1] (billing): template.requirements[0].constraint"},
		{name: "plan-unknown-field", args: []string{"--requests", "testdata/requests-unknown-field.yaml"}, code: exitUsage,
			stderr: `requests[0]: unknown field "replace"; known fields: application, replaces, template`},
		{name: "plan-unknown-app", args: []string{"--requests", "testdata/requests-unknown-app.yaml"}, code: exitNoPlan,
			stderr: `"warehouse"`},
		{name: "plan-explain-unknown-node", args: []string{"--requests", "testdata/requests.yaml", "--explain", "tomcat-9"}, code: exitUsage,
			stderr: "--explain tomcat-9"},
		{name: "plan-bad-format", args: []string{"--requests", "testdata/requests.yaml", "--format", "xml"}, code: exitUsage,
			stderr: "Usage: stackup plan"},
		{name: "plan-undefined-flag", args: []string{"--requests", "testdata/requests.yaml", "--frmat", "json"}, code: exitUsage,
			stderr: "flag provided but not defined: -frmat"},
		{name: "plan-no-requests", code: exitUsage, stderr: "give --requests FILE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, flags, replace := inputs(t)
			r := stackup(t, append(append([]string{"plan"}, flags...), tt.args...)...)
			assert.Equal(t, tt.code, r.code, "exit code; stderr: %s", r.stderr)
			assert.Contains(t, r.stdout, tt.stdout)
			assert.Contains(t, r.stderr, tt.stderr)
			if tt.code != exitOK {
				assert.NotContains(t, r.stdout, "Steps:", "a failed plan prints no plan")
			}
			checkGolden(t, tt.name, r.String(), replace)
		})
	}
}

// TestPlanDeterministic checks that planning twice gives the same bytes,
// from the YAML and the JSON request files alike.
func TestPlanDeterministic(t *testing.T) {
	_, flags, _ := inputs(t)
	a := stackup(t, append(append([]string{"plan"}, flags...), "--requests", "testdata/requests.yaml", "--format", "json")...)
	b := stackup(t, append(append([]string{"plan"}, flags...), "--requests", "testdata/requests.json", "--format", "json")...)
	require.Equal(t, exitOK, a.code, a.stderr)
	assert.Equal(t, a.stdout, b.stdout)
}

func TestPlanTOSCA(t *testing.T) {
	repo, key := signedRepo(t)
	r := stackup(t, "plan", "--tosca", "testdata/tosca/shop.yaml", "--instances", "testdata/tosca/shop-instances.yaml",
		"--repo", repo, "--key", key, "--requests", "testdata/requests.yaml")
	assert.Equal(t, exitOK, r.code, r.stderr)
	// No billing co-tenant here, so the same request reaches the same
	// versions.
	assert.Contains(t, r.stdout, "platform/tomcat-2@10.1.34")
	checkGolden(t, "plan-tosca", r.String(), map[string]string{filepath.Dir(repo): "$TMP"})
}

func TestRepositoryTrust(t *testing.T) {
	signed, key := signedRepo(t)
	keys := t.TempDir()
	other := filepath.Join(keys, "other.pub")
	otherKey := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize)).Public().(ed25519.PublicKey)
	require.NoError(t, os.WriteFile(other, []byte(base64.StdEncoding.EncodeToString(otherKey)), 0o644))
	short := filepath.Join(keys, "short.pub")
	require.NoError(t, os.WriteFile(short, []byte("c2hvcnQ=\n"), 0o644))
	store := filepath.Join(keys, "trust.json")
	wd, err := os.Getwd()
	require.NoError(t, err)

	tests := []struct {
		name   string
		repo   string
		flags  []string
		code   int
		stderr string
	}{
		// The shipped repository is unsigned: with a key, it is refused.
		{"trust-unsigned", "testdata/repo", []string{"--key", key}, exitUsage, "untrusted index: no signature"},
		{"trust-wrong-key", signed, []string{"--key", other}, exitUsage, "signature matches no trusted key"},
		{"trust-bad-key-file", signed, []string{"--key", short}, exitUsage, "not the base64 of an ed25519 public key"},
		{"trust-store-without-key", signed, []string{"--trust-store", store}, exitUsage, "--trust-store needs --key"},
		{"trust-missing-repo", filepath.Join(t.TempDir(), "nowhere"), nil, exitUsage, "no such file or directory"},
		// Without a key, an unsigned repository is fine.
		{"trust-unsigned-no-key", "testdata/repo", nil, exitOK, ""},
		{"trust-first-use-without-store", signed, []string{"--key", key, "--trust-first-use"}, exitUsage, "--trust-first-use needs --trust-store"},
		// A missing store is refused, so that deleting it cannot reset
		// rollback protection; --trust-first-use creates it.
		{"trust-store-missing", signed, []string{"--key", key, "--trust-store", store}, exitUsage, "no trust store"},
		{"trust-store-first-use", signed, []string{"--key", key, "--trust-store", store, "--trust-first-use"}, exitOK, ""},
		{"trust-signed-store", signed, []string{"--key", key, "--trust-store", store}, exitOK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"plan", "--topology", "testdata/shop.yaml", "--repo", tt.repo, "--requests", "testdata/requests.yaml"}, tt.flags...)
			r := stackup(t, args...)
			assert.Equal(t, tt.code, r.code, r.stderr)
			assert.Contains(t, r.stderr, tt.stderr)
			if tt.name == "trust-store-missing" {
				assert.NoFileExists(t, store, "a refused store is not created")
			}
			if tt.code != exitOK {
				checkGolden(t, tt.name, r.String(), map[string]string{filepath.Dir(filepath.Dir(signed)): "$TMP", wd: "$PWD"})
			}
		})
	}
	data, err := os.ReadFile(store)
	require.NoError(t, err, "the trust store records the version trusted")
	assert.Contains(t, string(data), `": 7`)
}

func TestUsage(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"usage-none", nil, exitUsage, "", "Commands:"},
		{"usage-help", []string{"help"}, exitOK, "Exit codes:", ""},
		{"usage-help-apply", []string{"help", "apply"}, exitOK, "-journal FILE", ""},
		// Usage lists help among the commands: "help help" was "unknown
		// command", exit 2.
		{"usage-help-help", []string{"help", "help"}, exitOK, "Exit codes:", ""},
		{"usage-plan-help", []string{"plan", "--help"}, exitOK, "-format FORMAT", ""},
		{"usage-apply-help", []string{"apply", "-h"}, exitOK, "-exec COMMAND", ""},
		{"usage-serve-help", []string{"serve", "--help"}, exitOK, "-listen ADDR", ""},
		{"usage-unknown-command", []string{"deploy"}, exitUsage, "", `unknown command "deploy"`},
		{"usage-help-unknown", []string{"help", "deploy"}, exitUsage, "", `unknown command "deploy"`},
		{"usage-stray-argument", []string{"plan", "--topology", "testdata/shop.yaml", "extra"}, exitUsage, "", `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := stackup(t, tt.args...)
			assert.Equal(t, tt.code, r.code)
			assert.Contains(t, r.stdout, tt.stdout)
			assert.Contains(t, r.stderr, tt.stderr)
			if tt.code == exitOK {
				assert.Empty(t, r.stderr)
			} else {
				assert.Empty(t, r.stdout)
			}
			checkGolden(t, tt.name, r.String(), nil)
		})
	}
}

// waitFile waits for a step command to create path; the bound is only a
// failure bound.
func waitFile(t *testing.T, path string) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(path); err == nil {
			return
		}
	}
	t.Fatalf("%s never appeared", path)
}
