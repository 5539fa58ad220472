package pkgsource_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-multierror"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/version"
)

func pkg(typ, v string) pkgsource.Package {
	return pkgsource.Package{Type: typ, Version: version.MustParse(v)}
}

func versionsOf(ps []pkgsource.Package) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Version.String()
	}
	return out
}

func TestNewMemoryErrors(t *testing.T) {
	badDigest := pkg("tomcat", "9.0.1")
	badDigest.Digest = "md5:abc"
	badSize := pkg("jvm", "17.0.0")
	badSize.Size = -3
	badReq := pkg("jvm", "21.0.0")
	badReq.Requires = []pkgsource.Requirement{{Constraint: version.MustParseConstraint(">=1")}}

	tests := []struct {
		name string
		in   []pkgsource.Package
		want []string // one entry per expected error, in order: the package text
	}{
		{
			name: "one invalid",
			in:   []pkgsource.Package{pkg("tomcat", "10.1.18"), {Type: "tomcat"}},
			want: []string{"tomcat 0.0.0"},
		},
		{
			name: "one duplicate",
			in:   []pkgsource.Package{pkg("tomcat", "10.1.18"), pkg("tomcat", "v10.1.18")},
			want: []string{"tomcat v10.1.18"}, // the same version, named as written
		},
		{
			name: "triplicate reports each extra copy",
			in:   []pkgsource.Package{pkg("jvm", "17"), pkg("jvm", "17.0"), pkg("jvm", "17.0.0")},
			want: []string{"jvm 17.0", "jvm 17.0.0"},
		},
		{
			name: "every invalid and duplicate at once",
			in: []pkgsource.Package{
				pkg("tomcat", "10.1.18"),
				badDigest,
				pkg("tomcat", "10.1.18"), // duplicate
				{Version: version.MustParse("1.2.3")},
				badSize,
				pkg("jvm", "11"),
				badReq,
				pkg("jvm", "11.0.0"), // duplicate
			},
			want: []string{"tomcat 9.0.1", "tomcat 10.1.18", " 1.2.3", "jvm 17.0.0", "jvm 21.0.0", "jvm 11.0.0"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := pkgsource.NewMemory(tt.in...)
			require.Error(t, err)
			assert.Nil(t, m)
			assert.ErrorIs(t, err, pkgsource.ErrInvalid)

			var merr *multierror.Error
			require.ErrorAs(t, err, &merr)
			require.Len(t, merr.Errors, len(tt.want), "errors: %v", merr.Errors)
			for i, e := range merr.Errors {
				assert.ErrorIs(t, e, pkgsource.ErrInvalid)
				var pe *pkgsource.PackageError
				require.ErrorAs(t, e, &pe)
				assert.Equal(t, tt.want[i], pe.Package.String())
				assert.Contains(t, e.Error(), "package "+tt.want[i]+":")
				assert.Contains(t, err.Error(), e.Error())
			}
		})
	}
}

func TestNewMemoryDuplicateMessage(t *testing.T) {
	_, err := pkgsource.NewMemory(pkg("tomcat", "10.1.18"), pkg("tomcat", "10.1.18"))
	var merr *multierror.Error
	require.ErrorAs(t, err, &merr)
	require.Len(t, merr.Errors, 1)
	assert.Equal(t, `pkgsource: package tomcat 10.1.18: invalid package: duplicate package: version "10.1.18" is listed twice: list each version once`, merr.Errors[0].Error())
}

