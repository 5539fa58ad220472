package version_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/version"
)

// maxShownInput is how many bytes of an offending input a ParseError keeps,
// plus the "…" that marks the cut.
const maxShownInput = 64 + len("…")

func TestParseValid(t *testing.T) {
	tests := []struct {
		in                  string
		want                string
		major, minor, patch uint64
		pre                 string
	}{
		{in: "1.2.3", want: "1.2.3", major: 1, minor: 2, patch: 3},
		{in: "8.5", want: "8.5.0", major: 8, minor: 5},
		{in: "18.04", want: "18.4.0", major: 18, minor: 4},
		{in: "v1.2.3", want: "1.2.3", major: 1, minor: 2, patch: 3},
		{in: "7", want: "7.0.0", major: 7},
		{in: "v11", want: "11.0.0", major: 11},
		{in: "1.10.100", want: "1.10.100", major: 1, minor: 10, patch: 100},
		{in: "2.0.0-rc.1", want: "2.0.0-rc.1", major: 2, pre: "rc.1"},
		{in: "1.0.0-0", want: "1.0.0-0", major: 1, pre: "0"},
		{in: "1.0.0-alpha-1.x-y", want: "1.0.0-alpha-1.x-y", major: 1, pre: "alpha-1.x-y"},
		{in: "1.0.0+20240101", want: "1.0.0+20240101", major: 1},
		{in: "v2.0.0-rc.1+build.5", want: "2.0.0-rc.1+build.5", major: 2, pre: "rc.1"},
		{in: "3.1-beta+exp.sha.5114f85", want: "3.1.0-beta+exp.sha.5114f85", major: 3, minor: 1, pre: "beta"},
		{in: "0.0.1", want: "0.0.1", patch: 1},
		{in: "18446744073709551615.0.0", want: "18446744073709551615.0.0", major: 18446744073709551615},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			v, err := version.Parse(tt.in)
			require.NoError(t, err)
			assert.Equal(t, tt.in, v.String(), "as written")
			assert.Equal(t, tt.want, v.Canonical().String(), "canonical")
			assert.True(t, v.Same(v.Canonical()))
			assert.Equal(t, tt.in == tt.want, v == v.Canonical())
			assert.Equal(t, tt.major, v.Major(), "major")
			assert.Equal(t, tt.minor, v.Minor(), "minor")
			assert.Equal(t, tt.patch, v.Patch(), "patch")
			assert.Equal(t, tt.pre, v.Prerelease(), "prerelease")
			assert.False(t, v.IsZero())

			// The text parses back to the same value, and the canonical
			// form to the same version.
			again, err := version.Parse(v.String())
			require.NoError(t, err)
			assert.True(t, again == v, "Parse(%q) = %v, want == %v", v.String(), again, v)
			canon, err := version.Parse(tt.want)
			require.NoError(t, err)
			assert.True(t, canon == v.Canonical(), "Parse(%q) = %v, want == %v", tt.want, canon, v.Canonical())
		})
	}
}

func TestParseInvalid(t *testing.T) {
	tests := []string{
		"",
		"1.2.3.4",
		" 1.0",
		"1.0 ",
		"abc",
		"1.0.0-01",      // numeric prerelease identifier with a leading zero
		"1.0.0-rc.01",   // same, in a later identifier
		"1.0.0-rc..1",   // empty identifier
		"1.0.0-",        // empty prerelease
		"1.0.0+",        // empty metadata
		"1.0.0+build..", // empty metadata identifier
		"1.0.0-rc_1",    // '_' is not allowed
		"V1.0.0",        // only a lower-case v prefix is accepted
		"vv1.0.0",
		"-1.0.0",
		"1.x",
		"1..2",
		"1.2.",
		"18446744073709551616.0.0", // major overflows uint64
		"1.0.0\n",
		"１.2.3", // full-width digit
	}
	for _, in := range tests {
		t.Run(strconv.Quote(in), func(t *testing.T) {
			v, err := version.Parse(in)
			require.Error(t, err)
			assert.True(t, v.IsZero(), "failed Parse must return the zero Version, got %v", v)
			assert.ErrorIs(t, err, version.ErrInvalidVersion)
			assert.NotErrorIs(t, err, version.ErrInvalidConstraint)
			assert.NotErrorIs(t, err, version.ErrTooLong)

			var pe *version.ParseError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, in, pe.Input)
			assert.Equal(t, version.ErrInvalidVersion, pe.Kind)
			assert.Error(t, pe.Err, "ParseError must carry a cause")
			assert.Contains(t, err.Error(), strconv.Quote(in))
			assert.Contains(t, err.Error(), version.ErrInvalidVersion.Error())
		})
	}
}

