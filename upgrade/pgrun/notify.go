package pgrun

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// A waker wakes the slots of a worker that wait for a step to become
// ready: each takes wait's channel before it looks, and waits on it, so
// that a wake between the look and the wait is not missed.
type waker struct {
	mu sync.Mutex
	ch chan struct{}
}

func newWaker() *waker { return &waker{ch: make(chan struct{})} }

// wait returns a channel closed at the next wake.
func (k *waker) wait() <-chan struct{} {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.ch
}

func (k *waker) wake() {
	k.mu.Lock()
	defer k.mu.Unlock()
	close(k.ch)
	k.ch = make(chan struct{})
}

// listenRetry bounds how long a worker waits before listening again
// after its connection was lost.
const listenRetry = time.Second

// listen LISTENs on the store's channel, on a connection of its own taken
// out of the pool, and wakes k at each notification, until ctx is done.
// When the connection is lost it connects again, after listenRetry or the
// poll interval, whichever is shorter; the workers poll meanwhile. It
// wakes k each time it starts listening, for the notifications it may
// have missed.
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
	k.wake()
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return err
		}
		k.wake()
	}
}
