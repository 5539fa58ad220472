package pkgsource_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/pkgsource"
)

func TestSignIndex(t *testing.T) {
	pub, priv := testKey("sign")
	data := []byte(indexDoc(jdkEntry()))
	sig := pkgsource.SignIndex(priv, data)
	require.True(t, bytes.HasSuffix(sig, []byte("\n")))
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(sig)))
	require.NoError(t, err)
	assert.True(t, ed25519.Verify(pub, data, raw))
}

func TestDirSignedAccepted(t *testing.T) {
	r := newRepo(t, true)
	other, _ := testKey("another publisher")
	tests := []struct {
		name string
		keys []ed25519.PublicKey
	}{
		{"the key", []ed25519.PublicKey{r.pub}},
		{"one of several keys", []ed25519.PublicKey{other, r.pub}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := r.openDir(t, pkgsource.WithKeys(tt.keys...))
			ps, err := d.Packages(context.Background(), "tomcat")
			require.NoError(t, err)
			assert.Equal(t, strs(r.ofType("tomcat")), strs(ps))
			got, err := readPackage(context.Background(), d, ps[0])
			require.NoError(t, err)
			assert.Equal(t, r.files[ps[0].Location], got)
		})
	}
}

func TestDirSignedRefused(t *testing.T) {
	wrongPub, wrongPriv := testKey("an attacker")
	tests := []struct {
		name    string
		attack  func(t *testing.T, r *repo)
		keys    func(r *repo) []ed25519.PublicKey
		wantMsg string
	}{
		{"unsigned index", func(t *testing.T, r *repo) {
			r.publish(t, 2, false)
		}, nil, "untrusted index: no signature"},
		{"signed by another key", func(t *testing.T, r *repo) {
			r.write(t, pkgsource.SignatureFile, pkgsource.SignIndex(wrongPriv, r.files[pkgsource.IndexFile]))
		}, nil, "signature matches no trusted key"},
		{"trusting only another key", nil, func(*repo) []ed25519.PublicKey { return []ed25519.PublicKey{wrongPub} }, "signature matches no trusted key"},
		{"index changed after signing", func(t *testing.T, r *repo) {
			evil := bytes.Replace(r.files[pkgsource.IndexFile], []byte(`"version": 1,`), []byte(`"version": 9,`), 1)
			require.NotEqual(t, r.files[pkgsource.IndexFile], evil)
			r.write(t, pkgsource.IndexFile, evil)
		}, nil, "signature matches no trusted key"},
		{"signature of another index", func(t *testing.T, r *repo) {
			r.write(t, pkgsource.SignatureFile, pkgsource.SignIndex(r.priv, []byte(indexDoc())))
		}, nil, "signature matches no trusted key"},
		{"signature not base64", func(t *testing.T, r *repo) {
			r.write(t, pkgsource.SignatureFile, []byte("this is not a signature!\n"))
		}, nil, "malformed signature"},
		{"signature too short", func(t *testing.T, r *repo) {
			r.write(t, pkgsource.SignatureFile, []byte(base64.StdEncoding.EncodeToString(make([]byte, 63))))
		}, nil, "malformed signature"},
		{"empty signature file", func(t *testing.T, r *repo) {
			r.write(t, pkgsource.SignatureFile, nil)
		}, nil, "malformed signature"},
		{"raw signature bytes", func(t *testing.T, r *repo) {
			r.write(t, pkgsource.SignatureFile, ed25519.Sign(r.priv, r.files[pkgsource.IndexFile]))
		}, nil, "malformed signature"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRepo(t, true)
			if tt.attack != nil {
				tt.attack(t, r)
			}
			keys := []ed25519.PublicKey{r.pub}
			if tt.keys != nil {
				keys = tt.keys(r)
			}
			d := r.openDir(t, pkgsource.WithKeys(keys...))
			ps, err := d.Packages(context.Background(), "tomcat")
			require.ErrorIs(t, err, pkgsource.ErrUntrusted)
			assert.Nil(t, ps)
			assert.Contains(t, err.Error(), tt.wantMsg)
			assert.Contains(t, err.Error(), r.dir, "the error names the repository")
			idx, err := d.Index(context.Background())
			assert.ErrorIs(t, err, pkgsource.ErrUntrusted)
			assert.Nil(t, idx)
		})
	}
}

