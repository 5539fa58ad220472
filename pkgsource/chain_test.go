package pkgsource_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/version"
)

func located(typ, v, loc string) pkgsource.Package {
	p := pkg(typ, v)
	p.Location = loc
	return p
}

func mustMemory(t *testing.T, pkgs ...pkgsource.Package) *pkgsource.Memory {
	t.Helper()
	m, err := pkgsource.NewMemory(pkgs...)
	require.NoError(t, err)
	return m
}

func TestChainPackages(t *testing.T) {
	first := mustMemory(t, located("tomcat", "10.1.34", "first"), located("tomcat", "9.0.98", "first"), located("jdk", "21.0.2", "first"))
	second := mustMemory(t, located("tomcat", "10.1.34", "second"), located("tomcat", "11.0.2", "second"), located("tomcat", "8.5.100", "second"))
	third := mustMemory(t, located("tomcat", "v11.0.2", "third"), located("tomcat", "10.0.0", "third"))

	tests := []struct {
		name  string
		chain pkgsource.Chain
		typ   string
		want  []string // "version@location", ascending
	}{
		{"first wins, union, sorted", pkgsource.Chain{first, second}, "tomcat",
			[]string{"8.5.100@second", "9.0.98@first", "10.1.34@first", "11.0.2@second"}},
		{"order decides", pkgsource.Chain{second, first}, "tomcat",
			[]string{"8.5.100@second", "9.0.98@first", "10.1.34@second", "11.0.2@second"}},
		{"same version spelled differently", pkgsource.Chain{first, second, third}, "tomcat",
			[]string{"8.5.100@second", "9.0.98@first", "10.0.0@third", "10.1.34@first", "11.0.2@second"}},
		{"first wins, written as it writes it", pkgsource.Chain{third, second}, "tomcat",
			[]string{"8.5.100@second", "10.0.0@third", "10.1.34@second", "v11.0.2@third"}},
		{"only one source has the type", pkgsource.Chain{second, first}, "jdk", []string{"21.0.2@first"}},
		{"unknown type", pkgsource.Chain{first, second}, "nginx", nil},
		{"empty chain", pkgsource.Chain{}, "tomcat", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.chain.Packages(context.Background(), tt.typ)
			require.NoError(t, err)
			var desc []string
			for _, p := range got {
				desc = append(desc, p.Version.String()+"@"+p.Location)
			}
			assert.Equal(t, tt.want, desc)
		})
	}
}

func TestChainSourceError(t *testing.T) {
	boom := errors.New("repository down")
	good := mustMemory(t, pkg("tomcat", "10.1.34"))
	failing := pkgsource.SourceFunc(func(context.Context, string) ([]pkgsource.Package, error) { return nil, boom })
	tests := []struct {
		name  string
		chain pkgsource.Chain
		place string
	}{
		{"first", pkgsource.Chain{failing, good}, "chain source #1"},
		{"third", pkgsource.Chain{good, good, failing}, "chain source #3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps, err := tt.chain.Packages(context.Background(), "tomcat")
			require.ErrorIs(t, err, boom)
			assert.Nil(t, ps)
			assert.Equal(t, "pkgsource: "+tt.place+": repository down", err.Error())

			rc, err := tt.chain.Open(context.Background(), pkg("tomcat", "1.0.0"))
			require.ErrorIs(t, err, boom)
			assert.Nil(t, rc)
			assert.Contains(t, err.Error(), tt.place)
		})
	}
}