func TestParseLength(t *testing.T) {
	// Exactly MaxLength bytes is still accepted.
	atLimit := "1.0.0-" + strings.Repeat("a", version.MaxLength-len("1.0.0-"))
	require.Len(t, atLimit, version.MaxLength)
	v, err := version.Parse(atLimit)
	require.NoError(t, err)
	assert.Equal(t, atLimit, v.String())

	tests := []struct {
		name string
		in   string
	}{
		{"one byte over", atLimit + "a"},
		{"valid but over the limit", "1.0.0+" + strings.Repeat("b", version.MaxLength)},
		{"1 MiB of digits", strings.Repeat("1", 1<<20)},
		{"1 MiB of garbage", strings.Repeat("é!", 1<<19)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Greater(t, len(tt.in), version.MaxLength)
			v, err := version.Parse(tt.in)
			require.Error(t, err)
			assert.True(t, v.IsZero())
			assert.ErrorIs(t, err, version.ErrTooLong)
			assert.ErrorIs(t, err, version.ErrInvalidVersion)

			var pe *version.ParseError
			require.ErrorAs(t, err, &pe)
			assert.LessOrEqual(t, len(pe.Input), maxShownInput, "ParseError.Input must be cut")
			assert.True(t, strings.HasSuffix(pe.Input, "…"), "cut input should end in an ellipsis: %q", pe.Input)
			assert.True(t, strings.HasPrefix(tt.in, strings.TrimSuffix(pe.Input, "…")),
				"ParseError.Input %q must be a prefix of the input", pe.Input)
			assert.Less(t, len(err.Error()), 300, "error message must not carry the whole input")
		})
	}
}

func TestZeroVersion(t *testing.T) {
	var zero version.Version
	assert.True(t, zero.IsZero())
	assert.Equal(t, "0.0.0", zero.String())
	assert.Zero(t, zero.Major())
	assert.Zero(t, zero.Minor())
	assert.Zero(t, zero.Patch())
	assert.Empty(t, zero.Prerelease())

	for _, in := range []string{"0.0.0", "v0.0.0", "0", "0.0", "00.000.0"} {
		v, err := version.Parse(in)
		require.NoError(t, err, in)
		assert.True(t, v == zero, "Parse(%q) must be == the zero Version", in)
		assert.True(t, v.IsZero(), in)
		assert.Equal(t, 0, v.Compare(zero), in)
	}

	for _, in := range []string{"0.0.1", "0.1.0", "1.0.0", "0.0.0-0", "0.0.0+build"} {
		v, err := version.Parse(in)
		require.NoError(t, err, in)
		assert.False(t, v.IsZero(), in)
		assert.False(t, v == zero, in)
	}
}

func TestCompareOrder(t *testing.T) {
	// In ascending order, no two equal; the prerelease part follows the
	// example in the Semantic Versioning 2.0.0 spec, section 11.
	ordered := []string{
		"0.0.0",
		"0.0.1",
		"0.1.0",
		"0.9.0",
		"1.0.0-0",
		"1.0.0-1",
		"1.0.0-2",
		"1.0.0-10",
		"1.0.0-alpha",
		"1.0.0-alpha.1",
		"1.0.0-alpha.beta",
		"1.0.0-beta",
		"1.0.0-beta.2",
		"1.0.0-beta.11",
		"1.0.0-rc.1",
		"1.0.0",
		"1.0.1",
		"1.2.0",
		"1.9.0",
		"1.10.0",
		"2.0.0-rc.1",
		"2.0.0",
		"10.0.0",
	}
	vs := make([]version.Version, len(ordered))
	for i, s := range ordered {
		vs[i] = version.MustParse(s)
	}
	for i := range vs {
		for j := range vs {
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			assert.Equal(t, want, vs[i].Compare(vs[j]), "%s.Compare(%s)", vs[i], vs[j])
			assert.Equal(t, i < j, vs[i].Less(vs[j]), "%s.Less(%s)", vs[i], vs[j])
		}
	}

	// Sorting a shuffled copy with Compare restores the order.
	shuffled := slices.Clone(vs)
	r := rand.New(rand.NewPCG(1, 2))
	r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	slices.SortFunc(shuffled, version.Version.Compare)
	assert.Equal(t, vs, shuffled)
}

