package pkgsource_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/version"
)

// irregular is a file that a source must refuse without reading it, or
// without reading past a bound.
type irregular struct {
	name   string
	make   func(t *testing.T, path string) // makes the file at path
	wantIs error
}

func irregularFiles(limit int) []irregular {
	return []irregular{
		{"FIFO", mkfifo, pkgsource.ErrNotRegular},
		{"directory", func(t *testing.T, path string) { require.NoError(t, os.Mkdir(path, 0o755)) }, pkgsource.ErrNotRegular},
		{"oversized", func(t *testing.T, path string) {
			require.NoError(t, os.WriteFile(path, bytes.Repeat([]byte(" "), limit+1), 0o644))
		}, pkgsource.ErrTooLarge},
	}
}

// returnsSoon runs f and fails the test if it has not returned within a
// generous bound: a failure bound only, for a read that would block for
// ever; release ends such a read.
func returnsSoon(t *testing.T, release func(), f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		release()
		<-done
		t.Fatal("blocked")
	}
}

func TestReadPublicKey(t *testing.T) {
	pub, _ := testKey("read public key")
	dir := t.TempDir()
	encoded := base64.StdEncoding.EncodeToString(pub)

	t.Run("good", func(t *testing.T) {
		for name, content := range map[string]string{"plain": encoded, "newline": encoded + "\n", "spaces": "\n\t " + encoded + " \r\n"} {
			path := filepath.Join(dir, name+".pub")
			require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
			got, err := pkgsource.ReadPublicKey(path)
			require.NoError(t, err, name)
			assert.Equal(t, pub, got, name)
		}
	})

	type bad struct {
		name    string
		path    func(t *testing.T) string
		wantIs  error
		wantMsg string
	}
	tests := []bad{
		{"dev zero", func(t *testing.T) string {
			if runtime.GOOS == "windows" {
				t.Skip("no /dev/zero")
			}
			return "/dev/zero"
		}, pkgsource.ErrNotRegular, "a character device"},
		{"missing", func(t *testing.T) string { return filepath.Join(t.TempDir(), "nope.pub") }, os.ErrNotExist, "nope.pub"},
	}
	for _, tt := range irregularFiles(pkgsource.MaxPublicKeyFile) {
		tests = append(tests, bad{tt.name, func(t *testing.T) string {
			path := filepath.Join(t.TempDir(), "key.pub")
			tt.make(t, path)
			return path
		}, tt.wantIs, ""})
	}
	for name, content := range map[string]string{
		"short":          encoded[:20],
		"empty":          "",
		"private key":    base64.StdEncoding.EncodeToString(make([]byte, 64)),
		"not base64":     "-----BEGIN PUBLIC KEY-----",
		"two keys":       encoded + "\n" + encoded,
		"terminal codes": "\x1b[2J" + encoded,
	} {
		tests = append(tests, bad{name, func(t *testing.T) string {
			path := filepath.Join(t.TempDir(), "key.pub")
			require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
			return path
		}, nil, "not the base64 of an ed25519 public key"})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tt.path(t)
			var key []byte
			var err error
			returnsSoon(t, func() { releaseFIFO(path) }, func() { key, err = pkgsource.ReadPublicKey(path) })
			require.Error(t, err)
			assert.Nil(t, key)
			var fe *pkgsource.FileError
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, path, fe.Path)
			assert.Equal(t, "public key", fe.What)
			assert.Contains(t, err.Error(), strconv.Quote(path))
			assert.Contains(t, err.Error(), tt.wantMsg)
			if tt.wantIs != nil {
				assert.ErrorIs(t, err, tt.wantIs)
			}
		})
	}
}

func TestFileTrustStoreIrregular(t *testing.T) {
	ctx := context.Background()
	tests := []irregular{{"dev zero", nil, pkgsource.ErrNotRegular}}
	tests = append(tests, irregularFiles(1<<20)...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := "/dev/zero"
			if tt.make != nil {
				path = filepath.Join(t.TempDir(), "trust.json")
				tt.make(t, path)
			} else if runtime.GOOS == "windows" {
				t.Skip("no /dev/zero")
			}
			before, err := os.Lstat(path)
			require.NoError(t, err)
			s := pkgsource.NewFileTrustStore(path, pkgsource.AllowFirstUse())
			returnsSoon(t, func() { releaseFIFO(path) }, func() {
				_, err = s.Version(ctx, "repo")
			})
			require.ErrorIs(t, err, tt.wantIs)
			var fe *pkgsource.FileError
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, path, fe.Path)
			assert.Contains(t, err.Error(), "trust store")

			returnsSoon(t, func() { releaseFIFO(path) }, func() { err = s.SetVersion(ctx, "repo", 3) })
			require.ErrorIs(t, err, tt.wantIs)
			after, err := os.Lstat(path)
			require.NoError(t, err)
			assert.Equal(t, before.Mode(), after.Mode(), "the file is left as it was")
			assert.Equal(t, before.Size(), after.Size())
			assert.Equal(t, before.ModTime(), after.ModTime())

			if tt.make != nil {
				r := newRepo(t, true)
				_, err = r.openDir(t, pkgsource.WithKeys(r.pub), pkgsource.WithTrustStore(s)).Packages(ctx, "tomcat")
				require.ErrorIs(t, err, tt.wantIs, "a signed source trusts nothing")
			}
		})
	}
}

