package pkgsource_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/version"
)

// repoServer serves a repository's files from a map over loopback HTTP,
// with ETags, and counts what it is asked.
type repoServer struct {
	*httptest.Server
	prefix string // the repository's path, such as "/stable/"

	mu          sync.Mutex
	files       map[string][]byte
	requests    map[string]int // per file name
	bodies      map[string]int // full 200 answers per file name
	ifNoneMatch []string       // the If-None-Match of each index request
	// hook, when set, may answer a request itself: it returns true when
	// it did.
	hook func(w http.ResponseWriter, r *http.Request, name string, n int) bool
}

func newRepoServer(t *testing.T, files map[string][]byte) *repoServer {
	t.Helper()
	s := &repoServer{prefix: "/stable/", files: map[string][]byte{}, requests: map[string]int{}, bodies: map[string]int{}}
	s.setFiles(files)
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *repoServer) setFiles(files map[string][]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, v := range files {
		s.files[k] = bytes.Clone(v)
	}
}

func (s *repoServer) set(name string, data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if data == nil {
		delete(s.files, name)
	} else {
		s.files[name] = data
	}
}

func (s *repoServer) serve(w http.ResponseWriter, r *http.Request) {
	name, ok := strings.CutPrefix(r.URL.Path, s.prefix)
	s.mu.Lock()
	s.requests[name]++
	n := s.requests[name]
	if name == pkgsource.IndexFile {
		s.ifNoneMatch = append(s.ifNoneMatch, r.Header.Get("If-None-Match"))
	}
	hook := s.hook
	data, found := s.files[name]
	s.mu.Unlock()
	if hook != nil && hook(w, r, name, n) {
		return
	}
	if !ok || !found || r.Method != http.MethodGet {
		http.NotFound(w, r)
		return
	}
	sum := sha256.Sum256(data)
	etag := `"` + hex.EncodeToString(sum[:8]) + `"`
	w.Header().Set("ETag", etag)
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	s.mu.Lock()
	s.bodies[name]++
	s.mu.Unlock()
	_, _ = w.Write(data)
}

func (s *repoServer) base() string { return s.URL + s.prefix }

func (s *repoServer) count(name string) (requests, bodies int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[name], s.bodies[name]
}

func (s *repoServer) setHook(h func(w http.ResponseWriter, r *http.Request, name string, n int) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hook = h
}

func newTestHTTP(t *testing.T, base string, client *http.Client, opts ...pkgsource.Option) *pkgsource.HTTP {
	t.Helper()
	// Fast retries unless a test says otherwise.
	h, err := pkgsource.NewHTTP(base, client, append([]pkgsource.Option{pkgsource.WithRetries(3, time.Millisecond)}, opts...)...)
	require.NoError(t, err)
	return h
}

func TestHTTPPackagesAndOpen(t *testing.T) {
	for _, signed := range []bool{false, true} {
		t.Run(map[bool]string{false: "unsigned", true: "signed"}[signed], func(t *testing.T) {
			r := newRepo(t, signed)
			srv := newRepoServer(t, r.files)
			var opts []pkgsource.Option
			if signed {
				opts = append(opts, pkgsource.WithKeys(r.pub))
			}
			h := newTestHTTP(t, srv.base(), srv.Client(), opts...)
			ctx := context.Background()
			for _, typ := range []string{"tomcat", "jdk"} {
				got, err := h.Packages(ctx, typ)
				require.NoError(t, err)
				want := r.ofType(typ)
				require.Equal(t, strs(want), strs(got))
				for i := range want {
					assertSamePackage(t, want[i], got[i])
					content, err := readPackage(ctx, h, got[i])
					require.NoError(t, err)
					assert.Equal(t, r.files[want[i].Location], content)
				}
			}
			got, err := h.Packages(ctx, "nginx")
			require.NoError(t, err)
			assert.Empty(t, got)
			_, sigBodies := srv.count(pkgsource.SignatureFile)
			assert.Equal(t, signed, sigBodies > 0, "the signature is fetched when keys are set")
		})
	}
}