func TestCompareBuildMetadata(t *testing.T) {
	tests := []struct {
		a, b string
	}{
		{"1.0.0+a", "1.0.0+b"},
		{"1.0.0+a", "1.0.0"},
		{"1.0.0-rc.1+a", "1.0.0-rc.1+b.2"},
		{"0.0.0+build", "0.0.0"},
	}
	for _, tt := range tests {
		t.Run(tt.a+" vs "+tt.b, func(t *testing.T) {
			a, b := version.MustParse(tt.a), version.MustParse(tt.b)
			assert.Equal(t, 0, a.Compare(b), "build metadata must not take part in Compare")
			assert.Equal(t, 0, b.Compare(a))
			assert.False(t, a.Less(b))
			assert.False(t, b.Less(a))
			assert.False(t, a == b, "== must see build metadata")
			assert.NotEqual(t, a.String(), b.String())
		})
	}
}

// TestVersionMapKey attacks the map-key contract: versions as written are
// keys by their text, and Canonical keys hold one entry per version however
// it is written.
func TestVersionMapKey(t *testing.T) {
	m := map[version.Version]string{}
	m[version.MustParse("1.2").Canonical()] = "one-two"
	m[version.MustParse("v2.0-rc.1").Canonical()] = "rc"
	m[version.Version{}.Canonical()] = "unset"

	tests := []struct {
		lookup string
		want   string
		found  bool
	}{
		{"1.2.0", "one-two", true},
		{"v1.2.0", "one-two", true},
		{"1.2", "one-two", true},
		{"01.02", "one-two", true},
		{"v2.0-rc.1", "rc", true},
		{"2.0.0-rc.1", "rc", true},
		{"0.0.0", "unset", true},
		{"0.0", "unset", true},
		{"1.2.0+build", "", false},
		{"1.2.1", "", false},
		{"2.0.0", "", false},
		{"2.0.0-rc.2", "", false},
	}
	for _, tt := range tests {
		got, ok := m[version.MustParse(tt.lookup).Canonical()]
		assert.Equal(t, tt.found, ok, tt.lookup)
		assert.Equal(t, tt.want, got, tt.lookup)
	}

	m[version.MustParse("v1.2.0").Canonical()] = "replaced"
	assert.Len(t, m, 3, "the same version must share one canonical map entry")
	assert.Equal(t, "replaced", m[version.MustParse("1.2.0")])

	// As written, == and map keys tell spellings apart.
	written := map[version.Version]string{version.MustParse("1.2"): "short"}
	_, ok := written[version.MustParse("1.2.0")]
	assert.False(t, ok, "1.2.0 must not find the key written 1.2")
	assert.Equal(t, "short", written[version.MustParse("1.2")])
}

// TestSame checks Same against == of Canonical forms and against Compare:
// spelling does not count, build metadata does.
func TestSame(t *testing.T) {
	tests := []struct {
		a, b string
		same bool
	}{
		{"18.04", "18.4.0", true},
		{"v18.4", "18.04.0", true},
		{"8.5", "8.5.0", true},
		{"v2.1", "2.1.0", true},
		{"22.04.5", "22.4.5", true},
		{"1.0-rc.1", "1.0.0-rc.1", true},
		{"1.0+b", "v1.0.0+b", true},
		{"1.0.0+a", "1.0.0+b", false},
		{"1.0.0", "1.0.0+b", false},
		{"1.0.0-rc.1", "1.0.0", false},
		{"1.0.0", "1.0.1", false},
		{"0.0", "0.0.0", true},
	}
	for _, tt := range tests {
		t.Run(tt.a+"~"+tt.b, func(t *testing.T) {
			a, b := version.MustParse(tt.a), version.MustParse(tt.b)
			assert.Equal(t, tt.same, a.Same(b))
			assert.Equal(t, tt.same, b.Same(a))
			assert.Equal(t, tt.same, a.Canonical() == b.Canonical())
			assert.Equal(t, tt.same, a.CompareStrict(b) == 0 || a.Canonical().CompareStrict(b.Canonical()) == 0)
			if tt.same {
				assert.Zero(t, a.Compare(b))
				assert.Equal(t, tt.a == tt.b || tt.a == "0.0", a == b, "== means written the same")
			}
			if !a.IsZero() {
				assert.Equal(t, tt.a, a.String(), "printed as written")
			}
		})
	}
}

