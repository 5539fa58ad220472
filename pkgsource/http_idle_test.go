package pkgsource_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/version"
)

// slowTransport answers every request with body, in chunks of ten bytes,
// each after gap, until the request's context is done.
type slowTransport struct {
	body []byte
	gap  time.Duration
}

func (st slowTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	pr, pw := io.Pipe()
	go func() {
		for i := 0; i < len(st.body); i += 10 {
			select {
			case <-time.After(st.gap):
			case <-req.Context().Done():
				pw.CloseWithError(req.Context().Err())
				return
			}
			if _, err := pw.Write(st.body[i:min(i+10, len(st.body))]); err != nil {
				return
			}
		}
		pw.Close()
	}()
	return &http.Response{StatusCode: http.StatusOK, Body: pr, ContentLength: int64(len(st.body)), Header: http.Header{}, Request: req}, nil
}

// The request timeout bounds each wait for a package's content, not the
// whole download: a package that keeps coming is not cut off however
// long it takes, and one that stalls for longer than the timeout is.
func TestHTTPOpenBoundsEachWaitNotTheDownload(t *testing.T) {
	content := bytes.Repeat([]byte("0123456789"), 4)
	p := pkgsource.Package{Type: "jdk", Version: version.MustParse("21.0.2"), Location: "jdk-21.0.2.tar.gz",
		Digest: digestOf(content), Size: int64(len(content))}
	open := func(t *testing.T, gap time.Duration) ([]byte, error) {
		src, err := pkgsource.NewHTTP("http://repo.example/", &http.Client{Transport: slowTransport{content, gap}},
			pkgsource.WithRequestTimeout(time.Minute))
		require.NoError(t, err)
		rc, err := src.Open(context.Background(), p)
		require.NoError(t, err)
		defer rc.Close()
		return io.ReadAll(rc)
	}
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		got, err := open(t, 50*time.Second)
		require.NoError(t, err, "four waits of 50s, each within the minute")
		assert.Equal(t, content, got)
		assert.Equal(t, 200*time.Second, time.Since(start), "the download outlasted the timeout (fake time)")
	})
	synctest.Test(t, func(t *testing.T) {
		_, err := open(t, 61*time.Second)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.ErrorContains(t, err, "no data for 1m0s (the request timeout)")
	})
}