func TestHTTPBaseWithoutSlash(t *testing.T) {
	r := newRepo(t, false)
	srv := newRepoServer(t, r.files)
	h := newTestHTTP(t, strings.TrimSuffix(srv.base(), "/"), srv.Client())
	ps, err := h.Packages(context.Background(), "jdk")
	require.NoError(t, err)
	assert.Len(t, ps, 2)
	n, _ := srv.count(pkgsource.IndexFile)
	assert.Equal(t, 1, n, "the index is fetched under the base path")
}

func TestHTTPConditionalIndex(t *testing.T) {
	r := newRepo(t, true)
	srv := newRepoServer(t, r.files)
	h := newTestHTTP(t, srv.base(), srv.Client(), pkgsource.WithKeys(r.pub))
	ctx := context.Background()

	first, err := h.Packages(ctx, "tomcat")
	require.NoError(t, err)
	second, err := h.Packages(ctx, "tomcat")
	require.NoError(t, err)
	assert.Equal(t, strs(first), strs(second))
	jdk, err := h.Packages(ctx, "jdk")
	require.NoError(t, err)
	assert.Len(t, jdk, 2, "a 304 answer reuses the whole cached index")

	requests, bodies := srv.count(pkgsource.IndexFile)
	assert.Equal(t, 3, requests)
	assert.Equal(t, 1, bodies, "one full index; the other answers were 304")
	_, sigBodies := srv.count(pkgsource.SignatureFile)
	assert.Equal(t, 1, sigBodies, "the signature of an unchanged index is not fetched again")
	srv.mu.Lock()
	sent := append([]string(nil), srv.ifNoneMatch...)
	srv.mu.Unlock()
	require.Len(t, sent, 3)
	assert.Empty(t, sent[0], "nothing to match the first time")
	assert.NotEmpty(t, sent[1])
	assert.Equal(t, sent[1], sent[2])

	// A new index is fetched in full.
	p, content := repoPackage("tomcat", "10.1.40", ">=9.0")
	r.add(t, p, content)
	r.publish(t, 2, true)
	srv.setFiles(r.files)
	third, err := h.Packages(ctx, "tomcat")
	require.NoError(t, err)
	assert.Contains(t, strs(third), "tomcat 10.1.40")
	_, bodies = srv.count(pkgsource.IndexFile)
	assert.Equal(t, 2, bodies)
}

func TestHTTPHangingServer(t *testing.T) {
	const timeout = 50 * time.Millisecond
	tests := []struct {
		name   string
		client func(base *http.Client) *http.Client
		opts   []pkgsource.Option
	}{
		{"request timeout", func(c *http.Client) *http.Client { return c }, []pkgsource.Option{pkgsource.WithRequestTimeout(timeout)}},
		{"client timeout", func(c *http.Client) *http.Client { c.Timeout = timeout; return c }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRepo(t, false)
			srv := newRepoServer(t, r.files)
			srv.setHook(func(w http.ResponseWriter, r *http.Request, _ string, _ int) bool {
				<-r.Context().Done()
				return true
			})
			opts := append([]pkgsource.Option{pkgsource.WithRetries(0, 0)}, tt.opts...)
			h := newTestHTTP(t, srv.base(), tt.client(srv.Client()), opts...)

			ps, err := h.Packages(context.Background(), "tomcat")
			require.Error(t, err)
			assert.Nil(t, ps)
			var ne net.Error
			require.ErrorAs(t, err, &ne)
			assert.True(t, ne.Timeout(), "%v", err)
			assert.Contains(t, err.Error(), "index.json")

			rc, err := h.Open(context.Background(), r.find(t, "jdk", "21.0.2"))
			require.Error(t, err)
			assert.Nil(t, rc)
			assert.Contains(t, err.Error(), "jdk 21.0.2")
		})
	}
}

