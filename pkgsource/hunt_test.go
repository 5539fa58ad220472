package pkgsource_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/version"
)

// huntIndex returns an index listing one package, tomcat 10.1.34, whose
// content is content in file name.
func huntIndex(t *testing.T, name string, content []byte) ([]byte, pkgsource.Package) {
	t.Helper()
	p := pkgsource.Package{Type: "tomcat", Version: version.MustParse("10.1.34"), Location: name, Digest: pkgsource.Digest(content), Size: int64(len(content))}
	data, err := (&pkgsource.Index{Version: 1, Generated: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), Packages: []pkgsource.Package{p}}).Marshal()
	require.NoError(t, err)
	return data, p
}

// A .tar.gz served by a web server configured with "AddEncoding gzip .gz"
// (Apache's default on many distributions) comes with "Content-Encoding:
// gzip". The index's digest is that of the file as stored; the source must
// not take the header as a cue to unpack it.
func TestHuntHTTPOpenGzipEncodedTarball(t *testing.T) {
	var tarball bytes.Buffer
	zw := gzip.NewWriter(&tarball)
	_, _ = zw.Write(bytes.Repeat([]byte("tomcat tar content "), 100))
	require.NoError(t, zw.Close())
	index, _ := huntIndex(t, "tomcat-10.1.34.tar.gz", tarball.Bytes())
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/index.json":
			_, _ = w.Write(index)
		case "/tomcat-10.1.34.tar.gz":
			w.Header().Set("Content-Type", "application/x-tar")
			w.Header().Set("Content-Encoding", "gzip")
			_, _ = w.Write(tarball.Bytes())
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	src, err := pkgsource.NewHTTP(srv.URL, nil)
	require.NoError(t, err)
	ps, err := src.Packages(context.Background(), "tomcat")
	require.NoError(t, err)
	require.Len(t, ps, 1)
	rc, err := src.Open(context.Background(), ps[0])
	require.NoError(t, err)
	defer rc.Close()
	got, err := io.ReadAll(rc)
	require.NoError(t, err, "the file as stored is what the index describes")
	assert.Equal(t, tarball.Bytes(), got)
}

// A CDN or captive portal that answers index.json with an HTML page and
// 200 gives an error that names the URL it read.
func TestHuntHTTPIndexNotJSONNamesURL(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte("<html><body>Please log in</body></html>"))
	}))
	defer srv.Close()
	src, err := pkgsource.NewHTTP(srv.URL+"/stable/", nil)
	require.NoError(t, err)
	_, err = src.Packages(context.Background(), "tomcat")
	require.Error(t, err)
	assert.True(t, errors.Is(err, pkgsource.ErrInvalidIndex), "%v", err)
	assert.Contains(t, err.Error(), srv.URL+"/stable/", "the error names the repository")
}

// So does a directory repository whose index is not JSON.
func TestHuntDirIndexNotJSONNamesDir(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, pkgsource.IndexFile), []byte("<html/>"), 0o644))
	src, err := pkgsource.NewDir(dir)
	require.NoError(t, err)
	defer src.Close()
	_, err = src.Packages(context.Background(), "tomcat")
	require.ErrorIs(t, err, pkgsource.ErrInvalidIndex)
	assert.Contains(t, err.Error(), dir)
}

// A CDN that limits its rate answers 429 or 503 with Retry-After. A wait
// the source can afford ("0" here) is waited and the request tried again;
// a 429 is then not a failure.
func TestHuntHTTPRetryAfterWithinReach(t *testing.T) {
	index, _ := huntIndex(t, "tomcat-10.1.34.tar.gz", []byte("content"))
	var mu sync.Mutex
	asked := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		asked++
		n := asked
		mu.Unlock()
		if n == 1 {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		_, _ = w.Write(index)
	}))
	defer srv.Close()
	src, err := pkgsource.NewHTTP(srv.URL, nil, pkgsource.WithRetries(3, 0))
	require.NoError(t, err)
	ps, err := src.Packages(context.Background(), "tomcat")
	require.NoError(t, err)
	assert.Len(t, ps, 1)
	assert.Equal(t, 2, asked)
}

