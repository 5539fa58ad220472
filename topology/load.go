package topology

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/go-multierror"
)

// Load reads the topology file at path, JSON (".json") or YAML (".yaml",
// ".yml"); see ReadJSON and ReadYAML. Errors name the file.
func Load(path string) (*Memory, error) {
	var read func(io.Reader) (*Memory, error)
	switch strings.ToLower(filepath.Ext(path)) {
	case ".json":
		read = ReadJSON
	case ".yaml", ".yml":
		read = ReadYAML
	default:
		return nil, &Error{File: path, Item: "file", Err: fmt.Errorf("%w: want a .json, .yaml or .yml file", ErrInvalid)}
	}
	f, err := OpenRegular(path)
	if err != nil {
		return nil, fmt.Errorf("topology: %w", err)
	}
	defer f.Close()
	m, err := read(f)
	return m, inFile(err, path)
}

// LoadTOSCA reads a TOSCA service template and its instance file; see
// ReadTOSCA. Errors name the file.
func LoadTOSCA(servicePath, instancesPath string) (*Memory, error) {
	service, err := readFile(servicePath)
	if err != nil {
		return nil, err
	}
	instances, err := readFile(instancesPath)
	if err != nil {
		return nil, err
	}
	return readTOSCA(service, instances, servicePath, instancesPath)
}

func readFile(path string) ([]byte, error) {
	f, err := OpenRegular(path)
	if err != nil {
		return nil, fmt.Errorf("topology: %w", err)
	}
	defer f.Close()
	data, err := readCapped(f)
	return data, inFile(err, path)
}

// OpenRegular opens the file at path for reading if it is a regular file,
// as [Load] and [LoadTOSCA] do, and as programs reading other input files
// may. It never blocks: a FIFO, a device such as /dev/zero or a directory
// is refused (see [CheckRegular]).
func OpenRegular(path string) (*os.File, error) {
	f, err := os.OpenFile(path, openFlags, 0)
	if err != nil {
		return nil, err
	}
	if err := CheckRegular(f); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// CheckRegular returns nil if f is a regular file, and otherwise an
// [*io/fs.PathError] naming f, matching [ErrNotRegular] and saying what f
// is. On Unix, open f with O_NONBLOCK, so that opening a FIFO does not wait
// for a writer.
func CheckRegular(f *os.File) error {
	info, err := f.Stat()
	if err != nil {
		return err
	}
	if !info.Mode().IsRegular() {
		return &fs.PathError{Op: "open", Path: f.Name(), Err: fmt.Errorf("%w: %s; give a regular file", ErrNotRegular, describeMode(info.Mode()))}
	}
	return nil
}

// describeMode names the kind of file mode is, for errors.
func describeMode(mode fs.FileMode) string {
	switch {
	case mode.IsDir():
		return "a directory"
	case mode&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case mode&fs.ModeCharDevice != 0:
		return "a character device"
	case mode&fs.ModeDevice != 0:
		return "a device"
	case mode&fs.ModeSocket != 0:
		return "a socket"
	case mode&fs.ModeSymlink != 0:
		return "a symbolic link"
	}
	return "of type " + mode.Type().String()
}

// inFile records path in every *Error within err, however they are
// joined.
func inFile(err error, path string) error {
	switch e := err.(type) {
	case nil:
	case *Error:
		if e.File == "" {
			e.File = path
		}
	case *multierror.Error:
		for _, inner := range e.Errors {
			inFile(inner, path)
		}
	case interface{ Unwrap() []error }:
		for _, inner := range e.Unwrap() {
			inFile(inner, path)
		}
	case interface{ Unwrap() error }:
		inFile(e.Unwrap(), path)
	}
	return err
}