func TestHTTPBodyTimeout(t *testing.T) {
	// Headers come at once, then the body stalls: the request timeout
	// bounds the body as well.
	r := newRepo(t, false)
	srv := newRepoServer(t, r.files)
	p := r.find(t, "tomcat", "10.1.34")
	srv.setHook(func(w http.ResponseWriter, req *http.Request, name string, _ int) bool {
		if name != p.Location {
			return false
		}
		_, _ = w.Write(r.files[name][:3])
		w.(http.Flusher).Flush()
		<-req.Context().Done()
		return true
	})
	h := newTestHTTP(t, srv.base(), srv.Client(), pkgsource.WithRequestTimeout(50*time.Millisecond))
	got, err := readPackage(context.Background(), h, p)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Nil(t, got)
}

func TestHTTPRetries(t *testing.T) {
	tests := []struct {
		name         string
		failures     int // answers of 500 before 200s
		retries      int
		wantRequests int
		wantErr      bool
	}{
		{"500 then 200", 1, 3, 2, false},
		{"three 500s then 200", 3, 3, 4, false},
		{"always 500", 1000, 3, 4, true},
		{"no retries", 1, 0, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRepo(t, false)
			srv := newRepoServer(t, r.files)
			srv.setHook(func(w http.ResponseWriter, _ *http.Request, _ string, n int) bool {
				if n <= tt.failures {
					http.Error(w, "overloaded", http.StatusInternalServerError)
					return true
				}
				return false
			})
			h := newTestHTTP(t, srv.base(), srv.Client(), pkgsource.WithRetries(tt.retries, time.Millisecond))
			ctx := context.Background()

			ps, err := h.Packages(ctx, "jdk")
			requests, _ := srv.count(pkgsource.IndexFile)
			assert.Equal(t, tt.wantRequests, requests, "index requests")
			p := r.find(t, "jdk", "21.0.2")
			content, oerr := readPackage(ctx, h, p)
			requests, _ = srv.count(p.Location)
			assert.Equal(t, tt.wantRequests, requests, "package requests")
			if !tt.wantErr {
				require.NoError(t, err)
				assert.Len(t, ps, 2)
				require.NoError(t, oerr)
				assert.Equal(t, r.files[p.Location], content)
				return
			}
			for _, err := range []error{err, oerr} {
				var se *pkgsource.StatusError
				require.ErrorAs(t, err, &se)
				assert.Equal(t, http.StatusInternalServerError, se.Status)
				assert.NotErrorIs(t, err, pkgsource.ErrNotFound)
			}
			assert.Contains(t, err.Error(), "GET "+srv.base()+"index.json: 500 Internal Server Error")
			assert.Contains(t, oerr.Error(), "jdk 21.0.2")
		})
	}
}

// flakyTransport fails the first n requests as a broken connection would.
type flakyTransport struct {
	mu    sync.Mutex
	n     int
	calls int
	next  http.RoundTripper
}

func (f *flakyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	f.mu.Lock()
	f.calls++
	fail := f.calls <= f.n
	f.mu.Unlock()
	if fail {
		return nil, errors.New("connection reset by peer")
	}
	return f.next.RoundTrip(r)
}

func TestHTTPRetriesConnectionErrors(t *testing.T) {
	r := newRepo(t, false)
	srv := newRepoServer(t, r.files)
	tr := &flakyTransport{n: 2, next: srv.Client().Transport}
	h := newTestHTTP(t, srv.base(), &http.Client{Transport: tr})
	ps, err := h.Packages(context.Background(), "jdk")
	require.NoError(t, err)
	assert.Len(t, ps, 2)
	assert.Equal(t, 3, tr.calls)

	tr = &flakyTransport{n: 100, next: srv.Client().Transport}
	h = newTestHTTP(t, srv.base(), &http.Client{Transport: tr}, pkgsource.WithRetries(2, time.Millisecond))
	_, err = h.Packages(context.Background(), "jdk")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "connection reset by peer")
	assert.Equal(t, 3, tr.calls)
}

func TestHTTPNotFound(t *testing.T) {
	ctx := context.Background()
	t.Run("index", func(t *testing.T) {
		srv := newRepoServer(t, nil)
		h := newTestHTTP(t, srv.base(), srv.Client())
		ps, err := h.Packages(ctx, "tomcat")
		require.ErrorIs(t, err, pkgsource.ErrNotFound)
		assert.Nil(t, ps)
		var se *pkgsource.StatusError
		require.ErrorAs(t, err, &se)
		assert.Equal(t, http.StatusNotFound, se.Status)
		assert.Equal(t, srv.base()+"index.json", se.URL)
		require.ErrorIs(t, err, pkgsource.ErrNoIndex)
		assert.Equal(t, "pkgsource: repository "+srv.base()+": no index: GET index.json: 404 Not Found; publish index.json there (see WriteIndex)", err.Error())
		n, _ := srv.count(pkgsource.IndexFile)
		assert.Equal(t, 1, n, "a 404 is not retried")
	})
	t.Run("package", func(t *testing.T) {
		r := newRepo(t, false)
		srv := newRepoServer(t, r.files)
		p := r.find(t, "tomcat", "9.0.98")
		srv.set(p.Location, nil)
		h := newTestHTTP(t, srv.base(), srv.Client())
		rc, err := h.Open(ctx, p)
		require.ErrorIs(t, err, pkgsource.ErrNotFound)
		assert.Nil(t, rc)
		var se *pkgsource.StatusError
		require.ErrorAs(t, err, &se)
		assert.Equal(t, srv.base()+p.Location, se.URL)
		var pe *pkgsource.PackageError
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, p.Key(), pe.Package)
		assert.Contains(t, err.Error(), "tomcat 9.0.98")
	})
}

func TestHTTPStatusError(t *testing.T) {
	tests := []struct {
		status   int
		notFound bool
	}{
		{http.StatusNotFound, true},
		{http.StatusGone, false},
		{http.StatusForbidden, false},
		{http.StatusInternalServerError, false},
	}
	for _, tt := range tests {
		t.Run(http.StatusText(tt.status), func(t *testing.T) {
			err := &pkgsource.StatusError{URL: "https://example.com/x", Status: tt.status}
			assert.Equal(t, tt.notFound, errors.Is(err, pkgsource.ErrNotFound))
			assert.Contains(t, err.Error(), "https://example.com/x")
		})
	}
}

func TestHTTPTamperedContent(t *testing.T) {
	r := newRepo(t, true)
	srv := newRepoServer(t, r.files)
	p := r.find(t, "tomcat", "10.1.34")
	tests := []struct {
		name string
		data []byte
	}{
		{"flipped byte", func() []byte { d := bytes.Clone(r.files[p.Location]); d[3] ^= 1; return d }()},
		{"truncated", r.files[p.Location][:4]},
		{"longer", append(bytes.Clone(r.files[p.Location]), "evil"...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv.set(p.Location, tt.data)
			h := newTestHTTP(t, srv.base(), srv.Client(), pkgsource.WithKeys(r.pub))
			listed, err := h.Packages(context.Background(), "tomcat")
			require.NoError(t, err, "the signed index is intact")
			got, err := readPackage(context.Background(), h, listed[findKey(listed, p.Key())])
			require.ErrorIs(t, err, pkgsource.ErrDigestMismatch)
			assert.Nil(t, got)
			var de *pkgsource.DigestError
			require.ErrorAs(t, err, &de)
			assert.Equal(t, p.Key(), de.Package)
		})
	}
}

