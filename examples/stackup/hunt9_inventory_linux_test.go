package main

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/version"
)

// TestHunt9InventoryLearnPlanted plants, where the inventory learns a
// step's result (the topology file), a symbolic link to another file of
// its directory, or a named pipe: before the learn looks (planted) and
// between its look and its open (swapped, as a racing attacker would).
// The learn is refused naming what it found, and nothing in the directory
// changes: the other file is not read in place of the topology and
// written back, the pipe is not waited on. Before, the learn looked and
// then opened on its own, following a link swapped in between.
func TestHunt9InventoryLearnPlanted(t *testing.T) {
	data, err := os.ReadFile("testdata/shop.yaml")
	require.NoError(t, err)
	for _, tt := range []struct {
		name, want string
		plant      func(topo, other string) error
	}{
		{"symlink", "symbolic link", func(topo, other string) error { return os.Symlink(filepath.Base(other), topo) }},
		{"fifo", "named pipe", func(topo, _ string) error { return syscall.Mkfifo(topo, 0o600) }},
	} {
		for _, swapped := range []bool{false, true} {
			name := tt.name + "/planted"
			if swapped {
				name = tt.name + "/swapped"
			}
			t.Run(name, func(t *testing.T) {
				dir := t.TempDir()
				topo, other := filepath.Join(dir, "shop.yaml"), filepath.Join(dir, "other.yaml")
				require.NoError(t, os.WriteFile(topo, data, 0o644))
				require.NoError(t, os.WriteFile(other, data, 0o644)) // a deployment the learn could edit
				plant := func() {
					require.NoError(t, os.Remove(topo))
					require.NoError(t, tt.plant(topo, other))
				}
				var before map[string]string
				if swapped {
					looks := 0
					openRegularHook = func(string) {
						if looks++; looks == 1 {
							plant()
							before = snapshot8(t, dir)
						}
					}
					t.Cleanup(func() { openRegularHook = nil })
				} else {
					plant()
					before = snapshot8(t, dir)
				}
				inv := newInventory(&inputFlags{topology: topo})
				err := inv.Set(t.Context(), "tomcat-1", version.MustParse("10.1.19"))
				require.Error(t, err, "the learn went through what was planted")
				assert.Contains(t, err.Error(), topo)
				assert.Contains(t, err.Error(), "tomcat-1")
				if swapped {
					assert.Regexp(t, tt.want+"|replaced while it was opened", err.Error())
				} else {
					assert.Contains(t, err.Error(), tt.want)
				}
				assert.Equal(t, before, snapshot8(t, dir), "nothing changed")
			})
		}
	}
}
