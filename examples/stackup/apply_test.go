package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// applyEnv is a scratch directory with a signed repository and a ledger
// file that the test commands append to.
type applyEnv struct {
	dir, repo, key, ledger string
	topo                   string // the topology file
}

func newApplyEnv(t *testing.T) *applyEnv {
	repo, key := signedRepo(t)
	dir := filepath.Dir(repo)
	e := &applyEnv{dir: dir, repo: repo, key: key, ledger: filepath.Join(dir, "ledger"), topo: filepath.Join(dir, "shop.yaml")}
	e.fresh(t)
	return e
}

// fresh puts back the topology as testdata/shop.yaml has it, and removes
// the ledger.
func (e *applyEnv) fresh(t *testing.T) {
	t.Helper()
	data, err := os.ReadFile("testdata/shop.yaml")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(e.topo, data, 0o644))
	if err := os.Remove(e.ledger); err != nil {
		require.ErrorIs(t, err, os.ErrNotExist)
	}
}

// args returns "apply", the input flags, and more. The topology is a
// copy of testdata/shop.yaml, which apply rewrites as steps are done.
func (e *applyEnv) args(more ...string) []string {
	return append([]string{"apply", "--topology", e.topo, "--repo", e.repo, "--key", e.key,
		"--requests", "testdata/requests.yaml", "--concurrency", "1"}, more...)
}

