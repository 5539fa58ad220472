package pkgsource

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// HTTP is a package repository served over HTTP(S): the layout of Dir at a
// base URL. It fetches the index with conditional requests (ETag), so an
// unchanged index costs one small round trip; retries requests that fail
// with a 5xx status or a connection error; bounds what it reads; and
// verifies package content as Dir does. An HTTP is safe for concurrent use.
type HTTP struct {
	base   *url.URL
	client *http.Client
	opts   options

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
	URL    string
	Status int
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("pkgsource: GET %s: %d %s", e.URL, e.Status, http.StatusText(e.Status))
}

// Is reports whether target is ErrNotFound for a 404.
func (e *StatusError) Is(target error) bool {
	return target == ErrNotFound && e.Status == http.StatusNotFound
}

// NewHTTP returns the repository at base, such as
// "https://packages.example.com/stable/", read with client (nil means
// http.DefaultClient; set its Timeout).
func NewHTTP(base string, client *http.Client, opts ...Option) (*HTTP, error) {
	o, err := newOptions(opts)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("pkgsource: base URL %q is not an absolute http(s) URL", base)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	if client == nil {
		client = http.DefaultClient
	}
	return &HTTP{base: u, client: client, opts: o}, nil
}

// Index fetches, checks and returns the repository's index.
func (h *HTTP) Index(ctx context.Context) (*Index, error) {
	h.mu.Lock()
	etag, cached, cachedSig := h.etag, h.index, h.sig
	h.mu.Unlock()

	indexURL := h.base.JoinPath(IndexFile).String()
	body, tag, notModified, err := h.fetchSmall(ctx, indexURL, etag, h.opts.maxIndex)
	if err != nil {
		return nil, err
	}
	sig := cachedSig
	if notModified {
		body = cached
	} else if len(h.opts.keys) > 0 {
		sig, _, _, err = h.fetchSmall(ctx, h.base.JoinPath(SignatureFile).String(), "", maxSignature)
		if sig, err = readSignature(h.base.String(), sig, err); err != nil {
			return nil, err
		}
	}
	idx, err := h.opts.trustedIndex(ctx, h.base.String(), body, sig)
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
// absolute path and no "..".
func (h *HTTP) Open(ctx context.Context, p Package) (io.ReadCloser, error) {
	target, err := h.resolve(p.Location)
	if err != nil {
		return nil, &PackageError{Package: p.Key(), Err: err}
	}
	resp, cancel, err := h.get(ctx, target, "")
	if err != nil {
		return nil, &PackageError{Package: p.Key(), Err: err}
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		cancel()
		return nil, &PackageError{Package: p.Key(), Err: &StatusError{URL: target, Status: resp.StatusCode}}
	}
	return NewVerifier(&cancelOnClose{ReadCloser: resp.Body, cancel: cancel}, p), nil
}

func (h *HTTP) resolve(location string) (string, error) {
	if isURL(location) {
		return location, nil
	}
	if err := checkFileName(location); err != nil {
		return "", err
	}
	return h.base.JoinPath(location).String(), nil
}

// fetchSmall GETs a document of at most limit bytes. With etag set, a 304
// answer gives notModified.
func (h *HTTP) fetchSmall(ctx context.Context, u, etag string, limit int64) (body []byte, tag string, notModified bool, err error) {
	resp, cancel, err := h.get(ctx, u, etag)
	if err != nil {
		return nil, "", false, err
	}
	defer cancel()
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotModified && etag != "":
		return nil, etag, true, nil
	case resp.StatusCode != http.StatusOK:
		return nil, "", false, &StatusError{URL: u, Status: resp.StatusCode}
	}
	body, err = io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, "", false, fmt.Errorf("pkgsource: GET %s: %w", u, err)
	}
	if int64(len(body)) > limit {
		return nil, "", false, &IndexError{Err: fmt.Errorf("%s is larger than %d bytes", u, limit)}
	}
	return body, resp.Header.Get("ETag"), false, nil
}

// get sends a GET, retrying on connection errors and 5xx answers. The
// caller must close the body and then call cancel.
func (h *HTTP) get(ctx context.Context, u, etag string) (*http.Response, context.CancelFunc, error) {
	delay := h.opts.backoff
	for attempt := 0; ; attempt++ {
		rctx, cancel := ctx, context.CancelFunc(func() {})
		if h.opts.reqTimeout > 0 {
			rctx, cancel = context.WithTimeout(ctx, h.opts.reqTimeout)
		}
		req, err := http.NewRequestWithContext(rctx, http.MethodGet, u, nil)
		if err != nil {
			cancel()
			return nil, nil, fmt.Errorf("pkgsource: %w", err)
		}
		if etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		resp, err := h.client.Do(req)
		retry := err != nil || resp.StatusCode >= 500
		if !retry || attempt >= h.opts.retries || ctx.Err() != nil {
			if err != nil {
				cancel()
				return nil, nil, fmt.Errorf("pkgsource: GET %s: %w", u, err)
			}
			return resp, cancel, nil
		}
		if resp != nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
			resp.Body.Close()
		}
		cancel()
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
		delay *= 2
	}
}

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
