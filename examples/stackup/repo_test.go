package main

import (
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/version"
)

// catalogue is the package repository of the tests, which
// testdata/repo holds unsigned (TestShippedRepo keeps it in step).
var catalogue = []struct {
	typ, version, from string
	requires           map[string]string
}{
	{"tomcat", "9.0.98", ">=8.5", map[string]string{"jdk": ">=8"}},
	{"tomcat", "10.1.18", ">=9.0", map[string]string{"jdk": ">=11"}},
	{"tomcat", "10.1.34", ">=9.0", map[string]string{"jdk": ">=11"}},
	{"tomcat", "11.0.2", ">=10.1", map[string]string{"jdk": ">=17"}},
	{"jdk", "11.0.25", ">=8", nil},
	{"jdk", "17.0.13", ">=8", nil},
	// Release upgrades go from one LTS to the next only, and the one to
	// 20.04 is no longer published: nothing upgrades 18.04.
	{"ubuntu", "22.04.5", ">=20.04, <22.04", nil},
	{"ubuntu", "24.04.1", ">=22.04, <24.04", nil},
}

// signingKey is the key the tests sign repositories with: fixed, so that
// golden output stays the same.
var signingKey = ed25519.NewKeyFromSeed([]byte("stackup example repository key!!"))

// packageFile returns the name and content of a package's file.
func packageFile(typ, v string) (name string, content []byte) {
	return fmt.Sprintf("%s-%s.pkg", typ, v), fmt.Appendf(nil, "stand-in for the %s %s package\n", typ, v)
}

// writeRepo writes the catalogue as a repository into dir, signed with key
// unless key is nil.
func writeRepo(t testing.TB, dir string, key ed25519.PrivateKey) {
	t.Helper()
	idx := &pkgsource.Index{Version: 7, Generated: time.Date(2026, 1, 15, 9, 0, 0, 0, time.UTC)}
	for _, c := range catalogue {
		name, content := packageFile(c.typ, c.version)
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), content, 0o644))
		p := pkgsource.Package{Type: c.typ, Version: version.MustParse(c.version), From: version.MustParseConstraint(c.from),
			Location: name, Digest: pkgsource.Digest(content), Size: int64(len(content))}
		for _, typ := range slices.Sorted(maps.Keys(c.requires)) {
			p.Requires = append(p.Requires, pkgsource.Requirement{Type: typ, Constraint: version.MustParseConstraint(c.requires[typ])})
		}
		idx.Packages = append(idx.Packages, p)
	}
	require.NoError(t, pkgsource.WriteIndex(dir, idx, key))
}

// signedRepo writes a signed repository and the file of its public key,
// and returns their paths.
func signedRepo(t testing.TB) (repo, keyFile string) {
	t.Helper()
	dir := t.TempDir()
	repo = filepath.Join(dir, "repo")
	require.NoError(t, os.Mkdir(repo, 0o755))
	writeRepo(t, repo, signingKey)
	keyFile = filepath.Join(dir, "repo.pub")
	pub := signingKey.Public().(ed25519.PublicKey)
	require.NoError(t, os.WriteFile(keyFile, []byte(base64.StdEncoding.EncodeToString(pub)+"\n"), 0o644))
	return repo, keyFile
}

// TestShippedRepo checks that testdata/repo, the unsigned repository
// shipped for trying the program out, is the catalogue; -update rewrites
// it.
func TestShippedRepo(t *testing.T) {
	want := t.TempDir()
	writeRepo(t, want, nil)
	if *update {
		require.NoError(t, os.RemoveAll("testdata/repo"))
		require.NoError(t, os.CopyFS("testdata/repo", os.DirFS(want)))
	}
	wantFiles, err := os.ReadDir(want)
	require.NoError(t, err)
	gotFiles, err := os.ReadDir("testdata/repo")
	require.NoError(t, err)
	names := func(es []os.DirEntry) (s []string) {
		for _, e := range es {
			s = append(s, e.Name())
		}
		return s
	}
	require.Equal(t, names(wantFiles), names(gotFiles), "files of testdata/repo (go test -update rewrites it)")
	for _, e := range wantFiles {
		w, err := os.ReadFile(filepath.Join(want, e.Name()))
		require.NoError(t, err)
		g, err := os.ReadFile(filepath.Join("testdata/repo", e.Name()))
		require.NoError(t, err)
		assert.Equal(t, string(w), string(g), "testdata/repo/%s (go test -update rewrites it)", e.Name())
	}
}