func TestHTTPLocations(t *testing.T) {
	r := newRepo(t, false)
	srv := newRepoServer(t, r.files)
	secret := []byte("outside the repository\n")
	srv.set("../secret", secret) // never reachable by name, whatever the server does
	ctx := context.Background()
	h := newTestHTTP(t, srv.base(), srv.Client())

	unsafe := []string{"../secret", "/secret", "/stable/../secret", "a/../../secret", "a/./b", "a//b", ""}
	for _, loc := range unsafe {
		t.Run("unsafe "+loc, func(t *testing.T) {
			p := pkgsource.Package{Type: "tomcat", Version: version.MustParse("1.0.0"), Location: loc, Digest: pkgsource.Digest(secret), Size: int64(len(secret))}
			before := totalRequests(srv)
			rc, err := h.Open(ctx, p)
			require.ErrorIs(t, err, pkgsource.ErrUnsafePath)
			assert.Nil(t, rc)
			assert.Contains(t, err.Error(), "tomcat 1.0.0")
			assert.Contains(t, err.Error(), "is not a local file name")
			assert.Equal(t, before, totalRequests(srv), "no request is made")
		})
	}

	t.Run("absolute URL", func(t *testing.T) {
		content := []byte("jdk from a mirror\n")
		srv.set("mirror/jdk.tar.gz", content)
		p := pkgsource.Package{Type: "jdk", Version: version.MustParse("25.0.0"), Location: srv.base() + "mirror/jdk.tar.gz", Digest: pkgsource.Digest(content), Size: int64(len(content))}
		got, err := readPackage(ctx, h, p)
		require.NoError(t, err)
		assert.Equal(t, content, got)
	})

	t.Run("url entry in the index", func(t *testing.T) {
		content := []byte("jdk 26 from a mirror\n")
		srv.set("elsewhere/jdk-26.tar.gz", content)
		p := pkgsource.Package{Type: "jdk", Version: version.MustParse("26.0.0"), Location: srv.base() + "elsewhere/jdk-26.tar.gz", Digest: pkgsource.Digest(content), Size: int64(len(content))}
		r.pkgs = append(r.pkgs, p)
		r.publish(t, 2, false)
		srv.setFiles(r.files)
		require.Contains(t, string(r.files[pkgsource.IndexFile]), `"url": "`+p.Location+`"`)
		ps, err := h.Packages(ctx, "jdk")
		require.NoError(t, err)
		i := findKey(ps, p.Key())
		require.GreaterOrEqual(t, i, 0)
		assert.Equal(t, p.Location, ps[i].Location)
		got, err := readPackage(ctx, h, ps[i])
		require.NoError(t, err)
		assert.Equal(t, content, got)
	})

	t.Run("subdirectory", func(t *testing.T) {
		content := []byte("nested\n")
		srv.set("pool/t/tomcat.tar.gz", content)
		p := pkgsource.Package{Type: "tomcat", Version: version.MustParse("1.0.0"), Location: "pool/t/tomcat.tar.gz", Digest: pkgsource.Digest(content), Size: int64(len(content))}
		got, err := readPackage(ctx, h, p)
		require.NoError(t, err)
		assert.Equal(t, content, got)
	})
}

func totalRequests(s *repoServer) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.requests {
		n += c
	}
	return n
}

func TestHTTPIndexTooLarge(t *testing.T) {
	t.Run("small cap", func(t *testing.T) {
		r := newRepo(t, false)
		srv := newRepoServer(t, r.files)
		h := newTestHTTP(t, srv.base(), srv.Client(), pkgsource.WithMaxIndexSize(64))
		ps, err := h.Packages(context.Background(), "tomcat")
		require.ErrorIs(t, err, pkgsource.ErrInvalidIndex)
		assert.Nil(t, ps)
		var ie *pkgsource.IndexError
		require.ErrorAs(t, err, &ie)
		assert.Contains(t, err.Error(), srv.base()+"index.json is larger than 64 bytes")
	})
	t.Run("endless index at the default cap", func(t *testing.T) {
		srv := newRepoServer(t, nil)
		srv.setHook(func(w http.ResponseWriter, _ *http.Request, name string, _ int) bool {
			_, _ = io.Copy(w, io.MultiReader(strings.NewReader(indexDoc(jdkEntry())), infiniteSpaces{}))
			return true
		})
		h := newTestHTTP(t, srv.base(), srv.Client())
		ps, err := h.Packages(context.Background(), "tomcat")
		require.ErrorIs(t, err, pkgsource.ErrInvalidIndex)
		assert.Nil(t, ps)
		assert.Contains(t, err.Error(), "larger than 33554432 bytes")
	})
}

