package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/template"
	"text/template/parse"
	"time"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/version"
)

// stepData is what the command templates are rendered with: the step's
// fields and whether it is in doubt.
type stepData struct {
	upgrade.Step
	InDoubt bool
	// PackageFile is the path of the verified private copy of a platform
	// step's package (see upgrade.WithPackages), "" for an application
	// step.
	PackageFile string
}

// A stepCommand is a parsed command flag (--exec, --verify-exec or
// --rollback-exec): a program and the templates of its arguments. Its
// value was split into words once, at startup; each argument template
// renders to exactly one argument, whatever the step holds, and no shell
// ever reads it.
type stepCommand struct {
	flag    string
	program string
	args    []*template.Template
	words   []string // the arguments as written, for messages
}

// commandError says what is wrong with a command flag, naming the flag
// and, when there is one, the word at fault.
type commandError struct {
	Flag string // such as "--exec"
	Word string // the word at fault, as split; "" when the value as a whole is
	Err  error
}

func (e *commandError) Error() string {
	if e.Word == "" {
		return fmt.Sprintf("%s: %v", e.Flag, e.Err)
	}
	return fmt.Sprintf("%s: word %q: %v", e.Flag, e.Word, e.Err)
}

func (e *commandError) Unwrap() error { return e.Err }

// errShellSyntax is the cause of a commandError for an unquoted shell
// operator: stackup runs no shell, so the operator would not do what it
// seems to.
var errShellSyntax = errors.New("stackup runs the command without a shell")