func TestDirSignatureTooLarge(t *testing.T) {
	r := newRepo(t, true)
	r.write(t, pkgsource.SignatureFile, append(bytes.Repeat([]byte(" "), 2000), r.files[pkgsource.SignatureFile]...))
	ps, err := r.openDir(t, pkgsource.WithKeys(r.pub)).Packages(context.Background(), "tomcat")
	require.Error(t, err)
	assert.Nil(t, ps)
	require.ErrorIs(t, err, pkgsource.ErrUntrusted)
	assert.Contains(t, err.Error(), "signature file larger than 1024 bytes")
}

func TestDirWithoutKeysIgnoresSignature(t *testing.T) {
	r := newRepo(t, true)
	r.write(t, pkgsource.SignatureFile, []byte("garbage"))
	_, err := r.openDir(t).Packages(context.Background(), "tomcat")
	assert.NoError(t, err, "an unsigned source does not read the signature")
}

func TestDirRollback(t *testing.T) {
	ctx := context.Background()

	// replay publishes version 1, then 2, keeping both signed copies, and
	// returns a function that puts version 1 back.
	replay := func(t *testing.T, r *repo) (putBack func()) {
		t.Helper()
		v1 := map[string][]byte{
			pkgsource.IndexFile:     r.files[pkgsource.IndexFile],
			pkgsource.SignatureFile: r.files[pkgsource.SignatureFile],
		}
		p, content := repoPackage("tomcat", "10.1.35", ">=9.0")
		r.add(t, p, content)
		r.publish(t, 2, true)
		return func() {
			r.write(t, pkgsource.IndexFile, v1[pkgsource.IndexFile])
			r.write(t, pkgsource.SignatureFile, v1[pkgsource.SignatureFile])
		}
	}

	t.Run("in memory within one source", func(t *testing.T) {
		r := newRepo(t, true)
		putBack := replay(t, r)
		d := r.openDir(t, pkgsource.WithKeys(r.pub))
		ps, err := d.Packages(ctx, "tomcat")
		require.NoError(t, err)
		require.Contains(t, strs(ps), "tomcat 10.1.35")

		putBack()
		ps, err = d.Packages(ctx, "tomcat")
		require.ErrorIs(t, err, pkgsource.ErrRollback)
		assert.Nil(t, ps)
		assert.Contains(t, err.Error(), "index version 1 is older than version 2, already trusted")
		assert.Contains(t, err.Error(), r.dir)

		// Without a trust store, a new source starts afresh.
		_, err = r.openDir(t, pkgsource.WithKeys(r.pub)).Packages(ctx, "tomcat")
		assert.NoError(t, err)
	})

	t.Run("trust store across sources", func(t *testing.T) {
		r := newRepo(t, true)
		putBack := replay(t, r)
		storePath := filepath.Join(t.TempDir(), "trust.json")

		first := r.openDir(t, pkgsource.WithKeys(r.pub), pkgsource.WithTrustStore(pkgsource.NewFileTrustStore(storePath, pkgsource.AllowFirstUse())))
		_, err := first.Packages(ctx, "tomcat")
		require.NoError(t, err)
		require.NoError(t, first.Close())

		putBack()
		second := r.openDir(t, pkgsource.WithKeys(r.pub), pkgsource.WithTrustStore(pkgsource.NewFileTrustStore(storePath)))
		ps, err := second.Packages(ctx, "tomcat")
		require.ErrorIs(t, err, pkgsource.ErrRollback)
		assert.Nil(t, ps)

		v, err := pkgsource.NewFileTrustStore(storePath).Version(ctx, r.dir)
		require.NoError(t, err)
		assert.Equal(t, int64(2), v, "the store keeps the newest version, named by the repository's absolute path")
	})

	t.Run("same version again", func(t *testing.T) {
		r := newRepo(t, true)
		d := r.openDir(t, pkgsource.WithKeys(r.pub))
		for range 3 {
			_, err := d.Packages(ctx, "tomcat")
			require.NoError(t, err)
		}
	})

	t.Run("unsigned sources do not track versions", func(t *testing.T) {
		r := newRepo(t, false)
		r.publish(t, 5, false)
		d := r.openDir(t)
		_, err := d.Packages(ctx, "tomcat")
		require.NoError(t, err)
		r.publish(t, 1, false)
		_, err = d.Packages(ctx, "tomcat")
		assert.NoError(t, err)
	})
}