// sq quotes s for a command flag: in single quotes, as in a shell.
func sq(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// script is a command running the shell script body with the step's ID,
// whether it is in doubt, its node and the ledger as $1 to $4: the step
// reaches the shell as arguments, never as script text.
func (e *applyEnv) script(body string) string {
	return "sh -c " + sq(body) + " sh {{.ID}} {{.InDoubt}} {{.Node}} " + sq(e.ledger)
}

// recordBody is the script that appends the step to the ledger.
const recordBody = `echo "$1 $2" >> "$4"`

// record is the --exec command that appends each step to the ledger.
func (e *applyEnv) record() string {
	return e.script(recordBody)
}

// failOn is a --exec command that fails step id, saying why on stderr,
// and records the others.
func (e *applyEnv) failOn(id string) string {
	return e.script(`if [ "$1" = ` + sq(id) + ` ]; then echo "disk full on $3" >&2; exit 1; fi; ` + recordBody)
}

func (e *applyEnv) readLedger(t *testing.T) string {
	data, err := os.ReadFile(e.ledger)
	if os.IsNotExist(err) {
		return ""
	}
	require.NoError(t, err)
	return string(data)
}

// golden checks the runs and the ledger against a golden file.
func (e *applyEnv) golden(t *testing.T, name string, runs ...result) {
	t.Helper()
	var b strings.Builder
	for _, r := range runs {
		b.WriteString(r.String())
		b.WriteString("\n")
	}
	section(&b, "ledger", e.readLedger(t))
	checkGolden(t, name, b.String(), map[string]string{e.dir: "$TMP"})
}

// allSteps are the steps of the plan for testdata/requests.yaml, in its
// order.
var allSteps = []string{
	"platform/java-1@17.0.13", "platform/java-2@17.0.13",
	"platform/tomcat-1@9.0.98", "platform/tomcat-1@10.1.34",
	"platform/tomcat-2@9.0.98", "platform/tomcat-2@10.1.34",
	"app/shop-1@2.0.0", "app/shop-2@2.0.0",
}

// ledgerOf returns the ledger lines for steps, none in doubt.
func ledgerOf(steps ...string) string {
	var b strings.Builder
	for _, s := range steps {
		b.WriteString(s + " false\n")
	}
	return b.String()
}

func TestApply(t *testing.T) {
	e := newApplyEnv(t)
	r := stackup(t, e.args("--exec", e.record())...)
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Empty(t, r.stderr)
	assert.Contains(t, r.stdout, "Upgrade plan: 8 steps", "the plan comes first")
	// Each step says how long it took, and the summary how long the run did.
	assert.Regexp(t, `\n\[4/8\] done   platform/tomcat-1@10\.1\.34  \((\d+ms|\d+(\.\d)?s)\)\n`, r.stdout)
	assert.Regexp(t, `\n8 succeeded, 0 failed, 0 skipped, 0 rolled back; (\d+ms|\d+(\.\d)?s|\d+m\d+s) in all\n$`, r.stdout)
	assert.Equal(t, ledgerOf(allSteps...), e.readLedger(t), "every step once, in the plan's order")
	assert.Equal(t, "10.1.34", e.nodeVersion(t, "tomcat-2"), "the topology learnt the steps")
	assert.Equal(t, "2.0.0", e.nodeVersion(t, "shop-1"))
	e.golden(t, "apply", r)
}

func TestApplyEnvironment(t *testing.T) {
	e := newApplyEnv(t)
	r := stackup(t, e.args("--quiet", "--exec",
		"sh -c "+sq(`echo "$STACKUP_ACTION $STACKUP_KIND $STACKUP_APP $STACKUP_STEP $STACKUP_NODE $STACKUP_FROM $STACKUP_TO $STACKUP_IN_DOUBT $1" >> "$2"`)+
			` sh {{with .Package}}{{.Location}}{{else}}{{.NewTemplate.ID}}{{end}} `+sq(e.ledger))...)
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.NotContains(t, r.stdout, "Upgrade plan", "--quiet prints no plan")
	ledger := e.readLedger(t)
	assert.Contains(t, ledger, "execute platform shop platform/tomcat-1@9.0.98 tomcat-1 8.5.100 9.0.98 false tomcat-9.0.98.pkg\n")
	assert.Contains(t, ledger, "execute application shop app/shop-2@2.0.0 shop-2 1.4.0 2.0.0 false shop_app\n")
	e.golden(t, "apply-environment", r)
}

// TestApplyTampered changes a package file after the index was signed:
// the prefetch refuses the package, and no step runs.
func TestApplyTampered(t *testing.T) {
	e := newApplyEnv(t)
	file := filepath.Join(e.repo, "tomcat-10.1.34.pkg")
	content, err := os.ReadFile(file)
	require.NoError(t, err)
	tampered := bytes.Replace(content, []byte("package"), []byte("backdor"), 1)
	require.Len(t, tampered, len(content), "the same size, so that only the digest tells")
	require.NoError(t, os.WriteFile(file, tampered, 0o644))
	r := stackup(t, e.args("--prefetch", "--exec", e.record())...)
	assert.Equal(t, exitFailed, r.code)
	assert.Contains(t, r.stderr, "prefetch failed: package tomcat 10.1.34")
	assert.Contains(t, r.stderr, "sha256 mismatch")
	assert.Empty(t, e.readLedger(t), "nothing ran")
	assert.NotContains(t, r.stdout, "succeeded", "no run, no summary")
	e.golden(t, "apply-tampered", r)

	// Without --prefetch, the steps before the tampered package's run,
	// and its step fails without its command running: every package is
	// checked as its step comes.
	r = stackup(t, e.args("--quiet", "--exec", e.record())...)
	assert.Equal(t, exitFailed, r.code, r.stderr)
	assert.Contains(t, r.stderr, "package tomcat 10.1.34")
	assert.Contains(t, r.stderr, "sha256 mismatch")
	assert.Equal(t, ledgerOf(allSteps[:3]...), e.readLedger(t), "the step installing the tampered package never ran")
}

// TestApplyPackageFile: a platform step's command gets the path of a
// private copy of its package, as .PackageFile and STACKUP_PACKAGE_FILE,
// holding what the index describes; the copies are gone after apply.
func TestApplyPackageFile(t *testing.T) {
	e := newApplyEnv(t)
	copies := filepath.Join(e.dir, "copies")
	script := `if [ -n "$1" ]; then [ "$1" = "$STACKUP_PACKAGE_FILE" ] || exit 3; echo "$1" >> ` + copies + `; cat "$1" >> ` + e.ledger + `; fi`
	r := stackup(t, e.args("--quiet", "--exec", `sh -c '`+script+`' sh {{.PackageFile}}`)...)
	require.Equal(t, exitOK, r.code, r.stderr)
	var want strings.Builder
	for _, step := range allSteps[:6] {
		_, v, _ := strings.Cut(step, "@")
		name := "jdk-" + v + ".pkg"
		if strings.Contains(step, "tomcat") {
			name = "tomcat-" + v + ".pkg"
		}
		data, err := os.ReadFile(filepath.Join(e.repo, name))
		require.NoError(t, err)
		want.Write(data)
	}
	assert.Equal(t, want.String(), e.readLedger(t), "each platform step read its package's content")
	paths, err := os.ReadFile(copies)
	require.NoError(t, err)
	for _, p := range strings.Fields(string(paths)) {
		assert.False(t, strings.HasPrefix(p, e.repo), "%s is a copy, not the repository's file", p)
		assert.NoFileExists(t, p, "copies are removed")
	}
}

// TestApplyResume fails a step with a journal, then applies again with the
// same journal: the steps done are not run again.
func TestApplyResume(t *testing.T) {
	e := newApplyEnv(t)
	journal := filepath.Join(e.dir, "journal")
	first := stackup(t, e.args("--quiet", "--journal", journal, "--exec", e.failOn("platform/tomcat-2@9.0.98"))...)
	assert.Equal(t, exitFailed, first.code)
	assert.Contains(t, first.stderr, `step platform/tomcat-2@9.0.98 on node "tomcat-2": execute command: exit status 1: disk full on tomcat-2`)
	// Fail fast: shop-1, which does not depend on tomcat-2, is not started.
	assert.Contains(t, first.stdout, "4 succeeded, 1 failed, 2 skipped, 0 rolled back, 1 not started")
	assert.Equal(t, ledgerOf(allSteps[:4]...), e.readLedger(t))
	assert.Equal(t, "8.0.402", e.nodeVersion(t, "java-1"), "with --requests and --journal, the topology is left alone")

	// A journal is tied to its plan.
	other := stackup(t, e.args("--quiet", "--journal", journal, "--policy", "nearest", "--exec", e.record())...)
	assert.Equal(t, exitUsage, other.code)
	assert.Contains(t, other.stderr, "journal belongs to another plan")

	// The topology file still has the old versions, which the stale check
	// accepts for the steps the journal records as done.
	second := stackup(t, e.args("--quiet", "--journal", journal, "--stale-check", "--exec", e.record())...)
	assert.Equal(t, exitOK, second.code, second.stderr)
	assert.Contains(t, second.stdout, "8 succeeded (4 in an earlier run), 0 failed, 0 skipped, 0 rolled back")
	assert.Equal(t, ledgerOf(allSteps...), e.readLedger(t), "each step once")

	// Once done, applying again changes nothing.
	third := stackup(t, e.args("--quiet", "--journal", journal, "--stale-check", "--exec", e.record())...)
	assert.Equal(t, exitOK, third.code, third.stderr)
	assert.Equal(t, ledgerOf(allSteps...), e.readLedger(t))
	e.golden(t, "apply-resume", first, other, second, third)
}

// TestApplyCrash kills stackup in the middle of a step, then resumes with
// its journal: the step it was running is offered again, in doubt.
func TestApplyCrash(t *testing.T) {
	e := newApplyEnv(t)
	journal := filepath.Join(e.dir, "journal")
	crash := e.script(`if [ "$1" = platform/tomcat-1@10.1.34 ]; then kill -9 $PPID; exit 1; fi; ` + recordBody)
	args := e.args("--quiet", "--journal", journal, "--exec", crash)
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = childEnv(t)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	require.Error(t, err, "stackup should have been killed; stderr: %s", stderr.String())
	assert.Equal(t, "signal: killed", err.Error())
	crashed := result{args: args, code: cmd.ProcessState.ExitCode(), stdout: stdout.String(), stderr: stderr.String()}
	assert.True(t, strings.HasSuffix(crashed.stdout, "start  platform/tomcat-1@10.1.34\n"), crashed.stdout)
	assert.FileExists(t, journal+".lock", "a crashed run leaves its lock")

	resumed := stackup(t, e.args("--quiet", "--journal", journal, "--exec", e.record())...)
	assert.Equal(t, exitOK, resumed.code, resumed.stderr)
	assert.Contains(t, resumed.stdout, "[3/8] start  platform/tomcat-1@10.1.34 (in doubt")
	want := ledgerOf(allSteps[:3]...) + "platform/tomcat-1@10.1.34 true\n" + ledgerOf(allSteps[4:]...)
	assert.Equal(t, want, e.readLedger(t))
	assert.NoFileExists(t, journal+".lock", "the lock is released")
	e.golden(t, "apply-crash", crashed, resumed)
}

func TestApplyRollback(t *testing.T) {
	e := newApplyEnv(t)
	r := stackup(t, e.args("--quiet", "--rollback", "--rollback-exec", e.script(`echo "undo $1" >> "$4"`),
		"--exec", e.failOn("app/shop-2@2.0.0"))...)
	assert.Equal(t, exitFailed, r.code)
	assert.Contains(t, r.stdout, "0 succeeded, 0 failed, 0 skipped, 8 rolled back (1 of them after failing)")
	ledger := e.readLedger(t)
	var undo []string
	for _, line := range strings.Split(strings.TrimSpace(ledger), "\n") {
		if s, ok := strings.CutPrefix(line, "undo "); ok {
			undo = append(undo, s)
		}
	}
	// The failed step is undone too, first, then the others, last done
	// first.
	assert.Equal(t, []string{"app/shop-2@2.0.0", "app/shop-1@2.0.0", "platform/tomcat-2@10.1.34", "platform/tomcat-2@9.0.98",
		"platform/tomcat-1@10.1.34", "platform/tomcat-1@9.0.98", "platform/java-2@17.0.13", "platform/java-1@17.0.13"}, undo)
	e.golden(t, "apply-rollback", r)
}

func TestApplyContinueAndCanaries(t *testing.T) {
	e := newApplyEnv(t)
	// With --continue, a failure on one instance's branch leaves the other
	// branch going...
	r := stackup(t, e.args("--quiet", "--continue", "--exec", e.failOn("platform/tomcat-1@9.0.98"))...)
	assert.Equal(t, exitFailed, r.code)
	assert.Contains(t, r.stdout, "5 succeeded, 1 failed, 2 skipped, 0 rolled back")
	assert.Contains(t, e.readLedger(t), "app/shop-2@2.0.0 false")

	// ... unless the instances roll out with a canary: shop-2, and the
	// platform beneath it, wait for shop-1, which cannot start.
	e.fresh(t)
	canary := stackup(t, e.args("--quiet", "--continue", "--canaries", "1", "--max-in-flight", "50%", "--exec", e.failOn("platform/tomcat-1@9.0.98"))...)
	assert.Equal(t, exitFailed, canary.code)
	assert.Contains(t, canary.stdout, "1 succeeded, 1 failed, 6 skipped, 0 rolled back")
	assert.Contains(t, canary.stdout, "skip   app/shop-2@2.0.0")
	assert.Contains(t, canary.stdout, "skip   platform/java-2@17.0.13")
	assert.NotContains(t, e.readLedger(t), "-2@")
	e.golden(t, "apply-continue-canaries", r, canary)
}

func TestApplyRetryVerifyTimeout(t *testing.T) {
	e := newApplyEnv(t)
	marker := filepath.Join(e.dir, "tried")
	// The first attempt of java-2 fails; the retry succeeds.
	flaky := e.script(`if [ "$3" = java-2 ] && [ ! -e ` + marker + ` ]; then touch ` + marker + `; echo "mirror timed out" >&2; exit 1; fi; ` + recordBody)
	r := stackup(t, e.args("--quiet", "--retries", "2", "--retry-backoff", "1ms", "--exec", flaky)...)
	assert.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "retry  platform/java-2@17.0.13 (attempt 2): execute command: exit status 1: mirror timed out")
	assert.Equal(t, ledgerOf(allSteps...), e.readLedger(t))

	// A failing health check fails the step.
	e.fresh(t)
	verify := stackup(t, e.args("--quiet", "--verify-exec", e.script(`if [ "$3" = tomcat-1 ]; then echo "HTTP 503 from :8080" >&2; exit 1; fi`), "--exec", e.record())...)
	assert.Equal(t, exitFailed, verify.code)
	assert.Contains(t, verify.stderr, `step platform/tomcat-1@9.0.98 on node "tomcat-1": verify: verify command: exit status 1: HTTP 503 from :8080`)

	// A step that overruns its timeout is stopped, its command killed
	// (TestCancelEndsProcessGroup checks that the whole group ends).
	e.fresh(t)
	timeout := stackup(t, e.args("--quiet", "--step-timeout", "200ms", "--exec", e.script(`if [ "$3" = java-1 ]; then sleep 30; fi; `+recordBody))...)
	assert.Equal(t, exitFailed, timeout.code)
	assert.Contains(t, timeout.stderr, `step platform/java-1@17.0.13 on node "java-1": execute command timed out after 200ms (--step-timeout)`)
	assert.NotContains(t, timeout.stderr, "deadline")
	assert.Empty(t, e.readLedger(t))
	e.golden(t, "apply-retry-verify-timeout", r, verify, timeout)
}

