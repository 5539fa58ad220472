package pkgsource

import (
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestHTTPTrustKey checks that spellings of one repository URL share a
// trust store key, so that none resets its rollback protection, and that
// other repositories do not.
func TestHTTPTrustKey(t *testing.T) {
	const want = "http(s)://example.com/stable/"
	same := []string{
		"https://example.com/stable/",
		"https://example.com/stable",
		"http://example.com/stable/",
		"HTTPS://EXAMPLE.COM/stable/",
		"https://Example.Com/stable/",
		"https://example.com:443/stable/",
		"http://example.com:80/stable/",
		"https://example.com./stable/",
		"https://example.com/./stable/",
		"https://example.com//stable//",
		"https://example.com/other/../stable/",
		"https://example.com/st%61ble/",
		"https://user:secret@example.com/stable/",
		"https://example.com/stable/?token=secret#frag",
	}
	for _, raw := range same {
		u, err := url.Parse(raw)
		require.NoError(t, err, raw)
		assert.Equal(t, want, httpTrustKey(u), raw)
	}

	others := map[string]string{
		"https://example.com:8443/stable/": "http(s)://example.com:8443/stable/",
		"https://example.com/Stable/":      "http(s)://example.com/Stable/",
		"https://example.com/stable/v2/":   "http(s)://example.com/stable/v2/",
		"https://example.org/stable/":      "http(s)://example.org/stable/",
		"https://example.com/":             "http(s)://example.com/",
		"https://example.com":              "http(s)://example.com/",
		"https://[::1]/stable/":            "http(s)://[::1]/stable/",
		"https://[::1]:8443/stable/":       "http(s)://[::1]:8443/stable/",
		"https://example.com/a%20b/":       "http(s)://example.com/a%20b/",
	}
	for raw, key := range others {
		u, err := url.Parse(raw)
		require.NoError(t, err, raw)
		assert.Equal(t, key, httpTrustKey(u), raw)
	}
}