func TestNewMemoryOrder(t *testing.T) {
	tests := []struct {
		name string
		in   []pkgsource.Package
		typ  string
		want []string
	}{
		{
			name: "empty",
			in:   nil,
			typ:  "tomcat",
			want: []string{},
		},
		{
			name: "ascending input",
			in:   []pkgsource.Package{pkg("tomcat", "9.0.85"), pkg("tomcat", "10.1.18"), pkg("tomcat", "11.0.0")},
			typ:  "tomcat",
			want: []string{"9.0.85", "10.1.18", "11.0.0"},
		},
		{
			name: "descending input",
			in:   []pkgsource.Package{pkg("tomcat", "11.0.0"), pkg("tomcat", "10.1.18"), pkg("tomcat", "9.0.85")},
			typ:  "tomcat",
			want: []string{"9.0.85", "10.1.18", "11.0.0"},
		},
		{
			name: "shuffled semantic not lexical",
			in: []pkgsource.Package{
				pkg("tomcat", "10.1.2"), pkg("tomcat", "9.0.100"), pkg("tomcat", "10.1.18"),
				pkg("tomcat", "11.0.0-M1"), pkg("tomcat", "9.0.9"), pkg("tomcat", "11.0.0"),
			},
			typ:  "tomcat",
			want: []string{"9.0.9", "9.0.100", "10.1.2", "10.1.18", "11.0.0-M1", "11.0.0"},
		},
		{
			name: "other types interleaved and excluded",
			in: []pkgsource.Package{
				pkg("jvm", "21"), pkg("tomcat", "10.1.18"), pkg("jvm", "11"),
				pkg("tomcat", "9.0.85"), pkg("jvm", "17"),
			},
			typ:  "jvm",
			want: []string{"11", "17", "21"}, // as written
		},
		{
			name: "unknown type",
			in:   []pkgsource.Package{pkg("tomcat", "10.1.18")},
			typ:  "jetty",
			want: []string{},
		},
		{
			name: "type match is exact",
			in:   []pkgsource.Package{pkg("tomcat", "10.1.18")},
			typ:  "Tomcat",
			want: []string{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := pkgsource.NewMemory(tt.in...)
			require.NoError(t, err)
			require.NotNil(t, m)
			got, err := m.Packages(context.Background(), tt.typ)
			require.NoError(t, err)
			assert.Equal(t, tt.want, versionsOf(got))
			for _, p := range got {
				assert.Equal(t, tt.typ, p.Type)
			}
		})
	}
}

func TestNewMemoryKeepsFields(t *testing.T) {
	in := validPackage()
	m, err := pkgsource.NewMemory(in)
	require.NoError(t, err)
	got, err := m.Packages(context.Background(), "tomcat")
	require.NoError(t, err)
	require.Len(t, got, 1)
	p := got[0]
	assert.True(t, in.Key() == p.Key())
	assert.Equal(t, in.From.String(), p.From.String())
	assert.Equal(t, in.Location, p.Location)
	assert.Equal(t, in.Digest, p.Digest)
	assert.Equal(t, in.Size, p.Size)
	require.Len(t, p.Requires, len(in.Requires))
	for i := range in.Requires {
		assert.Equal(t, in.Requires[i].Type, p.Requires[i].Type)
		assert.Equal(t, in.Requires[i].Constraint.String(), p.Requires[i].Constraint.String())
	}
}

func TestMemoryReturnsCopies(t *testing.T) {
	a := validPackage()
	b := pkg("tomcat", "9.0.85")
	m, err := pkgsource.NewMemory(a, b)
	require.NoError(t, err)
	ctx := context.Background()

	first, err := m.Packages(ctx, "tomcat")
	require.NoError(t, err)
	require.Len(t, first, 2)
	require.Len(t, first[1].Requires, 2)

	// Mutate everything reachable from the returned slice.
	first[0].Type = "mutated"
	first[0].Version = version.MustParse("99.0.0")
	first[1].Location = "mutated"
	first[1].Requires[0].Type = "mutated"
	first[1].Requires = append(first[1].Requires, pkgsource.Requirement{Type: "extra"})
	_ = append(first[:0], pkg("x", "1.0.0")) // writes within capacity

	second, err := m.Packages(ctx, "tomcat")
	require.NoError(t, err)
	assert.Equal(t, []string{"9.0.85", "10.1.18"}, versionsOf(second))
	assert.Equal(t, "tomcat", second[0].Type)
	assert.Equal(t, "tomcat-10.1.18.tar.gz", second[1].Location)
	require.Len(t, second[1].Requires, 2)
	assert.Equal(t, "jvm", second[1].Requires[0].Type)
	assert.Equal(t, "os", second[1].Requires[1].Type)
}

