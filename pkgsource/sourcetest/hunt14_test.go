package sourcetest_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/pkgsource/sourcetest"
	"github.com/stackup/stackup/version"
)

// Test: "returns a slice the caller owns" is checked on every package
// listed, not only the first: a source that shares the requirements of a
// later package, the first having none (as the lowest version often has),
// is broken and must be reported.
func TestHunt14SharedRequirementsOfALaterPackage(t *testing.T) {
	old := pkgsource.Package{Type: "tomcat", Version: version.MustParse("9.0.98")}
	newer := pkgsource.Package{Type: "tomcat", Version: version.MustParse("10.1.34"),
		Requires: []pkgsource.Requirement{{Type: "jdk", Constraint: version.MustParseConstraint(">=11")}}}
	// listSource copies its list on every call but shares each
	// package's Requires with the caller.
	src := listSource{old, newer}

	// The source is broken: a caller's change to a requirement shows in
	// the next answer.
	got, err := src.Packages(context.Background(), "tomcat")
	require.NoError(t, err)
	i := slices.IndexFunc(got, func(p pkgsource.Package) bool { return len(p.Requires) > 0 })
	got[i].Requires[0].Type = "changed"
	again, err := src.Packages(context.Background(), "tomcat")
	require.NoError(t, err)
	require.Equal(t, "changed", again[i].Requires[0].Type, "the source shares its requirements")
	src[1].Requires[0].Type = "jdk"

	err = sourcetest.Test(context.Background(), src, old, newer)
	require.Error(t, err, "a source that shares a package's requirements passes")
	assert.Contains(t, err.Error(), `Packages("tomcat") returned a slice the source shares`)
}

// Test: an Opener that hands out a package's content unverified when the
// package declares no digest, where every Opener of pkgsource refuses it
// (a package without a digest cannot be verified), is reported: a caller
// given a package whose digest was lost on the way would install content
// nothing checked.
func TestHunt14OpenerThatSkipsVerificationWithoutDigest(t *testing.T) {
	src := fakeOpener{&fake{pkgs: expected(), open: func(p pkgsource.Package) (io.ReadCloser, error) {
		if p.Digest == "" {
			return io.NopCloser(bytes.NewReader(content[p.Location])), nil
		}
		return pkgsource.NewVerifier(io.NopCloser(bytes.NewReader(content[p.Location])), p), nil
	}}}
	err := sourcetest.Test(context.Background(), src, expected()...)
	require.Error(t, err, "an Opener that reads a package without a digest unverified passes")
	assert.Contains(t, err.Error(), "Open(tomcat 10.1.34) without a digest read the content unverified")

	// The Openers of pkgsource pass.
	dir := t.TempDir()
	var pkgs []pkgsource.Package
	for _, p := range expected() {
		require.NoError(t, os.WriteFile(filepath.Join(dir, p.Location), content[p.Location], 0o644))
		pkgs = append(pkgs, p)
	}
	require.NoError(t, pkgsource.WriteIndex(dir, &pkgsource.Index{Version: 1, Generated: time.Now(), Packages: pkgs}, nil))
	d, err := pkgsource.NewDir(dir)
	require.NoError(t, err)
	defer d.Close()
	assert.NoError(t, sourcetest.Test(context.Background(), d, expected()...))
}

// Test: a Source that answers a cancelled context is reported however few
// packages the caller expects: the check ran only for the types of the
// expected packages, so that a source tested empty, as a new repository
// is, passed.
func TestHunt14IgnoresCancellationWithNothingExpected(t *testing.T) {
	err := sourcetest.Test(context.Background(), &fake{ignoreCtx: true})
	require.Error(t, err, "a source that ignores cancellation passes when nothing is expected")
	assert.Contains(t, err.Error(), `Packages("sourcetest.no-such-type") with a cancelled context: got <nil>, want context.Canceled`)

	assert.NoError(t, sourcetest.Test(context.Background(), &fake{}))
}

// Test: a Source that lists a package's requirements in another order
// than expected, or in another order on each call (as one that keeps them
// in a map does), keeps the contract: the order of requirements means
// nothing (the planner sorts them), and Test reported it as listing other
// requirements, or as answering concurrent callers differently.
func TestHunt14RequirementsInAnyOrder(t *testing.T) {
	want := packageOf("tomcat", "10.1.34")
	want.Requires = []pkgsource.Requirement{
		{Type: "jdk", Constraint: version.MustParseConstraint(">=11")},
		{Type: "os", Constraint: version.MustParseConstraint(">=20.04")},
	}
	var calls atomic.Int64
	src := pkgsource.SourceFunc(func(ctx context.Context, typ string) ([]pkgsource.Package, error) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if typ != "tomcat" {
			return nil, nil
		}
		p := want
		p.Requires = slices.Clone(want.Requires)
		if calls.Add(1)%2 == 1 { // reversed on every other call
			slices.Reverse(p.Requires)
		}
		return []pkgsource.Package{p}, nil
	})
	assert.NoError(t, sourcetest.Test(context.Background(), src, want))
}

// Test: a Source that matches types loosely, whatever their case (as a
// database of case-insensitive collation does) or by prefix, is reported:
// asked for "TOMCAT" or "tomca", it lists packages of type "tomcat",
// which a planner asking for a platform of that type would be handed.
// Test asked only for the types expected, which such a source answers
// right.
func TestHunt14LooseTypeMatching(t *testing.T) {
	pkgs := expected()
	loose := func(match func(typ, want string) bool) pkgsource.Source {
		return pkgsource.SourceFunc(func(ctx context.Context, typ string) ([]pkgsource.Package, error) {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			var out []pkgsource.Package
			for _, p := range pkgs {
				if match(p.Type, typ) {
					p.Requires = slices.Clone(p.Requires)
					out = append(out, p)
				}
			}
			return out, nil
		})
	}
	for name, tt := range map[string]struct {
		match func(typ, want string) bool
		want  string
	}{
		"case":   {strings.EqualFold, `Packages("TOMCAT") lists tomcat 10.1.34, of another type`},
		"prefix": {func(typ, want string) bool { return want != "" && strings.HasPrefix(typ, want) }, `Packages("tomca") lists tomcat 10.1.34, of another type`},
	} {
		t.Run(name, func(t *testing.T) {
			err := sourcetest.Test(context.Background(), loose(tt.match), pkgs...)
			require.Error(t, err, "a source that matches types loosely passes")
			assert.Contains(t, err.Error(), tt.want)
		})
	}
	assert.NoError(t, sourcetest.Test(context.Background(), loose(func(typ, want string) bool { return typ == want }), pkgs...))
}
