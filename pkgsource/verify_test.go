package pkgsource_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/version"
)

// spyReader is an io.ReadCloser that counts reads and records Close.
type spyReader struct {
	r        io.Reader
	reads    int
	closed   bool
	closeErr error
}

func (s *spyReader) Read(b []byte) (int, error) { s.reads++; return s.r.Read(b) }
func (s *spyReader) Close() error               { s.closed = true; return s.closeErr }

func verifiedPackage(content []byte) pkgsource.Package {
	return pkgsource.Package{Type: "tomcat", Version: version.MustParse("10.1.34"), Digest: pkgsource.Digest(content), Size: int64(len(content))}
}

var verifyContent = []byte(strings.Repeat("tomcat 10.1.34 bytes. ", 100))

func TestVerifierExactContent(t *testing.T) {
	tests := []struct {
		name string
		wrap func(io.Reader) io.Reader
		size bool // whether the package gives its size
	}{
		{"one read", func(r io.Reader) io.Reader { return r }, true},
		{"one byte at a time", iotest.OneByteReader, true},
		{"half reads", iotest.HalfReader, true},
		{"data with EOF", iotest.DataErrReader, true},
		{"size unknown", func(r io.Reader) io.Reader { return r }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := verifiedPackage(verifyContent)
			if !tt.size {
				p.Size = 0
			}
			v := pkgsource.NewVerifier(io.NopCloser(tt.wrap(bytes.NewReader(verifyContent))), p)
			got, err := io.ReadAll(v)
			require.NoError(t, err)
			assert.Equal(t, verifyContent, got)

			// At the end, and from then on, Read reports io.EOF itself.
			n, err := v.Read(make([]byte, 8))
			assert.Zero(t, n)
			assert.Same(t, io.EOF, err)
		})
	}
}

func TestVerifierIOTest(t *testing.T) {
	v := pkgsource.NewVerifier(io.NopCloser(bytes.NewReader(verifyContent)), verifiedPackage(verifyContent))
	assert.NoError(t, iotest.TestReader(v, verifyContent))
}

func TestVerifierMismatch(t *testing.T) {
	tampered := bytes.Clone(verifyContent)
	tampered[len(tampered)/2] ^= 1
	tests := []struct {
		name       string
		content    []byte
		reason     string
		maxOutput  int // the most bytes the caller may be handed
		failsEarly bool
	}{
		{"tampered byte", tampered, "sha256 mismatch: content hashes to " + strings.TrimPrefix(pkgsource.Digest(tampered), "sha256:") + ", " + strings.TrimPrefix(pkgsource.Digest(verifyContent), "sha256:") + " declared", len(verifyContent), false},
		{"truncated", verifyContent[:len(verifyContent)-1], "size mismatch: read 2199 bytes, 2200 declared", len(verifyContent) - 1, false},
		{"empty", nil, "size mismatch: read 0 bytes, 2200 declared", 0, false},
		{"one byte longer", append(bytes.Clone(verifyContent), 'x'), "size mismatch: more than the 2200 bytes declared", len(verifyContent), true},
		{"much longer", append(bytes.Clone(verifyContent), verifyContent...), "size mismatch: more than the 2200 bytes declared", len(verifyContent), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := verifiedPackage(verifyContent)
			require.Equal(t, int64(2200), p.Size)
			v := pkgsource.NewVerifier(io.NopCloser(iotest.OneByteReader(bytes.NewReader(tt.content))), p)

			var got []byte
			var err error
			buf := make([]byte, 1)
			for err == nil {
				var n int
				n, err = v.Read(buf)
				got = append(got, buf[:n]...)
			}
			require.NotSame(t, io.EOF, err, "a mismatch is reported in place of io.EOF")
			require.ErrorIs(t, err, pkgsource.ErrDigestMismatch)
			var de *pkgsource.DigestError
			require.ErrorAs(t, err, &de)
			assert.Equal(t, p.Key(), de.Package)
			assert.Equal(t, tt.reason, de.Reason)
			assert.Equal(t, "pkgsource: package tomcat 10.1.34: "+tt.reason, err.Error())
			assert.LessOrEqual(t, len(got), tt.maxOutput, "no byte past the size reaches the caller")
			if tt.failsEarly {
				assert.Len(t, got, len(verifyContent), "fails as soon as the content passes its size")
			}

			// The error is sticky.
			_, again := v.Read(buf)
			assert.Same(t, err, again)
		})
	}
}

