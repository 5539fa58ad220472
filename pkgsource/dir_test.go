package pkgsource_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/version"
)

func TestDirPackages(t *testing.T) {
	for _, signed := range []bool{false, true} {
		name := map[bool]string{false: "unsigned", true: "signed"}[signed]
		t.Run(name, func(t *testing.T) {
			r := newRepo(t, signed)
			var opts []pkgsource.Option
			if signed {
				opts = append(opts, pkgsource.WithKeys(r.pub))
			}
			d := r.openDir(t, opts...)
			ctx := context.Background()

			for _, typ := range []string{"tomcat", "jdk"} {
				got, err := d.Packages(ctx, typ)
				require.NoError(t, err)
				want := r.ofType(typ)
				require.Equal(t, strs(want), strs(got), "ascending versions of %s", typ)
				for i := range want {
					assertSamePackage(t, want[i], got[i])
				}
			}
			assert.Equal(t, []string{"tomcat 9.0.98", "tomcat 10.1.34", "tomcat 11.0.2"}, strs(r.ofType("tomcat")))

			got, err := d.Packages(ctx, "nginx")
			require.NoError(t, err)
			assert.Empty(t, got)

			idx, err := d.Index(ctx)
			require.NoError(t, err)
			assert.Equal(t, int64(1), idx.Version)
			assert.Len(t, idx.Packages, len(r.pkgs))
		})
	}
}

func TestDirOpen(t *testing.T) {
	r := newRepo(t, false)
	d := r.openDir(t)
	ctx := context.Background()
	for _, typ := range []string{"tomcat", "jdk"} {
		ps, err := d.Packages(ctx, typ)
		require.NoError(t, err)
		for _, p := range ps {
			got, err := readPackage(ctx, d, p)
			require.NoError(t, err, "%s", p)
			assert.Equal(t, r.files[p.Location], got, "%s", p)
		}
	}
}

func TestDirSeesUpdates(t *testing.T) {
	r := newRepo(t, false)
	d := r.openDir(t)
	ctx := context.Background()
	before, err := d.Packages(ctx, "jdk")
	require.NoError(t, err)

	p, content := repoPackage("jdk", "25.0.1", "")
	r.add(t, p, content)
	r.publish(t, 2, false)

	after, err := d.Packages(ctx, "jdk")
	require.NoError(t, err)
	assert.Len(t, after, len(before)+1)
	assert.Equal(t, "jdk 25.0.1", after[len(after)-1].String())
}

func TestDirRefusesTamperedContent(t *testing.T) {
	tests := []struct {
		name   string
		attack func(t *testing.T, r *repo, p *pkgsource.Package) // changes the file, or the description the caller holds
		reason string
	}{
		{"tampered bytes", func(t *testing.T, r *repo, p *pkgsource.Package) {
			data := bytes.Clone(r.files[p.Location])
			data[0] ^= 0x20
			r.write(t, p.Location, data)
		}, "sha256 mismatch: content hashes to "},
		{"truncated", func(t *testing.T, r *repo, p *pkgsource.Package) {
			r.write(t, p.Location, r.files[p.Location][:5])
		}, "is 5 bytes, 31 declared"},
		{"emptied", func(t *testing.T, r *repo, p *pkgsource.Package) {
			r.write(t, p.Location, nil)
		}, "is 0 bytes, 31 declared"},
		{"appended to", func(t *testing.T, r *repo, p *pkgsource.Package) {
			r.write(t, p.Location, append(bytes.Clone(r.files[p.Location]), "#!/bin/sh\nrm -rf /\n"...))
		}, " declared"}, // refused before a byte is read: TestDirOpenRefusesIrregularFiles
		{"replaced by other content", func(t *testing.T, r *repo, p *pkgsource.Package) {
			r.write(t, p.Location, bytes.Repeat([]byte("x"), int(p.Size)))
		}, "sha256 mismatch: content hashes to "},
		{"index gives the wrong size", func(t *testing.T, r *repo, p *pkgsource.Package) {
			for i := range r.pkgs {
				if r.pkgs[i].Key() == p.Key() {
					r.pkgs[i].Size++
				}
			}
			r.publish(t, 2, false)
		}, " declared"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRepo(t, false)
			p := r.find(t, "tomcat", "10.1.34")
			tt.attack(t, r, &p)
			d := r.openDir(t)
			ctx := context.Background()

			listed, err := d.Packages(ctx, "tomcat")
			require.NoError(t, err)
			i := findKey(listed, p.Key())
			require.GreaterOrEqual(t, i, 0)

			got, err := readPackage(ctx, d, listed[i])
			require.ErrorIs(t, err, pkgsource.ErrDigestMismatch)
			assert.Nil(t, got, "the content never reaches a caller that reads to the end")
			var de *pkgsource.DigestError
			require.ErrorAs(t, err, &de)
			assert.Equal(t, p.Key(), de.Package)
			assert.Contains(t, err.Error(), "tomcat 10.1.34")
			assert.Contains(t, de.Reason, tt.reason)
		})
	}
}