func TestApplyRefusals(t *testing.T) {
	e := newApplyEnv(t)
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"no-exec", e.args(), exitUsage, "give --exec COMMAND"},
		{"blank-exec", e.args("--exec", " \t"), exitUsage, "--exec: no program"},
		{"bad-template", e.args("--exec", "echo {{.ID"), exitUsage, "--exec: unclosed action {{ at offset 5"},
		{"unclosed-quote", e.args("--exec", `echo "{{.ID}}`), exitUsage, "--exec: unclosed \" quote at offset 5"},
		{"action-across-words", e.args("--exec", "echo {{if .InDoubt}}--force --now{{end}}"), exitUsage,
			`--exec: word "{{if .InDoubt}}--force": template: --exec:1: unexpected EOF (an action must open and close within one word`},
		{"program-template", e.args("--exec", "{{.Node}} deploy"), exitUsage, `--exec: word "{{.Node}}": the program must be plain text`},
		{"unknown-field", e.args("--exec", "echo {{.Version}}"), exitUsage, `--exec: word "{{.Version}}": for a sample platform step:`},
		// An application step has no package: the template fails for it
		// at startup.
		{"nil-package", e.args("--exec", "echo {{.Package.Location}}"), exitUsage, `--exec: word "{{.Package.Location}}": for a sample application step:`},
		{"shell-redirect", e.args("--exec", "echo {{.ID}} >> ledger"), exitUsage, `--exec: stackup runs the command without a shell: ">" at offset 13`},
		{"shell-variable", e.args("--exec", "deploy $STACKUP_NODE"), exitUsage, `"$" at offset 7 would be passed as it is`},
		{"shell-substitution", e.args("--exec", `deploy "$(hostname)"`), exitUsage, `"$" at offset 8 inside double quotes`},
		{"bad-verify", e.args("--exec", "true", "--verify-exec", "check 'x"), exitUsage, "--verify-exec: unclosed ' quote at offset 6"},
		{"rollback-without-command", e.args("--exec", "true", "--rollback"), exitUsage, "--rollback needs --rollback-exec"},
		{"bad-max-in-flight", e.args("--exec", "true", "--max-in-flight", "lots"), exitUsage, `--max-in-flight "lots"`},
		{"conflict", append(e.args("--exec", e.record()), "--requests", "testdata/requests-conflict.yaml"), exitNoPlan, "node billing-1 (billing) requires >=8.5.50, <11"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := stackup(t, tt.args...)
			assert.Equal(t, tt.code, r.code, r.stderr)
			assert.Contains(t, r.stderr, tt.stderr)
			assert.Empty(t, e.readLedger(t), "nothing ran")
		})
	}
}

