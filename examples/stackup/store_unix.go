//go:build unix

package main

import (
	"os"
	"syscall"
)

// fileOwner returns the ID of the user who owns the file fi describes.
func fileOwner(fi os.FileInfo) (uid int, ok bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int(st.Uid), true
}