func TestChainOpen(t *testing.T) {
	ctx := context.Background()
	a := newRepo(t, false)
	b := newRepo(t, false)
	// b holds another build of tomcat 10.1.34, and a package a lacks.
	other, otherContent := repoPackage("tomcat", "10.1.34", ">=9.0")
	otherContent = append(otherContent, "rebuilt\n"...)
	other.Digest, other.Size = pkgsource.Digest(otherContent), int64(len(otherContent))
	b.pkgs = nil
	b.add(t, other, otherContent)
	onlyB, onlyBContent := repoPackage("tomcat", "12.0.0", "")
	b.add(t, onlyB, onlyBContent)
	b.publish(t, 2, false)

	chain := pkgsource.Chain{a.openDir(t), b.openDir(t)}
	listed, err := chain.Packages(ctx, "tomcat")
	require.NoError(t, err)
	require.Equal(t, []string{"tomcat 9.0.98", "tomcat 10.1.34", "tomcat 11.0.2", "tomcat 12.0.0"}, strs(listed))

	t.Run("the winner's content", func(t *testing.T) {
		p := listed[findKey(listed, other.Key())]
		assert.Equal(t, a.find(t, "tomcat", "10.1.34").Digest, p.Digest, "the first source wins")
		got, err := readPackage(ctx, chain, p)
		require.NoError(t, err)
		assert.Equal(t, a.files[p.Location], got)
	})
	t.Run("from a later source", func(t *testing.T) {
		got, err := readPackage(ctx, chain, listed[findKey(listed, onlyB.Key())])
		require.NoError(t, err)
		assert.Equal(t, onlyBContent, got)
	})

	// The winning source opens the package and verifies it against the
	// description given: one listed with another digest or location does
	// not read as good.
	t.Run("listed with another digest", func(t *testing.T) {
		_, err := readPackage(ctx, chain, other)
		require.ErrorIs(t, err, pkgsource.ErrDigestMismatch)
	})
	t.Run("listed at another location", func(t *testing.T) {
		p := a.find(t, "tomcat", "10.1.34")
		p.Location = "elsewhere.tar.gz"
		_, err := chain.Open(ctx, p)
		require.ErrorIs(t, err, pkgsource.ErrNotFound)
	})
	refused := []struct {
		name    string
		p       pkgsource.Package
		wantMsg string
	}{
		{"unknown", pkg("tomcat", "99.0.0"), "pkgsource: package tomcat 99.0.0: package not found"},
		{"unknown type", pkg("nginx", "1.0.0"), "package nginx 1.0.0: package not found"},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			rc, err := chain.Open(ctx, tt.p)
			require.ErrorIs(t, err, pkgsource.ErrNotFound)
			assert.Nil(t, rc)
			var pe *pkgsource.PackageError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, tt.p.Key(), pe.Package)
			assert.Contains(t, err.Error(), tt.wantMsg)
		})
	}

	t.Run("winner holds no content", func(t *testing.T) {
		p := a.find(t, "jdk", "21.0.2")
		chain := pkgsource.Chain{mustMemory(t, p), a.openDir(t)}
		rc, err := chain.Open(ctx, p)
		require.ErrorIs(t, err, pkgsource.ErrNotFound)
		assert.Nil(t, rc)
		assert.Contains(t, err.Error(), "chain source #1 holds no content")
		assert.Contains(t, err.Error(), "jdk 21.0.2")
	})
}

// countingSource counts the calls to a Memory.
func countingSource(t *testing.T, calls *atomic.Int32, pkgs ...pkgsource.Package) pkgsource.SourceFunc {
	m := mustMemory(t, pkgs...)
	return func(ctx context.Context, typ string) ([]pkgsource.Package, error) {
		calls.Add(1)
		return m.Packages(ctx, typ)
	}
}

func TestCacheWithinTTL(t *testing.T) {
	var calls atomic.Int32
	c := pkgsource.NewCache(countingSource(t, &calls, pkg("tomcat", "10.1.34"), pkg("jdk", "21.0.2")), time.Hour)
	ctx := context.Background()
	for range 3 {
		ps, err := c.Packages(ctx, "tomcat")
		require.NoError(t, err)
		assert.Equal(t, []string{"tomcat 10.1.34"}, strs(ps))
	}
	assert.Equal(t, int32(1), calls.Load(), "asked once within the TTL")
	_, err := c.Packages(ctx, "jdk")
	require.NoError(t, err)
	assert.Equal(t, int32(2), calls.Load(), "each type is cached on its own")
	_, err = c.Packages(ctx, "nginx")
	require.NoError(t, err)
	_, err = c.Packages(ctx, "nginx")
	require.NoError(t, err)
	assert.Equal(t, int32(3), calls.Load(), "an empty answer is cached too")
}

func TestCacheAfterTTL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var calls atomic.Int32
		const ttl = time.Minute
		c := pkgsource.NewCache(countingSource(t, &calls, pkg("tomcat", "10.1.34")), ttl)
		ctx := t.Context()
		_, err := c.Packages(ctx, "tomcat")
		require.NoError(t, err)
		time.Sleep(ttl - time.Nanosecond) // the bubble's clock
		_, err = c.Packages(ctx, "tomcat")
		require.NoError(t, err)
		assert.Equal(t, int32(1), calls.Load(), "within the TTL")
		time.Sleep(time.Nanosecond)
		_, err = c.Packages(ctx, "tomcat")
		require.NoError(t, err)
		assert.Equal(t, int32(2), calls.Load(), "at the TTL")

		zero := pkgsource.NewCache(countingSource(t, &calls, pkg("tomcat", "10.1.34")), 0)
		calls.Store(0)
		for range 3 {
			_, err := zero.Packages(ctx, "tomcat")
			require.NoError(t, err)
		}
		assert.Equal(t, int32(3), calls.Load(), "a zero TTL caches nothing")
	})
}

