package pkgsource_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/version"
)

const goodDigest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// validPackage returns a fully populated, valid package.
func validPackage() pkgsource.Package {
	return pkgsource.Package{
		Type:    "tomcat",
		Version: version.MustParse("10.1.18"),
		From:    version.MustParseConstraint(">=9.0, <10.1.18"),
		Requires: []pkgsource.Requirement{
			{Type: "jvm", Constraint: version.MustParseConstraint(">=11")},
			{Type: "os"},
		},
		Location: "tomcat-10.1.18.tar.gz",
		Digest:   goodDigest,
		Size:     1234,
	}
}

func TestValidateValid(t *testing.T) {
	tests := []struct {
		name string
		pkg  pkgsource.Package
	}{
		{"full", validPackage()},
		{"minimal", pkgsource.Package{Type: "tomcat", Version: version.MustParse("1.0.0")}},
		{"prerelease", pkgsource.Package{Type: "tomcat", Version: version.MustParse("11.0.0-M1")}},
		{"zero size", func() pkgsource.Package { p := validPackage(); p.Size = 0; return p }()},
		{"no digest", func() pkgsource.Package { p := validPackage(); p.Digest = ""; return p }()},
		{"no requires", func() pkgsource.Package { p := validPackage(); p.Requires = nil; return p }()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.NoError(t, tt.pkg.Validate())
		})
	}
}

func TestValidateInvalid(t *testing.T) {
	mod := func(f func(p *pkgsource.Package)) pkgsource.Package {
		p := validPackage()
		f(&p)
		return p
	}
	tests := []struct {
		name    string
		pkg     pkgsource.Package
		wantMsg string // fragment of the reason
	}{
		{"no type", mod(func(p *pkgsource.Package) { p.Type = "" }), "no type"},
		{"zero version", mod(func(p *pkgsource.Package) { p.Version = version.Version{} }), "no version"},
		{"explicit 0.0.0 version", mod(func(p *pkgsource.Package) { p.Version = version.MustParse("0.0.0") }), "no version"},
		{"uppercase hex digest", mod(func(p *pkgsource.Package) { p.Digest = "sha256:" + strings.ToUpper(goodDigest[7:]) }), "digest"},
		{"short digest", mod(func(p *pkgsource.Package) { p.Digest = goodDigest[:len(goodDigest)-1] }), "digest"},
		{"long digest", mod(func(p *pkgsource.Package) { p.Digest = goodDigest + "0" }), "digest"},
		{"digest with trailing newline", mod(func(p *pkgsource.Package) { p.Digest = goodDigest + "\n" }), "digest"},
		{"md5 digest", mod(func(p *pkgsource.Package) { p.Digest = "md5:0123456789abcdef0123456789abcdef" }), "digest"},
		{"bare hex digest", mod(func(p *pkgsource.Package) { p.Digest = goodDigest[7:] }), "digest"},
		{"uppercase algorithm", mod(func(p *pkgsource.Package) { p.Digest = "SHA256:" + goodDigest[7:] }), "digest"},
		{"non-hex digest", mod(func(p *pkgsource.Package) { p.Digest = "sha256:" + strings.Repeat("g", 64) }), "digest"},
		{"negative size", mod(func(p *pkgsource.Package) { p.Size = -1 }), "negative size -1"},
		{"first requirement without type", mod(func(p *pkgsource.Package) { p.Requires[0].Type = "" }), "requirement #1"},
		{"second requirement without type", mod(func(p *pkgsource.Package) { p.Requires[1].Type = "" }), "requirement #2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.pkg.Validate()
			require.Error(t, err)
			assert.ErrorIs(t, err, pkgsource.ErrInvalid)
			assert.NotErrorIs(t, err, pkgsource.ErrNotFound)
			assert.NotErrorIs(t, err, pkgsource.ErrDigestMismatch)

			var pe *pkgsource.PackageError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, tt.pkg.Type, pe.Package.Type)
			assert.True(t, tt.pkg.Version == pe.Package.Version, "key version %s, want %s", pe.Package.Version, tt.pkg.Version)
			assert.Equal(t, tt.pkg.Key(), pe.Package)
			assert.ErrorIs(t, pe.Unwrap(), pkgsource.ErrInvalid)

			msg := err.Error()
			assert.Contains(t, msg, tt.pkg.Type+" "+tt.pkg.Version.String())
			assert.Contains(t, msg, tt.pkg.String())
			assert.Contains(t, msg, tt.wantMsg)
		})
	}
}