// TestCompareStrictTotal sorts spellings and metadata variants of one
// version and checks that CompareStrict is a total order in which the
// versions that are Same sit together.
func TestCompareStrictTotal(t *testing.T) {
	in := []string{"18.4.0", "18.04+b", "18.04", "v18.4", "18.4.0+a", "18.4.0+b", "18.3", "18.5", "18.4.0-rc.1", "18.04-rc.1"}
	vs := make([]version.Version, len(in))
	for i, s := range in {
		vs[i] = version.MustParse(s)
	}
	for range 20 {
		rand.Shuffle(len(vs), func(i, j int) { vs[i], vs[j] = vs[j], vs[i] })
		got := slices.Clone(vs)
		slices.SortFunc(got, version.Version.CompareStrict)
		var text []string
		for _, v := range got {
			text = append(text, v.String())
		}
		assert.Equal(t, []string{"18.3", "18.04-rc.1", "18.4.0-rc.1", "18.04", "18.4.0", "v18.4", "18.4.0+a", "18.04+b", "18.4.0+b", "18.5"}, text)
	}
	for _, a := range vs {
		for _, b := range vs {
			assert.Equal(t, a == b, a.CompareStrict(b) == 0, "%s %s", a, b)
			assert.Equal(t, -a.CompareStrict(b), b.CompareStrict(a), "%s %s", a, b)
		}
	}
}

// TestCanonicalFastPath checks the allocation-free test for canonical text
// against the plain way (build the canonical text and compare), and that a
// version already canonical costs no allocation.
func TestCanonicalFastPath(t *testing.T) {
	for _, s := range []string{"1.2.3", "1.2", "v1.2.3", "01.2.3", "1.2.3-rc.1", "1.2.3-rc.1+b.2", "1.2-rc.1+b", "1.2.3+b",
		"18446744073709551615.18446744073709551615.18446744073709551615", "v0.0.1", "0.0.0+m", "1.0.0-0", "1.00.0", "7"} {
		v := version.MustParse(s)
		plain := fmt.Sprintf("%d.%d.%d", v.Major(), v.Minor(), v.Patch())
		if p := v.Prerelease(); p != "" {
			plain += "-" + p
		}
		if m := v.Metadata(); m != "" {
			plain += "+" + m
		}
		assert.Equal(t, plain, v.Canonical().String(), s)
		assert.Equal(t, plain == s, v.Canonical() == v, s)
	}
	canon := version.MustParse("10.1.34-rc.1+b")
	assert.Zero(t, testing.AllocsPerRun(100, func() { _ = canon.Canonical() }))
	other := version.MustParse("v10.1.34-rc.1+b")
	assert.Zero(t, testing.AllocsPerRun(100, func() { _ = canon.Same(other) }))
}

func TestVersionText(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"1.2.3", "1.2.3"},
		{"v8.5", "v8.5"},
		{"18.04", "18.04"},
		{"22.04.5", "22.04.5"},
		{"2.0.0-rc.1+build.5", "2.0.0-rc.1+build.5"},
		{"0.0.0", "0.0.0"},
		{"0.0", "0.0.0"}, // the zero Version: one unset version
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			v := version.MustParse(tt.in)
			text, err := v.MarshalText()
			require.NoError(t, err)
			assert.Equal(t, tt.want, string(text))

			var got version.Version
			require.NoError(t, got.UnmarshalText(text))
			assert.True(t, got == v, "round trip gave %v, want %v", got, v)

			// UnmarshalText overwrites a non-zero receiver.
			got = version.MustParse("99.99.99")
			require.NoError(t, got.UnmarshalText([]byte(tt.in)))
			assert.True(t, got == v, "UnmarshalText(%q) gave %v, want %v", tt.in, got, v)
		})
	}
}

func TestVersionUnmarshalTextInvalid(t *testing.T) {
	for _, in := range []string{"", "bad", "1.2.3.4", "1.0.0-01", strings.Repeat("9", 1<<20)} {
		t.Run(strconv.Quote(in[:min(len(in), 16)]), func(t *testing.T) {
			orig := version.MustParse("3.4.5-rc.1+b")
			v := orig
			err := v.UnmarshalText([]byte(in))
			require.Error(t, err)
			assert.ErrorIs(t, err, version.ErrInvalidVersion)
			var pe *version.ParseError
			assert.ErrorAs(t, err, &pe)
			assert.True(t, v == orig, "receiver changed to %v on error", v)
		})
	}
}

type release struct {
	Name    string          `json:"name"`
	Version version.Version `json:"version"`
}

