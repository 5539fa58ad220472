package pkgsource_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/version"
)

// Test: a package type, or the type a package's requirement names, outside
// the safe set of identifiers is refused by NewMemory (through Validate),
// as ParseIndex refuses it in an index: "tomcat\n", read from a file with
// its line break, would otherwise never match the template type "tomcat",
// and a requirement on "jdk 21" was accepted by NewMemory only for every
// plan that reached the package to fail. The error names the package
// printably, and the identifier's problem.
func TestHunt14MemoryRefusesTypesOutsideTheSafeSet(t *testing.T) {
	typed := validPackage()
	typed.Type = "tomcat\n\x1b[31m"
	required := validPackage()
	required.Requires[1].Type = "jdk 21"
	for name, tt := range map[string]struct {
		p    pkgsource.Package
		want string
	}{
		"type":             {typed, `package type "tomcat\n\x1b[31m": character '\n' at byte 6`},
		"requirement type": {required, `requirement #2: topology: package type "jdk 21": character ' ' at byte 3`},
	} {
		t.Run(name, func(t *testing.T) {
			err := tt.p.Validate()
			require.Error(t, err, "Validate accepts it")
			assert.ErrorIs(t, err, pkgsource.ErrInvalid)
			assert.ErrorIs(t, err, topology.ErrInvalidID)
			var pe *pkgsource.PackageError
			require.ErrorAs(t, err, &pe)
			assert.Contains(t, err.Error(), tt.want)
			assert.NotContains(t, err.Error(), "\n", "one line")
			assert.NotContains(t, err.Error(), "\x1b", "no escape sequence")

			m, err := pkgsource.NewMemory(tt.p)
			assert.Nil(t, m)
			assert.ErrorIs(t, err, topology.ErrInvalidID)
		})
	}
}

// Test: a Chain of no sources, as a configuration that lists no
// repository makes, keeps the Source contract on a cancelled context:
// an error matching ctx.Err(), not an empty list.
func TestHunt14EmptyChainCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ps, err := pkgsource.Chain{}.Packages(ctx, "tomcat")
	assert.ErrorIs(t, err, context.Canceled)
	assert.Empty(t, ps)
	rc, err := pkgsource.Chain{}.Open(ctx, validPackage())
	assert.ErrorIs(t, err, context.Canceled)
	assert.Nil(t, rc)

	ps, err = pkgsource.Chain{}.Packages(context.Background(), "tomcat")
	assert.NoError(t, err, "not cancelled: no packages")
	assert.Empty(t, ps)
}