// A server that asks to be left alone for an hour is not asked again at
// once: the error says when to come back.
func TestHuntHTTPRetryAfterBeyondReach(t *testing.T) {
	for _, status := range []int{http.StatusServiceUnavailable, http.StatusTooManyRequests} {
		var mu sync.Mutex
		asked := 0
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			asked++
			mu.Unlock()
			w.Header().Set("Retry-After", "3600")
			w.WriteHeader(status)
		}))
		src, err := pkgsource.NewHTTP(srv.URL, nil, pkgsource.WithRetries(3, 0))
		require.NoError(t, err)
		_, err = src.Packages(context.Background(), "tomcat")
		srv.Close()
		se, ok := errors.AsType[*pkgsource.StatusError](err)
		require.True(t, ok, "%v", err)
		assert.Equal(t, status, se.Status)
		assert.Equal(t, time.Hour, se.RetryAfter)
		assert.Contains(t, err.Error(), "retry after 1h0m0s")
		assert.Equal(t, 1, asked, "status %d: asked once, not again at once", status)
	}
}

// A connection cut in the middle of the index, as a CDN edge restarting
// does, is a connection error like one cut before the answer: the
// request is tried again.
func TestHuntHTTPIndexCutMidBodyRetried(t *testing.T) {
	index, _ := huntIndex(t, "tomcat-10.1.34.tar.gz", []byte("content"))
	var mu sync.Mutex
	asked := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		asked++
		n := asked
		mu.Unlock()
		if n == 1 {
			w.Header().Set("Content-Length", strconv.Itoa(len(index)))
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write(index[:len(index)/2])
			w.(http.Flusher).Flush()
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		_, _ = w.Write(index)
	}))
	defer srv.Close()
	src, err := pkgsource.NewHTTP(srv.URL, nil, pkgsource.WithRetries(3, 0))
	require.NoError(t, err)
	ps, err := src.Packages(context.Background(), "tomcat")
	require.NoError(t, err)
	assert.Len(t, ps, 1)
	assert.Equal(t, 2, asked)
}

// A download cancelled midway returns the context's error at the next
// Read, and leaves no goroutine behind once the body is closed.
func TestHuntHTTPOpenCancelMidDownload(t *testing.T) {
	content := bytes.Repeat([]byte("x"), 1<<20)
	index, _ := huntIndex(t, "big.bin", content)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/index.json" {
			_, _ = w.Write(index)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(content)))
		_, _ = w.Write(content[:1000])
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	ignore := goleak.IgnoreCurrent()
	client := &http.Client{Transport: &http.Transport{}}
	src, err := pkgsource.NewHTTP(srv.URL, client)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	ps, err := src.Packages(ctx, "tomcat")
	require.NoError(t, err)
	rc, err := src.Open(ctx, ps[0])
	require.NoError(t, err)
	buf := make([]byte, 1000)
	_, err = io.ReadFull(rc, buf)
	require.NoError(t, err)
	cancel()
	_, err = io.ReadAll(rc)
	require.ErrorIs(t, err, context.Canceled)
	require.NoError(t, rc.Close())
	client.CloseIdleConnections()
	goleak.VerifyNone(t, ignore)
}

// A repository read with a token in its query keeps the token to itself:
// errors do not show it.
func TestHuntHTTPQueryTokenNotInErrors(t *testing.T) {
	const secret = "s3cret-token"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusForbidden)
	}))
	defer srv.Close()
	src, err := pkgsource.NewHTTP(srv.URL+"/repo/?token="+secret, nil)
	require.NoError(t, err)
	_, err = src.Packages(context.Background(), "tomcat")
	require.Error(t, err)
	assert.NotContains(t, err.Error(), secret)
	assert.Contains(t, err.Error(), "token=xxxxx")
	_, err = src.Open(context.Background(), pkgsource.Package{Type: "tomcat", Version: version.MustParse("1.0"), Location: "t.tar.gz", Digest: pkgsource.Digest(nil), Size: 1})
	require.Error(t, err)
	assert.NotContains(t, err.Error(), secret)
	srv.Close() // a connection error, which net/http reports with the URL
	quick, err := pkgsource.NewHTTP(srv.URL+"/repo/?token="+secret, nil, pkgsource.WithRetries(0, 0))
	require.NoError(t, err)
	_, err = quick.Packages(context.Background(), "tomcat")
	require.Error(t, err)
	assert.NotContains(t, err.Error(), secret)
}