func TestPackageErrorMessage(t *testing.T) {
	p := pkgsource.Package{Type: "tomcat", Version: version.MustParse("10.1.18"), Size: -5}
	err := p.Validate()
	require.Error(t, err)
	assert.Equal(t, "pkgsource: package tomcat 10.1.18: invalid package: negative size -5: give the content's length in bytes, or 0 when unknown", err.Error())
}

func TestKeyAndString(t *testing.T) {
	tests := []struct {
		name string
		pkg  pkgsource.Package
		want string
	}{
		{"release", pkgsource.Package{Type: "tomcat", Version: version.MustParse("10.1.18")}, "tomcat 10.1.18"},
		{"loose version", pkgsource.Package{Type: "ubuntu", Version: version.MustParse("18.04")}, "ubuntu 18.04"},
		{"prerelease", pkgsource.Package{Type: "jvm", Version: version.MustParse("v21.0.0-rc.1")}, "jvm v21.0.0-rc.1"},
		{"zero version", pkgsource.Package{Type: "jvm"}, "jvm 0.0.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.pkg.String())
			assert.Equal(t, tt.want, tt.pkg.Key().String())
			assert.Equal(t, tt.pkg.Type, tt.pkg.Key().Type)
			assert.True(t, tt.pkg.Version == tt.pkg.Key().Version)
		})
	}
}

func TestKeyAsMapKey(t *testing.T) {
	a := validPackage()
	// Same type and version, everything else different; version parsed
	// from a different spelling.
	b := pkgsource.Package{Type: "tomcat", Version: version.MustParse("v10.1.18"), Location: "elsewhere"}
	c := pkgsource.Package{Type: "tomcat", Version: version.MustParse("10.1.19")}
	d := pkgsource.Package{Type: "jetty", Version: version.MustParse("10.1.18")}

	assert.True(t, a.Key().Same(b.Key()), "equal type and version must give the same keys")
	assert.False(t, a.Key() == b.Key(), "== means written the same")
	assert.False(t, a.Key().Same(c.Key()))
	assert.False(t, a.Key().Same(d.Key()))
	assert.Equal(t, "tomcat v10.1.18", b.Key().String(), "a key prints its version as written")

	// Keyed by the canonical version, a map holds one entry per package.
	canonical := func(k pkgsource.Key) pkgsource.Key {
		return pkgsource.Key{Type: k.Type, Version: k.Version.Canonical()}
	}
	m := map[pkgsource.Key]int{}
	for _, p := range []pkgsource.Package{a, b, c, d} {
		m[canonical(p.Key())]++
	}
	assert.Len(t, m, 3)
	assert.Equal(t, 2, m[pkgsource.Key{Type: "tomcat", Version: version.MustParse("10.1.18")}])
	assert.Equal(t, 1, m[c.Key()])
	assert.Equal(t, 1, m[d.Key()])
}

func TestSourceFunc(t *testing.T) {
	var _ pkgsource.Source = pkgsource.SourceFunc(nil)

	type ctxKey struct{}
	want := []pkgsource.Package{validPackage()}
	wantErr := errors.New("boom")
	var gotTyp string
	var gotVal any
	src := pkgsource.SourceFunc(func(ctx context.Context, typ string) ([]pkgsource.Package, error) {
		gotTyp = typ
		gotVal = ctx.Value(ctxKey{})
		return want, wantErr
	})
	var s pkgsource.Source = src

	ctx := context.WithValue(context.Background(), ctxKey{}, "marker")
	got, err := s.Packages(ctx, "tomcat")
	assert.Same(t, wantErr, err)
	assert.Equal(t, "tomcat", gotTyp)
	assert.Equal(t, "marker", gotVal)
	require.Len(t, got, 1)
	assert.Same(t, &want[0], &got[0], "SourceFunc must return the func's slice unchanged")
}

