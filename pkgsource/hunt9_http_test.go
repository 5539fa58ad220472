package pkgsource_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/pkgsource"
)

// An index server (or a proxy before it) that promises more than it sends
// (a Content-Length larger than the body, then the connection closed, as
// a proxy that times out does) gets every retry and then an error that
// says the body was cut short and how much came, as a package's content
// does; not a bare "unexpected EOF".
func TestHunt9HTTPIndexCutShortSaysSo(t *testing.T) {
	index, _ := huntIndex(t, "tomcat-10.1.34.tar.gz", []byte("content"))
	half := len(index) / 2
	asked := make(chan struct{}, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked <- struct{}{}
		w.Header().Set("Content-Length", strconv.Itoa(len(index)))
		_, _ = w.Write(index[:half])
		w.(http.Flusher).Flush()
		if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
			conn.Close()
		}
	}))
	defer srv.Close()
	src, err := pkgsource.NewHTTP(srv.URL, nil, pkgsource.WithRetries(2, 0))
	require.NoError(t, err)
	ps, err := src.Packages(t.Context(), "tomcat")
	require.Error(t, err)
	assert.Empty(t, ps)
	assert.Len(t, asked, 3, "asked once and retried twice")
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
	assert.EqualError(t, err, "pkgsource: GET "+srv.URL+"/index.json: body cut short after "+strconv.Itoa(half)+" of "+strconv.Itoa(len(index))+" bytes: unexpected EOF")
}
