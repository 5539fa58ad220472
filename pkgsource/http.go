package pkgsource

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/stackup/stackup/topology"
)

// HTTP is a package repository served over HTTP(S): the layout of Dir at a
// base URL. It fetches the index with conditional requests (ETag), so an
// unchanged index costs one small round trip; retries requests that fail
// with a 5xx status or a connection error, and a 429 that says when to
// retry (see WithRetries); bounds what it reads and how
// long each request may take; and verifies package content as Dir does.
//
// It follows a redirect only within the origin (scheme, host and port) of
// the URL it asked for, so a compromised or misconfigured server cannot
// send it to another host, or from https to http; it refuses others with a
// *RedirectError. A file name in the index reaches the server only as a
// path below the base URL (see ParseIndex); a package URL in the index of
// an https repository must be https too (ErrUnsafePath). An HTTP is safe
// for concurrent use.
type HTTP struct {
	base     *url.URL
	trustKey string // see httpTrustKey
	client   *http.Client
	opts     options

	mu    sync.Mutex
	etag  string
	index []byte // the last index body, for 304 answers
	sig   []byte
}

var (
	_ Source = (*HTTP)(nil)
	_ Opener = (*HTTP)(nil)
)

// StatusError reports an HTTP answer other than the one expected. A 404
// matches ErrNotFound.
type StatusError struct {
	URL    string // its password and query values, if any, each replaced by "xxxxx"
	Status int
	// RetryAfter is the wait the server asked for (Retry-After) with a
	// 429 or 5xx answer, or 0.
	RetryAfter time.Duration
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("pkgsource: GET %s: %d %s", e.URL, e.Status, http.StatusText(e.Status))
	if e.RetryAfter > 0 {
		msg += fmt.Sprintf("; the server asks to retry after %s", e.RetryAfter)
	}
	return msg
}

// statusError returns the StatusError of resp, an answer from u.
func statusError(u string, resp *http.Response) *StatusError {
	e := &StatusError{URL: RedactURL(u), Status: resp.StatusCode}
	if d, ok := retryAfter(resp); ok {
		e.RetryAfter = d
	}
	return e
}

// retryAfter returns the wait that a 429 or 5xx answer asks for in its
// Retry-After header: seconds, or an HTTP date.
func retryAfter(resp *http.Response) (time.Duration, bool) {
	if resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode < 500 {
		return 0, false
	}
	v := strings.TrimSpace(resp.Header.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		return time.Duration(min(secs, int64(24*time.Hour/time.Second))) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0).Round(time.Second), true
	}
	return 0, false
}

// Is reports whether target is ErrNotFound for a 404.
func (e *StatusError) Is(target error) bool {
	return target == ErrNotFound && e.Status == http.StatusNotFound
}

// DefaultRequestTimeout bounds each HTTP request when neither
// WithRequestTimeout nor the client's Timeout does: an index's request,
// headers and body, and each wait for a package's content (see
// WithRequestTimeout).
const DefaultRequestTimeout = 30 * time.Second

// DefaultMaxRetryWait is about the longest wait between two attempts of an
// HTTP request (see WithRetries).
const DefaultMaxRetryWait = 10 * time.Second

// RedirectError reports a redirect that an HTTP source refused to follow:
// to another origin, or from https to http.
type RedirectError struct {
	From, To string // the URL asked for, and where the server sent the source
	Reason   string // such as "another origin"
}

func (e *RedirectError) Error() string {
	return fmt.Sprintf("pkgsource: GET %s: refused a redirect to %q: %s; serve the repository and its files from one origin, or give the source the final URL", e.From, e.To, e.Reason)
}

