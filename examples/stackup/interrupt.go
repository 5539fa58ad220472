package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/term"
)

// exitInterrupted is the exit code after a second interrupt, as a shell
// gives a program killed by SIGINT.
const exitInterrupted = 130

// errInterrupted is the cause of a context cancelled by an interrupt.
var errInterrupted = errors.New("interrupted")

// interrupts turns the signals received on sigs into a gentle stop and
// then a hard one. The first signal closes the returned channel: a run
// starts no new step, and its running steps get the grace period of the
// command to finish. The second calls exit(exitInterrupted) at once,
// whatever the program is blocked on. It returns when done is closed.
func interrupts(sigs <-chan os.Signal, done <-chan struct{}, stderr io.Writer, exit func(int)) <-chan struct{} {
	stop := make(chan struct{})
	go func() {
		select {
		case sig := <-sigs:
			close(stop) // before saying so: once said, no new step starts
			fmt.Fprintf(stderr, "%s: %v: stopping: no new step starts, running steps may finish; %v again stops at once\n", programName, sig, sig)
		case <-done:
			return
		}
		select {
		case sig := <-sigs:
			fmt.Fprintf(stderr, "%s: %v: stopping now\n", programName, sig)
			exit(exitInterrupted)
		case <-done:
		}
	}()
	return stop
}

// stopKey is the context key of the channel closed by the first
// interrupt.
type stopKey struct{}

// withStop returns ctx carrying stop, the channel closed by the first
// interrupt.
func withStop(ctx context.Context, stop <-chan struct{}) context.Context {
	return context.WithValue(ctx, stopKey{}, stop)
}

// stopOf returns the channel that ctx carries, closed by the first
// interrupt, or nil, which is never closed.
func stopOf(ctx context.Context) <-chan struct{} {
	stop, _ := ctx.Value(stopKey{}).(<-chan struct{})
	return stop
}

// afterStop returns a context that is cancelled, with cause
// errInterrupted, grace after the first interrupt; at once when grace
// is 0.
func afterStop(ctx context.Context, grace time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	stop := stopOf(ctx)
	go func() {
		select {
		case <-stop:
		case <-ctx.Done():
			return
		}
		if grace > 0 {
			t := time.NewTimer(grace)
			defer t.Stop()
			select {
			case <-t.C:
			case <-ctx.Done():
				return
			}
		}
		cancel(errInterrupted)
	}()
	return ctx, func() { cancel(context.Canceled) }
}

// stdinKey is the context key of the standard input that apply may ask
// for confirmation on.
type stdinKey struct{}

// withStdin returns ctx carrying f, the standard input. Without it (as in
// tests run in-process), apply never asks.
func withStdin(ctx context.Context, f *os.File) context.Context {
	return context.WithValue(ctx, stdinKey{}, f)
}

// stdinOf returns the standard input ctx carries, or nil.
func stdinOf(ctx context.Context) *os.File {
	f, _ := ctx.Value(stdinKey{}).(*os.File)
	return f
}

// isTerminal reports whether f is a terminal.
func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }
