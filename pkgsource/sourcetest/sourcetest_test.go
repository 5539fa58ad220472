package sourcetest_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/pkgsource/sourcetest"
	"github.com/stackup/stackup/version"
)

// content holds the package files of the test sources.
var content = map[string][]byte{
	"tomcat-10.1.34.tar.gz": []byte("tomcat 10.1.34\n"),
	"tomcat-9.0.98.tar.gz":  []byte("tomcat 9.0.98\n"),
	"jdk-21.0.2.tar.gz":     []byte("jdk 21.0.2\n"),
}

func packageOf(typ, v string) pkgsource.Package {
	loc := typ + "-" + v + ".tar.gz"
	return pkgsource.Package{
		Type:     typ,
		Version:  version.MustParse(v),
		From:     version.MustParseConstraint(">=1"),
		Requires: []pkgsource.Requirement{{Type: "os", Constraint: version.MustParseConstraint(">=20.04")}},
		Location: loc,
		Digest:   pkgsource.Digest(content[loc]),
		Size:     int64(len(content[loc])),
	}
}

func expected() []pkgsource.Package {
	return []pkgsource.Package{packageOf("tomcat", "10.1.34"), packageOf("tomcat", "9.0.98"), packageOf("jdk", "21.0.2")}
}

// fake is a configurable Source and Opener, correct unless told otherwise.
type fake struct {
	pkgs      []pkgsource.Package
	shared    bool                                             // return the same slice every time
	shallow   bool                                             // copy the list, but share each package's Requires
	ignoreCtx bool                                             // answer on a cancelled context
	vary      bool                                             // answers after the second differ
	extra     func(typ string) []pkgsource.Package             // appended to each answer
	drop      func(p pkgsource.Package) bool                   // left out of answers
	alter     func(p pkgsource.Package) pkgsource.Package      // applied to each package listed
	open      func(p pkgsource.Package) (io.ReadCloser, error) // replaces the verifying Open

	mu      sync.Mutex
	answers map[string]int                 // per type
	slices  map[string][]pkgsource.Package // per type, when shared
}

func (f *fake) Packages(ctx context.Context, typ string) ([]pkgsource.Package, error) {
	if !f.ignoreCtx {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.answers == nil {
		f.answers, f.slices = map[string]int{}, map[string][]pkgsource.Package{}
	}
	f.answers[typ]++
	n := f.answers[typ]
	if f.shared {
		if _, ok := f.slices[typ]; !ok {
			f.slices[typ] = f.list(typ)
		}
		return f.slices[typ], nil
	}
	out := f.list(typ)
	if f.vary && n > 2 {
		out = append(out, pkgsource.Package{Type: typ, Version: version.MustParse(fmt.Sprintf("100.0.%d", n))})
	}
	return out, nil
}

func (f *fake) list(typ string) []pkgsource.Package {
	var out []pkgsource.Package
	for _, p := range f.pkgs {
		if p.Type != typ || (f.drop != nil && f.drop(p)) {
			continue
		}
		if !f.shallow {
			p.Requires = slices.Clone(p.Requires)
		}
		if f.alter != nil {
			p = f.alter(p)
		}
		out = append(out, p)
	}
	if f.extra != nil {
		out = append(out, f.extra(typ)...)
	}
	return out
}

// fakeOpener adds a verifying Open to a fake.
type fakeOpener struct{ *fake }

func (f fakeOpener) Open(_ context.Context, p pkgsource.Package) (io.ReadCloser, error) {
	if f.open != nil {
		return f.open(p)
	}
	data, ok := content[p.Location]
	if !ok {
		return nil, pkgsource.ErrNotFound
	}
	return pkgsource.NewVerifier(io.NopCloser(bytes.NewReader(data)), p), nil
}

func TestTestAcceptsGoodSources(t *testing.T) {
	mem, err := pkgsource.NewMemory(expected()...)
	require.NoError(t, err)
	tests := []struct {
		name string
		src  pkgsource.Source
	}{
		{"Memory", mem},
		{"fake", &fake{pkgs: expected()}},
		{"fake opener", fakeOpener{&fake{pkgs: expected()}}},
		{"lists more than expected", &fake{pkgs: append(expected(), packageOf("tomcat", "11.0.0"))}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.NoError(t, sourcetest.Test(context.Background(), tt.src, expected()...))
		})
	}
	assert.NoError(t, sourcetest.Test(context.Background(), mem), "nothing expected")
}

func TestTestCatchesBrokenSources(t *testing.T) {
	tests := []struct {
		name string
		src  pkgsource.Source
		want []string // fragments of the report
	}{
		{"shared slice", &fake{pkgs: expected(), shared: true},
			[]string{`Packages("tomcat") returned a slice the source shares`}},
		{"shared requirements", &fake{pkgs: expected(), shallow: true},
			[]string{`Packages("tomcat") returned a slice the source shares`}},
		{"package of the wrong type", &fake{pkgs: expected(), extra: func(typ string) []pkgsource.Package {
			return []pkgsource.Package{{Type: "nginx", Version: version.MustParse("1.27.3")}}
		}}, []string{`Packages("tomcat") lists nginx 1.27.3, of another type`, `Packages("jdk") lists nginx 1.27.3, of another type`}},
		{"duplicate", &fake{pkgs: expected(), extra: func(typ string) []pkgsource.Package {
			if typ != "jdk" {
				return nil
			}
			return []pkgsource.Package{packageOf("jdk", "21.0.2")}
		}}, []string{`Packages("jdk") lists jdk 21.0.2 twice`}},
		{"invalid package", &fake{pkgs: expected(), extra: func(typ string) []pkgsource.Package {
			return []pkgsource.Package{{Type: typ, Version: version.MustParse("2.0.0"), Digest: "md5:abc"}}
		}}, []string{`Packages("tomcat") lists an invalid package`, `digest "md5:abc" is not sha256`}},
		{"ignores cancellation", &fake{pkgs: expected(), ignoreCtx: true},
			[]string{`Packages("tomcat") with a cancelled context: got <nil>, want context.Canceled`}},
		{"missing package", &fake{pkgs: expected(), drop: func(p pkgsource.Package) bool { return p.Version.String() == "9.0.98" }},
			[]string{`Packages("tomcat") does not list tomcat 9.0.98`}},
		{"changed fields", &fake{pkgs: expected(), alter: func(p pkgsource.Package) pkgsource.Package {
			p.From = version.Constraint{}
			p.Requires = nil
			p.Location = "elsewhere/" + p.Location
			p.Digest = pkgsource.Digest([]byte("other"))
			p.Size++
			return p
		}}, []string{`lists jdk 21.0.2 with from "*", want ">=1"`, `requires [], want [os >=20.04]`, `location "elsewhere/jdk-21.0.2.tar.gz", want "jdk-21.0.2.tar.gz"`, `digest "sha256:`, `size 12, want 11`}},
		{"answers differ", &fake{pkgs: expected(), vary: true},
			[]string{`Packages("tomcat") from concurrent callers`}},
		{"unknown type listed", &fake{pkgs: expected(), extra: func(typ string) []pkgsource.Package {
			if typ == "sourcetest.no-such-type" {
				return []pkgsource.Package{{Type: typ, Version: version.MustParse("1.0.0")}}
			}
			return nil
		}}, []string{"unknown type: got 1 packages and error <nil>, want none and nil"}},
		{"opener that does not verify", fakeOpener{&fake{pkgs: expected(), open: func(p pkgsource.Package) (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(content[p.Location])), nil
		}}}, []string{"Open(tomcat 10.1.34) with a wrong digest: got <nil>, want pkgsource.ErrDigestMismatch", "Open(tomcat 10.1.34) with a wrong size"}},
		{"opener that ignores the size", fakeOpener{&fake{pkgs: expected(), open: func(p pkgsource.Package) (io.ReadCloser, error) {
			p.Size = 0
			return pkgsource.NewVerifier(io.NopCloser(bytes.NewReader(content[p.Location])), p), nil
		}}}, []string{"Open(jdk 21.0.2) with a wrong size: got <nil>, want pkgsource.ErrDigestMismatch"}},
		{"opener that fails", fakeOpener{&fake{pkgs: expected(), open: func(p pkgsource.Package) (io.ReadCloser, error) {
			return nil, pkgsource.ErrNotFound
		}}}, []string{"Open(tomcat 9.0.98): package not found"}},
		{"opener whose content is cut short", fakeOpener{&fake{pkgs: expected(), open: func(p pkgsource.Package) (io.ReadCloser, error) {
			return pkgsource.NewVerifier(io.NopCloser(bytes.NewReader(content[p.Location][:3])), p), nil
		}}}, []string{"Open(jdk 21.0.2): pkgsource: package jdk 21.0.2: size mismatch: read 3 bytes, 11 declared"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := sourcetest.Test(context.Background(), tt.src, expected()...)
			require.Error(t, err)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
			assert.True(t, strings.Contains(err.Error(), "sourcetest: "), "failures are prefixed")
		})
	}
}

func TestTestReportsAllAtOnce(t *testing.T) {
	src := &fake{pkgs: expected(), ignoreCtx: true, drop: func(p pkgsource.Package) bool { return p.Type == "jdk" }}
	err := sourcetest.Test(context.Background(), src, expected()...)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `Packages("jdk") does not list jdk 21.0.2`)
	assert.Contains(t, err.Error(), `Packages("tomcat") with a cancelled context`)
	assert.Contains(t, err.Error(), `Packages("jdk") with a cancelled context`)
}

func TestTestPackagesError(t *testing.T) {
	src := pkgsource.SourceFunc(func(_ context.Context, typ string) ([]pkgsource.Package, error) {
		if typ == "tomcat" {
			return nil, pkgsource.ErrNotFound
		}
		return nil, nil
	})
	err := sourcetest.Test(context.Background(), src, packageOf("tomcat", "10.1.34"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), `Packages("tomcat"): package not found`)
}
