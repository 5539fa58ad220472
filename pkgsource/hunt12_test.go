package pkgsource_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
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

// TestHunt12HTTPIndexCompressedWithoutHeader: an index stored
// gzip-compressed and served without "Content-Encoding: gzip" (an object
// store's object uploaded compressed without its metadata) was refused
// with "invalid character '\x1f' looking for beginning of value"; the
// error now says it is compressed and what to do.
func TestHunt12HTTPIndexCompressedWithoutHeader(t *testing.T) {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, err := zw.Write([]byte(`{"schema": "stackup.index/v1", "version": 1, "generated": "2026-11-24T10:00:00Z", "packages": []}`))
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(gz.Bytes())
	}))
	t.Cleanup(srv.Close)
	h, err := pkgsource.NewHTTP(srv.URL+"/repo/", srv.Client())
	require.NoError(t, err)
	_, err = h.Packages(context.Background(), "tomcat")
	require.ErrorIs(t, err, pkgsource.ErrInvalidIndex)
	assert.Contains(t, err.Error(), `it is gzip-compressed, not JSON: store the file uncompressed (a server may still send it compressed, with "Content-Encoding: gzip")`)
}

// TestHunt12HTTPIndexNotGzipAsSaid: a server that says "Content-Encoding:
// gzip" of an index that is not compressed (a header set for every
// .json, a proxy that adds it) made the source ask three more times for
// the same answer, and refuse it with "gzip: invalid header", saying
// neither what was wrong nor what to do; whether the client's transport
// unpacks the body or the source does. It is now asked for once, and the
// error says what the server does wrong.
func TestHunt12HTTPIndexNotGzipAsSaid(t *testing.T) {
	var asked atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		w.Header().Set("Content-Encoding", "gzip")
		_, _ = w.Write([]byte(`{"schema": "stackup.index/v1", "version": 1, "generated": "2026-11-24T10:00:00Z", "packages": []}`))
	}))
	t.Cleanup(srv.Close)
	unpacking := srv.Client()
	tr := srv.Client().Transport.(*http.Transport).Clone()
	tr.DisableCompression = true
	for name, client := range map[string]*http.Client{"transport unpacks": unpacking, "source unpacks": {Transport: tr}} {
		asked.Store(0)
		h, err := pkgsource.NewHTTP(srv.URL+"/repo/", client, pkgsource.WithRetries(3, 0))
		require.NoError(t, err)
		_, err = h.Packages(context.Background(), "tomcat")
		require.Error(t, err, name)
		assert.Contains(t, err.Error(), `the body is not gzip-compressed, though sent with "Content-Encoding: gzip"`, name)
		assert.Contains(t, err.Error(), "serve it without that header, or compressed as it says", name)
		assert.Equal(t, int32(1), asked.Load(), "%s: the same answer asked for again", name)
	}
}

// TestHunt12IndexTooLargeNamesRepository: an index larger than the limit
// was refused, of a Dir, as "invalid index: index.json is larger than 100
// bytes", naming neither the repository (in a Chain of several, which
// one?) nor the option that raises the limit; over HTTP the URL was named
// but the option was not. Both now say.
func TestHunt12IndexTooLargeNamesRepository(t *testing.T) {
	r := newRepo(t, false)
	_, err := r.openDir(t, pkgsource.WithMaxIndexSize(100)).Packages(context.Background(), "tomcat")
	require.ErrorIs(t, err, pkgsource.ErrInvalidIndex)
	var ie *pkgsource.IndexError
	require.ErrorAs(t, err, &ie)
	assert.NotEmpty(t, ie.Repo)
	assert.Contains(t, err.Error(), r.dir)
	assert.Contains(t, err.Error(), "index.json is larger than 100 bytes: if the repository holds that many packages, raise the limit (WithMaxIndexSize)")

	srv := newRepoServer(t, r.files)
	h, err := pkgsource.NewHTTP(srv.URL+srv.prefix, srv.Client(), pkgsource.WithMaxIndexSize(100))
	require.NoError(t, err)
	_, err = h.Packages(context.Background(), "tomcat")
	require.ErrorIs(t, err, pkgsource.ErrInvalidIndex)
	assert.Contains(t, err.Error(), "index.json is larger than 100 bytes: if the repository holds that many packages, raise the limit (WithMaxIndexSize)")
}

