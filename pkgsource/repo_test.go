package pkgsource_test

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/version"
)

// Shared fixtures of the Dir, HTTP, Chain and conformance tests: a small
// repository of Tomcat and JDK packages whose content is a line of text.

// testKey returns a deterministic ed25519 key pair named by seed.
func testKey(seed string) (ed25519.PublicKey, ed25519.PrivateKey) {
	s := sha256.Sum256([]byte(seed))
	priv := ed25519.NewKeyFromSeed(s[:])
	return priv.Public().(ed25519.PublicKey), priv
}

// fixedGenerated is the generation time of every test index.
var fixedGenerated = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

// repoPackage describes a package of the test repository with the content
// it is published with.
func repoPackage(typ, v, from string, requires ...pkgsource.Requirement) (pkgsource.Package, []byte) {
	content := []byte(typ + " " + v + " package content\n")
	return pkgsource.Package{
		Type:     typ,
		Version:  version.MustParse(v),
		From:     version.MustParseConstraint(from),
		Requires: requires,
		Location: typ + "-" + v + ".tar.gz",
		Digest:   pkgsource.Digest(content),
		Size:     int64(len(content)),
	}, content
}

func req(typ, c string) pkgsource.Requirement {
	return pkgsource.Requirement{Type: typ, Constraint: version.MustParseConstraint(c)}
}

// repo is a package repository under construction in a directory.
type repo struct {
	dir   string
	pkgs  []pkgsource.Package // as published, in no order
	files map[string][]byte   // file name → content, the index included
	pub   ed25519.PublicKey
	priv  ed25519.PrivateKey
}

// newRepo writes the standard packages into a new temporary directory and
// publishes index version 1, signed when signed is true.
func newRepo(t *testing.T, signed bool) *repo {
	t.Helper()
	pub, priv := testKey("stackup test repository")
	r := &repo{dir: t.TempDir(), files: map[string][]byte{}, pub: pub, priv: priv}
	for _, pc := range []struct {
		typ, v, from string
		requires     []pkgsource.Requirement
	}{
		{"tomcat", "10.1.34", ">=9.0", []pkgsource.Requirement{req("jdk", ">=11")}},
		{"tomcat", "9.0.98", "", []pkgsource.Requirement{req("jdk", ">=8")}},
		{"jdk", "21.0.2", "", nil},
		{"jdk", "17.0.10", ">=11", nil},
		{"tomcat", "11.0.2", ">=10.1", []pkgsource.Requirement{req("jdk", ">=17"), req("ubuntu", ">=20.04")}},
	} {
		p, content := repoPackage(pc.typ, pc.v, pc.from, pc.requires...)
		r.add(t, p, content)
	}
	r.publish(t, 1, signed)
	return r
}

// add writes a package file and records the package for the next publish.
func (r *repo) add(t *testing.T, p pkgsource.Package, content []byte) {
	t.Helper()
	r.write(t, p.Location, content)
	r.pkgs = append(r.pkgs, p)
}

// write writes a file of the repository.
func (r *repo) write(t *testing.T, name string, data []byte) {
	t.Helper()
	require.NoError(t, os.WriteFile(filepath.Join(r.dir, name), data, 0o644))
	r.files[name] = data
}

// publish writes index version v of the recorded packages, with its
// signature when signed is true, or without one (removing an old one).
func (r *repo) publish(t *testing.T, v int64, signed bool) {
	t.Helper()
	r.publishIndex(t, &pkgsource.Index{Version: v, Generated: fixedGenerated, Packages: r.pkgs}, signed)
}

func (r *repo) publishIndex(t *testing.T, idx *pkgsource.Index, signed bool) {
	t.Helper()
	var key ed25519.PrivateKey
	if signed {
		key = r.priv
	} else {
		err := os.Remove(filepath.Join(r.dir, pkgsource.SignatureFile))
		if !os.IsNotExist(err) {
			require.NoError(t, err)
		}
		delete(r.files, pkgsource.SignatureFile)
	}
	require.NoError(t, pkgsource.WriteIndex(r.dir, idx, key))
	for _, name := range []string{pkgsource.IndexFile, pkgsource.SignatureFile} {
		data, err := os.ReadFile(filepath.Join(r.dir, name))
		if err == nil {
			r.files[name] = data
		}
	}
}

// ofType returns the recorded packages of type typ, ascending.
func (r *repo) ofType(typ string) []pkgsource.Package {
	var out []pkgsource.Package
	for _, p := range r.pkgs {
		if p.Type == typ {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b pkgsource.Package) int { return a.Version.Compare(b.Version) })
	return out
}

// find returns the recorded package typ v.
func (r *repo) find(t *testing.T, typ, v string) pkgsource.Package {
	t.Helper()
	for _, p := range r.pkgs {
		if p.Type == typ && p.Version.String() == v {
			return p
		}
	}
	t.Fatalf("no package %s %s in the test repository", typ, v)
	return pkgsource.Package{}
}

// openDir returns the repository as a Dir, closed at the end of the test.
func (r *repo) openDir(t *testing.T, opts ...pkgsource.Option) *pkgsource.Dir {
	t.Helper()
	d, err := pkgsource.NewDir(r.dir, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = d.Close() })
	return d
}

// readPackage opens p through o and reads it in full. Like a careful
// consumer, it returns the content only when the read ended with io.EOF.
func readPackage(ctx context.Context, o pkgsource.Opener, p pkgsource.Package) ([]byte, error) {
	rc, err := o.Open(ctx, p)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		return nil, err
	}
	return data, nil
}

// strs returns the String of each package.
func strs(ps []pkgsource.Package) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}