// After the publisher rotates its key, a source that trusts only the old
// one refuses the index, and the error says what to do.
func TestHuntRotatedKeySaysWhatToDo(t *testing.T) {
	oldPub, _, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	_, newPriv, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	dir := t.TempDir()
	_, p := huntIndex(t, "t.tar.gz", []byte("x"))
	require.NoError(t, pkgsource.WriteIndex(dir, &pkgsource.Index{Version: 2, Generated: time.Now().UTC(), Packages: []pkgsource.Package{p}}, newPriv))
	src, err := pkgsource.NewDir(dir, pkgsource.WithKeys(oldPub))
	require.NoError(t, err)
	defer src.Close()
	_, err = src.Packages(context.Background(), "tomcat")
	require.ErrorIs(t, err, pkgsource.ErrUntrusted)
	assert.Contains(t, err.Error(), dir)
	assert.Contains(t, err.Error(), "public key", "says which key to give")
	require.NoError(t, os.WriteFile(filepath.Join(dir, pkgsource.SignatureFile), []byte("not base64!"), 0o644))
	_, err = src.Packages(context.Background(), "tomcat")
	require.ErrorIs(t, err, pkgsource.ErrUntrusted)
	assert.Contains(t, err.Error(), "SignIndex", "says how to make one")
}

// racingStore is a trust store in which, at the first question, another
// reader of the repository trusts a newer index that its publisher has
// just written (publish).
type racingStore struct {
	mu       sync.Mutex
	versions map[string]int64
	publish  func() int64
}

func (s *racingStore) Version(_ context.Context, repo string) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.publish != nil {
		v := s.publish()
		s.publish = nil
		s.versions[repo] = v
	}
	return s.versions[repo], nil
}

func (s *racingStore) SetVersion(_ context.Context, repo string, v int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.versions[repo] = max(s.versions[repo], v)
	return nil
}

// An index published while a reader read the one before, and trusted by
// another reader meanwhile (a worker of the same host, sharing a
// FileTrustStore), is no rollback: the reader reads the index again and
// gets the new one.
func TestHuntIndexPublishedWhileReadIsNoRollback(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	dir := t.TempDir()
	_, p1 := huntIndex(t, "t1.tar.gz", []byte("x"))
	p2 := p1
	p2.Version, p2.Location = version.MustParse("10.1.35"), "t2.tar.gz"
	gen := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	require.NoError(t, pkgsource.WriteIndex(dir, &pkgsource.Index{Version: 5, Generated: gen, Packages: []pkgsource.Package{p1}}, priv))
	store := &racingStore{versions: map[string]int64{}, publish: func() int64 {
		require.NoError(t, pkgsource.WriteIndex(dir, &pkgsource.Index{Version: 6, Generated: gen, Packages: []pkgsource.Package{p1, p2}}, priv))
		return 6
	}}
	src, err := pkgsource.NewDir(dir, pkgsource.WithKeys(pub), pkgsource.WithTrustStore(store))
	require.NoError(t, err)
	defer src.Close()
	ps, err := src.Packages(context.Background(), "tomcat")
	require.NoError(t, err)
	assert.Len(t, ps, 2, "the new index")
}

// An index saved by an editor or shell that writes a UTF-8 byte order
// mark (PowerShell 5's Set-Content -Encoding UTF8) is refused with an
// error that says so, not "invalid character 'ï'".
func TestHuntIndexWithBOMSaysSo(t *testing.T) {
	index, _ := huntIndex(t, "t.tar.gz", []byte("x"))
	_, err := pkgsource.ParseIndex(append([]byte("\xEF\xBB\xBF"), index...))
	require.ErrorIs(t, err, pkgsource.ErrInvalidIndex)
	assert.Contains(t, err.Error(), "byte order mark")
}