// TestApplyCommandOutputOneLine: what a failing command writes on stderr,
// line breaks, carriage returns, terminal escapes and a bidirectional
// override included, reaches the progress line escaped, on one line, and
// the error at the end escaped but for its line breaks.
func TestApplyCommandOutputOneLine(t *testing.T) {
	e := newApplyEnv(t)
	r := stackup(t, e.args("--quiet", "--exec", e.script(`printf 'line1\nbad \033[31mRED\033[0m\rthing \342\200\256txt\n' >&2; exit 7`))...)
	require.Equal(t, exitFailed, r.code, r.stderr)
	var failed string
	for line := range strings.Lines(r.stdout) {
		if strings.Contains(line, "FAILED") {
			failed = line
		}
	}
	assert.Equal(t, `[1/8] FAILED platform/java-1@17.0.13: execute command: exit status 7: line1\nbad \x1b[31mRED\x1b[0m\rthing \u202etxt`+"\n",
		regexp.MustCompile(`  \([^)]*\)`).ReplaceAllString(failed, ""), "the time taken left out")
	// The error at the end keeps its lines, its escapes made harmless.
	assert.Contains(t, r.stderr, `exit status 7: line1`+"\n"+`bad \x1b[31mRED\x1b[0m\rthing \u202etxt`)
	for _, out := range []string{r.stdout, r.stderr} {
		assert.NotContains(t, out, "\x1b")
		assert.NotContains(t, out, "\r")
		assert.NotContains(t, out, "\u202e")
	}
}