func findKey(ps []pkgsource.Package, k pkgsource.Key) int {
	for i, p := range ps {
		if p.Key() == k {
			return i
		}
	}
	return -1
}

// TestDirUnsafePaths opens packages whose files lie outside the
// repository, with the right digest and size: only the path checks stand
// between them and the caller.
func TestDirUnsafePaths(t *testing.T) {
	secret := []byte("root:x:0:0:root:/root:/bin/bash\n")
	outside := t.TempDir()
	outsideFile := filepath.Join(outside, "secret")
	require.NoError(t, os.WriteFile(outsideFile, secret, 0o644))

	tests := []struct {
		name     string
		location func(r *repo) string
		setup    func(t *testing.T, r *repo)
		wantMsg  string
	}{
		{"parent", func(*repo) string { return "../secret" }, func(t *testing.T, r *repo) {
			require.NoError(t, os.WriteFile(filepath.Join(filepath.Dir(r.dir), "secret"), secret, 0o644))
		}, `"../secret" is not a local file name`},
		{"parent after a directory", func(*repo) string { return "pkgs/../../secret" }, func(t *testing.T, r *repo) {
			require.NoError(t, os.Mkdir(filepath.Join(r.dir, "pkgs"), 0o755))
			require.NoError(t, os.WriteFile(filepath.Join(filepath.Dir(r.dir), "secret"), secret, 0o644))
		}, "is not a local file name"},
		{"absolute", func(*repo) string { return outsideFile }, nil, "is not a local file name"},
		{"etc passwd", func(*repo) string { return "/etc/passwd" }, nil, `"/etc/passwd" is not a local file name`},
		{"backslash", func(*repo) string { return `..\secret` }, nil, "is not a local file name"},
		{"symlink to a file outside", func(*repo) string { return "link.tar.gz" }, func(t *testing.T, r *repo) {
			require.NoError(t, os.Symlink(outsideFile, filepath.Join(r.dir, "link.tar.gz")))
		}, `"link.tar.gz" leads outside the repository to ` + outsideFile},
		{"symlinked directory outside", func(*repo) string { return "mirror/secret" }, func(t *testing.T, r *repo) {
			require.NoError(t, os.Symlink(outside, filepath.Join(r.dir, "mirror")))
		}, `"mirror/secret" leads outside the repository`},
		{"relative symlink outside", func(*repo) string { return "rel.tar.gz" }, func(t *testing.T, r *repo) {
			rel, err := filepath.Rel(r.dir, outsideFile)
			require.NoError(t, err)
			require.NoError(t, os.Symlink(rel, filepath.Join(r.dir, "rel.tar.gz")))
		}, "leads outside the repository"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRepo(t, false)
			if tt.setup != nil {
				tt.setup(t, r)
			}
			evil := pkgsource.Package{Type: "tomcat", Version: version.MustParse("10.1.99"),
				Location: tt.location(r), Digest: pkgsource.Digest(secret), Size: int64(len(secret))}
			d := r.openDir(t)
			ctx := context.Background()
			// An index refuses such names (TestIndexRefusesHostileNames);
			// a package from elsewhere is refused by Open all the same.
			rc, err := d.Open(ctx, evil)
			require.ErrorIs(t, err, pkgsource.ErrUnsafePath)
			assert.Nil(t, rc)
			var pe *pkgsource.PackageError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, evil.Key(), pe.Package)
			assert.Contains(t, err.Error(), "tomcat 10.1.99")
			assert.Contains(t, err.Error(), tt.wantMsg)
		})
	}
}

