package pkgsource_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/pkgsource"
)

// A Cache given no source, as a Chain given a nil entry, says so rather
// than panicking in the caller's planner.
func TestHunt8CacheWithoutSource(t *testing.T) {
	for name, c := range map[string]*pkgsource.Cache{
		"NewCache(nil)": pkgsource.NewCache(nil, time.Minute),
		"zero Cache":    new(pkgsource.Cache),
	} {
		t.Run(name, func(t *testing.T) {
			var ps []pkgsource.Package
			var err error
			require.NotPanics(t, func() { ps, err = c.Packages(context.Background(), "tomcat") })
			assert.Nil(t, ps)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "no source")
			require.NotPanics(t, func() { _, err = c.Open(context.Background(), pkg("tomcat", "10.1.34")) })
			require.Error(t, err)
			assert.Contains(t, err.Error(), "tomcat 10.1.34")
			assert.Contains(t, err.Error(), "no source")
		})
	}
}

// A CDN serving an index stored gzip-compressed sends it with
// "Content-Encoding: gzip" whether asked or not. A client whose transport
// does not decompress (DisableCompression) then read gzip bytes as JSON:
// "invalid character '\x1f'". The source unpacks it, within the size
// limit, and the answer to a conditional request still serves.
func TestHunt8HTTPIndexSentGzipUnasked(t *testing.T) {
	index, _ := huntIndex(t, "tomcat-10.1.34.tar.gz", []byte("content"))
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write(index)
	require.NoError(t, zw.Close())
	var encoding atomic.Value
	encoding.Store("gzip")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Encoding", encoding.Load().(string))
		w.Header().Set("ETag", `"v1"`)
		if r.Header.Get("If-None-Match") == `"v1"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		_, _ = w.Write(gz.Bytes())
	}))
	defer srv.Close()
	for _, disable := range []bool{false, true} {
		t.Run(fmt.Sprint("DisableCompression ", disable), func(t *testing.T) {
			client := &http.Client{Transport: &http.Transport{DisableCompression: disable}}
			defer client.CloseIdleConnections()
			src, err := pkgsource.NewHTTP(srv.URL, client)
			require.NoError(t, err)
			for range 2 { // the second answer is a 304
				ps, err := src.Packages(context.Background(), "tomcat")
				require.NoError(t, err)
				require.Len(t, ps, 1)
				assert.Equal(t, "10.1.34", ps[0].Version.String())
			}
		})
	}
	t.Run("within the limit", func(t *testing.T) {
		client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
		defer client.CloseIdleConnections()
		src, err := pkgsource.NewHTTP(srv.URL, client, pkgsource.WithMaxIndexSize(int64(len(index)-1)))
		require.NoError(t, err)
		_, err = src.Packages(context.Background(), "tomcat")
		require.ErrorIs(t, err, pkgsource.ErrInvalidIndex)
		assert.Contains(t, err.Error(), "larger than")
	})
	t.Run("a compression it cannot unpack", func(t *testing.T) {
		encoding.Store("br")
		client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
		defer client.CloseIdleConnections()
		src, err := pkgsource.NewHTTP(srv.URL, client, pkgsource.WithRetries(0, 0))
		require.NoError(t, err)
		_, err = src.Packages(context.Background(), "tomcat")
		require.Error(t, err)
		assert.Contains(t, err.Error(), `Content-Encoding "br"`)
		assert.Contains(t, err.Error(), "serve it uncompressed or gzip-compressed")
		assert.Contains(t, err.Error(), srv.URL)
	})
}

// An expired index said only when it expired, and an index older than
// the one trusted only its version: neither said what to do, nor, for
// the first, that this host's clock may be the one that is wrong.
func TestHunt8IndexErrorsSayWhatToDo(t *testing.T) {
	ctx := context.Background()
	t.Run("expired", func(t *testing.T) {
		expires := fixedGenerated.Add(30 * 24 * time.Hour)
		r := newRepo(t, false)
		r.publishIndex(t, &pkgsource.Index{Version: 7, Generated: fixedGenerated, Expires: expires, Packages: r.pkgs}, false)
		now := expires.Add(time.Hour)
		_, err := r.openDir(t, pkgsource.WithClock(func() time.Time { return now })).Packages(ctx, "tomcat")
		require.ErrorIs(t, err, pkgsource.ErrExpired)
		assert.Contains(t, err.Error(), "expired at 2026-12-24T10:00:00Z, and this host's clock reads 2026-12-24T11:00:00Z")
		assert.Contains(t, err.Error(), "publish a fresh index (index version 7 was generated at 2026-11-24T10:00:00Z)")
		assert.Contains(t, err.Error(), "if the clock is wrong, set it right")
	})
	t.Run("rollback", func(t *testing.T) {
		r := newRepo(t, true)
		v1 := r.files[pkgsource.IndexFile]
		v1sig := r.files[pkgsource.SignatureFile]
		r.publish(t, 2, true)
		d := r.openDir(t, pkgsource.WithKeys(r.pub))
		_, err := d.Packages(ctx, "tomcat")
		require.NoError(t, err)
		r.write(t, pkgsource.IndexFile, v1)
		r.write(t, pkgsource.SignatureFile, v1sig)
		_, err = d.Packages(ctx, "tomcat")
		require.ErrorIs(t, err, pkgsource.ErrRollback)
		assert.Contains(t, err.Error(), "a mirror or cache in front of it, serves an old index; wait until it serves version 2 or later")
	})
}

// An index written by Windows PowerShell ("ConvertTo-Json > index.json")
// is UTF-16. It was refused with "invalid character 'ÿ'"; the error says
// what the file is and what to do.
func TestHunt8IndexUTF16SaysSo(t *testing.T) {
	index, _ := huntIndex(t, "tomcat-10.1.34.tar.gz", []byte("content"))
	for name, bom := range map[string][]byte{"little endian": {0xff, 0xfe}, "big endian": {0xfe, 0xff}} {
		t.Run(name, func(t *testing.T) {
			data := append([]byte(nil), bom...)
			for _, b := range index {
				if bom[0] == 0xff {
					data = append(data, b, 0)
				} else {
					data = append(data, 0, b)
				}
			}
			_, err := pkgsource.ParseIndex(data)
			require.ErrorIs(t, err, pkgsource.ErrInvalidIndex)
			assert.Contains(t, err.Error(), "is UTF-16")
			assert.Contains(t, err.Error(), "write it as UTF-8 without a byte order mark")
		})
	}
}
