package pkgsource_test

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/pkgsource"
)

// TestHTTPOpenBodyCutShort serves a package whose body promises more
// bytes (Content-Length) than it sends before the connection closes: the
// read fails naming the package and its URL and saying it was cut short,
// whether or not the index gives the package's size.
func TestHTTPOpenBodyCutShort(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name          string
		sized, length bool // the index gives a size; the server a Content-Length
		want          string
	}{
		{"sized", true, true, "body cut short after 10 of %d bytes"},
		{"unsized", false, true, "body cut short after 10 of %d bytes"},
		{"chunked", true, false, "body cut short after 10 bytes"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sized := tt.sized
			r := newRepo(t, false)
			p := r.find(t, "tomcat", "10.1.34")
			if !sized {
				p.Size = 0
			}
			content := r.files[p.Location]
			srv := newRepoServer(t, r.files)
			srv.setHook(func(w http.ResponseWriter, _ *http.Request, name string, _ int) bool {
				if name != p.Location {
					return false
				}
				if tt.length {
					w.Header().Set("Content-Length", strconv.Itoa(len(content)+100))
				}
				_, _ = w.Write(content[:10])
				w.(http.Flusher).Flush()
				panic(http.ErrAbortHandler) // closes the connection
			})
			h := newTestHTTP(t, srv.base(), srv.Client())
			rc, err := h.Open(ctx, p)
			require.NoError(t, err)
			defer rc.Close()
			got, err := io.ReadAll(rc)
			require.ErrorIs(t, err, io.ErrUnexpectedEOF)
			assert.NotErrorIs(t, err, pkgsource.ErrDigestMismatch)
			var pe *pkgsource.PackageError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, p.Key(), pe.Package)
			assert.Contains(t, err.Error(), "tomcat 10.1.34")
			assert.Contains(t, err.Error(), srv.base()+p.Location)
			assert.Contains(t, err.Error(), strings.ReplaceAll(tt.want, "%d", strconv.Itoa(len(content)+100)))
			assert.Equal(t, content[:10], got)
		})
	}
}
