package main

import (
	"context"
	"sync"

	"github.com/stackup/stackup/upgrade"
)

// A recorder hands the steps that a run reports done, or undone, to learn
// or unlearn (an inventory's LearnAll and UnlearnAll, say; nil: nothing
// is done with them), in the order
// reported, from a goroutine of its own, so that Run's event hook, which
// reports them, returns at once: Run starts no step while its hook runs
// (see upgrade.WithEvents), and an inventory's write reads, edits, checks
// and replaces the whole file, which takes a fleet's topology a good part
// of a second. The steps reported while it is busy are handed over
// together, for one write.
//
// The file then follows the journal a little behind: a crash before the
// recorder has handed a step over leaves it as a crash between a step and
// its write always could (see inventory).
type recorder struct {
	learn, unlearn func(context.Context, []upgrade.Step) error

	mu    sync.Mutex
	idle  sync.Cond // signalled when the goroutine ends
	queue []recorded
	busy  bool    // a goroutine is handing steps over
	errs  []error // of the steps handed over
}

// recorded is a step reported done, or undone (undo).
type recorded struct {
	step upgrade.Step
	undo bool
}

func newRecorder(learn, unlearn func(context.Context, []upgrade.Step) error) *recorder {
	r := &recorder{learn: learn, unlearn: unlearn}
	r.idle.L = &r.mu
	return r
}

// event takes a run's event, and records the step of one that says it
// succeeded or was rolled back.
func (r *recorder) event(ev upgrade.Event) {
	switch ev.Kind {
	case upgrade.StepSucceeded:
		r.add(recorded{step: *ev.Step})
	case upgrade.StepRolledBack:
		r.add(recorded{step: *ev.Step, undo: true})
	}
}

func (r *recorder) add(x recorded) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.queue = append(r.queue, x)
	if !r.busy {
		r.busy = true
		go r.handOver()
	}
}

// handOver hands the queued steps over till there are none: each time, all
// those queued, those of one kind at once.
func (r *recorder) handOver() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for len(r.queue) > 0 {
		q := r.queue
		r.queue = nil
		r.mu.Unlock()
		var errs []error
		for len(q) > 0 {
			n := 1
			for n < len(q) && q[n].undo == q[0].undo {
				n++
			}
			steps := make([]upgrade.Step, n)
			for i := range n {
				steps[i] = q[i].step
			}
			f := r.learn
			if q[0].undo {
				f = r.unlearn
			}
			// Not cancelled with the run: the steps are done (or undone),
			// and the inventory must know it.
			if f != nil {
				if err := f(context.Background(), steps); err != nil {
					errs = append(errs, err)
				}
			}
			q = q[n:]
		}
		r.mu.Lock()
		r.errs = append(r.errs, errs...)
	}
	r.busy = false
	r.idle.Broadcast()
}

// Wait waits until every step reported is handed over, and returns the
// errors learn and unlearn returned.
func (r *recorder) Wait() []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for r.busy {
		r.idle.Wait()
	}
	errs := r.errs
	r.errs = nil
	return errs
}
