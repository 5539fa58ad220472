//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package upgrade_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/upgrade"
)

// TestHunt14LockNoteHostQuoted: the holder note beside a journal is only
// a note, which anyone who may write into the journal's directory (a
// server's state directory, see OpenFileJournalIn) may have written. Its
// host went into the *LockError's message as it was: a newline there
// forged a line of the caller's log, an escape sequence reached its
// terminal. The host is now quoted when it is not a plain name.
func TestHunt14LockNoteHostQuoted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal")
	held, err := upgrade.OpenFileJournal(path)
	require.NoError(t, err)
	defer held.Close()
	require.NoError(t, os.WriteFile(path+".lock",
		[]byte(`{"pid":42,"host":"web-1\nupgrade: journal free\u001b[2J","since":"2026-12-07T14:00:00Z"}`+"\n"), 0o600))

	_, err = upgrade.OpenFileJournal(path)
	require.ErrorIs(t, err, upgrade.ErrLocked)
	assert.Equal(t, "upgrade: journal locked: "+path+` is held by pid 42 on "web-1\nupgrade: journal free\x1b[2J" since 2026-12-07T14:00:00Z: wait for that run to end, or end it, and run again`, err.Error())

	// A plain host name is shown as it is.
	require.NoError(t, os.WriteFile(path+".lock", []byte(`{"pid":42,"host":"web-1.example.com","since":"2026-12-07T14:00:00Z"}`+"\n"), 0o600))
	_, err = upgrade.OpenFileJournal(path)
	require.ErrorIs(t, err, upgrade.ErrLocked)
	assert.Equal(t, "upgrade: journal locked: "+path+" is held by pid 42 on web-1.example.com since 2026-12-07T14:00:00Z: wait for that run to end, or end it, and run again", err.Error())
}