// NewHTTP returns the repository at base, such as
// "https://packages.example.com/stable/", read with client (nil means
// http.DefaultClient). A base that names the index itself
// (".../stable/index.json") is refused, naming the repository's URL. NewHTTP does not change client: it reads through a
// copy that refuses redirects to other origins before asking the client's
// own CheckRedirect. Each request is bounded by WithRequestTimeout or else
// by the client's Timeout or else by DefaultRequestTimeout.
func NewHTTP(base string, client *http.Client, opts ...Option) (*HTTP, error) {
	o, err := newOptions(opts)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("pkgsource: base URL %q is not an absolute http(s) URL", RedactURL(base))
	}
	if strings.HasSuffix(u.Path, "/"+IndexFile) {
		// Taken as a repository, it would be asked for .../index.json/index.json.
		repo := *u
		repo.Path, repo.RawPath = strings.TrimSuffix(u.Path, IndexFile), ""
		return nil, fmt.Errorf("pkgsource: base URL %q names the index itself: give the repository's URL, %q", RedactURL(base), redactedURL(&repo))
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	if client == nil {
		client = http.DefaultClient
	}
	own := *client // the caller's client stays as it was
	own.CheckRedirect = sameOrigin(client.CheckRedirect)
	if o.reqTimeout == 0 && own.Timeout <= 0 { // http.Client bounds nothing then
		o.reqTimeout = DefaultRequestTimeout
	}
	return &HTTP{base: u, trustKey: httpTrustKey(u), client: &own, opts: o}, nil
}

// sameOrigin returns a CheckRedirect that refuses a redirect leaving the
// origin of the first request, then asks next (Go's default: at most 10
// redirects, when next is nil).
func sameOrigin(next func(*http.Request, []*http.Request) error) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		from := via[0].URL
		refuse := func(reason string) error {
			return &RedirectError{From: redactedURL(from), To: redactedURL(req.URL), Reason: reason}
		}
		switch {
		case from.Scheme == "https" && req.URL.Scheme != "https":
			return refuse("a downgrade from https to " + req.URL.Scheme)
		case origin(req.URL) != origin(from):
			return refuse("another origin than " + origin(from))
		case next != nil:
			return next(req, via)
		case len(via) >= 10:
			return refuse("10 redirects already")
		}
		return nil
	}
}

// origin returns u's scheme, host and port, the port given even when it is
// the scheme's default.
func origin(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[strings.ToLower(u.Scheme)]
	}
	return strings.ToLower(u.Scheme) + "://" + net.JoinHostPort(strings.ToLower(u.Hostname()), port)
}

// Index fetches, checks and returns the repository's index. An index
// older than one trusted is fetched once more before it is refused (see
// WithKeys).
func (h *HTTP) Index(ctx context.Context) (*Index, error) {
	idx, err := h.indexOnce(ctx)
	if errors.Is(err, ErrRollback) {
		idx, err = h.indexOnce(ctx)
	}
	return idx, err
}

// indexOnce is Index, once.
func (h *HTTP) indexOnce(ctx context.Context) (*Index, error) {
	h.mu.Lock()
	etag, cached, cachedSig := h.etag, h.index, h.sig
	h.mu.Unlock()

	indexURL := h.base.JoinPath(IndexFile).String()
	body, tag, notModified, err := h.fetchSmall(ctx, indexURL, etag, h.opts.maxIndex)
	if errors.Is(err, ErrNotFound) {
		return nil, &noIndexError{repo: redactedURL(h.base), reason: "GET " + IndexFile + ": 404 Not Found", err: err}
	}
	if err != nil {
		return nil, err
	}
	sig := cachedSig
	if notModified {
		body = cached
	} else if len(h.opts.keys) > 0 {
		sig, _, _, err = h.fetchSmall(ctx, h.base.JoinPath(SignatureFile).String(), "", maxSignature)
		if sig, err = readSignature(redactedURL(h.base), sig, err); err != nil {
			return nil, err
		}
	}
	idx, err := h.opts.trustedIndex(ctx, redactedURL(h.base), h.trustKey, body, sig)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	h.etag, h.index, h.sig = tag, body, sig
	h.mu.Unlock()
	return idx, nil
}

// Packages implements Source.
func (h *HTTP) Packages(ctx context.Context, typ string) ([]Package, error) {
	idx, err := h.Index(ctx)
	if err != nil {
		return nil, err
	}
	return idx.byType(typ), nil
}

