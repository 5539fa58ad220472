package pkgsource

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/stackup/stackup/topology"
)

// ErrNotRegular reports a file that a source refuses to read because it
// is not a regular file: a directory, a FIFO, a device such as /dev/zero,
// a socket. It is topology.ErrNotRegular.
var ErrNotRegular = topology.ErrNotRegular

// ErrTooLarge reports a file larger than what it may hold.
var ErrTooLarge = errors.New("file too large")

// FileError reports a file that could not be read as what it should be,
// naming it. It matches its cause, such as ErrNotRegular or ErrTooLarge.
type FileError struct {
	What string // what the file should hold, such as "public key"
	Path string // the file as given
	Err  error
}

func (e *FileError) Error() string {
	return fmt.Sprintf("pkgsource: %s file %q: %v", e.What, e.Path, e.Err)
}

// Unwrap returns the cause.
func (e *FileError) Unwrap() error { return e.Err }

// MaxPublicKeyFile is the largest public key file ReadPublicKey reads,
// in bytes.
const MaxPublicKeyFile = 4 << 10

// maxTrustStore is the largest trust store file a FileTrustStore reads,
// in bytes: room for some ten thousand repositories.
const maxTrustStore = 1 << 20

// ReadPublicKey reads an ed25519 public key from the file at path: its 32
// bytes in standard base64, with any surrounding white space. The file must be a regular
// file of at most MaxPublicKeyFile bytes: a FIFO, a device or a directory
// is refused at once, without waiting or reading. Every error is a
// *FileError naming the file.
func ReadPublicKey(path string) (ed25519.PublicKey, error) {
	const what = "public key"
	f, err := openRegular(what, path, nonblocking(os.OpenFile))
	if err != nil {
		var fe *FileError
		if !errors.As(err, &fe) {
			err = &FileError{What: what, Path: path, Err: err}
		}
		return nil, err
	}
	defer f.Close()
	data, err := readAtMost(what, f, MaxPublicKeyFile)
	if err != nil {
		return nil, err
	}
	key, err := decodeBase64(string(data))
	if err != nil || len(key) != ed25519.PublicKeySize {
		return nil, &FileError{What: what, Path: path, Err: fmt.Errorf("not the base64 of an ed25519 public key (%d bytes)%s",
			ed25519.PublicKeySize, keyFileHint(data, key))}
	}
	return ed25519.PublicKey(key), nil
}

// keyFileHint says, for data, a public key file that ReadPublicKey
// refuses, and key, its content decoded from base64 if it was, what the
// file holds when key tools write it so, and what to give instead; or
// else to give the publisher's key.
func keyFileHint(data, key []byte) string {
	text := strings.TrimSpace(string(data))
	first, _, _ := strings.Cut(text, "\n")
	first = strings.TrimSpace(first)
	const alone = "give the base64 of the key's 32 bytes alone"
	switch {
	case strings.HasPrefix(text, "\ufeff"):
		return ": " + bomHint
	case strings.HasPrefix(text, "-----BEGIN ") && strings.Contains(first, "PRIVATE"):
		return fmt.Sprintf(": it is PEM (%s), a private key: give the public key, and keep the private key to the publisher", topology.Quote(first))
	case strings.HasPrefix(text, "-----BEGIN "):
		return fmt.Sprintf(`: it is PEM (%s), as openssl writes keys: %s, the last 32 of its DER form ("openssl pkey -pubin -in key.pem -outform DER | tail -c 32 | base64" prints it)`,
			topology.Quote(first), alone)
	case strings.HasPrefix(text, "ssh-ed25519 "):
		return fmt.Sprintf(`: it is an OpenSSH public key ("ssh-ed25519 …"): %s, the last 32 of the blob after "ssh-ed25519"`, alone)
	case len(key) == ed25519.PrivateKeySize && bytes.Equal(ed25519.NewKeyFromSeed(key[:ed25519.SeedSize]), key):
		return ": it holds 64 bytes, an ed25519 private key: give the public key, and keep the private key to the publisher"
	}
	return "; give the file the repository's publisher signs with"
}

// bomHint says what to do with a key or signature file that begins with
// a byte-order mark.
const bomHint = "it begins with a byte-order mark, as some editors write: save the file without one"

// decodeBase64 decodes s, the standard base64 of a key or a signature
// with white space around it, so that each value has one text: no stray
// bits after its last byte (Strict), and no line break within, which
// encoding/base64 would skip.
func decodeBase64(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if strings.ContainsAny(s, "\r\n") {
		return nil, errors.New("a line break within the base64")
	}
	return base64.StdEncoding.Strict().DecodeString(s)
}

// openRegular opens name for reading through open (os.Open, or a Root's
// Open) without waiting for a FIFO's writer, and refuses, as a *FileError
// matching ErrNotRegular, anything but a regular file. Errors of open
// itself are returned as they are.
func openRegular(what, name string, open func(string) (*os.File, error)) (*os.File, error) {
	f, err := open(name)
	if err != nil {
		return nil, err
	}
	if err := topology.CheckRegular(f); err != nil {
		f.Close()
		if pe, ok := errors.AsType[*fs.PathError](err); ok {
			err = pe.Err // FileError names the file
		}
		return nil, &FileError{What: what, Path: name, Err: err}
	}
	return f, nil
}

// nonblocking returns os.Open with openNonblock, for openRegular.
func nonblocking(openFile func(string, int, fs.FileMode) (*os.File, error)) func(string) (*os.File, error) {
	return func(name string) (*os.File, error) { return openFile(name, os.O_RDONLY|openNonblock, 0) }
}

// readAtMost reads what remains of f, refusing, as a *FileError matching
// ErrTooLarge, more than limit bytes.
func readAtMost(what string, f *os.File, limit int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, &FileError{What: what, Path: f.Name(), Err: err}
	}
	if int64(len(data)) > limit {
		return nil, &FileError{What: what, Path: f.Name(), Err: fmt.Errorf("%w: more than %d bytes", ErrTooLarge, limit)}
	}
	return data, nil
}
