package pkgsource_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/pkgsource"
)

// TestHunt12IndexURLErrorHidesSecrets: an index entry whose url is
// refused (credentials in it, or another scheme than http and https) was
// named in the error as written, password and token included, into every
// log that records the error; it is now shown as RedactURL shows URLs.
func TestHunt12IndexURLErrorHidesSecrets(t *testing.T) {
	for _, u := range []string{
		"https://mirror:s3cret@example.com/tomcat.tgz",
		"ftp://example.com/tomcat.tgz?token=s3cret",
		"ftp://mirror:s3cret@example.com/tomcat.tgz",
	} {
		index := `{"schema": "stackup.index/v1", "version": 1, "generated": "2026-11-24T10:00:00Z", "packages": [
			{"type": "tomcat", "version": "10.1.34", "url": "` + u + `", "sha256": "` + strings.Repeat("a", 64) + `", "size": 10}]}`
		_, err := pkgsource.ParseIndex([]byte(index))
		require.ErrorIs(t, err, pkgsource.ErrInvalidIndex, u)
		assert.Contains(t, err.Error(), "is not an absolute http(s) URL without credentials", u)
		assert.Contains(t, err.Error(), "xxxxx", u)
		assert.NotContains(t, err.Error(), "s3cret", u)
	}
}