func TestPackageJSONMarshal(t *testing.T) {
	tests := []struct {
		name string
		pkg  pkgsource.Package
		want string
	}{
		{
			name: "minimal omits optional fields",
			pkg:  pkgsource.Package{Type: "tomcat", Version: version.MustParse("10.1.18")},
			want: `{"type":"tomcat","version":"10.1.18"}`,
		},
		{
			name: "empty requires omitted",
			pkg:  pkgsource.Package{Type: "tomcat", Version: version.MustParse("10.1.18"), Requires: []pkgsource.Requirement{}},
			want: `{"type":"tomcat","version":"10.1.18"}`,
		},
		{
			name: "canonical version string",
			pkg:  pkgsource.Package{Type: "ubuntu", Version: version.MustParse("v18.04")},
			want: `{"type":"ubuntu","version":"v18.04"}`, // as written
		},
		{
			name: "full",
			pkg:  validPackage(),
			want: `{"type":"tomcat","version":"10.1.18","from":">=9.0, <10.1.18",` +
				`"requires":[{"type":"jvm","constraint":">=11"},{"type":"os","constraint":""}],` +
				`"location":"tomcat-10.1.18.tar.gz","digest":"` + goodDigest + `","size":1234}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.pkg)
			require.NoError(t, err)
			assert.JSONEq(t, tt.want, string(b))

			var raw map[string]any
			require.NoError(t, json.Unmarshal(b, &raw))
			assert.IsType(t, "", raw["version"], "version must marshal as a string")
		})
	}
}

func TestPackageJSONRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		pkg  pkgsource.Package
	}{
		{"minimal", pkgsource.Package{Type: "tomcat", Version: version.MustParse("10.1.18")}},
		{"full", validPackage()},
		{"prerelease and metadata", pkgsource.Package{
			Type:    "jvm",
			Version: version.MustParse("21.0.0-rc.1+build.5"),
			From:    version.MustParseConstraint("^17 || ~21.0.0-0"),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.pkg)
			require.NoError(t, err)
			var got pkgsource.Package
			require.NoError(t, json.Unmarshal(b, &got))

			assert.Equal(t, tt.pkg.Type, got.Type)
			assert.True(t, tt.pkg.Version == got.Version, "version %s, want %s", got.Version, tt.pkg.Version)
			assert.Equal(t, tt.pkg.From.String(), got.From.String())
			assert.Equal(t, tt.pkg.From.IsZero(), got.From.IsZero())
			require.Len(t, got.Requires, len(tt.pkg.Requires))
			for i, r := range tt.pkg.Requires {
				assert.Equal(t, r.Type, got.Requires[i].Type)
				assert.Equal(t, r.Constraint.String(), got.Requires[i].Constraint.String())
				assert.Equal(t, r.Constraint.IsZero(), got.Requires[i].Constraint.IsZero())
			}
			assert.Equal(t, tt.pkg.Location, got.Location)
			assert.Equal(t, tt.pkg.Digest, got.Digest)
			assert.Equal(t, tt.pkg.Size, got.Size)
			assert.True(t, tt.pkg.Key() == got.Key())
			assert.NoError(t, got.Validate())
		})
	}
}

func TestPackageJSONUnmarshalInvalid(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantErr error
	}{
		{"bad version", `{"type":"tomcat","version":"ten"}`, version.ErrInvalidVersion},
		{"bad from", `{"type":"tomcat","version":"10.1.18","from":">>>1"}`, version.ErrInvalidConstraint},
		{"bad requirement constraint", `{"type":"tomcat","version":"10.1.18","requires":[{"type":"jvm","constraint":"=>=1 ?"}]}`, version.ErrInvalidConstraint},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p pkgsource.Package
			assert.ErrorIs(t, json.Unmarshal([]byte(tt.in), &p), tt.wantErr)
		})
	}
}