// TestDirURLPackage: an index may list a package by URL, which a
// directory repository cannot open: the error says so, and is not a
// refusal of an unsafe path.
func TestDirURLPackage(t *testing.T) {
	r := newRepo(t, false)
	d := r.openDir(t)
	p := pkgsource.Package{Type: "tomcat", Version: version.MustParse("10.1.99"),
		Location: "https://mirror:s3cret@example.com/tomcat.tgz", Digest: pkgsource.Digest([]byte("x")), Size: 1}
	rc, err := d.Open(context.Background(), p)
	assert.Nil(t, rc)
	require.ErrorIs(t, err, pkgsource.ErrNotFound)
	assert.NotErrorIs(t, err, pkgsource.ErrUnsafePath)
	assert.ErrorContains(t, err, "tomcat 10.1.99")
	assert.ErrorContains(t, err, "its location is a URL (https://mirror:xxxxx@example.com/tomcat.tgz), and a directory repository opens only its own files")
	assert.NotContains(t, err.Error(), "s3cret")
}

func TestDirSymlinkInsideIsAllowed(t *testing.T) {
	r := newRepo(t, false)
	p := r.find(t, "jdk", "21.0.2")
	require.NoError(t, os.Mkdir(filepath.Join(r.dir, "latest"), 0o755))
	require.NoError(t, os.Symlink(filepath.Join("..", p.Location), filepath.Join(r.dir, "latest", "jdk.tar.gz")))
	p.Location = "latest/jdk.tar.gz"
	got, err := readPackage(context.Background(), r.openDir(t), p)
	require.NoError(t, err)
	assert.Equal(t, r.files["jdk-21.0.2.tar.gz"], got)
}

func TestDirIndexOutside(t *testing.T) {
	// The index itself is a link to an index elsewhere.
	elsewhere := newRepo(t, false)
	r := &repo{dir: t.TempDir()}
	require.NoError(t, os.Symlink(filepath.Join(elsewhere.dir, pkgsource.IndexFile), filepath.Join(r.dir, pkgsource.IndexFile)))
	ps, err := r.openDir(t).Packages(context.Background(), "tomcat")
	require.ErrorIs(t, err, pkgsource.ErrUnsafePath)
	assert.Nil(t, ps)
	assert.Contains(t, err.Error(), `"index.json" leads outside the repository`)
}

func TestDirMissing(t *testing.T) {
	ctx := context.Background()
	t.Run("package file", func(t *testing.T) {
		r := newRepo(t, false)
		p := r.find(t, "jdk", "17.0.10")
		require.NoError(t, os.Remove(filepath.Join(r.dir, p.Location)))
		rc, err := r.openDir(t).Open(ctx, p)
		require.ErrorIs(t, err, pkgsource.ErrNotFound)
		require.ErrorIs(t, err, os.ErrNotExist)
		assert.Nil(t, rc)
		var pe *pkgsource.PackageError
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, p.Key(), pe.Package)
		assert.Contains(t, err.Error(), "jdk 17.0.10")
		assert.Contains(t, err.Error(), p.Location)
	})
	t.Run("index", func(t *testing.T) {
		r := newRepo(t, false)
		require.NoError(t, os.Remove(filepath.Join(r.dir, pkgsource.IndexFile)))
		ps, err := r.openDir(t).Packages(ctx, "jdk")
		require.ErrorIs(t, err, pkgsource.ErrNotFound)
		assert.Nil(t, ps)
		assert.Contains(t, err.Error(), pkgsource.IndexFile)
	})
	t.Run("directory", func(t *testing.T) {
		missing := filepath.Join(t.TempDir(), "nope")
		d, err := pkgsource.NewDir(missing)
		require.Error(t, err)
		assert.Nil(t, d)
		assert.ErrorIs(t, err, os.ErrNotExist)
		assert.Contains(t, err.Error(), "nope")
	})
}

