package pkgsource_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/version"
)

// An operator who lists a version twice in an index, by hand or by a
// script run twice, learns which entries clash and what to do about it.
func TestHunt16IndexDuplicateVersionSaysWhatToDo(t *testing.T) {
	tests := []struct {
		name   string
		second map[string]any
		want   []string
	}{
		{"same spelling", tomcatEntry(), []string{"package #3 (tomcat 10.1.34)", "package #2", "list each version once"}},
		{"other spelling", with(tomcatEntry(), "version", "v10.1.34", "file", "other.tgz"), []string{"package #3 (tomcat v10.1.34)", "package #2", `"10.1.34"`, "list each version once"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := pkgsource.ParseIndex([]byte(indexDoc(jdkEntry(), tomcatEntry(), tt.second)))
			require.ErrorIs(t, err, pkgsource.ErrInvalidIndex)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

// A negative size says what a size is and what to give instead.
func TestHunt16ValidateNegativeSizeSaysWhatToDo(t *testing.T) {
	p := pkgsource.Package{Type: "tomcat", Version: version.MustParse("10.1.18"), Size: -5}
	err := p.Validate()
	require.ErrorIs(t, err, pkgsource.ErrInvalid)
	assert.Contains(t, err.Error(), "tomcat 10.1.18")
	assert.Contains(t, err.Error(), "negative size -5")
	assert.Contains(t, err.Error(), "give the content's length in bytes, or 0 when unknown")
}

// A key misspelt in a hand-edited index ("sha" for "sha256") says where
// it is and which keys belong there: encoding/json names an unknown field
// but not its place, and an index of thousands of packages is long.
func TestHunt16IndexUnknownFieldSaysWhereAndWhichKeys(t *testing.T) {
	doc := "{\n" +
		`  "schema": "stackup.index/v1", "version": 3, "generated": "2026-01-02T03:04:05Z",` + "\n" +
		`  "packages": [` + "\n" +
		`    {"type": "jdk", "version": "21.0.2", "file": "jdk.tgz", "sha256": "` + strings.Repeat("a", 64) + `", "size": 10},` + "\n" +
		`    {"type": "tomcat", "version": "10.1.1", "file": "t.tgz", "sha": "` + strings.Repeat("b", 64) + `", "size": 10}` + "\n" +
		"  ]\n}\n"
	idx, err := pkgsource.ParseIndex([]byte(doc))
	require.ErrorIs(t, err, pkgsource.ErrInvalidIndex)
	assert.Nil(t, idx)
	assert.Contains(t, err.Error(), `line 5, column 62: unknown field "sha": the keys here are "type", "version", "from", "requires", "file", "url", "sha256" and "size"`)
}

// An index cut short says so, and where it ends.
func TestHunt16IndexCutShortSaysSo(t *testing.T) {
	idx, err := pkgsource.ParseIndex([]byte(`{"schema": "stackup.index/v1", "version": 3, "packages": [`))
	require.ErrorIs(t, err, pkgsource.ErrInvalidIndex)
	assert.Nil(t, idx)
	assert.Contains(t, err.Error(), "line 1, column 59: unexpected EOF: the JSON ends")
	assert.Contains(t, err.Error(), "was the file cut short")
}

// A signature file that a publisher wrote by hand with the usual tools
// (openssl's raw signature, GNU base64's 76-column lines, URL-safe
// base64, an editor's byte-order mark) is refused, as before, and the
// error says what is wrong with it and how to write it, where it said
// only that the file must hold the base64 of an ed25519 signature, which
// the publisher believed it did.
func TestHunt16MalformedSignatureSaysWhy(t *testing.T) {
	r := newRepo(t, true)
	raw := ed25519.Sign(r.priv, r.files[pkgsource.IndexFile])
	b64 := base64.StdEncoding.EncodeToString(raw)
	url := base64.RawURLEncoding.EncodeToString(raw)
	require.True(t, strings.ContainsAny(url, "-_"), "the test needs a URL-safe character: %s", url)
	tests := []struct {
		name string
		sig  []byte
		want string
	}{
		{"wrapped at 76 columns", []byte(b64[:76] + "\n" + b64[76:] + "\n"), "it is broken over 2 lines, as base64 writes it by default: write it on one line (base64 -w0)"},
		{"raw signature", raw, "it holds 64 bytes that are not base64, the signature itself: write its base64 (base64 -w0)"},
		{"url-safe", []byte(url), `it is URL-safe base64 ("-" or "_"): write standard base64`},
		{"byte-order mark", []byte("\ufeff" + b64), "it begins with a byte-order mark, as some editors write: save the file without one"},
		{"empty", nil, "it is empty"},
		{"short", []byte(base64.StdEncoding.EncodeToString(raw[:63])), "it decodes to 63 bytes, and an ed25519 signature has 64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r.write(t, pkgsource.SignatureFile, tt.sig)
			_, err := r.openDir(t, pkgsource.WithKeys(r.pub)).Packages(t.Context(), "tomcat")
			require.ErrorIs(t, err, pkgsource.ErrUntrusted)
			assert.Contains(t, err.Error(), "malformed signature")
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

// A Chain asked to open a package that none of its sources lists (one
// removed from a repository after the plan was made) says so, and how
// many sources it asked, not only "package not found".
func TestHunt16ChainOpenUnlistedSaysWhy(t *testing.T) {
	m := mustMemory(t, pkgsource.Package{Type: "tomcat", Version: version.MustParse("10.1.1")})
	chain := pkgsource.Chain{m, m}
	p := pkgsource.Package{Type: "tomcat", Version: version.MustParse("10.1.2")}
	rc, err := chain.Open(t.Context(), p)
	require.ErrorIs(t, err, pkgsource.ErrNotFound)
	assert.Nil(t, rc)
	assert.Contains(t, err.Error(), "package tomcat 10.1.2: package not found: none of the chain's 2 sources lists it: "+
		"open a package that Packages lists, or add the source that holds it to the chain")
}

// An index written by hand that leaves out its version, or a package's
// size, says what to give, where it said only "version 0, want 1 or more"
// of a number the file does not hold.
func TestHunt16IndexMissingNumbersSayWhatToGive(t *testing.T) {
	_, err := pkgsource.ParseIndex([]byte(`{"schema": "stackup.index/v1", "generated": "2026-01-02T03:04:05Z", "packages": []}`))
	require.ErrorIs(t, err, pkgsource.ErrInvalidIndex)
	assert.Contains(t, err.Error(), `version 0, want 1 or more: give the index a "version" that grows with every index published, such as 1 for the first`)

	_, err = pkgsource.ParseIndex([]byte(indexDoc(with(tomcatEntry(), "size", nil))))
	require.ErrorIs(t, err, pkgsource.ErrInvalidIndex)
	assert.Contains(t, err.Error(), `package #1 (tomcat 10.1.34): size 0, want 1 or more: give the file's length in bytes as "size"`)
}

// A repository whose index.json is a symbolic link out of it, as an
// operator makes one to publish a build, is refused (a repository reads
// its own files only) with an error that matches ErrUnsafePath, names the
// repository, calls the file what it is and says what to do, whether the
// link's target exists or not; a dangling link out of it was refused with
// os.Root's "openat index.json: path escapes from parent" alone.
func TestHunt16DirIndexLinkOutsideSaysWhatToDo(t *testing.T) {
	for _, exists := range []bool{true, false} {
		t.Run(fmt.Sprint("target exists ", exists), func(t *testing.T) {
			r := newRepo(t, false)
			outside := filepath.Join(t.TempDir(), pkgsource.IndexFile)
			if exists {
				require.NoError(t, os.WriteFile(outside, r.files[pkgsource.IndexFile], 0o644))
			}
			index := filepath.Join(r.dir, pkgsource.IndexFile)
			require.NoError(t, os.Remove(index))
			require.NoError(t, os.Symlink(outside, index))
			d, err := pkgsource.NewDir(r.dir)
			require.NoError(t, err)
			defer d.Close()
			_, err = d.Packages(t.Context(), "tomcat")
			require.ErrorIs(t, err, pkgsource.ErrUnsafePath)
			msg := err.Error()
			assert.True(t, strings.HasPrefix(msg, "pkgsource: "), msg)
			assert.Contains(t, msg, `index "index.json" leads outside the repository to `+outside+`, through a symbolic link: the repository `+r.dir+
				" reads its own files only: copy the file into it, or give the source the directory it is in")
		})
	}
}

// A trust store edited by hand into a form it cannot be read in says
// where and what belongs there, in the file's terms, not in Go's ("cannot
// unmarshal string into Go value of type int64").
func TestHunt16TrustStoreMalformedSaysWhere(t *testing.T) {
	path := filepath.Join(t.TempDir(), "trust.json")
	require.NoError(t, os.WriteFile(path, []byte("{\n  \"http(s)://repo.example/\": \"5\"\n}\n"), 0o600))
	_, err := pkgsource.NewFileTrustStore(path).Version(t.Context(), "http(s)://repo.example/")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "line 2, column 32")
	assert.Contains(t, err.Error(), "a string where a whole number belongs")
	assert.NotContains(t, err.Error(), "Go value")
	assert.Contains(t, err.Error(), "restore it from a backup")
}
