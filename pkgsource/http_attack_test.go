package pkgsource_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/version"
)

// hitCounter is an HTTP server that records every request and serves
// files by the path it decodes and cleans, as a careless static server
// does: "/stable/%2e%2e/secret" reaches "/secret".
type hitCounter struct {
	*httptest.Server
	mu    sync.Mutex
	hits  []string // the raw request URIs
	files map[string][]byte
}

func newHitCounter(t *testing.T, tls bool, files map[string][]byte) *hitCounter {
	t.Helper()
	c := &hitCounter{files: files}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		c.hits = append(c.hits, r.RequestURI)
		c.mu.Unlock()
		clean := path.Clean(r.URL.Path) // the Go server has decoded %2e, %2f already
		if data, ok := c.files[clean]; ok {
			_, _ = w.Write(data)
			return
		}
		http.NotFound(w, r)
	})
	if tls {
		c.Server = httptest.NewTLSServer(h)
	} else {
		c.Server = httptest.NewServer(h)
	}
	t.Cleanup(c.Close)
	return c
}

func (c *hitCounter) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.hits)
}

func TestHTTPRefusesEncodedTraversal(t *testing.T) {
	secret := []byte("root:x:0:0:root:/root:/bin/bash\n")
	srv := newHitCounter(t, false, map[string][]byte{"/secret": secret, "/stable/a/secret": secret})
	h := newTestHTTP(t, srv.URL+"/stable/", srv.Client())
	for _, loc := range []string{"%2e%2e/secret", "%2E%2E/secret", "..%2fsecret", "a%2f..%2f..%2fsecret", "%252e%252e/secret",
		"a/%2e%2e/%2e%2e/secret", "..;/secret", "a/..", "%00", "a/b?x=1", "a#frag", "//evil.example.com/secret", "a\\..\\..\\secret"} {
		t.Run(loc, func(t *testing.T) {
			p := pkgsource.Package{Type: "tomcat", Version: version.MustParse("1.0.0"), Location: loc, Digest: pkgsource.Digest(secret), Size: int64(len(secret))}
			rc, err := h.Open(t.Context(), p)
			require.ErrorIs(t, err, pkgsource.ErrUnsafePath)
			assert.Nil(t, rc)
			assert.Contains(t, err.Error(), "tomcat 1.0.0")
			assert.Contains(t, err.Error(), strconv.Quote(loc))
			assert.Zero(t, srv.count(), "no request is made")
		})
	}
	t.Run("a safe name stays below the base", func(t *testing.T) {
		p := pkgsource.Package{Type: "tomcat", Version: version.MustParse("1.0.0"), Location: "a/secret", Digest: pkgsource.Digest(secret), Size: int64(len(secret))}
		got, err := readPackage(t.Context(), h, p)
		require.NoError(t, err)
		assert.Equal(t, secret, got)
		srv.mu.Lock()
		defer srv.mu.Unlock()
		assert.Equal(t, []string{"/stable/a/secret"}, srv.hits)
	})
}

