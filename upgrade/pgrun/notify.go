package pgrun

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// A waker wakes the goroutines of a Store that wait for a step to become
// ready (worker slots, Wait calls), each for a run: each joins before it
// looks (add), so that a wake between its look and its wait is not
// missed, and leaves after. A notification wakes the oldest of each run
// (wakeEach): the run notified may have a step ready, and any other a
// step whose node the notified run's step freed. The waiter woken passes
// the wake on to the next of its run (wakeOne) once it has claimed a step
// or found the run over, so that a step finished wakes as many slots of
// its run as there are steps to claim, not every slot of the process at
// once, and a slot of another run with nothing to claim does not take the
// wake from the slots of the run notified. A Wait call, which claims
// nothing, joins as a watcher (watch): a notification wakes every watcher
// of each run, besides its oldest slot, and a wake passed on goes to a
// slot, never to a watcher, so that Waits take no wake from the slots,
// miss none, and pass none back and forth.
type waker struct {
	mu      sync.Mutex
	waiters []waiter // the oldest first
}

// A waiter is a goroutine waiting for a step of run plan, woken when ch
// is closed: a worker's slot, or a watcher (a Wait call).
type waiter struct {
	plan  string
	ch    chan struct{}
	watch bool
}

// add joins a slot's waiter for run plan and returns the channel closed
// when it is woken.
func (k *waker) add(plan string) chan struct{} { return k.join(plan, false) }

// watch joins a watcher for run plan, as add joins a slot.
func (k *waker) watch(plan string) chan struct{} { return k.join(plan, true) }

func (k *waker) join(plan string, watch bool) chan struct{} {
	k.mu.Lock()
	defer k.mu.Unlock()
	ch := make(chan struct{})
	k.waiters = append(k.waiters, waiter{plan, ch, watch})
	return ch
}

// leave removes the waiter of ch, and reports whether it had been woken,
// which the caller passes on (wakeOne) if it does not act on it.
func (k *waker) leave(ch chan struct{}) (woken bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for i, w := range k.waiters {
		if w.ch == ch {
			k.waiters = append(k.waiters[:i], k.waiters[i+1:]...)
			return false
		}
	}
	return true
}

// pass removes the waiter of ch, for run plan, and, if it had been woken,
// passes the wake on: for a waiter that leaves without acting on it.
func (k *waker) pass(plan string, ch chan struct{}) {
	if k.leave(ch) {
		k.wakeOne(plan)
	}
}

// sleep waits, as Store.Wait does between two looks, until ctx is done,
// the watcher of ch is woken, or d has passed, and then removes the
// watcher.
func (k *waker) sleep(ctx context.Context, ch chan struct{}, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-ch:
	case <-t.C:
	}
	k.leave(ch)
}

// wakeOne wakes the oldest slot waiting for run plan, if any.
func (k *waker) wakeOne(plan string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for i, w := range k.waiters {
		if w.plan == plan && !w.watch {
			close(w.ch)
			k.waiters = append(k.waiters[:i], k.waiters[i+1:]...)
			return
		}
	}
}

// wakeEach wakes the oldest slot and every watcher of each run.
func (k *waker) wakeEach() {
	k.mu.Lock()
	defer k.mu.Unlock()
	seen := map[string]bool{}
	kept := k.waiters[:0]
	for _, w := range k.waiters {
		if !w.watch && seen[w.plan] {
			kept = append(kept, w)
			continue
		}
		seen[w.plan] = seen[w.plan] || !w.watch
		close(w.ch)
	}
	clear(k.waiters[len(kept):])
	k.waiters = kept
}

// wakeAll wakes every waiter.
func (k *waker) wakeAll() {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, w := range k.waiters {
		close(w.ch)
	}
	k.waiters = nil
}

// A listener is a Store's one LISTEN connection and its waker, shared by
// the Work and Wait calls under way, started by the first and stopped by
// the last.
type listener struct {
	mu    sync.Mutex
	users int
	k     *waker
	stop  context.CancelFunc
	done  chan struct{}
}

// subscribe returns the store's waker, starting its listener if need be
// (o's Logger and Poll serve it); call the returned function when done.
func (s *Store) subscribe(o *WorkerOptions) (*waker, func()) {
	l := s.listener
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.users == 0 {
		ctx, stop := context.WithCancel(context.Background())
		k, done := &waker{}, make(chan struct{})
		lo := *o
		go func() {
			defer close(done)
			s.listen(ctx, k, &lo)
		}()
		l.k, l.stop, l.done = k, stop, done
	}
	l.users++
	k := l.k
	return k, func() {
		l.mu.Lock()
		l.users--
		last := l.users == 0
		stop, done := l.stop, l.done
		l.mu.Unlock()
		if last {
			stop()
			<-done
		}
	}
}

// listenRetry bounds how long a worker waits before listening again
// after its connection was lost.
const listenRetry = time.Second

// listen LISTENs on the store's channel, on a connection of its own taken
// out of the pool, and wakes the oldest waiter of each run at each
// notification (wakeEach), until ctx is done.
// When the connection is lost it connects again, after listenRetry or the
// poll interval, whichever is shorter; the workers poll meanwhile. It
// wakes every waiter of k each time it starts listening, for the
// notifications it may have missed.
func (s *Store) listen(ctx context.Context, k *waker, o *WorkerOptions) {
	for {
		err := s.listenOnce(ctx, k)
		if ctx.Err() != nil {
			return
		}
		if o.Logger != nil {
			o.Logger.Warn("pgrun: listening for notifications failed; polling meanwhile", "err", err)
		}
		t := time.NewTimer(min(listenRetry, o.Poll))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// listenOnce listens on one connection until it fails or ctx is done.
func (s *Store) listenOnce(ctx context.Context, k *waker) error {
	pc, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	conn := pc.Hijack() // LISTEN stays with the connection: keep it out of the pool
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{s.channel}.Sanitize()); err != nil {
		return err
	}
	k.wakeAll()
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return err
		}
		k.wakeEach()
	}
}