func TestVersionJSON(t *testing.T) {
	tests := []struct {
		v    version.Version
		json string
	}{
		{version.MustParse("v1.2"), `{"name":"x","version":"v1.2"}`},
		{version.MustParse("18.04"), `{"name":"x","version":"18.04"}`},
		{version.MustParse("2.0.0-rc.1+build.5"), `{"name":"x","version":"2.0.0-rc.1+build.5"}`},
		{version.Version{}, `{"name":"x","version":"0.0.0"}`},
	}
	for _, tt := range tests {
		t.Run(tt.v.String(), func(t *testing.T) {
			b, err := json.Marshal(release{Name: "x", Version: tt.v})
			require.NoError(t, err)
			assert.JSONEq(t, tt.json, string(b))

			var got release
			require.NoError(t, json.Unmarshal(b, &got))
			assert.True(t, got.Version == tt.v, "JSON round trip gave %v, want %v", got.Version, tt.v)
		})
	}

	t.Run("loose input", func(t *testing.T) {
		var got release
		require.NoError(t, json.Unmarshal([]byte(`{"version":"v18.04"}`), &got))
		assert.True(t, got.Version.Same(version.MustParse("18.4.0")))
		assert.Equal(t, "v18.04", got.Version.String())
	})

	t.Run("invalid", func(t *testing.T) {
		got := release{Version: version.MustParse("1.0.0")}
		err := json.Unmarshal([]byte(`{"version":"not-a-version"}`), &got)
		require.Error(t, err)
		assert.ErrorIs(t, err, version.ErrInvalidVersion)
		var pe *version.ParseError
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, "not-a-version", pe.Input)
		assert.True(t, got.Version == version.MustParse("1.0.0"), "version changed on error")
	})

	t.Run("not a string", func(t *testing.T) {
		var got release
		assert.Error(t, json.Unmarshal([]byte(`{"version":123}`), &got))
	})
}

func TestMustParse(t *testing.T) {
	assert.NotPanics(t, func() {
		assert.Equal(t, "8.5", version.MustParse("8.5").String())
	})

	for _, in := range []string{"", "bad", "1.2.3.4", strings.Repeat("1", version.MaxLength+1)} {
		t.Run(strconv.Quote(in[:min(len(in), 16)]), func(t *testing.T) {
			p := recoverPanic(func() { version.MustParse(in) })
			require.NotNil(t, p, "MustParse(%q) did not panic", in)
			err, ok := p.(error)
			require.True(t, ok, "panic value %T is not an error", p)
			assert.ErrorIs(t, err, version.ErrInvalidVersion)
		})
	}
}

func TestParseErrorUnwrap(t *testing.T) {
	cause := errors.New("some cause")
	pe := &version.ParseError{Kind: version.ErrInvalidConstraint, Input: "in", Err: cause}
	assert.ErrorIs(t, pe, version.ErrInvalidConstraint)
	assert.ErrorIs(t, pe, cause)
	assert.NotErrorIs(t, pe, version.ErrInvalidVersion)
	assert.Equal(t, `version: invalid constraint "in": some cause`, pe.Error())
}

// recoverPanic calls f and returns the value it panicked with, or nil.
func recoverPanic(f func()) (p any) {
	defer func() { p = recover() }()
	f()
	return nil
}

func TestParseRefusesWhatCannotBeParsedBack(t *testing.T) {
	// 256 bytes in, but "1.0.0-…" (260 bytes) out: refused, so that every
	// parsed Version can be parsed again from its String.
	in := "1-" + strings.Repeat("a", version.MaxLength-2)
	_, err := version.Parse(in)
	require.ErrorIs(t, err, version.ErrTooLong)

	ok := "1.0.0-" + strings.Repeat("a", version.MaxLength-6)
	v, err := version.Parse(ok)
	require.NoError(t, err)
	again, err := version.Parse(v.String())
	require.NoError(t, err)
	assert.Equal(t, v, again)
}

func TestParseErrorCutsInputAtRuneBoundary(t *testing.T) {
	in := "ab" + strings.Repeat("1", 61) + "é" + strings.Repeat("x", 10)
	_, err := version.Parse(in)
	var pe *version.ParseError
	require.ErrorAs(t, err, &pe)
	assert.True(t, utf8.ValidString(pe.Input), "%q", pe.Input)
	assert.True(t, strings.HasPrefix(in, strings.TrimSuffix(pe.Input, "…")))
}