func TestDirTrustStoreErrors(t *testing.T) {
	boom := errors.New("store down")
	tests := []struct {
		name  string
		store pkgsource.TrustStore
	}{
		{"Version fails", &failingStore{versionErr: boom}},
		{"SetVersion fails", &failingStore{setErr: boom}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRepo(t, true)
			ps, err := r.openDir(t, pkgsource.WithKeys(r.pub), pkgsource.WithTrustStore(tt.store)).Packages(context.Background(), "tomcat")
			require.ErrorIs(t, err, boom)
			assert.Nil(t, ps)
		})
	}
}

type failingStore struct{ versionErr, setErr error }

func (s *failingStore) Version(context.Context, string) (int64, error) { return 0, s.versionErr }
func (s *failingStore) SetVersion(context.Context, string, int64) error {
	return s.setErr
}

func TestDirExpiry(t *testing.T) {
	expires := fixedGenerated.Add(30 * 24 * time.Hour)
	tests := []struct {
		name   string
		signed bool
		now    time.Time
		want   error
	}{
		{"before expiry", true, expires.Add(-time.Second), nil},
		{"at expiry", true, expires, nil},
		{"after expiry", true, expires.Add(time.Second), pkgsource.ErrExpired},
		{"unsigned after expiry", false, expires.Add(time.Hour), pkgsource.ErrExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRepo(t, tt.signed)
			r.publishIndex(t, &pkgsource.Index{Version: 2, Generated: fixedGenerated, Expires: expires, Packages: r.pkgs}, tt.signed)
			opts := []pkgsource.Option{pkgsource.WithClock(func() time.Time { return tt.now })}
			if tt.signed {
				opts = append(opts, pkgsource.WithKeys(r.pub))
			}
			ps, err := r.openDir(t, opts...).Packages(context.Background(), "tomcat")
			if tt.want == nil {
				require.NoError(t, err)
				assert.NotEmpty(t, ps)
				return
			}
			require.ErrorIs(t, err, tt.want)
			assert.Nil(t, ps)
			assert.Contains(t, err.Error(), "expired at 2026-12-24T10:00:00Z")
			assert.Contains(t, err.Error(), r.dir)
		})
	}
}

func TestBadKeys(t *testing.T) {
	good, _ := testKey("good")
	tests := []struct {
		name    string
		keys    []ed25519.PublicKey
		wantMsg string
	}{
		{"short", []ed25519.PublicKey{good[:31]}, "key #1 is 31 bytes"},
		{"long", []ed25519.PublicKey{append(bytes.Clone(good), 0)}, "key #1 is 33 bytes"},
		{"nil", []ed25519.PublicKey{nil}, "key #1 is 0 bytes"},
		{"second bad", []ed25519.PublicKey{good, good[:16]}, "key #2 is 16 bytes"},
		{"private key given", []ed25519.PublicKey{ed25519.PublicKey(ed25519.NewKeyFromSeed(make([]byte, 32)))}, "key #1 is 64 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := pkgsource.NewDir(t.TempDir(), pkgsource.WithKeys(tt.keys...))
			require.Error(t, err)
			assert.Nil(t, d)
			assert.Contains(t, err.Error(), tt.wantMsg)

			h, err := pkgsource.NewHTTP("http://127.0.0.1:1/", nil, pkgsource.WithKeys(tt.keys...))
			require.Error(t, err)
			assert.Nil(t, h)
			assert.Contains(t, err.Error(), tt.wantMsg)
		})
	}
}

