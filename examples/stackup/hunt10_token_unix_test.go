//go:build unix

package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestHunt10TokenFileOthersCanUse gives serve a token file that other
// users of the host can read (and so call the server with the token) or
// write (and so choose it): serve refuses to start, naming the file, its
// mode and the chmod that mends it. A file only its owner, or its owner
// and group, can read is taken.
func TestHunt10TokenFileOthersCanUse(t *testing.T) {
	unsetToken(t)
	dir := t.TempDir()
	for _, mode := range []os.FileMode{0o644, 0o604, 0o602, 0o666} {
		t.Run(fmt.Sprintf("%04o", mode), func(t *testing.T) {
			file := filepath.Join(dir, fmt.Sprintf("token-%04o", mode))
			require.NoError(t, os.WriteFile(file, []byte(testToken+"\n"), 0o600))
			require.NoError(t, os.Chmod(file, mode)) // not through the umask
			args, ran := serveArgs(t, "--token-file", file, "--listen", "127.0.0.1:0")
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			var stdout, stderr strings.Builder
			code := run(ctx, args, &stdout, &stderr)
			assert.Equal(t, exitUsage, code, stderr.String())
			assert.Contains(t, stderr.String(), fmt.Sprintf("--token-file: %s: other users can read or write it (mode %04o): chmod 600 %s", file, mode, file))
			assert.NotContains(t, stderr.String(), testToken)
			assert.NotContains(t, stdout.String(), "listening on")
			assert.NoFileExists(t, ran)
		})
	}
	for _, mode := range []os.FileMode{0o600, 0o400, 0o640} {
		file := filepath.Join(dir, fmt.Sprintf("ok-%04o", mode))
		require.NoError(t, os.WriteFile(file, []byte(testToken+"\n"), 0o600))
		require.NoError(t, os.Chmod(file, mode))
		token, err := readToken(file)
		require.NoError(t, err, "mode %04o", mode)
		assert.Equal(t, testToken, token)
	}
}