func TestMemoryRequiresNotAliasedBetweenCalls(t *testing.T) {
	m, err := pkgsource.NewMemory(validPackage())
	require.NoError(t, err)
	ctx := context.Background()
	first, err := m.Packages(ctx, "tomcat")
	require.NoError(t, err)
	second, err := m.Packages(ctx, "tomcat")
	require.NoError(t, err)

	first[0].Requires[0].Type = "mutated"
	assert.Equal(t, "jvm", second[0].Requires[0].Type, "two calls must not share a Requires backing array")
}

func TestMemoryIndependentOfCallerInput(t *testing.T) {
	in := []pkgsource.Package{validPackage(), pkg("tomcat", "9.0.85")}
	m, err := pkgsource.NewMemory(in...)
	require.NoError(t, err)

	// Mutate the caller's slice and the Requires it shares with it.
	in[0].Requires[0].Type = "mutated"
	in[0].Requires[1] = pkgsource.Requirement{Type: "mutated"}
	in[0].Location = "mutated"
	in[1] = pkg("jetty", "12.0.0")

	got, err := m.Packages(context.Background(), "tomcat")
	require.NoError(t, err)
	require.Equal(t, []string{"9.0.85", "10.1.18"}, versionsOf(got))
	assert.Equal(t, "tomcat-10.1.18.tar.gz", got[1].Location)
	require.Len(t, got[1].Requires, 2)
	assert.Equal(t, "jvm", got[1].Requires[0].Type)
	assert.Equal(t, "os", got[1].Requires[1].Type)

	jetty, err := m.Packages(context.Background(), "jetty")
	require.NoError(t, err)
	assert.Empty(t, jetty)
}

func TestMemoryContext(t *testing.T) {
	m, err := pkgsource.NewMemory(pkg("tomcat", "10.1.18"))
	require.NoError(t, err)

	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithDeadline(context.Background(), time.Unix(0, 0))
	defer cancel2()

	tests := []struct {
		name string
		ctx  context.Context
		want error
	}{
		{"cancelled", cancelled, context.Canceled},
		{"deadline exceeded", expired, context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, typ := range []string{"tomcat", "unknown"} {
				got, err := m.Packages(tt.ctx, typ)
				assert.True(t, errors.Is(err, tt.want), "Packages(%q) error %v, want %v", typ, err, tt.want)
				assert.Nil(t, got)
			}
		})
	}
}

func TestMemoryConcurrent(t *testing.T) {
	var in []pkgsource.Package
	for i := 20; i > 0; i-- {
		p := pkg("tomcat", fmt.Sprintf("10.1.%d", i))
		p.Requires = []pkgsource.Requirement{{Type: "jvm", Constraint: version.MustParseConstraint(">=11")}}
		in = append(in, p, pkg("jvm", fmt.Sprintf("%d.0.0", i)))
	}
	m, err := pkgsource.NewMemory(in...)
	require.NoError(t, err)

	var src pkgsource.Source = m
	ctx := context.Background()
	const workers = 16
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			typ := "tomcat"
			if w%2 == 1 {
				typ = "jvm"
			}
			for range 50 {
				ps, err := src.Packages(ctx, typ)
				if err != nil {
					errs <- err
					return
				}
				if len(ps) != 20 {
					errs <- fmt.Errorf("%s: got %d packages", typ, len(ps))
					return
				}
				for i := 1; i < len(ps); i++ {
					if !ps[i-1].Version.Less(ps[i].Version) {
						errs <- fmt.Errorf("%s: out of order at %d", typ, i)
						return
					}
				}
				// Write to the result; must not race with other readers.
				for i := range ps {
					ps[i].Location = "x"
					for j := range ps[i].Requires {
						ps[i].Requires[j].Type = "x"
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