// TestApplyJournalNotAFile gives --journal a directory and a device, and
// applies a plan file whose journal (PLANFILE.journal) is a directory:
// refused as invalid input (exit 2), naming the journal, before anything
// runs.
func TestApplyJournalNotAFile(t *testing.T) {
	e := newApplyEnv(t)
	dir := t.TempDir()
	for _, journal := range []string{dir, os.DevNull} {
		r := stackup(t, e.args("--quiet", "--exec", e.record(), "--journal", journal)...)
		assert.Equal(t, exitUsage, r.code, r.stderr)
		assert.Contains(t, r.stderr, "--journal "+journal+": not a regular file (")
		assert.Empty(t, e.readLedger(t), "nothing ran")
	}

	planFile := filepath.Join(dir, "plan.json")
	r := stackup(t, e.planArgs("--out", planFile)...)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.NoError(t, os.Mkdir(planFile+".journal", 0o700))
	r = stackup(t, e.planFileArgs(planFile, "--exec", e.record())...)
	assert.Equal(t, exitUsage, r.code, r.stderr)
	assert.Contains(t, r.stderr, "journal "+planFile+".journal: not a regular file (a directory)")
	assert.Empty(t, e.readLedger(t), "nothing ran")
}

// TestApplyJournalNoDirectory gives --journal a path in a directory that
// does not exist, a typo away from the one meant: refused as invalid input
// (exit 2), naming the flag and the directory, before anything runs. It
// was a failed run (exit 1) with "upgrade: journal ...: open ...: no such
// file or directory", as if the journal were at fault.
func TestApplyJournalNoDirectory(t *testing.T) {
	e := newApplyEnv(t)
	missing := filepath.Join(t.TempDir(), "nodir")
	journal := filepath.Join(missing, "j")
	r := stackup(t, e.args("--quiet", "--exec", e.record(), "--journal", journal)...)
	assert.Equal(t, exitUsage, r.code, r.stderr)
	assert.Contains(t, r.stderr, "--journal "+journal+": the directory "+missing+" does not exist: create it")
	assert.Empty(t, e.readLedger(t), "nothing ran")
	assert.NoDirExists(t, missing)
}

