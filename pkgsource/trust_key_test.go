package pkgsource_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/pkgsource"
)

// signedVersions publishes signed index versions old and then new of r,
// and returns the files of the old one.
func signedVersions(t *testing.T, r *repo, old, new int64) map[string][]byte {
	t.Helper()
	r.publish(t, old, true)
	files := map[string][]byte{pkgsource.IndexFile: r.files[pkgsource.IndexFile], pkgsource.SignatureFile: r.files[pkgsource.SignatureFile]}
	r.publish(t, new, true)
	return files
}

// TestDirTrustKeySpellings trusts version 5 of a directory repository,
// puts version 3 back, and reads it through other spellings of the
// directory: each is refused as a rollback, and the store keeps 5 under
// the directory's real path.
func TestDirTrustKeySpellings(t *testing.T) {
	ctx := context.Background()
	r := newRepo(t, true)
	old := signedVersions(t, r, 3, 5)
	storePath := filepath.Join(t.TempDir(), "trust.json")
	real, err := filepath.EvalSymlinks(r.dir)
	require.NoError(t, err)

	_, err = r.openDir(t, pkgsource.WithKeys(r.pub), pkgsource.WithTrustStore(pkgsource.NewFileTrustStore(storePath, pkgsource.AllowFirstUse()))).Packages(ctx, "tomcat")
	require.NoError(t, err)
	r.write(t, pkgsource.IndexFile, old[pkgsource.IndexFile])
	r.write(t, pkgsource.SignatureFile, old[pkgsource.SignatureFile])

	links := t.TempDir()
	link := filepath.Join(links, "current")
	if err := os.Symlink(r.dir, link); err != nil {
		t.Skip("no symbolic links:", err)
	}
	linkToLink := filepath.Join(links, "current-of-current")
	require.NoError(t, os.Symlink(link, linkToLink))
	spellings := map[string]string{
		"symbolic link":            link,
		"link to a link":           linkToLink,
		"trailing separator":       r.dir + string(filepath.Separator),
		"dot segment":              filepath.Dir(r.dir) + string(filepath.Separator) + "." + string(filepath.Separator) + filepath.Base(r.dir),
		"the real path":            real,
		"a link's trailing dot":    link + string(filepath.Separator) + ".",
		"relative to a link's dir": "",
	}
	for name, dir := range spellings {
		t.Run(name, func(t *testing.T) {
			if dir == "" {
				t.Chdir(links)
				dir = "current"
			}
			d, err := pkgsource.NewDir(dir, pkgsource.WithKeys(r.pub), pkgsource.WithTrustStore(pkgsource.NewFileTrustStore(storePath)))
			require.NoError(t, err)
			defer d.Close()
			ps, err := d.Packages(ctx, "tomcat")
			require.ErrorIs(t, err, pkgsource.ErrRollback)
			assert.Nil(t, ps)
			assert.Contains(t, err.Error(), "index version 3 is older than version 5")
			assert.Equal(t, map[string]int64{real: 5}, readStore(t, storePath), "the store is unchanged")
		})
	}
}

// tlsRepoServer is a repoServer over https.
func tlsRepoServer(t *testing.T, files map[string][]byte) *repoServer {
	t.Helper()
	s := &repoServer{prefix: "/stable/", files: map[string][]byte{}, requests: map[string]int{}, bodies: map[string]int{}}
	s.setFiles(files)
	s.Server = httptest.NewTLSServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// pinnedClient returns a client of srv that reaches it whatever host a
// URL names, so that URLs can name example.com (which srv's certificate
// covers) on the default ports.
func pinnedClient(srv *httptest.Server) *http.Client {
	tr := srv.Client().Transport.(*http.Transport).Clone()
	addr := srv.Listener.Addr().String()
	tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}
	return &http.Client{Transport: tr}
}

