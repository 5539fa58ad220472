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

// TestRepositoryWithoutIndex reads a directory and a server that hold no
// index.json: the error names the repository and says it has no index.
func TestRepositoryWithoutIndex(t *testing.T) {
	dir := t.TempDir()
	d, err := pkgsource.NewDir(dir)
	require.NoError(t, err)
	defer d.Close()
	_, err = d.Packages(context.Background(), "tomcat")
	require.ErrorIs(t, err, pkgsource.ErrNoIndex)
	require.ErrorIs(t, err, pkgsource.ErrNotFound)
	assert.EqualError(t, err, "pkgsource: repository "+dir+": no index: index.json does not exist; publish index.json there (see WriteIndex)")

	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	h, err := pkgsource.NewHTTP(srv.URL+"/repo/", nil)
	require.NoError(t, err)
	_, err = h.Packages(context.Background(), "tomcat")
	require.ErrorIs(t, err, pkgsource.ErrNoIndex)
	require.ErrorIs(t, err, pkgsource.ErrNotFound)
	assert.EqualError(t, err, "pkgsource: repository "+srv.URL+"/repo/: no index: GET index.json: 404 Not Found; publish index.json there (see WriteIndex)")
}