// TestProgramNotFound gives apply, serve and worker a command whose
// program is misspelt, or a path to nothing or to a file that is not
// executable: refused at startup as invalid input (exit 2), naming the
// flag and the program, before anything runs or the server listens. It
// was found only when the first step ran: apply failed that step (exit 1)
// after writing its journal, serve failed every run applied, and a worker
// failed the steps of every run it claimed.
func TestProgramNotFound(t *testing.T) {
	e := newApplyEnv(t)
	notExec := filepath.Join(e.dir, "deploy.sh")
	require.NoError(t, os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644))
	missing := filepath.Join(e.dir, "nowhere", "deploy")
	for _, tc := range []struct {
		program, want string
	}{
		{"stackup-no-such-program", `program "stackup-no-such-program": executable file not found in $PATH: install it, or give its path`},
		{missing, `program "` + missing + `": stat ` + missing + `: no such file or directory: give the path of an executable file`},
		{notExec, `program "` + notExec + `": permission denied: give the path of an executable file`},
	} {
		command := sq(tc.program) + " {{.Node}}"
		journal := filepath.Join(e.dir, "journal")
		for _, run := range []struct {
			flag string
			args []string
		}{
			{"--exec", e.args("--quiet", "--exec", command, "--journal", journal)},
			{"--verify-exec", e.args("--quiet", "--exec", e.record(), "--verify-exec", command)},
			{"--rollback-exec", e.args("--quiet", "--exec", e.record(), "--rollback", "--rollback-exec", command)},
			// Without the check at startup, serve would stop at the missing
			// certificate, not listen.
			{"--exec", []string{"serve", "--topology", e.topo, "--repo", e.repo, "--listen", "127.0.0.1:0", "--state-dir", t.TempDir(),
				"--tls-cert", missing, "--tls-key", missing, "--exec", command}},
			{"--exec", []string{"worker", "--database", "postgres://stackup@127.0.0.1:1/stackup", "--exec", command}},
		} {
			r := stackup(t, run.args...)
			assert.Equal(t, exitUsage, r.code, "%v: %s", run.args, r.stderr)
			assert.Contains(t, r.stderr, run.flag+": "+tc.want, "%v", run.args)
			assert.NoFileExists(t, journal, "%v", run.args)
		}
	}
	assert.Empty(t, e.readLedger(t), "nothing ran")
}