// Open implements Opener: it fetches p's content, from its URL or from its
// file name under the base URL, and returns a reader that verifies p's
// digest and size (see NewVerifier). A file name must be local: no
// absolute path and no "..". It asks for the content as stored
// (Accept-Encoding: identity) and does not decode it, whatever
// Content-Encoding the server gives: the digest is of the stored file.
func (h *HTTP) Open(ctx context.Context, p Package) (io.ReadCloser, error) {
	target, err := h.resolve(p.Location)
	if err != nil {
		return nil, &PackageError{Package: p.Key(), Err: err}
	}
	// The content as stored, which the digest is of: a .tar.gz served
	// with "Content-Encoding: gzip" (as "AddEncoding gzip .gz" does) is
	// not unpacked on the way.
	resp, cancel, err := h.get(ctx, target, "", true, nil)
	// get has bounded the body by the time between reads: a JDK of 200 MB
	// may take minutes to come.
	if err != nil {
		return nil, &PackageError{Package: p.Key(), Err: err}
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		cancel()
		return nil, &PackageError{Package: p.Key(), Err: statusError(target, resp)}
	}
	body := &namedBody{ReadCloser: resp.Body, url: RedactURL(target), length: resp.ContentLength}
	return NewVerifier(&cancelOnClose{ReadCloser: body, cancel: cancel}, p), nil
}

// RedactURL returns raw as errors show it: a URL with its password, and
// the value of every query parameter (which may be a token, such as
// "?token=…"), replaced by "xxxxx". A URL that cannot be parsed shows its
// scheme only if it may hold either all the same (an "@" or a "?").
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		if scheme, rest, isURL := strings.Cut(raw, "://"); isURL && strings.ContainsAny(rest, "@?") {
			return topology.Printable(scheme) + "://… (not shown: not a valid URL)"
		}
		return raw
	}
	if u.User == nil && u.RawQuery == "" {
		return raw
	}
	return redactedURL(u)
}

// redactedURL is u as RedactURL shows it.
func redactedURL(u *url.URL) string {
	if u.RawQuery != "" {
		c := *u
		q := c.Query()
		for k := range q {
			q[k] = []string{"xxxxx"}
		}
		c.RawQuery = q.Encode()
		u = &c
	}
	return u.Redacted()
}

// namedBody is a response body whose read errors name its URL (unless
// url is empty, where the caller names it) and say how much was read, and
// that a body ending early was cut short.
type namedBody struct {
	io.ReadCloser
	url    string
	length int64 // the Content-Length, or -1
	n      int64
}

func (b *namedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	switch {
	case err == nil, err == io.EOF:
		return n, err
	case errors.Is(err, io.ErrUnexpectedEOF) && b.length >= 0:
		err = fmt.Errorf("body cut short after %d of %d bytes: %w", b.n, b.length, err)
	case errors.Is(err, io.ErrUnexpectedEOF):
		err = fmt.Errorf("body cut short after %d bytes: %w", b.n, err)
	default:
		err = fmt.Errorf("reading the body after %d bytes: %w", b.n, err)
	}
	if b.url != "" {
		err = fmt.Errorf("GET %s: %w", b.url, err)
	}
	return n, err
}

// resolve returns the URL of a package's location: its own URL, or its file
// name under the base URL. An https repository's packages come over
// https, as its redirects must: an index cannot send a request in the
// clear.
func (h *HTTP) resolve(location string) (string, error) {
	if isURL(location) {
		if h.base.Scheme == "https" && !strings.HasPrefix(location, "https://") {
			return "", fmt.Errorf("%w: %s is not https, as the repository %s is: serve the package over https", ErrUnsafePath, RedactURL(location), redactedURL(h.base))
		}
		return location, nil
	}
	if err := checkFileName(location); err != nil {
		return "", err
	}
	u := h.base.JoinPath(location)
	if u.Host != h.base.Host || !strings.HasPrefix(u.EscapedPath(), h.base.EscapedPath()) || u.EscapedPath() == h.base.EscapedPath() {
		return "", fmt.Errorf("%w: %q leads outside the repository to %s", ErrUnsafePath, location, redactedURL(u))
	}
	return u.String(), nil
}