func TestHTTPRedirects(t *testing.T) {
	for _, signed := range []bool{false, true} {
		r := newRepo(t, signed)
		var opts []pkgsource.Option
		if signed {
			opts = append(opts, pkgsource.WithKeys(r.pub))
		}
		p := r.find(t, "tomcat", "10.1.34")
		names := []string{pkgsource.IndexFile, p.Location}
		if signed {
			names = append(names, pkgsource.SignatureFile)
		}
		for _, name := range names {
			t.Run(map[bool]string{false: "unsigned ", true: "signed "}[signed]+name, func(t *testing.T) {
				// other serves the repository too: following the redirect
				// would succeed, and is refused all the same.
				otherFiles := map[string][]byte{}
				for n, data := range r.files {
					otherFiles["/stable/"+n] = data
				}
				other := newHitCounter(t, false, otherFiles)
				srv := newRepoServer(t, r.files)
				srv.setHook(func(w http.ResponseWriter, req *http.Request, n string, _ int) bool {
					if n != name {
						return false
					}
					http.Redirect(w, req, other.URL+"/stable/"+n, http.StatusFound)
					return true
				})
				h := newTestHTTP(t, srv.base(), srv.Client(), opts...)
				var err error
				if name == p.Location {
					_, err = readPackage(t.Context(), h, p)
				} else {
					_, err = h.Packages(t.Context(), "tomcat")
				}
				var re *pkgsource.RedirectError
				require.ErrorAs(t, err, &re)
				assert.Equal(t, srv.base()+name, re.From)
				assert.Equal(t, other.URL+"/stable/"+name, re.To)
				assert.Contains(t, err.Error(), "another origin")
				if name == p.Location {
					assert.Contains(t, err.Error(), "tomcat 10.1.34")
				}
				assert.Zero(t, other.count(), "the other server is never asked")
				n, _ := srv.count(name)
				assert.Equal(t, 1, n, "a refused redirect is not retried")
			})
		}
	}

	t.Run("https to http", func(t *testing.T) {
		r := newRepo(t, false)
		files := map[string][]byte{}
		for n, data := range r.files {
			files["/stable/"+n] = data
		}
		plain := newHitCounter(t, false, files)
		secure := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			http.Redirect(w, req, plain.URL+req.URL.Path, http.StatusMovedPermanently)
		}))
		t.Cleanup(secure.Close)
		h := newTestHTTP(t, secure.URL+"/stable/", secure.Client())
		_, err := h.Packages(t.Context(), "tomcat")
		var re *pkgsource.RedirectError
		require.ErrorAs(t, err, &re)
		assert.Contains(t, err.Error(), "a downgrade from https to http")
		assert.Zero(t, plain.count())
	})

	t.Run("same origin is followed", func(t *testing.T) {
		r := newRepo(t, true)
		srv := newRepoServer(t, r.files)
		srv.setFiles(map[string][]byte{"moved/" + pkgsource.IndexFile: r.files[pkgsource.IndexFile], "moved/" + pkgsource.SignatureFile: r.files[pkgsource.SignatureFile]})
		srv.setHook(func(w http.ResponseWriter, req *http.Request, n string, _ int) bool {
			if n != pkgsource.IndexFile && n != pkgsource.SignatureFile {
				return false
			}
			http.Redirect(w, req, "moved/"+n, http.StatusTemporaryRedirect)
			return true
		})
		h := newTestHTTP(t, srv.base(), srv.Client(), pkgsource.WithKeys(r.pub))
		ps, err := h.Packages(t.Context(), "tomcat")
		require.NoError(t, err)
		assert.Len(t, ps, 3)
		n, _ := srv.count("moved/" + pkgsource.IndexFile)
		assert.Equal(t, 1, n)
	})

	t.Run("the caller's client is unchanged and still asked", func(t *testing.T) {
		r := newRepo(t, false)
		srv := newRepoServer(t, r.files)
		srv.setFiles(map[string][]byte{"moved/" + pkgsource.IndexFile: r.files[pkgsource.IndexFile]})
		srv.setHook(func(w http.ResponseWriter, req *http.Request, n string, _ int) bool {
			if n != pkgsource.IndexFile {
				return false
			}
			http.Redirect(w, req, "moved/"+n, http.StatusFound)
			return true
		})
		refuse := errors.New("the caller's policy: no redirects")
		client := srv.Client()
		client.CheckRedirect = func(*http.Request, []*http.Request) error { return refuse }
		h := newTestHTTP(t, srv.base(), client)
		_, err := h.Packages(t.Context(), "tomcat")
		require.ErrorIs(t, err, refuse)
		assert.NotNil(t, client.CheckRedirect)
		assert.ErrorIs(t, client.CheckRedirect(nil, nil), refuse, "NewHTTP did not replace it")
	})
}

// pipeListener is a net.Listener whose connections are in-memory pipes, so
// that a real http.Server and http.Transport talk inside a synctest bubble.
type pipeListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error   { l.once.Do(func() { close(l.done) }); return nil }
func (l *pipeListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 80} }