func TestVerifierLongerContentFailsBeforeEOF(t *testing.T) {
	// An endless source: the verifier must stop it at the size, not wait for
	// an end that never comes.
	endless := iotest.OneByteReader(infiniteReader{})
	p := verifiedPackage([]byte("abc"))
	v := pkgsource.NewVerifier(io.NopCloser(endless), p)
	got, err := io.ReadAll(v)
	require.ErrorIs(t, err, pkgsource.ErrDigestMismatch)
	assert.Contains(t, err.Error(), "more than the 3 bytes declared")
	assert.Len(t, got, 3)
}

type infiniteReader struct{}

func (infiniteReader) Read(b []byte) (int, error) {
	for i := range b {
		b[i] = 'x'
	}
	return len(b), nil
}

func TestVerifierWithoutDigest(t *testing.T) {
	tests := []struct {
		name   string
		digest string
	}{
		{"no digest", ""},
		{"malformed digest", "sha256:" + strings.Repeat("A", 64)},
		{"other algorithm", "md5:0123456789abcdef0123456789abcdef"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := verifiedPackage(verifyContent)
			p.Digest = tt.digest
			spy := &spyReader{r: bytes.NewReader(verifyContent)}
			v := pkgsource.NewVerifier(spy, p)
			n, err := v.Read(make([]byte, 64))
			assert.Zero(t, n)
			require.ErrorIs(t, err, pkgsource.ErrDigestMismatch)
			assert.Contains(t, err.Error(), "tomcat 10.1.34")
			assert.Contains(t, err.Error(), "cannot be verified: no sha256 digest declared")
			assert.Zero(t, spy.reads, "nothing is read that cannot be verified")
		})
	}
}

func TestVerifierPassesReadErrors(t *testing.T) {
	boom := errors.New("connection reset")
	p := verifiedPackage(verifyContent)
	v := pkgsource.NewVerifier(io.NopCloser(io.MultiReader(bytes.NewReader(verifyContent[:10]), iotest.ErrReader(boom))), p)
	got, err := io.ReadAll(v)
	require.ErrorIs(t, err, boom)
	assert.NotErrorIs(t, err, pkgsource.ErrDigestMismatch)
	var pe *pkgsource.PackageError
	require.ErrorAs(t, err, &pe, "the error names the package")
	assert.Equal(t, p.Key(), pe.Package)
	assert.Contains(t, err.Error(), "tomcat 10.1.34")
	assert.Equal(t, verifyContent[:10], got)
	_, again := v.Read(make([]byte, 1))
	assert.ErrorIs(t, again, boom, "the error is sticky")
}

// TestVerifierOfVerifier reads a tampered package through two verifiers,
// as a caller verifying a source's already verified reader does: the
// error names the package once.
func TestVerifierOfVerifier(t *testing.T) {
	p := verifiedPackage(verifyContent)
	tampered := bytes.Clone(verifyContent)
	tampered[3] ^= 1
	inner := pkgsource.NewVerifier(io.NopCloser(bytes.NewReader(tampered)), p)
	_, err := io.ReadAll(pkgsource.NewVerifier(inner, p))
	var de *pkgsource.DigestError
	require.ErrorAs(t, err, &de)
	assert.Equal(t, 1, strings.Count(err.Error(), "tomcat 10.1.34"), err.Error())
}

func TestVerifierClose(t *testing.T) {
	closeErr := errors.New("close failed")
	tests := []struct {
		name string
		err  error
	}{
		{"ok", nil},
		{"error", closeErr},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spy := &spyReader{r: bytes.NewReader(verifyContent), closeErr: tt.err}
			v := pkgsource.NewVerifier(spy, verifiedPackage(verifyContent))
			assert.Equal(t, tt.err, v.Close())
			assert.True(t, spy.closed)
		})
	}
}

func TestDigest(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"", "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		{"abc", "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got := pkgsource.Digest([]byte(tt.in))
			assert.Equal(t, tt.want, got)
			p := pkgsource.Package{Type: "x", Version: version.MustParse("1"), Digest: got}
			assert.NoError(t, p.Validate(), "Digest gives the form Package.Digest uses")
		})
	}
}