func TestDirBadIndex(t *testing.T) {
	tests := []struct {
		name    string
		data    []byte
		opts    []pkgsource.Option
		wantMsg string
	}{
		{"over a small cap", nil, []pkgsource.Option{pkgsource.WithMaxIndexSize(100)}, "index.json is larger than 100 bytes"},
		{"malformed", []byte(`{"schema": "stackup.index/v1", "version": `), nil, "unexpected EOF"},
		{"bad entry", []byte(indexDoc(jdkEntry(), with(tomcatEntry(), "size", 0))), nil, "package #2 (tomcat 10.1.34): size 0"},
		{"not JSON", []byte("<html>404</html>"), nil, "invalid character"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRepo(t, false)
			if tt.data != nil {
				r.write(t, pkgsource.IndexFile, tt.data)
			}
			ps, err := r.openDir(t, tt.opts...).Packages(context.Background(), "tomcat")
			require.ErrorIs(t, err, pkgsource.ErrInvalidIndex)
			assert.Nil(t, ps)
			var ie *pkgsource.IndexError
			require.ErrorAs(t, err, &ie)
			assert.Contains(t, err.Error(), tt.wantMsg)
		})
	}
}

func TestDirDefaultIndexCap(t *testing.T) {
	// A sparse file one byte over MaxIndexSize: read up to the cap, then
	// refused.
	r := newRepo(t, false)
	f, err := os.Create(filepath.Join(r.dir, pkgsource.IndexFile))
	require.NoError(t, err)
	require.NoError(t, f.Truncate(pkgsource.MaxIndexSize+1))
	require.NoError(t, f.Close())
	_, err = r.openDir(t).Packages(context.Background(), "tomcat")
	require.ErrorIs(t, err, pkgsource.ErrInvalidIndex)
	assert.Contains(t, err.Error(), "index.json is larger than 33554432 bytes")
}

func TestDirContext(t *testing.T) {
	r := newRepo(t, false)
	d := r.openDir(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ps, err := d.Packages(ctx, "tomcat")
	assert.ErrorIs(t, err, context.Canceled)
	assert.Nil(t, ps)
	rc, err := d.Open(ctx, r.find(t, "tomcat", "10.1.34"))
	assert.ErrorIs(t, err, context.Canceled)
	assert.Nil(t, rc)
}

func TestDirClose(t *testing.T) {
	r := newRepo(t, false)
	d, err := pkgsource.NewDir(r.dir)
	require.NoError(t, err)
	require.NoError(t, d.Close())
	_, err = d.Packages(context.Background(), "tomcat")
	assert.Error(t, err, "a closed Dir reads nothing")
}

func TestWriteIndexFilesAreReadableByAll(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no such permission bits")
	}
	_, priv := testKey("sign")
	dir := t.TempDir()
	require.NoError(t, pkgsource.WriteIndex(dir, &pkgsource.Index{Version: 1}, priv))
	for _, name := range []string{pkgsource.IndexFile, pkgsource.SignatureFile} {
		info, err := os.Stat(filepath.Join(dir, name))
		require.NoError(t, err)
		assert.Equal(t, fs.FileMode(0o644), info.Mode().Perm(), name)
	}
}

func TestWriteIndexErrors(t *testing.T) {
	_, priv := testKey("w")
	missing := filepath.Join(t.TempDir(), "no", "such", "dir")
	err := pkgsource.WriteIndex(missing, &pkgsource.Index{Version: 1}, priv)
	require.Error(t, err)
	assert.True(t, errors.Is(err, os.ErrNotExist), "%v", err)

	// A directory in the way of the signature file.
	dir := t.TempDir()
	require.NoError(t, os.Mkdir(filepath.Join(dir, pkgsource.SignatureFile), 0o755))
	err = pkgsource.WriteIndex(dir, &pkgsource.Index{Version: 1}, priv)
	require.Error(t, err)
	assert.Contains(t, err.Error(), pkgsource.SignatureFile)
}