func TestCacheErrorsNotCached(t *testing.T) {
	boom := errors.New("flaky")
	var calls atomic.Int32
	src := pkgsource.SourceFunc(func(_ context.Context, typ string) ([]pkgsource.Package, error) {
		if calls.Add(1) == 1 {
			return nil, boom
		}
		return []pkgsource.Package{pkg(typ, "1.0.0")}, nil
	})
	c := pkgsource.NewCache(src, time.Hour)
	ctx := context.Background()
	ps, err := c.Packages(ctx, "tomcat")
	require.ErrorIs(t, err, boom)
	assert.Nil(t, ps)
	ps, err = c.Packages(ctx, "tomcat")
	require.NoError(t, err)
	assert.Len(t, ps, 1)
	_, err = c.Packages(ctx, "tomcat")
	require.NoError(t, err)
	assert.Equal(t, int32(2), calls.Load())
}

func TestCacheReturnsCopies(t *testing.T) {
	withReq := pkg("tomcat", "10.1.34")
	withReq.Requires = []pkgsource.Requirement{req("jdk", ">=11")}
	c := pkgsource.NewCache(mustMemory(t, withReq, pkg("tomcat", "9.0.98")), time.Hour)
	ctx := context.Background()

	spoil := func(ps []pkgsource.Package) {
		ps[0].Version = version.MustParse("666.0.0")
		ps[1].Requires[0].Type = "spoiled"
		ps[1].Requires = append(ps[1].Requires, req("x", ">=1"))
	}
	for i := range 3 { // the first answer comes from the source, the others from the cache
		ps, err := c.Packages(ctx, "tomcat")
		require.NoError(t, err)
		require.Equal(t, []string{"tomcat 9.0.98", "tomcat 10.1.34"}, strs(ps), "call %d", i+1)
		require.Equal(t, []string{"jdk >=11"}, requiresText(ps[1]), "call %d", i+1)
		spoil(ps)
	}
}

func TestCacheOpen(t *testing.T) {
	ctx := context.Background()
	r := newRepo(t, false)
	p := r.find(t, "jdk", "21.0.2")

	got, err := readPackage(ctx, pkgsource.NewCache(r.openDir(t), time.Hour), p)
	require.NoError(t, err)
	assert.Equal(t, r.files[p.Location], got)

	tampered := p
	tampered.Size--
	_, err = readPackage(ctx, pkgsource.NewCache(r.openDir(t), time.Hour), tampered)
	assert.ErrorIs(t, err, pkgsource.ErrDigestMismatch, "the source's verification passes through")

	rc, err := pkgsource.NewCache(mustMemory(t, p), time.Hour).Open(ctx, p)
	require.ErrorIs(t, err, pkgsource.ErrNotFound)
	assert.Nil(t, rc)
	var pe *pkgsource.PackageError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, p.Key(), pe.Package)
	assert.Contains(t, err.Error(), "the source holds no content")
}

func TestCacheConcurrent(t *testing.T) {
	var calls atomic.Int32
	c := pkgsource.NewCache(countingSource(t, &calls, pkg("tomcat", "10.1.34"), pkg("jdk", "21.0.2")), time.Hour)
	done := make(chan []string, 16)
	for i := range 16 {
		go func() {
			typ := []string{"tomcat", "jdk"}[i%2]
			ps, err := c.Packages(context.Background(), typ)
			assert.NoError(t, err)
			done <- strs(ps)
		}()
	}
	for range 16 {
		assert.Len(t, <-done, 1)
	}
	assert.LessOrEqual(t, calls.Load(), int32(16))
}

func TestChainNilSource(t *testing.T) {
	mem, err := pkgsource.NewMemory(pkgsource.Package{Type: "tomcat", Version: version.MustParse("1.0.0")})
	require.NoError(t, err)
	c := pkgsource.Chain{mem, nil}
	_, err = c.Packages(t.Context(), "tomcat")
	require.EqualError(t, err, "pkgsource: chain source #2 is nil: give a Source there or leave it out")
	_, err = c.Open(t.Context(), pkgsource.Package{Type: "tomcat", Version: version.MustParse("2.0.0")})
	require.EqualError(t, err, "pkgsource: chain source #2 is nil: give a Source there or leave it out")
}
