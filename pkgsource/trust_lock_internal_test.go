package pkgsource

import (
	"context"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestFileTrustStoreLockWaitCancelled holds a store's lock while another
// store on the file waits for it: cancelling the wait returns the
// context's error, naming the lock file, and changes nothing.
func TestFileTrustStoreLockWaitCancelled(t *testing.T) {
	if !interProcessLock {
		t.Skip("no lock between stores on this system")
	}
	path := filepath.Join(t.TempDir(), "trust.json")
	require.NoError(t, os.WriteFile(path, []byte(`{"/repo": 2}`), 0o600))
	holder := NewFileTrustStore(path)
	unlock, err := holder.lock(context.Background())
	require.NoError(t, err)
	defer unlock()

	for _, name := range []string{"cancelled before", "cancelled while waiting"} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			errc := make(chan error, 1)
			if name == "cancelled before" {
				cancel()
				errc <- NewFileTrustStore(path).SetVersion(ctx, "/repo", 5)
			} else {
				go func() { errc <- NewFileTrustStore(path).SetVersion(ctx, "/repo", 5) }()
				cancel()
			}
			err := <-errc
			require.ErrorIs(t, err, context.Canceled)
			fe, ok := errors.AsType[*FileError](err)
			require.True(t, ok, "a *FileError: %v", err)
			assert.Equal(t, path+".lock", fe.Path)
			data, rerr := os.ReadFile(path)
			require.NoError(t, rerr)
			assert.JSONEq(t, `{"/repo": 2}`, string(data), "the store is unchanged")
		})
	}

	unlock()
	require.NoError(t, NewFileTrustStore(path).SetVersion(context.Background(), "/repo", 5), "released, the lock is free")
}

// FuzzHTTPTrustKey checks that httpTrustKey never panics, and that a key
// read back as a URL gives itself: the normal form is a fixed point.
func FuzzHTTPTrustKey(f *testing.F) {
	for _, s := range []string{"https://example.com/stable/", "http://EXAMPLE.com:80/./a//b/..", "https://[::1]:8443/x", "https://u:p@h./%41/?q#f", "http://h:443"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return
		}
		key := httpTrustKey(u)
		require.True(t, strings.HasPrefix(key, "http(s)://"), key)
		again, err := url.Parse("https://" + strings.TrimPrefix(key, "http(s)://"))
		if err != nil {
			return // a host url.Parse takes once but not rebuilt, such as one with spaces
		}
		assert.Equal(t, key, httpTrustKey(again), "from %q", raw)
	})
}