func (l *pipeListener) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	server, client := net.Pipe()
	select {
	case l.conns <- server:
		return client, nil
	case <-l.done:
		return nil, net.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// servePipe serves handler over in-memory pipes, for use inside a
// synctest bubble, and returns a client of it; stop ends both.
func servePipe(handler http.Handler) (client *http.Client, stop func()) {
	l := &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
	srv := &http.Server{Handler: handler}
	served := make(chan struct{})
	go func() { defer close(served); _ = srv.Serve(l) }()
	tr := &http.Transport{DialContext: l.dial}
	return &http.Client{Transport: tr}, func() {
		tr.CloseIdleConnections()
		_ = srv.Close()
		<-served
	}
}

const pipeBase = "http://repo.test/stable/"

func TestHTTPDefaultRequestTimeout(t *testing.T) {
	tests := []struct {
		name          string
		clientTimeout time.Duration
		opts          []pkgsource.Option
		want          time.Duration
	}{
		{"default", 0, nil, pkgsource.DefaultRequestTimeout},
		{"option", 0, []pkgsource.Option{pkgsource.WithRequestTimeout(2 * time.Second)}, 2 * time.Second},
		{"client timeout", 5 * time.Second, nil, 5 * time.Second},
		{"negative client timeout", -time.Second, nil, pkgsource.DefaultRequestTimeout},
		{"option over client timeout", 5 * time.Minute, []pkgsource.Option{pkgsource.WithRequestTimeout(3 * time.Second)}, 3 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				client, stop := servePipe(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
					<-r.Context().Done() // a server that never answers
				}))
				defer stop()
				client.Timeout = tt.clientTimeout
				h, err := pkgsource.NewHTTP(pipeBase, client, append([]pkgsource.Option{pkgsource.WithRetries(0, 0)}, tt.opts...)...)
				require.NoError(t, err)
				start := time.Now()
				ps, err := h.Packages(t.Context(), "tomcat")
				assert.Nil(t, ps)
				var ne net.Error
				require.ErrorAs(t, err, &ne)
				assert.True(t, ne.Timeout(), "%v", err)
				assert.Contains(t, err.Error(), pipeBase+pkgsource.IndexFile)
				assert.Equal(t, tt.want, time.Since(start), "the bubble's clock")
			})
		})
	}
}

func TestHTTPRetryWaits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var at []time.Time
		client, stop := servePipe(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			mu.Lock()
			at = append(at, time.Now())
			mu.Unlock()
			http.Error(w, "down", http.StatusBadGateway)
		}))
		defer stop()
		const backoff = 4 * time.Second
		h, err := pkgsource.NewHTTP(pipeBase, client, pkgsource.WithRetries(6, backoff))
		require.NoError(t, err)
		_, err = h.Packages(t.Context(), "tomcat")
		var se *pkgsource.StatusError
		require.ErrorAs(t, err, &se)
		assert.Equal(t, http.StatusBadGateway, se.Status, "the last answer is reported")

		mu.Lock()
		defer mu.Unlock()
		require.Len(t, at, 7, "one try and 6 retries")
		jittered := false
		for i := 1; i < len(at); i++ {
			nominal := min(backoff<<(i-1), pkgsource.DefaultMaxRetryWait)
			wait := at[i].Sub(at[i-1])
			assert.GreaterOrEqual(t, wait, nominal/2, "wait before retry #%d", i)
			assert.LessOrEqual(t, wait, nominal*3/2, "wait before retry #%d", i)
			jittered = jittered || wait != nominal
		}
		assert.True(t, jittered, "waits are drawn at random")
	})
}

func TestHTTPRetryWaitEndsOnCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		var requests int
		client, stop := servePipe(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			requests++
			http.Error(w, "busy", http.StatusServiceUnavailable)
		}))
		defer stop()
		h, err := pkgsource.NewHTTP(pipeBase, client, pkgsource.WithRetries(5, time.Hour))
		require.NoError(t, err)
		start := time.Now()
		done := make(chan error)
		go func() {
			_, err := h.Packages(ctx, "tomcat")
			done <- err
		}()
		synctest.Wait() // the source waits to retry
		assert.Equal(t, 1, requests)
		cancel()
		err = <-done
		require.ErrorIs(t, err, context.Canceled)
		assert.Contains(t, err.Error(), pipeBase+pkgsource.IndexFile)
		assert.Equal(t, 1, requests, "no retry after the cancel")
		assert.Zero(t, time.Since(start), "no wait after the cancel")
	})
}