// decoded returns the body of resp, a document the source asked for in any
// encoding: as it is, or unpacked when the server sent it gzip-compressed
// although the client did not ask for it, as a CDN serving objects stored
// compressed does, or a client whose transport does not decompress
// (DisableCompression). The limit of the caller bounds what it unpacks.
// Another compression, which it cannot unpack, is a permanent error that
// names it.
func decoded(resp *http.Response) (io.ReadCloser, error) {
	enc := strings.ToLower(strings.TrimSpace(resp.Header.Get("Content-Encoding")))
	switch {
	case resp.Uncompressed, enc == "", enc == "identity":
		return io.NopCloser(resp.Body), nil
	case enc == "gzip", enc == "x-gzip":
		zr, err := gzip.NewReader(resp.Body)
		if errors.Is(err, gzip.ErrHeader) {
			return nil, notGzip(err)
		}
		if err != nil {
			return nil, fmt.Errorf("the body, sent with Content-Encoding %q, is not gzip: %w", enc, err)
		}
		return zr, nil
	}
	return nil, backoff.Permanent(fmt.Errorf("the server sent the body compressed with Content-Encoding %s, which the source cannot unpack: serve it uncompressed or gzip-compressed",
		topology.Quote(enc)))
}

// notGzip returns err, an error reading a body, as a permanent error
// that says what the server does wrong when the body, sent as gzip, does
// not begin as gzip does (gzip.ErrHeader): asking again would get the
// same answer. Other errors it returns as they are.
func notGzip(err error) error {
	if !errors.Is(err, gzip.ErrHeader) {
		return err
	}
	return backoff.Permanent(fmt.Errorf(`the body is not gzip-compressed, though sent with "Content-Encoding: gzip" (%w): serve it without that header, or compressed as it says`, err))
}

// fetchSmall GETs a document of at most limit bytes. With etag set, a 304
// answer gives notModified.
func (h *HTTP) fetchSmall(ctx context.Context, u, etag string, limit int64) (body []byte, tag string, notModified bool, err error) {
	// The body is read within the attempt, so that a connection cut
	// while it is read is retried as one cut before the answer is.
	readOK := func(resp *http.Response) error {
		if resp.StatusCode != http.StatusOK {
			return nil
		}
		// A body that ends before its Content-Length says so, and how
		// much came, rather than "unexpected EOF"; get names the URL.
		resp.Body = &namedBody{ReadCloser: resp.Body, length: resp.ContentLength}
		r, err := decoded(resp)
		if err != nil {
			return err
		}
		defer r.Close()
		body, err = io.ReadAll(io.LimitReader(r, limit+1))
		return notGzip(err) // the client's transport unpacks what it asked to have compressed
	}
	resp, cancel, err := h.get(ctx, u, etag, false, readOK)
	if err != nil {
		return nil, "", false, err
	}
	defer cancel()
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotModified && etag != "":
		return nil, etag, true, nil
	case resp.StatusCode != http.StatusOK:
		return nil, "", false, statusError(u, resp)
	}
	if int64(len(body)) > limit {
		return nil, "", false, &IndexError{Err: indexTooLarge(RedactURL(u), limit)}
	}
	tag = resp.Header.Get("ETag")
	if len(tag) > maxETag {
		tag = "" // sent back, it could make every later request too large to be served
	}
	return body, tag, false, nil
}

// maxETag is the longest ETag kept for a conditional request; a longer
// one is not sent back, and the next request asks for the whole index.
const maxETag = 1 << 10

