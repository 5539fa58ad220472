package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestInterrupts: the first signal closes the stop channel and says how to
// stop at once; the second exits with 130; none after done.
func TestInterrupts(t *testing.T) {
	sigs := make(chan os.Signal, 2)
	done := make(chan struct{})
	var stderr bytes.Buffer
	exited := make(chan int, 1)
	stop := interrupts(sigs, done, &stderr, func(code int) { exited <- code })

	select {
	case <-stop:
		t.Fatal("stopped before any signal")
	default:
	}
	sigs <- syscall.SIGTERM
	<-stop
	sigs <- os.Interrupt
	assert.Equal(t, exitInterrupted, <-exited)
	// The goroutine said each after it acted on it: stop closed before
	// the first line, so that one who reads it knows no step starts.
	assert.Equal(t, "stackup: terminated: stopping: no new step starts, running steps may finish; terminated again stops at once\n"+
		"stackup: interrupt: stopping now\n", stderr.String())
	close(done)
}

func TestInterruptsDone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sigs := make(chan os.Signal, 1)
		done := make(chan struct{})
		stop := interrupts(sigs, done, new(bytes.Buffer), func(int) { t.Error("exit called") })
		close(done)
		synctest.Wait() // the goroutine has returned: synctest would report it otherwise
		select {
		case <-stop:
			t.Error("stop closed without a signal")
		default:
		}
	})
}

// TestAfterStop: a context cancelled grace after the stop, with cause
// errInterrupted, and at once with no grace.
func TestAfterStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		stop := make(chan struct{})
		parent := withStop(context.Background(), stop)
		graced, cancelGraced := afterStop(parent, time.Minute)
		defer cancelGraced()
		now, cancelNow := afterStop(parent, 0)
		defer cancelNow()

		start := time.Now()
		close(stop)
		<-now.Done()
		assert.Equal(t, start, time.Now(), "no grace: cancelled at once")
		assert.ErrorIs(t, context.Cause(now), errInterrupted)
		<-graced.Done()
		assert.Equal(t, time.Minute, time.Since(start))
		assert.ErrorIs(t, context.Cause(graced), errInterrupted)
	})
}

func TestAfterStopNoStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := afterStop(context.Background(), 0)
		time.Sleep(time.Hour) // fake time: nothing cancels ctx
		require.NoError(t, ctx.Err())
		cancel()
		assert.True(t, errors.Is(context.Cause(ctx), context.Canceled))
	})
}
