package pkgsource

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/version"
)

// endless is a reader that never ends.
type endless struct{ reads int }

func (e *endless) Read(b []byte) (int, error) {
	e.reads++
	for i := range b {
		b[i] = 'x'
	}
	return len(b), nil
}

// TestVerifierUnsizedBound feeds a package without a size from a reader
// that never ends: the verifier stops it past the bound for unsized
// packages (made small here) with a *DigestError naming the package.
func TestVerifierUnsizedBound(t *testing.T) {
	const limit = 1000
	p := Package{Type: "tomcat", Version: version.MustParse("10.1.34"), Digest: Digest([]byte("anything"))}
	for _, tt := range []struct {
		name string
		r    func(*endless) io.Reader
	}{
		{"large reads", func(e *endless) io.Reader { return e }},
		{"one byte reads", func(e *endless) io.Reader { return iotest.OneByteReader(e) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			src := &endless{}
			v := newVerifier(io.NopCloser(tt.r(src)), p, limit)
			got, err := io.ReadAll(v)
			var de *DigestError
			require.ErrorAs(t, err, &de)
			assert.Equal(t, p.Key(), de.Package)
			assert.ErrorIs(t, err, ErrDigestMismatch)
			assert.Contains(t, err.Error(), "tomcat 10.1.34")
			assert.Contains(t, err.Error(), "more than 1000 bytes, the most read of a package without a size; give the package its size")
			assert.LessOrEqual(t, len(got), limit)
			assert.LessOrEqual(t, src.reads, limit+1, "reading stopped at the bound")
			_, again := v.Read(make([]byte, 1))
			assert.Same(t, err, again, "the error is sticky")
		})
	}

	t.Run("at the bound", func(t *testing.T) {
		content := bytes.Repeat([]byte("y"), limit)
		q := Package{Type: "tomcat", Version: version.MustParse("10.1.34"), Digest: Digest(content)}
		got, err := io.ReadAll(newVerifier(io.NopCloser(bytes.NewReader(content)), q, limit))
		require.NoError(t, err)
		assert.Equal(t, content, got)

		over := append(content, 'y')
		q.Digest = Digest(over)
		_, err = io.ReadAll(newVerifier(io.NopCloser(bytes.NewReader(over)), q, limit))
		require.ErrorIs(t, err, ErrDigestMismatch)
	})

	t.Run("a size lifts the bound", func(t *testing.T) {
		content := []byte(strings.Repeat("z", 3*limit))
		q := Package{Type: "tomcat", Version: version.MustParse("10.1.34"), Digest: Digest(content), Size: int64(len(content))}
		got, err := io.ReadAll(newVerifier(io.NopCloser(bytes.NewReader(content)), q, limit))
		require.NoError(t, err)
		assert.Equal(t, content, got)
	})
}

// TestNewVerifierBound checks that NewVerifier bounds a package without a
// size by MaxUnsizedPackage.
func TestNewVerifierBound(t *testing.T) {
	v, ok := NewVerifier(io.NopCloser(&endless{}), Package{Type: "t", Version: version.MustParse("1.0.0"), Digest: Digest(nil)}).(*verifier)
	require.True(t, ok)
	assert.EqualValues(t, MaxUnsizedPackage, v.limit)
	assert.EqualValues(t, 1<<30, MaxUnsizedPackage, "as documented")
	assert.NoError(t, v.err)
}