type infiniteSpaces struct{}

func (infiniteSpaces) Read(b []byte) (int, error) {
	for i := range b {
		b[i] = ' '
	}
	return len(b), nil
}

func TestHTTPSignedRefused(t *testing.T) {
	wrongPub, _ := testKey("an attacker")
	tests := []struct {
		name    string
		attack  func(t *testing.T, r *repo, srv *repoServer, store pkgsource.TrustStore)
		keys    func(r *repo) []byte
		want    error
		wantMsg string
	}{
		{"unsigned", func(t *testing.T, r *repo, srv *repoServer, _ pkgsource.TrustStore) {
			srv.set(pkgsource.SignatureFile, nil)
		}, nil, pkgsource.ErrUntrusted, "no signature"},
		{"wrong key", nil, func(*repo) []byte { return wrongPub }, pkgsource.ErrUntrusted, "matches no trusted key"},
		{"malformed signature", func(t *testing.T, r *repo, srv *repoServer, _ pkgsource.TrustStore) {
			srv.set(pkgsource.SignatureFile, []byte("%%%"))
		}, nil, pkgsource.ErrUntrusted, "malformed signature"},
		{"signature too large", func(t *testing.T, r *repo, srv *repoServer, _ pkgsource.TrustStore) {
			srv.set(pkgsource.SignatureFile, append(bytes.Repeat([]byte(" "), 2000), r.files[pkgsource.SignatureFile]...))
		}, nil, pkgsource.ErrUntrusted, "signature file larger than 1024 bytes"},
		{"rollback", func(t *testing.T, r *repo, srv *repoServer, store pkgsource.TrustStore) {
			old := map[string][]byte{pkgsource.IndexFile: r.files[pkgsource.IndexFile], pkgsource.SignatureFile: r.files[pkgsource.SignatureFile]}
			r.publish(t, 2, true)
			srv.setFiles(r.files)
			h := newTestHTTP(t, srv.base(), srv.Client(), pkgsource.WithKeys(r.pub), pkgsource.WithTrustStore(store))
			_, err := h.Packages(context.Background(), "tomcat")
			require.NoError(t, err)
			srv.setFiles(old)
		}, nil, pkgsource.ErrRollback, "index version 1 is older than version 2"},
		{"expired", func(t *testing.T, r *repo, srv *repoServer, _ pkgsource.TrustStore) {
			r.publishIndex(t, &pkgsource.Index{Version: 2, Generated: time.Now().Add(-48 * time.Hour),
				Expires: time.Now().Add(-time.Hour), Packages: r.pkgs}, true)
			srv.setFiles(r.files)
		}, nil, pkgsource.ErrExpired, "expired at"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRepo(t, true)
			srv := newRepoServer(t, r.files)
			store := pkgsource.NewFileTrustStore(filepath.Join(t.TempDir(), "trust.json"), pkgsource.AllowFirstUse())
			if tt.attack != nil {
				tt.attack(t, r, srv, store)
			}
			key := r.pub
			if tt.keys != nil {
				key = tt.keys(r)
			}
			h := newTestHTTP(t, srv.base(), srv.Client(), pkgsource.WithKeys(key), pkgsource.WithTrustStore(store))
			ps, err := h.Packages(context.Background(), "tomcat")
			require.ErrorIs(t, err, tt.want)
			assert.Nil(t, ps)
			assert.Contains(t, err.Error(), tt.wantMsg)
			assert.Contains(t, err.Error(), srv.base(), "the error names the repository")
		})
	}
}

