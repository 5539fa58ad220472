package main

import (
	"cmp"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// writeFileAtomic replaces the file at path with data, so that a reader,
// or a crash, sees the old content or the new one, never a mix: it writes
// a temporary file in the same directory, syncs it, renames it over path
// and syncs the directory. Everything goes through an os.Root on the
// directory, and the temporary file is created with O_EXCL under a random
// name: a link planted there, or anywhere, is never followed. An existing
// path that is not a regular file (a symbolic link, a directory, a named
// pipe) is refused and left alone. A new file gets perm; an existing one
// keeps its permissions.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	root, err := os.OpenRoot(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer root.Close()
	return writeAtomicIn(root, filepath.Base(path), path, data, perm)
}

// writeAtomicIn is writeFileAtomic for the file name in root, which may be
// in a directory of root ("runs/x.json"); path names it in errors.
func writeAtomicIn(root *os.Root, name, path string, data []byte, perm os.FileMode) error {
	switch info, err := root.Lstat(name); {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return err
	case !info.Mode().IsRegular():
		return fmt.Errorf("%s: not a regular file (%s): refusing to replace it", path, fileKind(info.Mode()))
	default:
		perm = info.Mode().Perm()
	}
	dir, base := filepath.Split(name)
	tmp := dir + "." + base + ".tmp-" + rand.Text()[:16]
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		// Named by the file asked for: the temporary one is ours.
		if pe, ok := errors.AsType[*fs.PathError](err); ok {
			err = pe.Err
		}
		return fmt.Errorf("%s: cannot create a file beside it to put in its place: %w", path, err)
	}
	ok := false
	defer func() {
		if !ok {
			_ = root.Remove(tmp)
		}
	}()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(perm) // whatever the umask
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := root.Rename(tmp, name); err != nil {
		return err
	}
	ok = true
	if d, err := root.Open(cmp.Or(dir, ".")); err == nil {
		err = d.Sync()
		d.Close()
		if err != nil {
			return fmt.Errorf("%s: syncing its directory: %w", path, err)
		}
	}
	return nil
}

// openRegular opens name in root with flag (and perm, to create it), as
// a regular file only: a symbolic link, a named pipe, a device or a
// directory planted under name is refused with an error naming what it
// is, and nothing is created through a link. The open never waits
// (O_NONBLOCK: a named pipe swapped in at the last moment would wait for
// a writer). An os.Root follows a link that stays inside it, so the file
// opened must also be the one that name is, without following links, once
// open; and it creates a file only with O_EXCL, which follows no link: a
// dangling link planted after the first look is not created through.
func openRegular(root *os.Root, name string, flag int, perm os.FileMode) (*os.File, error) {
	if fi, err := root.Lstat(name); err == nil && !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file (%s)", name, fileKind(fi.Mode()))
	}
	if openRegularHook != nil {
		openRegularHook(name)
	}
	f, err := root.OpenFile(name, flag&^os.O_CREATE|openNonBlock, perm)
	if errors.Is(err, fs.ErrNotExist) && flag&os.O_CREATE != 0 {
		f, err = root.OpenFile(name, flag|os.O_EXCL|openNonBlock, perm)
		if errors.Is(err, fs.ErrExist) { // made since, by another process or as a link
			f, err = root.OpenFile(name, flag&^os.O_CREATE|openNonBlock, perm)
		}
	}
	if err != nil {
		return nil, err
	}
	held, err := f.Stat()
	if err == nil && !held.Mode().IsRegular() {
		err = fmt.Errorf("%s is not a regular file (%s)", name, fileKind(held.Mode()))
	}
	if err == nil {
		if now, lerr := root.Lstat(name); lerr != nil || !os.SameFile(held, now) {
			err = fmt.Errorf("%s is not a regular file (it was replaced while it was opened, by a symbolic link or another file)", name)
		}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// openRegularHook, when set (by tests only), is called by openRegular
// between its look at name and its open, where another may swap a link
// or a named pipe in.
var openRegularHook func(name string)

// fileKind names what a file that is not regular is.
func fileKind(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m&fs.ModeSocket != 0:
		return "a socket"
	}
	return "not a regular file"
}
