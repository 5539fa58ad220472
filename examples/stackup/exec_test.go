package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/version"
)

// dumpArgv is the test binary acting as a step command: it writes its
// arguments, and its action, as JSON to file and returns the exit code.
func dumpArgv(file string) int {
	data, err := json.Marshal(append([]string{os.Getenv("STACKUP_ACTION")}, os.Args[1:]...))
	if err == nil {
		err = os.WriteFile(file, data, 0o644)
	}
	if err != nil {
		return 1
	}
	return 0
}

// hostile are step strings that a shell would run code from.
var hostile = []string{
	"tomcat-1$(touch pwned)",
	"`touch pwned`",
	"x; touch pwned",
	"x' ; touch pwned; '",
	`x" ; touch pwned; "`,
	"x\ntouch pwned",
	"x | touch pwned",
	"x && touch pwned",
	"x > pwned",
	"a b\tc",
	"$HOME ${PATH} *",
	"{{.Node}}",
	"--help",
	"",
}

// hostileStep is a step with s in every string field.
func hostileStep(s string) upgrade.Step {
	v1, v2 := version.MustParse("1.0.0"), version.MustParse("2.0.0")
	return upgrade.Step{ID: upgrade.StepID(s), Kind: upgrade.Platform, App: "app", Node: "node", Template: "tpl", Type: s,
		From: v1, To: v2, Package: &pkgsource.Package{Type: s, Version: v2, Location: s}, Reason: s}
}

func withNode(st upgrade.Step, s string) upgrade.Step {
	st.App, st.Node, st.Template = topology.AppID("app"+s), topology.NodeID("node"+s), topology.TemplateID("tpl"+s)
	return st
}

func TestSplitWords(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"deploy", []string{"deploy"}},
		{"  deploy  --node\t{{.Node}}\n", []string{"deploy", "--node", "{{.Node}}"}},
		{`deploy 'a b' "c d" e\ f`, []string{"deploy", "a b", "c d", "e f"}},
		{`deploy '' ""`, []string{"deploy", "", ""}},
		{"deploy 'it''s' \"say \\\"hi\\\" \\\\ \\$ \\` \\n\"", []string{"deploy", "its", "say \"hi\" \\ $ ` \\n"}},
		{`deploy 'a "b" \n'`, []string{"deploy", `a "b" \n`}},
		{`deploy x'y'"z"`, []string{"deploy", "xyz"}},
		{`deploy a#b '#c' \#d`, []string{"deploy", "a#b", "#c", "#d"}}, // # inside a word, or quoted: as it is
		{`deploy {{if eq .Node "a b"}}--x{{end}}`, []string{"deploy", `{{if eq .Node "a b"}}--x{{end}}`}},
		{`deploy '{{.Node}} {{printf "%s}}'" .ID}}'`, []string{"deploy", `{{.Node}} {{printf "%s}}'" .ID}}`}},
		{"deploy {{/* a }} comment */}}x", []string{"deploy", "{{/* a }} comment */}}x"}},
		{"deploy {{printf `}}` | print}}", []string{"deploy", "{{printf `}}` | print}}"}},
		{`sh -c 'echo "$1" > /tmp/x' sh {{.Node}}`, []string{"sh", "-c", `echo "$1" > /tmp/x`, "sh", "{{.Node}}"}},
		{"", nil},
		{" \t\n", nil},
	}
	for _, tt := range tests {
		got, err := splitWords(tt.in)
		require.NoError(t, err, tt.in)
		assert.Equal(t, tt.want, got, tt.in)
	}
}

func TestSplitWordsRefuses(t *testing.T) {
	tests := []struct{ in, err string }{
		{`deploy "x`, `unclosed " quote at offset 7`},
		{`deploy 'x`, `unclosed ' quote at offset 7`},
		{`deploy {{.Node`, `unclosed action {{ at offset 7`},
		{`deploy {{"}}`, `unclosed action {{ at offset 7`},
		{"deploy {{/* }}", `unclosed comment in the action at offset 7`},
		{"deploy {{`}}", `unclosed raw string in the action at offset 7`},
		{`deploy x\`, `a backslash ends the value`},
		{`deploy x; rm -rf /`, `";" at offset 8`},
		{`deploy x | tee`, `"|" at offset 9`},
		{`deploy x && y`, `"&" at offset 9`},
		{`deploy > out`, `">" at offset 7`},
		{`deploy < in`, `"<" at offset 7`},
		{`deploy (x)`, `"(" at offset 7`},
		{`deploy $NODE`, `"$" at offset 7 would be passed as it is`},
		{"deploy `id`", "\"`\" at offset 7"},
		{`deploy "$(id)"`, `"$" at offset 8 inside double quotes`},
		{"deploy \"`id`\"", "\"`\" at offset 8 inside double quotes"},
		{`deploy {{.Node}} # --force`, `"#" at offset 17 would start a comment in a shell, but here it and the words after it would be passed as arguments`},
		{"deploy\n#--force", `"#" at offset 7 would start a comment`},
	}
	for _, tt := range tests {
		_, err := splitWords(tt.in)
		require.Error(t, err, tt.in)
		assert.Contains(t, err.Error(), tt.err, tt.in)
	}
}

