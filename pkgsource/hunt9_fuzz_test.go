package pkgsource_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stackup/stackup/pkgsource"
)

// FuzzReadPublicKey checks that ReadPublicKey, the parser of the key
// files operators hand a signed source, never panics; that every error is
// a *FileError naming the file; and that a key it accepts is an ed25519
// public key whose base64 is the file's content without its white space.
func FuzzReadPublicKey(f *testing.F) {
	pub, _ := testKey("fuzz public key")
	encoded := base64.StdEncoding.EncodeToString(pub)
	for _, seed := range []string{
		encoded, encoded + "\n", "\ufeff" + encoded, " \r\n" + encoded + "\r\n",
		encoded[:len(encoded)-1], encoded + encoded, base64.RawStdEncoding.EncodeToString(pub),
		base64.URLEncoding.EncodeToString(pub), "ssh-ed25519 " + encoded + " ops@example.com",
		"-----BEGIN PUBLIC KEY-----\n" + encoded + "\n-----END PUBLIC KEY-----\n", "", "\x00",
	} {
		f.Add([]byte(seed))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "key.pub")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		key, err := pkgsource.ReadPublicKey(path)
		if err != nil {
			var fe *pkgsource.FileError
			if !errors.As(err, &fe) || fe.Path != path {
				t.Fatalf("error is not a *FileError naming %s: %v", path, err)
			}
			if key != nil {
				t.Fatalf("a key and an error: %v", err)
			}
			return
		}
		if len(key) != ed25519.PublicKeySize {
			t.Fatalf("accepted a key of %d bytes", len(key))
		}
		// The file is the key's base64, padded, with white space around,
		// and nothing after the key's last byte.
		if got := base64.StdEncoding.EncodeToString(key); string(bytes.TrimSpace(data)) != got {
			t.Fatalf("accepted %q as the key %s", data, got)
		}
	})
}

// A key file whose base64 sets the unused bits after the key's last byte
// is refused: each key has one text, as its publisher wrote it (the
// index's signature is decoded as strictly).
func TestHunt9KeyStrictBase64(t *testing.T) {
	pub, _ := testKey("strict base64")
	encoded := base64.StdEncoding.EncodeToString(pub) // 44 characters, the last "="
	last := strings.IndexByte(base64Alphabet, encoded[42])
	stray := encoded[:42] + string(base64Alphabet[last|1]) + "="
	if last|1 == last {
		stray = encoded[:42] + string(base64Alphabet[last&^1]) + "="
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "key.pub")
	if err := os.WriteFile(path, []byte(stray+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := pkgsource.ReadPublicKey(path); err == nil {
		t.Fatalf("accepted %q, the key %q with a stray bit", stray, encoded)
	}
	if err := os.WriteFile(path, []byte(encoded+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := pkgsource.ReadPublicKey(path); err != nil {
		t.Fatal(err)
	}
}

const base64Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