// parseCommand splits text into words and parses each argument as a
// template; flag names the flag in errors. The program, the first word,
// must be plain text. Every argument is then rendered for a sample
// platform step and a sample application step, so that a template that
// names an unknown field, or a package field without {{with .Package}},
// is refused now rather than when a step runs.
func parseCommand(flag, text string) (*stepCommand, error) {
	words, err := splitWords(text)
	if err != nil {
		return nil, &commandError{Flag: flag, Err: err}
	}
	if len(words) == 0 {
		return nil, &commandError{Flag: flag, Err: errors.New("no program: give the program to run and its arguments, such as 'deploy --node {{.Node}}'")}
	}
	c := &stepCommand{flag: flag, words: words[1:]}
	for i, w := range words {
		t, err := template.New(flag).Option("missingkey=error").Parse(w)
		if err != nil {
			return nil, &commandError{Flag: flag, Word: w, Err: fmt.Errorf("%w (an action must open and close within one word; quote the word if it holds blanks)", err)}
		}
		if i == 0 {
			if !plainText(t) {
				return nil, &commandError{Flag: flag, Word: w, Err: errors.New("the program must be plain text, not a template")}
			}
			c.program = w
			continue
		}
		c.args = append(c.args, t)
	}
	for _, s := range sampleSteps() {
		if _, err := c.argv(stepData{Step: s}, "a sample "+s.Kind.String()+" step"); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// plainText reports whether t is text only, without actions.
func plainText(t *template.Template) bool {
	if t.Tree == nil || t.Root == nil {
		return true
	}
	for _, n := range t.Root.Nodes {
		if n.Type() != parse.NodeText {
			return false
		}
	}
	return true
}

// sampleSteps are a platform step and an application step with every
// field set that a step of that kind has.
func sampleSteps() []upgrade.Step {
	v1, v2 := version.MustParse("1.0.0"), version.MustParse("2.0.0")
	return []upgrade.Step{
		{ID: "platform/node-1@2.0.0", Kind: upgrade.Platform, App: "app", Node: "node-1", Template: "server", Type: "server",
			From: v1, To: v2, Package: &pkgsource.Package{Type: "server", Version: v2, Location: "server-2.0.0.pkg"}, Reason: "sample"},
		{ID: "app/node-2@2.0.0", Kind: upgrade.Application, App: "app", Node: "node-2", Template: "webapp", Type: "webapp",
			From: v1, To: v2, NewTemplate: &topology.Template{ID: "webapp", Type: "webapp", Version: v2}, Reason: "sample"},
	}
}

// argv renders the command for s: the program and one argument per
// argument template. Its errors say they are for what.
func (c *stepCommand) argv(data stepData, what string) ([]string, error) {
	argv := make([]string, 1, 1+len(c.args))
	argv[0] = c.program
	for i, t := range c.args {
		var b strings.Builder
		if err := t.Execute(&b, data); err != nil {
			// text/template names the data by its Go type, which is
			// this program's business, not the user's.
			msg := strings.ReplaceAll(err.Error(), fmt.Sprintf("type %T", data), "a step")
			return nil, &commandError{Flag: c.flag, Word: c.words[i], Err: fmt.Errorf("for %s: %s", what, msg)}
		}
		argv = append(argv, b.String())
	}
	return argv, nil
}

// splitWords splits s into words as a POSIX shell does, without expanding
// anything:
//
//   - blanks (space, tab, newline) outside quotes separate words;
//   - '...' keeps everything between the quotes as it is;
//   - "..." too, except that \" \\ \$ and \` stand for " \ $ and `;
//   - outside quotes, a backslash keeps the next character as it is;
//   - a template action, {{ to }}, is part of the word it is in, blanks
//     and quotes included, so `{{if eq .Node "a b"}}` needs no quoting;
//   - outside quotes and actions, the shell operators | & ; < > ( ), the
//     expansions $ and `, and # starting a word (a comment) are refused,
//     and so are $ and ` inside double quotes: they would not do what
//     they seem to, as no shell runs the command.
//
// An unclosed quote or action is an error.
func splitWords(s string) ([]string, error) {
	var (
		words []string
		word  strings.Builder
		in    bool // inside a word
	)
	for i := 0; i < len(s); {
		if strings.HasPrefix(s[i:], "{{") {
			end, err := actionEnd(s, i)
			if err != nil {
				return nil, err
			}
			word.WriteString(s[i:end])
			in = true
			i = end
			continue
		}
		switch c := s[i]; c {
		case ' ', '\t', '\n', '\r':
			if in {
				words = append(words, word.String())
				word.Reset()
				in = false
			}
			i++
		case '\\':
			if i+1 == len(s) {
				return nil, errors.New("a backslash ends the value: it must escape a character")
			}
			word.WriteByte(s[i+1])
			in = true
			i += 2
		case '\'', '"':
			end, err := quoteEnd(s, i, &word)
			if err != nil {
				return nil, err
			}
			in = true
			i = end
		case '|', '&', ';', '<', '>', '(', ')', '$', '`':
			return nil, fmt.Errorf("%w: %q at offset %d would be passed as it is; quote it to mean that, or run a shell yourself: sh -c 'deploy \"$STACKUP_NODE\"'", errShellSyntax, string(c), i)
		case '#':
			if !in { // a comment in a shell: what follows would run as arguments here
				return nil, fmt.Errorf("%w: %q at offset %d would start a comment in a shell, but here it and the words after it would be passed as arguments; remove them, or quote it to mean that", errShellSyntax, string(c), i)
			}
			word.WriteByte(c)
			i++
		default:
			word.WriteByte(c)
			in = true
			i++
		}
	}
	if in {
		words = append(words, word.String())
	}
	return words, nil
}

// quoteEnd copies the quoted string starting at s[start] (its quote
// removed) to w, and returns the offset after its closing quote. Actions
// inside are copied as they are.
func quoteEnd(s string, start int, w *strings.Builder) (int, error) {
	q := s[start]
	for i := start + 1; i < len(s); {
		switch {
		case strings.HasPrefix(s[i:], "{{"):
			end, err := actionEnd(s, i)
			if err != nil {
				return 0, err
			}
			w.WriteString(s[i:end])
			i = end
		case s[i] == q:
			return i + 1, nil
		case q == '"' && s[i] == '\\' && i+1 < len(s) && strings.IndexByte("\"\\$`", s[i+1]) >= 0:
			w.WriteByte(s[i+1])
			i += 2
		case q == '"' && (s[i] == '$' || s[i] == '`'):
			return 0, fmt.Errorf("%w: %q at offset %d inside double quotes would be passed as it is; use single quotes to mean that, or run a shell yourself: sh -c 'deploy \"$STACKUP_NODE\"'", errShellSyntax, string(s[i]), i)
		default:
			w.WriteByte(s[i])
			i++
		}
	}
	return 0, fmt.Errorf("unclosed %c quote at offset %d", q, start)
}

// actionEnd returns the offset after the "}}" that closes the action
// starting at s[start], skipping the action's own strings, characters
// and comments.
func actionEnd(s string, start int) (int, error) {
	for i := start + 2; i < len(s); {
		switch {
		case strings.HasPrefix(s[i:], "}}"):
			return i + 2, nil
		case strings.HasPrefix(s[i:], "/*"):
			end := strings.Index(s[i+2:], "*/")
			if end < 0 {
				return 0, fmt.Errorf("unclosed comment in the action at offset %d", start)
			}
			i += 2 + end + 2
		case s[i] == '"' || s[i] == '\'':
			q := s[i]
			i++
			for i < len(s) && s[i] != q {
				if s[i] == '\\' {
					i++
				}
				i++
			}
			i++
		case s[i] == '`':
			end := strings.IndexByte(s[i+1:], '`')
			if end < 0 {
				return 0, fmt.Errorf("unclosed raw string in the action at offset %d", start)
			}
			i += 1 + end + 1
		default:
			i++
		}
	}
	return 0, fmt.Errorf("unclosed action {{ at offset %d", start)
}

// scripts are the parsed commands of an executor; verify and rollback
// may be nil.
type scripts struct {
	exec, verify, rollback *stepCommand
}

// parseCommands parses the command flags given; verify and rollback may
// be empty. Its errors are usage errors.
func parseCommands(execText, verifyText, rollbackText string) (scripts, error) {
	var c scripts
	for _, t := range []struct {
		flag, text string
		dst        **stepCommand
	}{{"--exec", execText, &c.exec}, {"--verify-exec", verifyText, &c.verify}, {"--rollback-exec", rollbackText, &c.rollback}} {
		if t.text == "" {
			continue
		}
		cmd, err := parseCommand(t.flag, t.text)
		if err != nil {
			return c, inputErr(err)
		}
		*t.dst = cmd
	}
	return c, nil
}

// findPrograms looks up the program of every command given, as running
// it will, so that a misspelt or missing program is reported at startup,
// naming its flag, rather than as the failure of the first step.
func (c scripts) findPrograms() error {
	for _, cmd := range []*stepCommand{c.exec, c.verify, c.rollback} {
		if cmd == nil {
			continue
		}
		if _, err := exec.LookPath(cmd.program); err != nil {
			if e, ok := errors.AsType[*exec.Error](err); ok {
				err = e.Err
			}
			hint := "install it, or give its path"
			if strings.ContainsAny(cmd.program, `/\`) {
				hint = "give the path of an executable file"
			}
			return inputErr(&commandError{Flag: cmd.flag, Err: fmt.Errorf("program %q: %w: %s", cmd.program, err, hint)})
		}
	}
	return nil
}

// check renders every command for every step of plan, so that a command
// that fails for some step is reported before anything runs.
func (c scripts) check(plan *upgrade.Plan) error {
	for _, s := range plan.Steps {
		for _, cmd := range []*stepCommand{c.exec, c.verify, c.rollback} {
			if cmd == nil {
				continue
			}
			if _, err := cmd.argv(stepData{Step: s}, "step "+string(s.ID)); err != nil {
				return inputErr(err)
			}
		}
	}
	return nil
}

// defaultGrace is how long a cancelled command's process group has to
// end after SIGTERM before it gets SIGKILL.
const defaultGrace = 5 * time.Second

// runner runs the commands, each in a process group of its own. It is
// safe for concurrent use.
type runner struct {
	cmds scripts
	// out receives the commands' standard output.
	out io.Writer
	// grace is how long a cancelled command has between SIGTERM and
	// SIGKILL.
	grace time.Duration
	// prefix makes each line of a command's output start with its step's
	// ID, for steps running side by side.
	prefix bool
	// timeout is the step timeout (--step-timeout), named in errors.
	timeout time.Duration
	// packages, if set, gives a platform step's command its package
	// (.PackageFile) when the run does not (upgrade.PackageFile): a
	// worker's runs, whose upgrade.Run pgrun calls.
	packages *packageCopies
}

// maxStderr is how much of a failed command's standard error its error
// quotes, from the end.
const maxStderr = 2 << 10

// run renders c for s and runs it.
func (r *runner) run(ctx context.Context, action string, c *stepCommand, s upgrade.Step) error {
	inDoubt, pkg := upgrade.InDoubt(ctx), upgrade.PackageFile(ctx)
	if pkg == "" && r.packages != nil && s.Package != nil {
		var err error
		if pkg, err = r.packages.file(ctx, *s.Package); err != nil {
			return fmt.Errorf("%s command of step %s not run: %w", action, s.ID, err)
		}
	}
	argv, err := c.argv(stepData{Step: s, InDoubt: inDoubt, PackageFile: pkg}, "step "+string(s.ID))
	if err != nil {
		return upgrade.Permanent(err)
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(commandEnv(),
		"STACKUP_ACTION="+action,
		"STACKUP_STEP="+string(s.ID),
		"STACKUP_KIND="+s.Kind.String(),
		"STACKUP_APP="+string(s.App),
		"STACKUP_NODE="+string(s.Node),
		"STACKUP_FROM="+s.From.String(),
		"STACKUP_TO="+s.To.String(),
		"STACKUP_IN_DOUBT="+strconv.FormatBool(inDoubt),
		"STACKUP_PACKAGE_FILE="+pkg,
	)
	var stderr tailBuffer
	cmd.Stdout, cmd.Stderr = r.out, &stderr
	if r.prefix {
		lw := &lineWriter{prefix: "[" + string(s.ID) + "] ", w: r.out}
		defer lw.Flush()
		cmd.Stdout = lw
	}
	cmd.WaitDelay = r.grace
	g := processGroup(cmd)
	err = runPinned(cmd)
	// When the command was cancelled, what is left of its group has had
	// SIGTERM, and now has the rest of its grace before SIGKILL.
	if g.stop(r.grace) || (cmd.Process == nil && ctx.Err() != nil) {
		if cause := context.Cause(ctx); errors.Is(cause, context.DeadlineExceeded) && r.timeout > 0 {
			return &timeoutError{action: action, after: r.timeout}
		}
		return fmt.Errorf("%s command stopped: %w", action, context.Cause(ctx))
	}
	if err == nil {
		return nil
	}
	msg := strings.TrimSpace(stderr.String())
	if exit, ok := errors.AsType[*exec.ExitError](err); ok && msg != "" {
		return fmt.Errorf("%s command: %v: %s", action, exit, msg)
	}
	return fmt.Errorf("%s command: %w", action, err)
}

// secretEnv are the environment variables that hold stackup's own
// secrets: the bearer token serve checks, the database URL, with its
// password, and the passwords that pgx reads beside the URL, as libpq
// does (PGPASSWORD, and PGSSLPASSWORD for the client key). A step command
// has no use for them, and could leak them (into its logs, say), so it
// does not get them.
var secretEnv = []string{"STACKUP_TOKEN", databaseEnv, "PGPASSWORD", "PGSSLPASSWORD"}

// commandEnv returns stackup's environment without secretEnv: the
// environment a step command starts from.
func commandEnv() []string {
	env := os.Environ()
	return slices.DeleteFunc(env, func(kv string) bool {
		name, _, _ := strings.Cut(kv, "=")
		return slices.ContainsFunc(secretEnv, func(secret string) bool { return sameEnvName(name, secret) })
	})
}

// sameEnvName reports whether a and b name the same environment
// variable: on Windows, names differ in case only.
func sameEnvName(a, b string) bool {
	if runtime.GOOS == "windows" {
		return strings.EqualFold(a, b)
	}
	return a == b
}

// runPinned runs cmd on an OS thread of its own: on Linux the command's
// Pdeathsig fires when the thread that started it ends, and a goroutine
// elsewhere that locks its thread and returns ends that thread
// (go.dev/issue/27505). Holding the thread until the command ends means
// the command is killed only when stackup dies.
func runPinned(cmd *exec.Cmd) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	return cmd.Run()
}

func (r *runner) Execute(ctx context.Context, s upgrade.Step) error {
	return r.run(ctx, "execute", r.cmds.exec, s)
}

// withVerify, withRollback and withBoth add the optional capabilities of
// an executor: Run finds them by type assertion, so a runner has them
// only when their command was given.
type (
	withVerify   struct{ *runner }
	withRollback struct{ *runner }
	withBoth     struct{ *runner }
)

func (w withVerify) Verify(ctx context.Context, s upgrade.Step) error {
	return w.run(ctx, "verify", w.cmds.verify, s)
}
func (w withRollback) Rollback(ctx context.Context, s upgrade.Step) error {
	return w.run(ctx, "rollback", w.cmds.rollback, s)
}
func (w withBoth) Verify(ctx context.Context, s upgrade.Step) error {
	return w.run(ctx, "verify", w.cmds.verify, s)
}
func (w withBoth) Rollback(ctx context.Context, s upgrade.Step) error {
	return w.run(ctx, "rollback", w.cmds.rollback, s)
}

var (
	_ upgrade.Verifier   = withVerify{}
	_ upgrade.Rollbacker = withRollback{}
	_ upgrade.Verifier   = withBoth{}
	_ upgrade.Rollbacker = withBoth{}
)

// newExecutorWith returns an executor running cmds, a Verifier when there
// is a verify command and a Rollbacker when there is a rollback command;
// its commands' output lines start with their step's ID when prefix is
// set, and its errors for a step cut short by timeout (the step timeout, 0
// if none) say so.
func newExecutorWith(cmds scripts, out io.Writer, prefix bool, timeout time.Duration) upgrade.Executor {
	return newRunnerWith(&runner{cmds: cmds, out: &lockedWriter{w: out}, grace: defaultGrace, prefix: prefix, timeout: timeout})
}

// timeoutError is a command stopped by the step timeout.
type timeoutError struct {
	action string
	after  time.Duration
}

func (e *timeoutError) Error() string {
	return fmt.Sprintf("%s command timed out after %v (--step-timeout)", e.action, e.after)
}

// Unwrap lets the error match context.DeadlineExceeded.
func (e *timeoutError) Unwrap() error { return context.DeadlineExceeded }

func newRunnerWith(r *runner) upgrade.Executor {
	cmds := r.cmds
	switch {
	case cmds.verify != nil && cmds.rollback != nil:
		return withBoth{r}
	case cmds.verify != nil:
		return withVerify{r}
	case cmds.rollback != nil:
		return withRollback{r}
	}
	return r
}

// lockedWriter serializes writes from commands running at once.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// lineWriter writes what it is given to w line by line, each line
// starting with prefix, in one Write: lines of commands running at once
// do not mix, and a line split across writes is not cut. Flush writes
// what is left of a last line without a newline. Not safe for concurrent
// use: each command has its own.
type lineWriter struct {
	prefix string
	w      io.Writer
	buf    []byte
}

// maxLine is the longest line a lineWriter holds back: a longer one is
// written in pieces, each with the prefix.
const maxLine = 64 << 10

func (l *lineWriter) Write(p []byte) (int, error) {
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 && len(l.buf) < maxLine {
			return len(p), nil
		}
		if i < 0 {
			i = len(l.buf) - 1
		}
		line := make([]byte, 0, len(l.prefix)+i+2)
		line = append(append(line, l.prefix...), l.buf[:i+1]...)
		if line[len(line)-1] != '\n' {
			line = append(line, '\n')
		}
		l.buf = l.buf[i+1:]
		if _, err := l.w.Write(line); err != nil {
			return len(p), err
		}
	}
}

// Flush writes the last line if it has no newline.
func (l *lineWriter) Flush() error {
	if len(l.buf) == 0 {
		return nil
	}
	line := append(append([]byte(l.prefix), l.buf...), '\n')
	l.buf = nil
	_, err := l.w.Write(line)
	return err
}

// tailBuffer keeps the last maxStderr bytes written to it.
type tailBuffer struct {
	buf bytes.Buffer
	cut bool
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	n := len(p)
	t.buf.Write(p)
	if extra := t.buf.Len() - maxStderr; extra > 0 {
		t.buf.Next(extra)
		rest := bytes.Clone(t.buf.Bytes())
		t.buf.Reset()
		t.buf.Write(rest)
		t.cut = true
	}
	return n, nil
}

func (t *tailBuffer) String() string {
	if t.cut {
		return "…" + t.buf.String()
	}
	return t.buf.String()
}