// TestHTTPRefusesHostileIndex serves, after a good signed index, a signed
// index naming a hostile file: it is refused, and neither the source's
// conditional-request cache nor the trust store takes it in.
func TestHTTPRefusesHostileIndex(t *testing.T) {
	r := newRepo(t, true)
	srv := newRepoServer(t, r.files)
	store := pkgsource.NewFileTrustStore(t.TempDir()+"/trust.json", pkgsource.AllowFirstUse())
	h := newTestHTTP(t, srv.base(), srv.Client(), pkgsource.WithKeys(r.pub), pkgsource.WithTrustStore(store))
	_, err := h.Packages(t.Context(), "tomcat")
	require.NoError(t, err)
	good := r.files[pkgsource.IndexFile]

	hostile := []byte(strings.Replace(indexDoc(jdkEntry(), with(tomcatEntry(), "file", "%2e%2e/%2e%2e/etc/passwd")), `"version":7`, `"version":9`, 1))
	srv.setFiles(map[string][]byte{pkgsource.IndexFile: hostile, pkgsource.SignatureFile: pkgsource.SignIndex(r.priv, hostile)})
	ps, err := h.Packages(t.Context(), "tomcat")
	require.ErrorIs(t, err, pkgsource.ErrInvalidIndex)
	assert.Nil(t, ps)
	assert.Contains(t, err.Error(), `package #2 (tomcat 10.1.34)`)
	assert.Contains(t, err.Error(), `"%2e%2e/%2e%2e/etc/passwd"`)
	v, err := store.Version(t.Context(), "http(s)://"+strings.TrimPrefix(srv.base(), "http://"))
	require.NoError(t, err)
	assert.EqualValues(t, 1, v, "the trust store is unchanged")

	srv.setFiles(map[string][]byte{pkgsource.IndexFile: good, pkgsource.SignatureFile: r.files[pkgsource.SignatureFile]})
	_, err = h.Packages(t.Context(), "tomcat")
	require.NoError(t, err)
	srv.mu.Lock()
	defer srv.mu.Unlock()
	require.Len(t, srv.ifNoneMatch, 3)
	assert.NotEmpty(t, srv.ifNoneMatch[1])
	assert.Equal(t, srv.ifNoneMatch[1], srv.ifNoneMatch[2], "the refused index did not replace the remembered one")
}

// TestHTTPSIndexURLInTheClear serves an https repository whose index
// gives a package's URL over plain http: Open refuses it without a
// request, as a redirect there would be refused.
func TestHTTPSIndexURLInTheClear(t *testing.T) {
	content := []byte("tomcat")
	var hits atomic.Int32
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Write(content)
	}))
	defer plain.Close()
	idx := `{"schema":"stackup.index/v1","version":1,"generated":"2026-01-02T03:04:05Z","packages":[{"type":"tomcat","version":"1.0.0","url":"` +
		plain.URL + `/t.tgz","sha256":"` + strings.TrimPrefix(pkgsource.Digest(content), "sha256:") + `","size":6}]}`
	repo := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, idx) }))
	defer repo.Close()
	h, err := pkgsource.NewHTTP(repo.URL+"/", repo.Client())
	require.NoError(t, err)
	ps, err := h.Packages(t.Context(), "tomcat")
	require.NoError(t, err)
	require.Len(t, ps, 1)
	_, err = h.Open(t.Context(), ps[0])
	require.ErrorIs(t, err, pkgsource.ErrUnsafePath)
	assert.ErrorContains(t, err, plain.URL+"/t.tgz is not https")
	assert.Zero(t, hits.Load(), "no request in the clear")
}
