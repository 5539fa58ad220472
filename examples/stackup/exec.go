package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"text/template"
	"time"

	"github.com/stackup/stackup/upgrade"
)

// stepData is what the command templates are rendered with: the step's
// fields and whether it is in doubt.
type stepData struct {
	upgrade.Step
	InDoubt bool
}

// scripts are the parsed command templates of a shell executor.
type scripts struct {
	exec, verify, rollback *template.Template
}

// parseCommands parses the templates given; verify and rollback may be
// empty.
func parseCommands(execText, verifyText, rollbackText string) (scripts, error) {
	var c scripts
	var err error
	for _, t := range []struct {
		flag, text string
		dst        **template.Template
	}{{"--exec", execText, &c.exec}, {"--verify-exec", verifyText, &c.verify}, {"--rollback-exec", rollbackText, &c.rollback}} {
		if t.text == "" {
			continue
		}
		*t.dst, err = template.New(t.flag).Option("missingkey=error").Parse(t.text)
		if err != nil {
			return c, usageErr("%s: %w", t.flag, err)
		}
	}
	return c, nil
}

// check renders every template for every step of plan, so that a
// template that fails for some step is reported before anything runs.
func (c scripts) check(plan *upgrade.Plan) error {
	for _, s := range plan.Steps {
		for _, t := range []*template.Template{c.exec, c.verify, c.rollback} {
			if t == nil {
				continue
			}
			if _, err := render(t, s, false); err != nil {
				return inputErr(fmt.Errorf("%s for step %s: %w", t.Name(), s.ID, err))
			}
		}
	}
	return nil
}

func render(t *template.Template, s upgrade.Step, inDoubt bool) (string, error) {
	var b strings.Builder
	if err := t.Execute(&b, stepData{Step: s, InDoubt: inDoubt}); err != nil {
		return "", err
	}
	return b.String(), nil
}

// shell runs the commands with "sh -c". It is safe for concurrent use.
type shell struct {
	cmds scripts
	// out receives the commands' standard output.
	out io.Writer
}

// maxStderr is how much of a failed command's standard error its error
// quotes, from the end.
const maxStderr = 2 << 10

// run renders t for s and runs it.
func (sh *shell) run(ctx context.Context, action string, t *template.Template, s upgrade.Step) error {
	inDoubt := upgrade.InDoubt(ctx)
	script, err := render(t, s, inDoubt)
	if err != nil {
		return upgrade.Permanent(fmt.Errorf("%s: %w", t.Name(), err))
	}
	cmd := exec.CommandContext(ctx, "sh", "-c", script)
	cmd.Env = append(os.Environ(),
		"STACKUP_ACTION="+action,
		"STACKUP_STEP="+string(s.ID),
		"STACKUP_KIND="+s.Kind.String(),
		"STACKUP_APP="+string(s.App),
		"STACKUP_NODE="+string(s.Node),
		"STACKUP_FROM="+s.From.String(),
		"STACKUP_TO="+s.To.String(),
		"STACKUP_IN_DOUBT="+strconv.FormatBool(inDoubt),
	)
	var stderr tailBuffer
	cmd.Stdout, cmd.Stderr = sh.out, &stderr
	cmd.WaitDelay = 5 * time.Second
	processGroup(cmd)
	err = cmd.Run()
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%s command stopped: %w", action, context.Cause(ctx))
	}
	msg := strings.TrimSpace(stderr.String())
	if exit, ok := errors.AsType[*exec.ExitError](err); ok && msg != "" {
		return fmt.Errorf("%s command: %v: %s", action, exit, msg)
	}
	return fmt.Errorf("%s command: %w", action, err)
}

func (sh *shell) Execute(ctx context.Context, s upgrade.Step) error {
	return sh.run(ctx, "execute", sh.cmds.exec, s)
}

// withVerify, withRollback and withBoth add the optional capabilities of
// an executor: Run finds them by type assertion, so a shell has them only
// when their command was given.
type (
	withVerify   struct{ *shell }
	withRollback struct{ *shell }
	withBoth     struct{ *shell }
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

// newExecutor returns an executor running cmds, a Verifier when there is a
// verify command and a Rollbacker when there is a rollback command.
func newExecutor(cmds scripts, out io.Writer) upgrade.Executor {
	sh := &shell{cmds: cmds, out: &lockedWriter{w: out}}
	switch {
	case cmds.verify != nil && cmds.rollback != nil:
		return withBoth{sh}
	case cmds.verify != nil:
		return withVerify{sh}
	case cmds.rollback != nil:
		return withRollback{sh}
	}
	return sh
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
