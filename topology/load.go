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
// may. It never blocks: a named pipe, a device such as /dev/zero or a
// directory is refused with an [*io/fs.PathError] naming the file that
// matches [ErrNotRegular].
func OpenRegular(path string) (*os.File, error) {
	f, err := os.OpenFile(path, openFlags, 0)
	if err != nil {
		return nil, err
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !info.Mode().IsRegular() {
		f.Close()
		return nil, &fs.PathError{Op: "open", Path: path, Err: fmt.Errorf("%w: %s; give a regular file", ErrNotRegular, describeMode(info.Mode()))}
	}
	return f, nil
}

// describeMode names the kind of file mode is, for errors.
func describeMode(mode os.FileMode) string {
	switch {
	case mode.IsDir():
		return "a directory"
	case mode&os.ModeNamedPipe != 0:
		return "a named pipe"
	case mode&os.ModeSocket != 0:
		return "a socket"
	case mode&os.ModeDevice != 0:
		return "a device"
	}
	return "a special file"
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