// get sends a GET, retrying on connection errors and 5xx answers (the
// last 5xx answer is returned as it is) after waits drawn by
// h.opts.newBackoff. With content, it asks for a package's content: as
// stored ("Accept-Encoding: identity"), which the client then does not
// decode whatever its Content-Encoding, and with the request timeout
// bounding each wait for data (the headers, then each read of the body)
// rather than the whole transfer. With read, it reads the body of each
// answer within its attempt, and retries when read fails as it retries a
// connection error. The caller must close the body and then call cancel.
func (h *HTTP) get(ctx context.Context, u, etag string, content bool, read func(*http.Response) error) (*http.Response, context.CancelFunc, error) {
	type answer struct {
		resp   *http.Response
		cancel context.CancelFunc
	}
	tries := 0
	attempt := func() (answer, error) {
		tries++
		rctx, cancel := context.WithCancel(ctx) // the client's Timeout bounds it
		var idle *idleTimer
		switch {
		case h.opts.reqTimeout > 0 && content:
			rctx, idle = newIdleTimer(ctx, h.opts.reqTimeout)
			cancel = idle.stop
		case h.opts.reqTimeout > 0:
			rctx, cancel = context.WithTimeout(ctx, h.opts.reqTimeout)
		}
		req, err := http.NewRequestWithContext(rctx, http.MethodGet, u, nil)
		if err != nil {
			cancel()
			return answer{}, backoff.Permanent(err)
		}
		if etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		if content {
			req.Header.Set("Accept-Encoding", "identity")
		}
		resp, err := h.client.Do(req)
		if ue, ok := errors.AsType[*url.Error](err); ok {
			ue.URL = RedactURL(ue.URL) // the client hides a password, not a token
		}
		var redirect *RedirectError
		switch {
		case errors.As(err, &redirect):
			cancel()
			return answer{}, backoff.Permanent(redirect)
		case err != nil:
			cancel()
			if ctx.Err() != nil {
				return answer{}, backoff.Permanent(err)
			}
			return answer{}, err
		}
		wait, asked := retryAfter(resp)
		switch {
		case asked && wait > DefaultMaxRetryWait:
			// Asked not to come back before long: not at once either.
			return answer{resp, cancel}, backoff.Permanent(errAnswered)
		case (resp.StatusCode >= 500 || asked) && tries <= h.opts.retries && ctx.Err() == nil:
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
			resp.Body.Close()
			cancel()
			err := error(statusError(u, resp))
			if asked {
				err = errors.Join(err, &backoff.RetryAfterError{Duration: wait})
			}
			return answer{}, err
		}
		if read != nil {
			if err := read(resp); err != nil {
				resp.Body.Close()
				cancel()
				if ctx.Err() != nil {
					return answer{}, backoff.Permanent(err)
				}
				return answer{}, err
			}
		}
		if idle != nil {
			idle.touch()
			resp.Body = &idleBody{ReadCloser: resp.Body, idle: idle}
		}
		return answer{resp, cancel}, nil
	}
	a, err := backoff.Retry(ctx, attempt,
		backoff.WithBackOff(h.opts.newBackoff()),
		backoff.WithMaxTries(uint(h.opts.retries)+1),
		backoff.WithMaxElapsedTime(0)) // the tries and the request timeout bound it
	var redirect *RedirectError
	switch {
	case errors.Is(err, errAnswered):
		return a.resp, a.cancel, nil
	case errors.As(err, &redirect):
		return nil, nil, redirect
	case err != nil:
		return nil, nil, fmt.Errorf("pkgsource: GET %s: %w", RedactURL(u), err)
	}
	return a.resp, a.cancel, nil
}

// idleTimer cancels a request's context once no data has come for d.
type idleTimer struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	t      *time.Timer
	d      time.Duration
}

func newIdleTimer(parent context.Context, d time.Duration) (context.Context, *idleTimer) {
	ctx, cancel := context.WithCancelCause(parent)
	it := &idleTimer{ctx: ctx, cancel: cancel, d: d}
	it.t = time.AfterFunc(d, func() {
		cancel(fmt.Errorf("no data for %v (the request timeout): %w", d, context.DeadlineExceeded))
	})
	return ctx, it
}

// touch starts the wait for the next data afresh.
func (it *idleTimer) touch() { it.t.Reset(it.d) }

// stop ends the timer and the request.
func (it *idleTimer) stop() {
	it.t.Stop()
	it.cancel(context.Canceled)
}

// idleBody is a response body whose every read that brings data restarts
// its request's idle timer, and whose errors say when that timer ended it.
type idleBody struct {
	io.ReadCloser
	idle *idleTimer
}

func (b *idleBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.idle.touch()
	}
	if err != nil && err != io.EOF {
		if cause := context.Cause(b.idle.ctx); cause != nil && !errors.Is(err, cause) && errors.Is(cause, context.DeadlineExceeded) {
			err = fmt.Errorf("%w: %w", cause, err)
		}
	}
	return n, err
}

// errAnswered ends the retries of a request with the answer it got.
var errAnswered = errors.New("answered")

// cancelOnClose releases a request's context when its body is closed.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c *cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}