func TestDirOpenRefusesIrregularFiles(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		make    func(t *testing.T, path string)
		wantIs  error
		reason  string
		unsized bool // the index gives no size
	}{
		{"FIFO", mkfifo, pkgsource.ErrNotRegular, "a named pipe", false},
		{"directory", func(t *testing.T, path string) { require.NoError(t, os.Mkdir(path, 0o755)) }, pkgsource.ErrNotRegular, "a directory", false},
		{"FIFO without size", mkfifo, pkgsource.ErrNotRegular, "a named pipe", true},
		{"directory without size", func(t *testing.T, path string) { require.NoError(t, os.Mkdir(path, 0o755)) }, pkgsource.ErrNotRegular, "a directory", true},
		{"larger than declared", func(t *testing.T, path string) {
			require.NoError(t, os.WriteFile(path, make([]byte, 1<<20), 0o644))
		}, pkgsource.ErrDigestMismatch, `size mismatch: file "evil.pkg" is 1048576 bytes, 10 declared`, false},
		{"shorter than declared", func(t *testing.T, path string) {
			require.NoError(t, os.WriteFile(path, []byte("short"), 0o644))
		}, pkgsource.ErrDigestMismatch, `size mismatch: file "evil.pkg" is 5 bytes, 10 declared`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRepo(t, false)
			evil := pkgsource.Package{Type: "tomcat", Version: version.MustParse("10.1.99"), Location: "evil.pkg", Digest: pkgsource.Digest([]byte("0123456789")), Size: 10}
			r.pkgs = append(r.pkgs, evil)
			r.publish(t, 2, false)
			path := filepath.Join(r.dir, evil.Location)
			tt.make(t, path)
			d := r.openDir(t)
			listed, err := d.Packages(ctx, "tomcat")
			require.NoError(t, err)
			require.GreaterOrEqual(t, findKey(listed, evil.Key()), 0)

			if tt.unsized { // as a caller may give it
				evil.Size = 0
			}
			var got []byte
			returnsSoon(t, func() { releaseFIFO(path) }, func() { got, err = readPackage(ctx, d, evil) })
			require.ErrorIs(t, err, tt.wantIs)
			assert.Nil(t, got)
			assert.Contains(t, err.Error(), "tomcat 10.1.99")
			assert.Contains(t, err.Error(), tt.reason)
			if errors.Is(err, pkgsource.ErrNotRegular) {
				var fe *pkgsource.FileError
				require.ErrorAs(t, err, &fe)
				assert.Equal(t, evil.Location, fe.Path)
			}
		})
	}
}

func TestDirIndexIrregular(t *testing.T) {
	ctx := context.Background()
	for _, name := range []string{pkgsource.IndexFile, pkgsource.SignatureFile} {
		for _, tt := range irregularFiles(pkgsource.MaxIndexSize) {
			if tt.name == "oversized" {
				continue // TestDirBadIndex, TestDirSignatureTooLarge
			}
			t.Run(name+" "+tt.name, func(t *testing.T) {
				r := newRepo(t, true)
				path := filepath.Join(r.dir, name)
				require.NoError(t, os.Remove(path))
				tt.make(t, path)
				d := r.openDir(t, pkgsource.WithKeys(r.pub))
				var err error
				returnsSoon(t, func() { releaseFIFO(path) }, func() { _, err = d.Packages(ctx, "tomcat") })
				require.ErrorIs(t, err, tt.wantIs)
				var fe *pkgsource.FileError
				require.ErrorAs(t, err, &fe)
				assert.Equal(t, name, fe.Path)
				assert.Contains(t, err.Error(), strconv.Quote(name))
			})
		}
	}
}
