package main

import (
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestServeTokenFileFIFO gives a FIFO as the token file: refused at once,
// not waited on for a writer.
func TestServeTokenFileFIFO(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("FIFOs made with mkfifo on Linux")
	}
	fifo := filepath.Join(t.TempDir(), "fifo")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	args, ran := serveArgs(t, "--token-file", fifo)
	done := make(chan result, 1)
	go func() { done <- stackup(t, args...) }()
	select {
	case r := <-done:
		assert.Equal(t, exitUsage, r.code)
		assert.Contains(t, r.stderr, "--token-file: open "+fifo+": not a regular file: a named pipe")
		assert.NoFileExists(t, ran)
	case <-time.After(20 * time.Second): // a failure bound only
		f, err := os.OpenFile(fifo, os.O_WRONLY, 0) // unblock serve
		if err == nil {
			f.Close()
		}
		t.Fatal("serve waits on the FIFO")
	}
}

// TestServeTLSFileFIFO gives a FIFO as --tls-cert, then as --tls-key:
// refused at once, naming the flag and the file, not waited on for a
// writer.
func TestServeTLSFileFIFO(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("FIFOs made with mkfifo on Linux")
	}
	dir := t.TempDir()
	certFile, keyFile, _ := selfSigned(t, dir)
	fifo := filepath.Join(dir, "fifo")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	for _, tt := range []struct{ flag, cert, key string }{{"--tls-cert", fifo, keyFile}, {"--tls-key", certFile, fifo}} {
		args, ran := serveArgs(t, "--tls-cert", tt.cert, "--tls-key", tt.key)
		done := make(chan result, 1)
		go func() { done <- stackup(t, args...) }()
		select {
		case r := <-done:
			assert.Equal(t, exitUsage, r.code, r.stderr)
			assert.Contains(t, r.stderr, tt.flag+": open "+fifo+": not a regular file: a named pipe")
			assert.NotContains(t, r.stdout, "listening on")
			assert.NoFileExists(t, ran)
		case <-time.After(20 * time.Second): // a failure bound only
			f, err := os.OpenFile(fifo, os.O_WRONLY, 0) // unblock serve
			if err == nil {
				f.Close()
			}
			<-done
			t.Fatalf("serve waits on the FIFO given as %s", tt.flag)
		}
	}
}