func TestHTTPSignatureUnavailable(t *testing.T) {
	r := newRepo(t, true)
	srv := newRepoServer(t, r.files)
	srv.setHook(func(w http.ResponseWriter, _ *http.Request, name string, _ int) bool {
		if name != pkgsource.SignatureFile {
			return false
		}
		http.Error(w, "forbidden", http.StatusForbidden)
		return true
	})
	h := newTestHTTP(t, srv.base(), srv.Client(), pkgsource.WithKeys(r.pub))
	ps, err := h.Packages(context.Background(), "tomcat")
	require.Error(t, err)
	assert.Nil(t, ps)
	var se *pkgsource.StatusError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, http.StatusForbidden, se.Status)
	assert.Equal(t, srv.base()+pkgsource.SignatureFile, se.URL)
}

func TestNewHTTPBadBase(t *testing.T) {
	for _, base := range []string{"", "example.com/repo", "/srv/repo", "ftp://example.com/repo/", "http://", "https:///repo", "http://[::1", "file:///srv/repo"} {
		t.Run(base, func(t *testing.T) {
			h, err := pkgsource.NewHTTP(base, nil)
			require.Error(t, err)
			assert.Nil(t, h)
			assert.Contains(t, err.Error(), "is not an absolute http(s) URL")
			assert.Contains(t, err.Error(), base)
		})
	}
	// A base URL that does not parse may still hold a password or a
	// token: the error does not show it.
	for _, base := range []string{"http://mirror:s3cretpw@example.com/%zz/", "http://example.com/%zz/?token=s3cretpw"} {
		t.Run("secret "+base, func(t *testing.T) {
			_, err := pkgsource.NewHTTP(base, nil)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "http://… (not shown: not a valid URL)")
			assert.NotContains(t, err.Error(), "s3cretpw")
		})
	}
	for _, base := range []string{"http://example.com", "https://example.com/stable/", "HTTPS://example.com/x"} {
		t.Run("good "+base, func(t *testing.T) {
			_, err := pkgsource.NewHTTP(base, nil)
			assert.NoError(t, err)
		})
	}
}

func TestHTTPContext(t *testing.T) {
	r := newRepo(t, false)
	srv := newRepoServer(t, r.files)
	h := newTestHTTP(t, srv.base(), srv.Client())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ps, err := h.Packages(ctx, "tomcat")
	require.ErrorIs(t, err, context.Canceled)
	assert.Nil(t, ps)
	rc, err := h.Open(ctx, r.find(t, "tomcat", "10.1.34"))
	require.ErrorIs(t, err, context.Canceled)
	assert.Nil(t, rc)
	assert.Zero(t, totalRequests(srv), "nothing is sent on a cancelled context")
	// A cancel during the wait before a retry: TestHTTPRetryWaitEndsOnCancel.
}

