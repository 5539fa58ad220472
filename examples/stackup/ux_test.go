package main

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/upgrade"
)

// TestLineWriter: lines split across writes are written whole, each with
// the prefix; a last line without a newline is written by Flush.
func TestLineWriter(t *testing.T) {
	var out bytes.Buffer
	var writes []string
	w := &lineWriter{prefix: "[s] ", w: writerFunc(func(p []byte) (int, error) {
		writes = append(writes, string(p))
		return out.Write(p)
	})}
	for _, chunk := range []string{"hel", "lo\nwor", "ld\n\nlast", " words"} {
		n, err := w.Write([]byte(chunk))
		require.NoError(t, err)
		assert.Equal(t, len(chunk), n)
	}
	assert.Equal(t, []string{"[s] hello\n", "[s] world\n", "[s] \n"}, writes, "one write per whole line")
	require.NoError(t, w.Flush())
	assert.Equal(t, "[s] hello\n[s] world\n[s] \n[s] last words\n", out.String())
	require.NoError(t, w.Flush())
	assert.Equal(t, "[s] hello\n[s] world\n[s] \n[s] last words\n", out.String(), "nothing left to flush")

	// A line longer than maxLine is cut into prefixed pieces.
	out.Reset()
	writes = nil
	_, err := w.Write(bytes.Repeat([]byte("x"), maxLine+10))
	require.NoError(t, err)
	_, err = w.Write([]byte("y\n"))
	require.NoError(t, err)
	require.NoError(t, w.Flush())
	require.Len(t, writes, 2)
	assert.Len(t, writes[0], len("[s] ")+maxLine+10+1)
	assert.True(t, strings.HasPrefix(writes[0], "[s] x"))
	assert.Equal(t, "[s] y\n", writes[1])
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// TestApplyPrefixesConcurrentOutput: with --concurrency 2, every line of a
// step's output starts with its step ID, and no line is cut, though the
// commands write a line in two pieces; one at a time, no prefix.
func TestApplyPrefixesConcurrentOutput(t *testing.T) {
	e := newApplyEnv(t)
	// Each command writes "part one", then " part two" and a newline in
	// a second write, and a last line without a newline.
	chatty := e.script(`printf "%s part one" "$3"; printf " part two\n"; printf "tail of %s" "$3"; ` + recordBody)
	r := stackup(t, e.args("--quiet", "--concurrency", "2", "--exec", chatty)...)
	require.Equal(t, exitOK, r.code, r.stderr)
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	assert.Len(t, lines, 2*len(allSteps), r.stderr)
	line := regexp.MustCompile(`^\[((?:platform|app)/([a-z]+-[0-9])@[0-9.]+)\] (?:([a-z]+-[0-9]) part one part two|tail of ([a-z]+-[0-9]))$`)
	for _, l := range lines {
		m := line.FindStringSubmatch(l)
		if assert.NotNil(t, m, "line %q", l) {
			assert.Equal(t, m[2], m[3]+m[4], "the line is of its step: %q", l)
		}
	}

	e.fresh(t)
	one := stackup(t, e.args("--quiet", "--exec", chatty)...)
	require.Equal(t, exitOK, one.code, one.stderr)
	assert.True(t, strings.HasPrefix(one.stderr, "java-1 part one part two\ntail of java-1"), one.stderr)
}

// TestProgressDurations checks the durations of progress lines and of the
// summary with a clock that advances 1.25s at each reading.
func TestProgressDurations(t *testing.T) {
	now := time.Unix(0, 0)
	clock := newStepClock(func() time.Time { now = now.Add(1250 * time.Millisecond); return now })
	step := &upgrade.Step{ID: "platform/x@1.0.0"}
	assert.Equal(t, "[0/8] start  platform/x@1.0.0", clock.line(upgrade.Event{Kind: upgrade.StepStarted, Step: step, Total: 8}))
	assert.Equal(t, "[3/8] done   platform/x@1.0.0  (1.3s)", clock.line(upgrade.Event{Kind: upgrade.StepSucceeded, Step: step, Done: 3, Total: 8}))
	assert.Equal(t, "; 3.8s in all", clock.total())
	for d, want := range map[time.Duration]string{850 * time.Millisecond: "850ms", 2100 * time.Millisecond: "2.1s", 65 * time.Second: "1m5s"} {
		assert.Equal(t, want, formatDuration(d))
	}
}

// TestRequestParseErrors: errors in request files and bodies name the
// place and the fields, never a Go type.
func TestRequestParseErrors(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"unknown field", `{"requests": [{"application": "shop", "replace": "shop_app"}]}`,
			`requests[0]: unknown field "replace"; known fields: application, replaces, template`},
		{"unknown nested field", `{"requests": [{"application": "shop", "template": {"id": "a", "versions": "1"}}]}`,
			`requests[0].template: unknown field "versions"; known fields: id, type, version, requirements`},
		{"unknown top field", `{"request": []}`, `the top level: unknown field "request"; known fields: requests`},
		{"list for an object", `{"requests": [{"application": "shop", "template": []}]}`, `requests[0].template`},
		{"object for a string", `{"requests": [{"application": {"id": "shop"}}]}`, `requests[0].application`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, yerr := parseRequestsYAML([]byte(tt.body))
			_, jerr := parseRequestsJSON(strings.NewReader(tt.body))
			for what, err := range map[string]error{"YAML": yerr, "JSON": jerr} {
				require.Error(t, err, what)
				assert.Contains(t, err.Error(), tt.want, what)
				assert.NotContains(t, err.Error(), "main.", what)
				assert.NotContains(t, err.Error(), "Go value", what)
			}
		})
	}
}