func TestFileTrustStore(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "trust.json")
	s := pkgsource.NewFileTrustStore(path, pkgsource.AllowFirstUse())

	v, err := s.Version(ctx, "/repo/a")
	require.NoError(t, err)
	assert.Zero(t, v, "an unknown repository")
	assert.NoFileExists(t, path, "created on the first SetVersion")

	steps := []struct {
		repo string
		set  int64
		want int64
	}{
		{"/repo/a", 3, 3},
		{"/repo/a", 5, 5},
		{"/repo/a", 4, 5}, // never lowered
		{"/repo/a", 5, 5},
		{"https://example.com/b/", 1, 1},
		{"/repo/a", 0, 5},
	}
	for _, st := range steps {
		require.NoError(t, s.SetVersion(ctx, st.repo, st.set))
		v, err := s.Version(ctx, st.repo)
		require.NoError(t, err)
		assert.Equal(t, st.want, v, "%s after SetVersion(%d)", st.repo, st.set)
	}

	reopened := pkgsource.NewFileTrustStore(path)
	for repo, want := range map[string]int64{"/repo/a": 5, "https://example.com/b/": 1, "/repo/c": 0} {
		v, err := reopened.Version(ctx, repo)
		require.NoError(t, err)
		assert.Equal(t, want, v, "%s after reopening", repo)
	}

	entries, err := os.ReadDir(filepath.Dir(path))
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	assert.Equal(t, []string{"trust.json", "trust.json.lock"}, names, "no temporary file is left behind")
	if runtime.GOOS != "windows" { // which has no such permission bits
		info, err := os.Stat(path)
		require.NoError(t, err)
		assert.Equal(t, fs.FileMode(0o600), info.Mode().Perm(), "only its owner reads or writes the trust store")
	}
}

func TestFileTrustStoreConcurrent(t *testing.T) {
	ctx := context.Background()
	s := pkgsource.NewFileTrustStore(filepath.Join(t.TempDir(), "trust.json"), pkgsource.AllowFirstUse())
	var wg sync.WaitGroup
	for i := range int64(20) {
		wg.Go(func() { assert.NoError(t, s.SetVersion(ctx, "repo", i+1)) })
	}
	wg.Wait()
	v, err := s.Version(ctx, "repo")
	require.NoError(t, err)
	assert.Equal(t, int64(20), v)
}

func TestFileTrustStoreErrors(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		setup   func(t *testing.T) string // returns the store path
		wantMsg string
	}{
		{"malformed file", func(t *testing.T) string {
			path := filepath.Join(t.TempDir(), "trust.json")
			require.NoError(t, os.WriteFile(path, []byte(`{"repo": "five"}`), 0o600))
			return path
		}, "trust.json"},
		{"not JSON", func(t *testing.T) string {
			path := filepath.Join(t.TempDir(), "trust.json")
			require.NoError(t, os.WriteFile(path, []byte("repo=5\n"), 0o600))
			return path
		}, "invalid character"},
		{"a directory", func(t *testing.T) string {
			path := filepath.Join(t.TempDir(), "trust.json")
			require.NoError(t, os.Mkdir(path, 0o755))
			return path
		}, "trust store"},
		{"null", func(t *testing.T) string { // json.Unmarshal leaves a nil map: SetVersion panicked
			path := filepath.Join(t.TempDir(), "trust.json")
			require.NoError(t, os.WriteFile(path, []byte("null"), 0o600))
			return path
		}, "malformed (it holds null, not an object of versions): restore it from a backup"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := pkgsource.NewFileTrustStore(tt.setup(t), pkgsource.AllowFirstUse())
			_, err := s.Version(ctx, "repo")
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantMsg)
			var fe *pkgsource.FileError
			assert.ErrorAs(t, err, &fe)
			require.NotPanics(t, func() { err = s.SetVersion(ctx, "repo", 1) })
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantMsg)
		})
	}

	t.Run("unwritable directory", func(t *testing.T) {
		s := pkgsource.NewFileTrustStore(filepath.Join(t.TempDir(), "missing", "trust.json"), pkgsource.AllowFirstUse())
		err := s.SetVersion(ctx, "repo", 1)
		require.Error(t, err)
		assert.ErrorIs(t, err, os.ErrNotExist)
	})

	t.Run("a malformed store refuses a signed source", func(t *testing.T) {
		r := newRepo(t, true)
		path := filepath.Join(t.TempDir(), "trust.json")
		require.NoError(t, os.WriteFile(path, []byte("{"), 0o600))
		_, err := r.openDir(t, pkgsource.WithKeys(r.pub), pkgsource.WithTrustStore(pkgsource.NewFileTrustStore(path, pkgsource.AllowFirstUse()))).Packages(ctx, "tomcat")
		require.Error(t, err)
		assert.Contains(t, err.Error(), "trust store")
	})
}
