package upgrade_test

import (
	"bytes"
	"context"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestHunt2FileJournalZeroedHeader: a power loss during the first write
// of a new journal may leave the file its length but not its bytes: NULs
// where the header was to be (XFS and ext4 with data=writeback do). No
// record was written, nothing was run: the journal starts afresh, as with
// any torn header, rather than being refused as not a journal.
func TestHunt2FileJournalZeroedHeader(t *testing.T) {
	for _, n := range []int{1, 24, 200} {
		path := jrPath(t)
		require.NoError(t, os.WriteFile(path, bytes.Repeat([]byte{0}, n), 0o600))
		j := jrOpen(t, path)
		got, err := j.Begin(context.Background(), "sha256:plan-a")
		require.NoError(t, err, "%d NULs", n)
		assert.Empty(t, got)
		lines, nl := jrLines(t, path)
		assert.True(t, nl)
		require.Len(t, lines, 1)
		assert.JSONEq(t, `{"plan":"sha256:plan-a"}`, lines[0])
	}
}