// Test: a public key file in the formats that key tools write (PEM, as
// openssl writes; OpenSSH's "ssh-ed25519 …"), or holding a private key,
// is refused saying what it holds and what to give instead, where the
// error said only that it was not the base64 of a public key.
func TestHunt14PublicKeyFileFormatsSaid(t *testing.T) {
	pub, priv := testKey("hunt14 key")
	der := append([]byte{0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00}, pub...)
	blob := append(append([]byte{0, 0, 0, 11}, "ssh-ed25519"...), append([]byte{0, 0, 0, 32}, pub...)...)
	for name, tt := range map[string]struct{ content, want string }{
		"PEM": {"-----BEGIN PUBLIC KEY-----\n" + base64.StdEncoding.EncodeToString(der) + "\n-----END PUBLIC KEY-----\n",
			`it is PEM ("-----BEGIN PUBLIC KEY-----"), as openssl writes keys: give the base64 of the key's 32 bytes alone`},
		"OpenSSH": {"ssh-ed25519 " + base64.StdEncoding.EncodeToString(blob) + " ops@example.com\n",
			`it is an OpenSSH public key ("ssh-ed25519 …"): give the base64 of the key's 32 bytes alone`},
		"private key": {base64.StdEncoding.EncodeToString(priv) + "\n",
			`it holds 64 bytes, an ed25519 private key: give the public key, and keep the private key to the publisher`},
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "key.pub")
			require.NoError(t, os.WriteFile(path, []byte(tt.content), 0o600))
			key, err := pkgsource.ReadPublicKey(path)
			require.Error(t, err)
			assert.Nil(t, key)
			var fe *pkgsource.FileError
			require.ErrorAs(t, err, &fe)
			assert.Contains(t, err.Error(), "not the base64 of an ed25519 public key (32 bytes)")
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

// Test: a source given the index itself in place of its repository, the
// URL of index.json or the path of the file, is refused at once saying to
// give the repository, where NewHTTP took it as a repository and every
// call then failed for want of ".../index.json/index.json", and NewDir
// said only "not a directory".
func TestHunt14SourceGivenTheIndex(t *testing.T) {
	h, err := pkgsource.NewHTTP("https://packages.example.com/stable/index.json", nil)
	require.Error(t, err)
	assert.Nil(t, h)
	assert.Contains(t, err.Error(), `base URL "https://packages.example.com/stable/index.json" names the index itself: give the repository's URL, "https://packages.example.com/stable/"`)

	dir := t.TempDir()
	path := filepath.Join(dir, pkgsource.IndexFile)
	require.NoError(t, os.WriteFile(path, []byte("{}"), 0o644))
	d, err := pkgsource.NewDir(path)
	require.Error(t, err)
	assert.Nil(t, d)
	assert.Contains(t, err.Error(), fmt.Sprintf("%s is a file, not a repository's directory: give the repository's directory, %s, which holds it", path, dir))

	// The repositories themselves are fine.
	_, err = pkgsource.NewHTTP("https://packages.example.com/stable/", nil)
	assert.NoError(t, err)
	d, err = pkgsource.NewDir(dir)
	require.NoError(t, err)
	d.Close()
}

// Test: a public key file that begins with a UTF-8 byte-order mark, as
// Windows editors save text, is refused saying so and what to do, where
// the error said only that it was not the base64 of a public key.
func TestHunt14PublicKeyFileWithBOM(t *testing.T) {
	pub, _ := testKey("hunt14 bom key")
	path := filepath.Join(t.TempDir(), "key.pub")
	require.NoError(t, os.WriteFile(path, []byte("\ufeff"+base64.StdEncoding.EncodeToString(pub)+"\r\n"), 0o600))
	key, err := pkgsource.ReadPublicKey(path)
	require.Error(t, err)
	assert.Nil(t, key)
	assert.Contains(t, err.Error(), "not the base64 of an ed25519 public key (32 bytes): it begins with a byte-order mark, as some editors write: save the file without one")
}

// Test: WithKeys given no key, as a caller whose list of key files came
// out empty passes it, is refused: the source took it as no WithKeys at
// all and trusted any index, unsigned or not, where the caller asked to
// trust only signed ones (fail open).
func TestHunt14WithKeysOfNoKey(t *testing.T) {
	dir := t.TempDir()
	// An unsigned index, and a list of keys that came out empty.
	require.NoError(t, pkgsource.WriteIndex(dir, &pkgsource.Index{Version: 1, Packages: []pkgsource.Package{validPackage()}}, nil))
	var keys []ed25519.PublicKey
	d, err := pkgsource.NewDir(dir, pkgsource.WithKeys(keys...))
	if err == nil {
		_, perr := d.Packages(context.Background(), "tomcat")
		d.Close()
		require.Error(t, perr, "a source made WithKeys of no key trusts an unsigned index")
	}
	require.Error(t, err)
	assert.Contains(t, err.Error(), "pkgsource: WithKeys was given no key: give the public keys the repository is signed with, or leave the option out for an unsigned repository")

	h, err := pkgsource.NewHTTP("https://packages.example.com/stable/", nil, pkgsource.WithKeys())
	assert.Nil(t, h)
	assert.ErrorContains(t, err, "WithKeys was given no key")
}

// Test: WithTrustStore without WithKeys is refused: a source without keys
// reads no signature and keeps no version floor, so the store was ignored
// in silence, and a caller who set it believed rollbacks were refused.
func TestHunt14TrustStoreWithoutKeys(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, pkgsource.WriteIndex(dir, &pkgsource.Index{Version: 1, Packages: []pkgsource.Package{validPackage()}}, nil))
	store := pkgsource.NewFileTrustStore(filepath.Join(t.TempDir(), "trust.json"), pkgsource.AllowFirstUse())
	d, err := pkgsource.NewDir(dir, pkgsource.WithTrustStore(store))
	assert.Nil(t, d)
	require.Error(t, err, "a trust store without keys is accepted, and ignored")
	assert.Contains(t, err.Error(), "pkgsource: WithTrustStore without WithKeys: a trust store keeps the versions of signed indexes only; give the keys the repository is signed with (WithKeys), or leave the store out")

	h, err := pkgsource.NewHTTP("https://packages.example.com/stable/", nil, pkgsource.WithTrustStore(store))
	assert.Nil(t, h)
	assert.ErrorContains(t, err, "WithTrustStore without WithKeys")
}

