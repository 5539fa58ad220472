package upgrade

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// errGone is what a worker's host call returns when the watch gave up on
// it: the worker must leave at once (see work).
var errGone = errors.New("upgrade: host call abandoned by the watch")

// verifyError says that err is Verify's when m is, but for errGone, which
// the worker acts on as it is.
func verifyError(m hostMethod, err error) error {
	if m != callVerify || err == errGone {
		return err
	}
	return fmt.Errorf("verify: %w", err)
}

// A watch abandons host code that ignores the run's cancellation for
// longer than the grace period, as call does, but without a goroutine per
// call: the workers call the host's code themselves, each marking its slot
// meanwhile, and one goroutine waits for the run's context to be done,
// then starts the grace period of every call under way. When a call has
// not returned by the end of its grace period, the watch fails its step
// with an *AbandonedError and ends its worker for it; the worker leaves,
// touching nothing, whenever the host's code returns. A call that starts
// once the context is done goes through call, which waits its own grace
// period. Run watches its workers when it has a grace period and no step
// timeout: a step's timeout ends its context alone, and call watches that.
type watch struct {
	r      *run
	ctx    context.Context // Run's, for the journal
	slots  []slot
	quit   chan struct{}  // closed once the workers are done
	done   chan struct{}  // closed once the watch's goroutine is done
	timers []*time.Timer  // the grace periods, set by the watch's goroutine
	fired  sync.WaitGroup // the grace periods not stopped before their end
}

// A slot is a worker's, for the watch to see its host call.
type slot struct {
	w *watch
	// calls counts the slot's calls twice, at their start and at their
	// end: it is odd while one is under way. Whoever moves it on from odd,
	// the worker once the call returns or the watch giving up on it, owns
	// the end of the call's step.
	calls   atomic.Uint64
	step    int // of the call under way, and which attempt
	attempt int
	method  hostMethod
	// current is the count of calls at the start of the call in the
	// worker under way, 0 when none: the worker's alone, for end.
	current uint64
}

func newWatch(ctx context.Context, r *run, workers int) *watch {
	w := &watch{r: r, ctx: ctx, slots: make([]slot, workers), quit: make(chan struct{}), done: make(chan struct{})}
	for k := range w.slots {
		w.slots[k].w = w
	}
	return w
}

// slot returns worker k's slot, nil for a nil watch.
func (w *watch) slot(k int) *slot {
	if w == nil {
		return nil
	}
	return &w.slots[k]
}

// run waits for ctx, the workers' context, to be done, then starts the
// grace period of each call under way.
func (w *watch) run(ctx context.Context) {
	defer close(w.done)
	select {
	case <-w.quit:
		return
	case <-ctx.Done():
	}
	for k := range w.slots {
		s := &w.slots[k]
		if c := s.calls.Load(); c%2 == 1 {
			w.fired.Add(1)
			w.timers = append(w.timers, time.AfterFunc(w.r.cfg.grace, func() {
				defer w.fired.Done()
				s.abandon(c, context.Cause(ctx))
			}))
		}
	}
}

// close ends the watch, once the workers are done, and its grace
// periods, waiting for those whose end has come.
func (w *watch) close() {
	if w == nil {
		return
	}
	close(w.quit)
	<-w.done
	for _, t := range w.timers {
		if t.Stop() {
			w.fired.Done()
		}
	}
	w.fired.Wait()
}

// call calls the host's method m for attempt n of step i, in the slot's
// worker, and returns its error, or errGone if the watch gave up on it.
func (s *slot) call(ctx context.Context, m hostMethod, i, n int) error {
	s.step, s.attempt, s.method = i, n, m
	c := s.calls.Add(1)
	if ctx.Err() != nil { // too late for the watch to see the call
		if !s.calls.CompareAndSwap(c, c+1) {
			s.w.r.hold.done() // the call, abandoned, never started
			return errGone
		}
		return s.w.r.call(ctx, m, i)
	}
	s.current = c
	err := s.w.r.invokeHere(ctx, m, i)
	s.current = 0
	if !s.calls.CompareAndSwap(c, c+1) {
		s.w.r.hold.done() // the call, abandoned, has returned
		return errGone
	}
	return err
}

// abandon gives up on call c of the slot, unless it has returned: it
// fails the call's step and ends the slot's worker.
func (s *slot) abandon(c uint64, cause error) {
	r := s.w.r
	r.hold.add() // before the worker may count the call's end (see call)
	if !s.calls.CompareAndSwap(c, c+1) {
		r.hold.done()
		return
	}
	err := verifyError(s.method, r.abandonment(s.method, s.step, cause))
	r.mu.Lock()
	ended := false // not by runtime.Goexit
	defer func() {
		if v := recover(); v != nil {
			r.fault(v) // see work
		} else if !ended {
			r.fault(goexited{})
		}
		r.mu.Unlock()
		r.workers.Done()
	}()
	r.done(s.w.ctx, result{i: s.step, err: err, attempts: s.attempt, settled: r.unchanged(s.step, s.method != callOpen)})
	r.wake.Broadcast() // with the context done, no step starts: the workers may be leaving
	ended = true
}

// end ends the slot's call under way, if any, for a worker that leaves in
// the middle of it (the host's code called runtime.Goexit), and reports
// whether the worker may still finish its step: not when the watch gave
// up on the call, as it then ended the worker, even if the host's code
// called runtime.Goexit long after. A nil slot may.
func (s *slot) end() bool {
	if s == nil || s.current == 0 {
		return true
	}
	return s.calls.CompareAndSwap(s.current, s.current+1)
}