func TestParseCommand(t *testing.T) {
	c, err := parseCommand("--exec", `deploy --node {{.Node}} '{{with .Package}}{{.Location}}{{end}}' "{{.InDoubt}}"`)
	require.NoError(t, err)
	st := hostileStep("a b")
	argv, err := c.argv(stepData{Step: st, InDoubt: true}, "test")
	require.NoError(t, err)
	assert.Equal(t, []string{"deploy", "--node", "node", "a b", "true"}, argv)

	for _, tt := range []struct{ flag, in, err string }{
		{"--exec", "", "--exec: no program"},
		{"--verify-exec", "{{.Node}}", `--verify-exec: word "{{.Node}}": the program must be plain text`},
		{"--exec", `deploy{{""}} x`, `word "deploy{{\"\"}}": the program must be plain text`},
		{"--exec", "deploy {{.Nope}}", `--exec: word "{{.Nope}}": for a sample platform step`},
		{"--rollback-exec", "undo {{.Package.Location}}", `--rollback-exec: word "{{.Package.Location}}": for a sample application step`},
		{"--exec", "deploy {{end}}", `--exec: word "{{end}}": template: --exec:1: unexpected {{end}}`},
	} {
		_, err := parseCommand(tt.flag, tt.in)
		require.Error(t, err, tt.in)
		ce, ok := errors.AsType[*commandError](err)
		require.True(t, ok, "%T", err)
		assert.Equal(t, tt.flag, ce.Flag)
		assert.Contains(t, err.Error(), tt.err)
	}
}

// TestHostileStepDataTouch runs `touch {{...}}` for steps whose strings
// would run code in a shell: no code runs (no file "pwned"), and touch
// gets the string as its one argument, creating a file of that name.
func TestHostileStepDataTouch(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	cmds, err := parseCommands("touch -- {{.Reason}}", "", "")
	require.NoError(t, err)
	ex := newRunner(cmds, io.Discard, defaultGrace)
	for _, h := range hostile {
		err := ex.Execute(t.Context(), hostileStep(h))
		entries, rerr := os.ReadDir(dir)
		require.NoError(t, rerr)
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
			require.NoError(t, os.Remove(filepath.Join(dir, e.Name())))
		}
		if h == "" {
			assert.Error(t, err, "touch refuses an empty name")
			assert.Empty(t, names, "nothing changed")
			continue
		}
		require.NoError(t, err, "%q", h)
		assert.Equal(t, []string{h}, names, "only the file named %q, no pwned", h)
	}
	assert.NoFileExists(t, filepath.Join(dir, "pwned"))
}

// TestHostileStepDataArgv hands hostile step strings to the test binary
// as a step command: each rendered word arrives as exactly one argument,
// byte for byte, for execute, verify and rollback alike. Each step holds
// two of the strings (starting the test binary is slow with -race).
func TestHostileStepDataArgv(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	out := filepath.Join(dir, "argv.json")
	t.Setenv("STACKUP_TEST_ARGV", out)
	// A race-enabled binary sleeps a second as it exits, unless told not to.
	t.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	self, err := os.Executable()
	require.NoError(t, err)
	words := " {{.ID}} {{.Type}} --loc={{with .Package}}{{.Location}}{{end}} '{{.Reason}} {{.Node}}' {{.InDoubt}}"
	cmds, err := parseCommands(sq(self)+words, sq(self)+words, sq(self)+words)
	require.NoError(t, err)
	ex := newRunner(cmds, io.Discard, defaultGrace)
	actions := []string{"execute", "verify", "rollback"}
	run := map[string]func(upgrade.Step) error{
		"execute":  func(s upgrade.Step) error { return ex.Execute(t.Context(), s) },
		"verify":   func(s upgrade.Step) error { return ex.(upgrade.Verifier).Verify(t.Context(), s) },
		"rollback": func(s upgrade.Step) error { return ex.(upgrade.Rollbacker).Rollback(t.Context(), s) },
	}
	for i := range (len(hostile) + 1) / 2 {
		a, b := hostile[i], hostile[len(hostile)-1-i]
		action := actions[i%len(actions)]
		st := withNode(hostileStep(a), b)
		st.Reason = b
		require.NoError(t, run[action](st), "%s %q %q", action, a, b)
		data, err := os.ReadFile(out)
		require.NoError(t, err)
		require.NoError(t, os.Remove(out))
		var got []string
		require.NoError(t, json.Unmarshal(data, &got))
		assert.Equal(t, []string{action, a, a, "--loc=" + a, b + " node" + b, "false"}, got, "%s %q %q", action, a, b)
	}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, entries, "no pwned, nothing left")
}

// TestCommandRefusedBeforeAnything checks that a bad command stops apply
// and serve before they read their inputs: the inputs named do not exist,
// and the error is about the command.
func TestCommandRefusedBeforeAnything(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "pwned")
	for _, cmd := range []string{"apply", "serve"} {
		for _, flags := range [][]string{
			{"--exec", "touch " + marker + "; {{.Nope}}"},
			{"--exec", "touch " + sq(marker), "--verify-exec", "check {{.Nope}}"},
			{"--exec", "touch " + sq(marker), "--rollback", "--rollback-exec", `undo "{{.ID}}`},
		} {
			args := append([]string{cmd, "--topology", filepath.Join(dir, "nowhere.yaml"), "--repo", filepath.Join(dir, "norepo"),
				"--listen", "127.0.0.1:0"}, flags...)
			if cmd == "apply" {
				args = append(args[:5], append([]string{"--requests", filepath.Join(dir, "noreq.yaml")}, args[7:]...)...)
			}
			r := stackup(t, args...)
			assert.Equal(t, exitUsage, r.code, "%v: %s", args, r.stderr)
			assert.Contains(t, r.stderr, "exec: ", args)
			assert.NotContains(t, r.stderr, "nowhere.yaml", "refused before reading the topology")
			assert.Empty(t, r.stdout)
		}
	}
	assert.NoFileExists(t, marker)
}

// TestCommandOutput runs commands that write to standard output and
// error: the output goes to the runner's writer, the end of the error
// into the step's error, and a program that is missing is named.
func TestCommandOutput(t *testing.T) {
	var out bytes.Buffer
	cmds, err := parseCommands("printf '%s|' {{.Node}} {{.Reason}}", "", "")
	require.NoError(t, err)
	st := withNode(hostileStep("x; y"), "-1")
	require.NoError(t, newRunner(cmds, &out, defaultGrace).Execute(t.Context(), st))
	assert.Equal(t, "node-1|x; y|", out.String())

	cmds, err = parseCommands(`sh -c 'echo "$1 failed" >&2; exit 3' sh {{.Node}}`, "", "")
	require.NoError(t, err)
	err = newRunner(cmds, &out, defaultGrace).Execute(t.Context(), st)
	assert.EqualError(t, err, "execute command: exit status 3: node-1 failed")

	cmds, err = parseCommands("stackup-no-such-program {{.Node}}", "", "")
	require.NoError(t, err)
	err = newRunner(cmds, &out, defaultGrace).Execute(t.Context(), st)
	assert.ErrorContains(t, err, `execute command: exec: "stackup-no-such-program": executable file not found`)

	marker := filepath.Join(t.TempDir(), "ran")
	cmds, err = parseCommands("touch "+sq(marker), "", "")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err = newRunner(cmds, &out, defaultGrace).Execute(ctx, st)
	assert.NoFileExists(t, marker)
	assert.EqualError(t, err, "execute command stopped: context canceled", "a cancelled step starts nothing")
}

// TestCommandEnvironmentHasNoSecrets runs a command that prints its
// environment: serve's token and the database URL, which a step command
// has no business with, are not in it; the rest of stackup's environment
// and the step's variables are.
func TestCommandEnvironmentHasNoSecrets(t *testing.T) {
	t.Setenv("STACKUP_TOKEN", "token-that-must-not-leak-0123456789")
	t.Setenv(databaseEnv, "postgres://stackup:password-that-must-not-leak@db.example/stackup")
	t.Setenv("STACKUP_TEST_ORDINARY", "kept")
	var out bytes.Buffer
	cmds, err := parseCommands("env", "", "")
	require.NoError(t, err)
	require.NoError(t, newRunner(cmds, &out, defaultGrace).Execute(t.Context(), withNode(hostileStep("x"), "-1")))
	env := strings.Split(out.String(), "\n")
	assert.Contains(t, env, "STACKUP_TEST_ORDINARY=kept")
	assert.Contains(t, env, "STACKUP_NODE=node-1")
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		assert.NotEqual(t, "STACKUP_TOKEN", name, "the server's token reaches the command")
		assert.NotEqual(t, databaseEnv, name, "the database URL reaches the command")
	}
	assert.False(t, strings.Contains(out.String(), "must-not-leak"), "a secret's value reaches the command")
}

// newRunner returns an executor running cmds, as serve's and apply's, with
// grace for a command to stop once cancelled.
func newRunner(cmds scripts, out io.Writer, grace time.Duration) upgrade.Executor {
	return newRunnerWith(&runner{cmds: cmds, out: &lockedWriter{w: out}, grace: grace})
}