// Test: WithClock(nil) does not make the source panic at its first read
// of the index: the library never panics on what a caller passes. A nil
// clock is the system's, as a nil client is http.DefaultClient.
func TestHunt14WithNilClock(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, pkgsource.WriteIndex(dir, &pkgsource.Index{Version: 1, Packages: []pkgsource.Package{validPackage()}}, nil))
	d, err := pkgsource.NewDir(dir, pkgsource.WithClock(nil))
	require.NoError(t, err)
	defer d.Close()
	var ps []pkgsource.Package
	require.NotPanics(t, func() { ps, err = d.Packages(context.Background(), "tomcat") })
	require.NoError(t, err)
	assert.Len(t, ps, 1)
}

// Test: Copies made without an Opener, NewCopies(nil, dir) or a zero
// Copies, return an error naming the package, as a Cache without a source
// does, where File panicked (a zero Copies with its lock held, so that a
// caller that recovered then waited for ever on any other call).
func TestHunt14CopiesWithoutOpener(t *testing.T) {
	for name, c := range map[string]*pkgsource.Copies{
		"NewCopies(nil)": pkgsource.NewCopies(nil, t.TempDir()),
		"zero":           {},
	} {
		t.Run(name, func(t *testing.T) {
			var path string
			var err error
			panicked := func() (p any) {
				defer func() { p = recover() }()
				path, err = c.File(context.Background(), validPackage())
				return nil
			}()
			// After a panic, c may hold its lock: call nothing more on it.
			require.Nil(t, panicked, "File panicked")
			assert.Empty(t, path)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "tomcat 10.1.18")
			assert.Contains(t, err.Error(), "the copies have no Opener: give NewCopies the source that holds the packages")
			assert.Empty(t, c.Made(validPackage()))
			assert.NoError(t, c.Close())
		})
	}
}

// Test: NewDir("") is refused, as an empty --repo of a host program
// gives it, where it opened the working directory as the repository and
// then said that that directory, which the caller never named, held no
// index.
func TestHunt14NewDirEmptyPath(t *testing.T) {
	d, err := pkgsource.NewDir("")
	assert.Nil(t, d)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "pkgsource: no repository directory given: give the directory that holds index.json")
}

// TestHunt14LocationNotUTF8: a package whose location is not UTF-8, as a
// file name in another encoding, is refused by Validate and so by
// NewMemory, naming the package: JSON cannot hold it, and a plan with it
// would never read back. The planner refused it only when it planned.
func TestHunt14LocationNotUTF8(t *testing.T) {
	p := pkgsource.Package{Type: "tomcat", Version: version.MustParse("10.1.34"), Location: "tomcat-10.1.34-\xff.tar.gz"}
	err := p.Validate()
	require.ErrorIs(t, err, pkgsource.ErrInvalid)
	assert.ErrorContains(t, err, "tomcat 10.1.34")
	assert.ErrorContains(t, err, "is not UTF-8")
	_, err = pkgsource.NewMemory(p)
	require.ErrorIs(t, err, pkgsource.ErrInvalid)

	p.Location = "tomcat-10.1.34-é.tar.gz" // any script, in UTF-8
	require.NoError(t, p.Validate())
}