// TestHTTPErrorsHidePassword: a password in the base URL is never in an
// error, whatever the failure: a status, a package's status, a refused
// connection, an unsigned index, a bad base URL.
func TestHTTPErrorsHidePassword(t *testing.T) {
	ctx := context.Background()
	const secret = "s3cret"
	withUser := func(raw string) string { return strings.Replace(raw, "http://", "http://deploy:"+secret+"@", 1) }
	status := http.StatusForbidden
	var gone string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/index.json") && status == http.StatusOK:
			_, _ = io.WriteString(w, `{"schema": "stackup.index/v1", "version": 1, "packages": [{"type": "jdk", "version": "17", "file": "jdk.tgz", "size": 1, "sha256": "`+strings.Repeat("a", 64)+`"}]}`)
		case r.URL.Path == gone:
			w.WriteHeader(http.StatusInternalServerError)
		default:
			w.WriteHeader(status)
		}
	}))
	defer srv.Close()
	base := withUser(srv.URL) + "/repo/"
	var errs []error
	h, err := pkgsource.NewHTTP(base, nil, pkgsource.WithRetries(0, 0))
	require.NoError(t, err)
	_, err = h.Packages(ctx, "jdk") // 403
	errs = append(errs, err)

	status, gone = http.StatusOK, "/repo/jdk.tgz"
	h, err = pkgsource.NewHTTP(base, nil, pkgsource.WithRetries(0, 0))
	require.NoError(t, err)
	ps, err := h.Packages(ctx, "jdk")
	require.NoError(t, err)
	require.Len(t, ps, 1)
	_, err = h.Open(ctx, ps[0]) // 500
	errs = append(errs, err)

	pub, _, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	h, err = pkgsource.NewHTTP(base, nil, pkgsource.WithRetries(0, 0), pkgsource.WithKeys(pub))
	require.NoError(t, err)
	_, err = h.Packages(ctx, "jdk") // no signature
	errs = append(errs, err)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := withUser("http://" + ln.Addr().String() + "/")
	ln.Close()
	h, err = pkgsource.NewHTTP(closed, nil, pkgsource.WithRetries(0, 0))
	require.NoError(t, err)
	_, err = h.Packages(ctx, "jdk") // connection refused
	errs = append(errs, err)

	_, err = pkgsource.NewHTTP("http://deploy:"+secret+"@/no-host", nil)
	errs = append(errs, err)

	for i, err := range errs {
		require.Error(t, err, i)
		assert.NotContains(t, err.Error(), secret, i)
		assert.Contains(t, err.Error(), "deploy", "%d: the URL is still named: %v", i, err)
	}
}

// TestMaxIndexSizeMustBePositive: a cap of 0 or less would refuse every
// index; the sources refuse it at once instead.
func TestMaxIndexSizeMustBePositive(t *testing.T) {
	for _, n := range []int64{0, -1} {
		_, err := pkgsource.NewHTTP("https://example.com/repo/", nil, pkgsource.WithMaxIndexSize(n))
		assert.ErrorContains(t, err, fmt.Sprintf("WithMaxIndexSize(%d): give the most bytes an index may have, 1 or more", n))
		_, err = pkgsource.NewDir(t.TempDir(), pkgsource.WithMaxIndexSize(n))
		assert.ErrorContains(t, err, "WithMaxIndexSize")
	}
}

// TestRequestTimeoutMustNotBeNegative: a negative timeout would bound no
// request at all, leaving a server that never answers to hang the
// source; the sources refuse it at once instead.
func TestRequestTimeoutMustNotBeNegative(t *testing.T) {
	_, err := pkgsource.NewHTTP("https://example.com/repo/", nil, pkgsource.WithRequestTimeout(-time.Second))
	assert.ErrorContains(t, err, "WithRequestTimeout(-1s): give how long a request may take, more than 0")
	_, err = pkgsource.NewDir(t.TempDir(), pkgsource.WithRequestTimeout(-time.Second))
	assert.ErrorContains(t, err, "WithRequestTimeout")
}

// TestHTTPLongETagNotSentBack serves the index with an ETag of 8 KiB: it
// is not sent back in If-None-Match, where a server with a header limit
// would refuse every later request for it.
func TestHTTPLongETagNotSentBack(t *testing.T) {
	r := newRepo(t, false)
	srv := newRepoServer(t, r.files)
	long := `"` + strings.Repeat("e", 8<<10) + `"`
	srv.setHook(func(w http.ResponseWriter, _ *http.Request, name string, _ int) bool {
		if name != pkgsource.IndexFile {
			return false
		}
		w.Header().Set("ETag", long)
		_, _ = w.Write(r.files[name])
		return true
	})
	h := newTestHTTP(t, srv.base(), srv.Client())
	for range 2 {
		_, err := h.Packages(t.Context(), "tomcat")
		require.NoError(t, err)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	assert.Equal(t, []string{"", ""}, srv.ifNoneMatch)
}