// TestHTTPTrustKeySpellings trusts version 5 of a repository over https,
// then serves version 3 at other spellings of its URL, over https and
// over plain http: each is refused as a rollback, the store unchanged.
func TestHTTPTrustKeySpellings(t *testing.T) {
	ctx := context.Background()
	r := newRepo(t, true)
	old := signedVersions(t, r, 3, 5)
	secure := tlsRepoServer(t, r.files)
	storePath := filepath.Join(t.TempDir(), "trust.json")
	h := newTestHTTP(t, "https://example.com/stable/", pinnedClient(secure.Server),
		pkgsource.WithKeys(r.pub), pkgsource.WithTrustStore(pkgsource.NewFileTrustStore(storePath, pkgsource.AllowFirstUse())))
	_, err := h.Packages(ctx, "tomcat")
	require.NoError(t, err)
	want := map[string]int64{"http(s)://example.com/stable/": 5}
	require.Equal(t, want, readStore(t, storePath))

	secure.setFiles(old)
	plain := newRepoServer(t, r.files)
	plain.setFiles(old)
	for _, base := range []string{
		"http://example.com/stable/", // the downgrade to plain http
		"http://example.com:80/stable/",
		"http://EXAMPLE.com/./stable",
		"https://EXAMPLE.COM/stable/",
		"https://example.com:443/stable/",
		"https://example.com/stable",
		"https://example.com//stable//",
		"https://example.com/stable/?v=3",
	} {
		t.Run(base, func(t *testing.T) {
			srv := secure
			if strings.HasPrefix(base, "http:") {
				srv = plain
			}
			h := newTestHTTP(t, base, pinnedClient(srv.Server), pkgsource.WithKeys(r.pub), pkgsource.WithTrustStore(pkgsource.NewFileTrustStore(storePath)))
			before, _ := srv.count(pkgsource.IndexFile)
			ps, err := h.Packages(ctx, "tomcat")
			after, _ := srv.count(pkgsource.IndexFile)
			require.Equal(t, before+2, after, "the index was fetched from this server, and once more as it is older than one trusted")
			require.ErrorIs(t, err, pkgsource.ErrRollback)
			assert.Nil(t, ps)
			assert.Contains(t, err.Error(), "index version 3 is older than version 5")
			assert.Equal(t, want, readStore(t, storePath), "the store is unchanged")
		})
	}

	t.Run("another repository on the host", func(t *testing.T) {
		h := newTestHTTP(t, "http://example.com/stable/v2/", pinnedClient(plain.Server), pkgsource.WithKeys(r.pub), pkgsource.WithTrustStore(pkgsource.NewFileTrustStore(storePath)))
		_, err := h.Packages(ctx, "tomcat")
		require.ErrorIs(t, err, pkgsource.ErrNotFound, "served nothing, but not taken for the repository above")
	})
}

// TestTrustStoreLegacyKeys replays an older index to sources whose store
// was written before keys were normalised (a directory named as given, a
// base URL as given): the old floor still holds, and the next trusted
// version is recorded under the new key.
func TestTrustStoreLegacyKeys(t *testing.T) {
	ctx := context.Background()
	writeStore := func(t *testing.T, versions map[string]int64) string {
		t.Helper()
		path := filepath.Join(t.TempDir(), "trust.json")
		data, err := json.Marshal(versions)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(path, data, 0o600))
		return path
	}

	t.Run("directory", func(t *testing.T) {
		r := newRepo(t, true)
		r.publish(t, 3, true)
		link := filepath.Join(t.TempDir(), "current")
		if err := os.Symlink(r.dir, link); err != nil {
			t.Skip("no symbolic links:", err)
		}
		storePath := writeStore(t, map[string]int64{link: 5})
		d, err := pkgsource.NewDir(link, pkgsource.WithKeys(r.pub), pkgsource.WithTrustStore(pkgsource.NewFileTrustStore(storePath)))
		require.NoError(t, err)
		defer d.Close()
		_, err = d.Packages(ctx, "tomcat")
		require.ErrorIs(t, err, pkgsource.ErrRollback)
		assert.Contains(t, err.Error(), "index version 3 is older than version 5")
		assert.Equal(t, map[string]int64{link: 5}, readStore(t, storePath), "the store is unchanged")

		r.publish(t, 6, true)
		_, err = d.Packages(ctx, "tomcat")
		require.NoError(t, err)
		real, err := filepath.EvalSymlinks(r.dir)
		require.NoError(t, err)
		assert.Equal(t, map[string]int64{link: 5, real: 6}, readStore(t, storePath))
	})

	t.Run("URL", func(t *testing.T) {
		r := newRepo(t, true)
		old := signedVersions(t, r, 3, 6)
		srv := newRepoServer(t, old)
		storePath := writeStore(t, map[string]int64{srv.base(): 5})
		h := newTestHTTP(t, srv.base(), srv.Client(), pkgsource.WithKeys(r.pub), pkgsource.WithTrustStore(pkgsource.NewFileTrustStore(storePath)))
		_, err := h.Packages(ctx, "tomcat")
		require.ErrorIs(t, err, pkgsource.ErrRollback)
		assert.Contains(t, err.Error(), "index version 3 is older than version 5")
		assert.Equal(t, map[string]int64{srv.base(): 5}, readStore(t, storePath), "the store is unchanged")

		srv.setFiles(r.files)
		_, err = h.Packages(ctx, "tomcat")
		require.NoError(t, err)
		key := "http(s)://" + strings.TrimPrefix(srv.base(), "http://")
		assert.Equal(t, map[string]int64{srv.base(): 5, key: 6}, readStore(t, storePath))
	})
}