// TestFlagErrorsPrintable gives flags and a --token-file path holding a
// terminal escape and a line break: the usage error prints them escaped,
// so that they neither drive the terminal nor forge a line.
func TestFlagErrorsPrintable(t *testing.T) {
	const hostile = "\x1b[31mred\nstackup: all is well"
	const escaped = `\x1b[31mred\nstackup: all is well`
	tokenFile := filepath.Join(t.TempDir(), "token"+hostile)
	serve, ran := serveArgs(t, "--token-file", tokenFile)
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown-flag", []string{"plan", "--" + hostile}, "flag provided but not defined: -" + escaped},
		{"worker-unknown-flag", []string{"worker", "--" + hostile}, "flag provided but not defined: -" + escaped},
		{"token-file", serve, "--token-file: open " + filepath.Dir(tokenFile) + "/token" + escaped + ": no such file"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			cancel() // a serve that does start stops at once
			var stdout, stderr strings.Builder
			code := run(ctx, tt.args, &stdout, &stderr)
			msg, _, _ := strings.Cut(stderr.String(), "\n\nUsage: ") // the usage that follows is stackup's own
			assert.Equal(t, exitUsage, code, msg)
			assert.Contains(t, msg, tt.want)
			assert.NotContains(t, stderr.String(), "\x1b", "a terminal escape printed raw")
			assert.NotContains(t, msg, "\n", "a line forged")
		})
	}
	assert.NoFileExists(t, ran)
}

// TestRequestBodyWrongTypeNamesRequest: a value of the wrong type in a
// batch of requests is refused naming the request, by its index, and the
// field, in a body as in a request file.
func TestRequestBodyWrongTypeNamesRequest(t *testing.T) {
	const good = `{"application": "shop", "replaces": "shop_app", "template": {"id": "shop_app", "type": "webapp", "version": "2.0.0"}}`
	tests := []struct {
		name, bad, want string
	}{
		{"number-for-application", `{"application": 5, "replaces": "shop_app", "template": {"id": "shop_app", "type": "webapp", "version": "2.0.0"}}`,
			"requests[3].application: want a string, got the number 5"},
		{"bool-for-version", `{"application": "shop", "replaces": "shop_app", "template": {"id": "shop_app", "type": "webapp", "version": true}}`,
			"requests[3].template.version: want a string, got the boolean true"},
		{"number-for-constraint", `{"application": "shop", "replaces": "shop_app", "template": {"id": "shop_app", "type": "webapp", "version": "2.0.0",
			"requirements": [{"template": "tomcat_server", "constraint": ">=10"}, {"template": "ubuntu_os", "constraint": 18}]}}`,
			"requests[3].template.requirements[1].constraint: want a string, got the number 18"},
		{"unknown-field", `{"app": 5, "replaces": "shop_app", "template": {"id": "shop_app", "type": "webapp", "version": "2.0.0"}}`,
			`requests[3]: unknown field "app"; known fields: application, replaces, template`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := `{"requests": [` + strings.Repeat(good+", ", 3) + tt.bad + `, ` + good + `]}`
			_, err := parseRequestsJSON(strings.NewReader(body))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			pe, ok := errors.AsType[*placeError](err)
			if assert.True(t, ok, "%T", err) {
				assert.True(t, strings.HasPrefix(pe.Place, "requests[3]"), pe.Place)
			}
		})
	}
}
