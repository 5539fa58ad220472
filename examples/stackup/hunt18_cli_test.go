package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/version"
)

// TestHunt18InventoryKeepsWindowsCommentsWhole: a YAML topology file
// whose lines end in CR LF, as a Windows editor saves it, came back from
// each step learnt with a blank line after every line of its comments
// (yaml.v3 keeps the CR in a comment, and the line end put back doubled
// it), so that version control showed the comments changed and they
// grew at every run. The file is now edited as the same file with LF
// ends would be, and written with CR LF ends again: nothing but the
// version changes.
func TestHunt18InventoryKeepsWindowsCommentsWhole(t *testing.T) {
	lf, err := os.ReadFile("testdata/shop.yaml")
	require.NoError(t, err)
	require.Contains(t, string(lf), "# its own Tomcat", "the file has comments of several lines")
	learn := func(data []byte) []byte {
		path := filepath.Join(t.TempDir(), "shop.yaml")
		require.NoError(t, os.WriteFile(path, data, 0o644))
		inv := newInventory(&inputFlags{topology: path})
		require.NoError(t, inv.Set(t.Context(), "tomcat-1", version.MustParse("10.1.34")))
		require.NoError(t, inv.Set(t.Context(), "java-1", version.MustParse("17.0.13")))
		got, err := os.ReadFile(path)
		require.NoError(t, err)
		return got
	}
	want := bytes.ReplaceAll(learn(lf), []byte("\n"), []byte("\r\n"))
	got := learn(bytes.ReplaceAll(lf, []byte("\n"), []byte("\r\n")))
	assert.Equal(t, string(want), string(got), "a CR LF file learns as the LF file does, its lines ending in CR LF")
}