// TestHunt12IndexConflictingDigests: an index that names one file (or
// URL) for two packages with different digests or sizes contradicts
// itself: the file can match one of them at most, and the other package
// fails every install, after the plan that picked it. It was read as
// valid; it is now refused whole, naming both entries. Two packages of
// one file with the same digest and size (a bundle) are read as before.
func TestHunt12IndexConflictingDigests(t *testing.T) {
	for name, second := range map[string]map[string]any{
		"digest":     with(jdkEntry(), "file", "tomcat-10.1.34.tar.gz"),
		"size":       with(jdkEntry(), "file", "tomcat-10.1.34.tar.gz", "sha256", strings.Repeat("a", 64)),
		"url digest": with(jdkEntry(), "file", nil, "url", "https://example.com/t.tgz"),
	} {
		first := tomcatEntry()
		if name == "url digest" {
			first = with(first, "file", nil, "url", "https://example.com/t.tgz")
		}
		idx, err := pkgsource.ParseIndex([]byte(indexDoc(first, second)))
		assert.Nil(t, idx, name)
		require.ErrorIs(t, err, pkgsource.ErrInvalidIndex, name)
		var ie *pkgsource.IndexError
		require.ErrorAs(t, err, &ie, name)
		assert.Equal(t, "package #2 (jdk 21.0.2)", ie.Entry, name)
		assert.Contains(t, err.Error(), "as package #1 (tomcat 10.1.34) does, with another sha256 or size: a file has one; give each package the digest and size of the file as published", name)
	}
	idx, err := pkgsource.ParseIndex([]byte(indexDoc(tomcatEntry(), with(jdkEntry(), "file", "tomcat-10.1.34.tar.gz", "sha256", strings.Repeat("a", 64), "size", 100))))
	require.NoError(t, err)
	assert.Len(t, idx.Packages, 2)
}

// TestHunt12IndexTimeSaysWhatToWrite: an index whose "generated" or
// "expires" is not an RFC 3339 time (a space for the "T", no zone, a
// date alone, Unix seconds, as other tools write times) was refused with
// time's words alone ("parsing time ... as "2006-01-02T15:04:05Z07:00"",
// "Time.UnmarshalJSON: input is not a JSON string"), naming no field and
// not what to write.
func TestHunt12IndexTimeSaysWhatToWrite(t *testing.T) {
	for _, g := range []string{`"2026-11-24 10:00:00"`, `1732442400`, `"2026-11-24"`, `"2026-11-24T10:00:00"`, `"2026-11-24T10:00:00+0100"`} {
		_, err := pkgsource.ParseIndex([]byte(`{"schema": "stackup.index/v1", "version": 1, "generated": ` + g + `, "packages": []}`))
		require.ErrorIs(t, err, pkgsource.ErrInvalidIndex, g)
		assert.Contains(t, err.Error(), `"generated" and "expires" are RFC 3339 times, such as "2026-11-24T10:00:00Z": `, g)
	}
}

// TestHunt12SignatureLineBreakWithin: a signature file, like a key file
// (see the FuzzReadPublicKey input d324896981417ea1), has one text per
// signature, the base64 with white space around it; encoding/base64
// skips a line break within, so a signature file broken over two lines
// was read as the signature. It is now refused as malformed.
func TestHunt12SignatureLineBreakWithin(t *testing.T) {
	r := newRepo(t, true)
	_, err := r.openDir(t, pkgsource.WithKeys(r.pub)).Packages(context.Background(), "tomcat")
	require.NoError(t, err, "the signature as written")
	sig := strings.TrimSpace(string(r.files[pkgsource.SignatureFile]))
	for _, broken := range []string{sig[:40] + "\n" + sig[40:] + "\n", sig[:40] + "\r\n" + sig[40:], sig[:1] + "\r" + sig[1:]} {
		r.write(t, pkgsource.SignatureFile, []byte(broken))
		_, err := r.openDir(t, pkgsource.WithKeys(r.pub)).Packages(context.Background(), "tomcat")
		require.ErrorIs(t, err, pkgsource.ErrUntrusted, "%q", broken)
		assert.Contains(t, err.Error(), "malformed signature", "%q", broken)
	}
}
