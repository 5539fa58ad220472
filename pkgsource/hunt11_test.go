package pkgsource_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/pkgsource"
)

// TestHTTPIndexIsAWebPage: a repository behind a proxy that answers with
// its login page, or with an HTML error page under 200, was refused with
// "invalid character '<' looking for beginning of value"; the error now
// says that the index is a web page, and is still an ErrInvalidIndex.
func TestHTTPIndexIsAWebPage(t *testing.T) {
	for _, page := range []string{
		"<!DOCTYPE html>\n<html><body>Please log in</body></html>",
		"\n  <?xml version=\"1.0\"?><error>proxy</error>",
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			_, _ = w.Write([]byte(page))
		}))
		t.Cleanup(srv.Close)
		h, err := pkgsource.NewHTTP(srv.URL+"/repo/", srv.Client())
		require.NoError(t, err)
		_, err = h.Packages(context.Background(), "tomcat")
		require.ErrorIs(t, err, pkgsource.ErrInvalidIndex)
		assert.Contains(t, err.Error(), "it holds markup (HTML or XML), not JSON: a web page")
	}
	_, err := pkgsource.ParseIndex([]byte(`{"schema": <x>}`)) // markup inside JSON is a JSON error as before
	require.ErrorIs(t, err, pkgsource.ErrInvalidIndex)
	assert.NotContains(t, err.Error(), "markup")
}
