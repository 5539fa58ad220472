package version

// These tests hold the compiled form of a constraint (compiled.go) to
// Masterminds' Check, which it replaces on the hot path: on a generated
// grid, under the fuzzer, and in allocations.

import (
	"slices"
	"testing"

	"github.com/Masterminds/semver/v3"
	"github.com/stretchr/testify/require"
)

// agreeSeedConstraints cover every operator spelling, wildcards at each
// position, hyphen ranges, ORs, commas and spaces, "v" prefixes,
// pre-release bounds, build metadata and numbers at the uint64 edge.
var agreeSeedConstraints = []string{
	"1.2.3", "=1.2.3", "!=1.2.3", ">1.2.3", "<1.2.3", ">=1.2.3", "=>1.2.3", "<=1.2.3", "=<1.2.3",
	"~1.2.3", "~>1.2.3", "^1.2.3", "^0.2.3", "^0.0.3", "^0.0", "^0", "^0.x", "^0.0.x", "~0", "~0.0.0", "~0.x",
	"1", "1.2", "1.x", "1.2.x", "1.X", "1.*", "x", "X", "*", "x.1.2", "1.x.3", "*.*.*",
	">1", ">1.2", ">1.x", ">1.2.x", "<=1", "<=1.2", "<=1.x", "<=1.2.x", "!=1", "!=1.2", "!=1.x", "!=1.2.x",
	"!=1.2.x-rc.1", ">1.2.x-rc.1", "<=1.2.x-0", "~1.x-beta", "^1.x-0", "!=x", ">x", "<=x", "!=x-rc",
	">=1.2.3-rc.1", ">=1.2.3-0, <1.2.3", ">1.0.0-alpha.1 <2", "<2.0.0-0", "=1.2.3-beta.2", "!=1.2.3-alpha",
	"^1.2.3-rc.1", "~1.2.3-rc.1", "1.2.3-rc.1 - 2", "1.2 - 2.0", "1 - 2", "1.2.3 - 1.2.3", "v1.2 - v2",
	">=9.0, <11", " >= 1.0 , < 2 ", ">=1.30", "~2.3 || >=3.1", "1.2.3 || 2.x || >=10.0.0-0", "=1.29 || ^2",
	"v1.2.3", "~ v2.3", "^v0.1", ">= v1.0.0-rc.1+build.5", "=1.2.3+build", "!=1.2.3+meta",
	">=18446744073709551615", "<18446744073709551615.18446744073709551615.18446744073709551615",
	">1.0.0-99999999999999999999", "<1.0.0-18446744073709551615", ">=1.0.0-18446744073709551616",
	"<1.0.0-1a", ">1.0.0-a.1.b", "~1.0.0-alpha-1.x-y", ">=0.0.0-0", "<0.0.1-0",
	">=1.0.0-0 <1.0.0 || >=2.0.0-rc.1 <2.0.0 || 3.x", "x || 1.0.0-rc.1", "1.2.3,1.2.4", ">1 <3 !=2.x",
}

// agreeSeedVersions are the versions the seeds check.
var agreeSeedVersions = []string{
	"0.0.0", "0.0.1", "0.0.3", "0.1.0", "0.2.3", "0.2.9", "0.3.0", "1.0.0-0", "1.0.0-alpha.1", "1.0.0",
	"1.2.0-0", "1.2.0", "1.2.3-0", "1.2.3-rc.1", "1.2.3-rc.2", "1.2.3-beta.2", "1.2.3", "1.2.3+build",
	"v1.2.4", "1.3.0", "1.9.9-rc.1", "2.0.0-0", "2.0.0", "2.3.4", "3.0.0", "3.1.0", "10.0.0-rc.1", "10.5",
	"1.0.0-99999999999999999999", "1.0.0-18446744073709551615", "1.0.0-1a", "1.0.0-a.1.b.2",
	"1.2.3+build-5", "1.2.3-rc-1+b-2", "v2-beta",
	"18446744073709551615.18446744073709551615.18446744073709551615",
}

func FuzzConstraintAgreesWithMasterminds(f *testing.F) {
	for i, c := range agreeSeedConstraints {
		for j, v := range agreeSeedVersions {
			if (i+j)%3 == 0 { // a third of the cross product: every constraint, every version
				f.Add(c, v)
			}
		}
	}
	f.Fuzz(func(t *testing.T, cs, vs string) {
		c, err := ParseConstraint(cs)
		require.NotErrorIs(t, err, errCompile, "Masterminds parsed %q but it did not compile", cs)
		v, verr := Parse(vs)
		if verr == nil {
			require.Equal(t, v.Prerelease() != "", v.hasPrerelease(), "hasPrerelease(%q)", vs) // Allows' fast path, against the plain one
		}
		if err != nil || verr != nil {
			return
		}
		requireAgrees(t, c, v)
		// And on the edges of each bound, where the operators differ.
		around := []Version{v}
		if !c.IsZero() {
			for _, cl := range c.p.cc {
				for _, cmp := range cl.cmps {
					for _, p := range edges(cmp.bound) {
						requireAgrees(t, c, p)
						around = append(around, p)
					}
				}
			}
		}
		requireSpan(t, c, around)
	})
}

// edges returns versions at and next to b: b itself, without and with a
// pre-release, and one below and above it in each component.
func edges(b Version) []Version {
	m, n, p, pre := b.Major(), b.Minor(), b.Patch(), b.Prerelease()
	vs := []Version{b}
	for _, e := range [][3]uint64{{m, n, p}, {m, n, p + 1}, {m, n, p - 1}, {m, n + 1, 0}, {m, n - 1, p}, {m + 1, 0, 0}, {m - 1, n, p}} {
		for _, q := range []string{"", "0", pre} {
			vs = append(vs, fromSemver(semver.New(e[0], e[1], e[2], q, "")))
		}
	}
	return vs
}

// requireAgrees checks c's compiled form against Masterminds' Check on v,
// with and without IncludePrerelease, and Compare against Masterminds'
// Compare on v and each of c's bounds.
func requireAgrees(t *testing.T, c Constraint, v Version) {
	t.Helper()
	if c.IsZero() {
		require.True(t, c.Allows(v))
		require.NoError(t, c.Check(v))
		return
	}
	want := c.p.sem.Check(v.semver())
	require.Equal(t, want, c.Allows(v), "%q allows %q: Masterminds says %v", c, v, want)
	require.Equal(t, want, c.Check(v) == nil, "%q checks %q: Masterminds says %v", c, v, want)
	with := *c.p.sem
	with.IncludePrerelease = true
	wantPre := with.Check(v.semver())
	require.Equal(t, wantPre, c.p.cc.allows(&v, true), "%q with pre-releases allows %q: Masterminds says %v", c, v, wantPre)
	require.Equal(t, !want && wantPre && v.Prerelease() != "", c.ExcludesPrerelease(v))
	for _, cl := range c.p.cc {
		for _, cmp := range cl.cmps {
			b := cmp.bound
			require.Equal(t, v.semver().Compare(b.semver()), v.Compare(b), "%q.Compare(%q)", v, b.semver().String())
			require.Equal(t, b.semver().Compare(v.semver()), b.Compare(v), "%q.Compare(%q)", b.semver().String(), v)
		}
	}
}

// gridBounds are the bounds TestConstraintGridAgreesWithMasterminds puts
// after each operator: every wildcard position, pre-releases on exact and
// wild bounds, zeros for the caret's and tilde's special cases.
var gridBounds = []string{
	"0", "0.0", "0.0.0", "0.0.2", "0.1", "0.1.2", "1", "1.1", "1.1.2", "1.1.2-rc.1", "1.1.2-0", "1.1.2+b",
	"1.x", "1.1.x", "1.1.x-rc.1", "1.x-0", "x", "x-rc.1", "x.1.2", "1.x.2", "v1.1", "2.0.0-0", "0.0.x", "0.x",
}

// gridVersions are every major, minor and patch from 0 to 2 with and
// without pre-releases that order below, between and above the bounds'.
var gridVersions = func() []Version {
	var vs []Version
	for _, mmp := range []string{"0.0.0", "0.0.1", "0.0.2", "0.0.3", "0.1.0", "0.1.2", "0.2.0", "1.0.0", "1.1.0",
		"1.1.1", "1.1.2", "1.1.3", "1.2.0", "1.2.2", "2.0.0", "2.1.2", "3.0.0"} {
		for _, pre := range []string{"", "-0", "-alpha", "-rc.1", "-rc.2", "-rc.1.1"} {
			vs = append(vs, MustParse(mmp+pre))
		}
	}
	return vs
}()

// TestConstraintGridAgreesWithMasterminds checks every operator spelling
// on every grid bound, hyphen ranges of grid bounds, and ANDs and ORs of
// a deterministic sample of them, on every grid version.
func TestConstraintGridAgreesWithMasterminds(t *testing.T) {
	var singles []string
	for _, o := range []string{"", "=", "!=", ">", "<", ">=", "=>", "<=", "=<", "~", "~>", "^"} {
		for _, b := range gridBounds {
			singles = append(singles, o+b)
		}
	}
	cases := append([]string(nil), singles...)
	for i, a := range gridBounds {
		for j, b := range gridBounds {
			if (i+j)%4 == 0 {
				cases = append(cases, a+" - "+b)
			}
		}
	}
	for i := 0; i < len(singles); i += 3 {
		a, b := singles[i], singles[(i*7+5)%len(singles)]
		cases = append(cases, a+", "+b, a+" "+b, a+" || "+b)
	}
	checked := 0
	for _, s := range cases {
		c, err := ParseConstraint(s)
		require.NoError(t, err, "grid constraint %q", s)
		for _, v := range gridVersions {
			requireAgrees(t, c, v)
			checked++
		}
	}
	t.Logf("%d constraints × %d versions: %d checks", len(cases), len(gridVersions), checked)
	for _, s := range cases {
		requireSpan(t, MustParseConstraint(s), gridVersions)
	}
}

// requireSpan checks that c allows none of vs, sorted, outside its Span,
// with pre-releases included or not.
func requireSpan(t *testing.T, c Constraint, vs []Version) {
	t.Helper()
	vs = slices.Clone(vs)
	slices.SortStableFunc(vs, Version.Compare)
	lo, hi := c.Span(len(vs), func(i int) Version { return vs[i] })
	require.True(t, 0 <= lo && lo <= hi && hi <= len(vs), "%q: span [%d, %d) of %d", c, lo, hi, len(vs))
	for i, v := range vs {
		if lo <= i && i < hi {
			continue
		}
		require.False(t, c.Allows(v), "%q allows %q, outside its span [%d, %d) of %v", c, v, lo, hi, vs)
		if !c.IsZero() {
			require.False(t, c.p.cc.allows(&v, true), "%q with pre-releases allows %q, outside its span [%d, %d) of %v", c, v, lo, hi, vs)
		}
	}
}

// TestSpan checks that Span is as narrow as the bounds say on catalogs
// of plain versions, and empty when nothing can be allowed.
func TestSpan(t *testing.T) {
	var vs []Version
	for _, s := range []string{"0.9.0", "1.0.0", "1.1.0", "1.2.0", "1.2.5", "1.3.0", "2.0.0", "2.1.0", "3.0.0"} {
		vs = append(vs, MustParse(s))
	}
	at := func(i int) Version { return vs[i] }
	for _, tc := range []struct {
		constraint string
		lo, hi     int
	}{
		{"*", 0, 9},
		{">=1.1, <2", 2, 6},
		{"~1.2", 3, 5},
		{"^1.1", 2, 6},
		{"1.x", 1, 6},
		{">1.x", 6, 9},
		{"<=1.2.x", 0, 5},
		{"!=1.2.0", 0, 9},
		{"<1.0 || >=3", 0, 9},
		{"=2.0.0", 6, 7},
		{">=4", 0, 0},
		{"<0.1", 0, 0},
		{">=1.0.0-0 <1.0.0", 0, 0},
	} {
		lo, hi := MustParseConstraint(tc.constraint).Span(len(vs), at)
		require.Equal(t, [2]int{tc.lo, tc.hi}, [2]int{lo, hi}, "span of %q", tc.constraint)
	}
}

// allowsCases are a constraint and the versions it allows and refuses,
// for the allocation test and the benchmarks.
var allowsCases = []struct {
	name, constraint, version string
	want                      bool
}{
	{"pass", ">=1.2, <2 || ~3.1", "1.5.0", true},
	{"fail", ">=1.2, <2 || ~3.1", "2.5.0", false},
	{"prerelease-pass", ">=1.2.0-rc.1, <2", "1.2.0-rc.2", true},
	{"prerelease-fail", ">=1.2.0-rc.1, <2", "1.2.0-beta.2", false},
	{"prerelease-excluded", ">=1.2, <2", "1.5.0-rc.1", false},
}

func TestAllowsDoesNotAllocate(t *testing.T) {
	for _, tc := range allowsCases {
		t.Run(tc.name, func(t *testing.T) {
			c, v := MustParseConstraint(tc.constraint), MustParse(tc.version)
			require.Equal(t, tc.want, c.Allows(v))
			require.Equal(t, tc.want, c.p.sem.Check(v.semver()))
			allocs := testing.AllocsPerRun(100, func() {
				if c.Allows(v) != tc.want {
					panic("Allows changed its answer")
				}
			})
			require.Zero(t, allocs, "Allows(%s) on %q allocates", v, c)
			if tc.want {
				require.Zero(t, testing.AllocsPerRun(100, func() { _ = c.Check(v) }), "Check(%s) on %q allocates", v, c)
			}
		})
	}
}

// BenchmarkAllows compares the compiled Allows with Masterminds' Check,
// which it replaced, on the same constraints and versions.
func BenchmarkAllows(b *testing.B) {
	for _, tc := range allowsCases {
		c, v := MustParseConstraint(tc.constraint), MustParse(tc.version)
		b.Run("compiled/"+tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if c.Allows(v) != tc.want {
					b.Fatal("wrong answer")
				}
			}
		})
		b.Run("masterminds/"+tc.name, func(b *testing.B) {
			b.ReportAllocs()
			sem := c.p.sem
			for b.Loop() {
				if sem.Check(v.semver()) != tc.want {
					b.Fatal("wrong answer")
				}
			}
		})
	}
}

// FuzzParsePlainAgrees holds Parse's fast path for plain versions to
// Masterminds' parse: whatever parsePlain reads, parseSemver reads as the
// same Version.
func FuzzParsePlainAgrees(f *testing.F) {
	for _, v := range agreeSeedVersions {
		f.Add(v)
	}
	for _, v := range []string{"1.2.3", "10.0.12", "0.0.1", "0.1.0", "01.2.3", "1.02.3", "1.2.03", "1.2", "1.2.3.4", "1..3", ".1.2", "1.2.",
		"18446744073709551616.0.0", "1.2.3 ", " 1.2.3", "1.2.3\n", "+1.2.3", "1.2.-3", "1.2.3-", "1.2.3+", "0.0.0", "00.0.0", "٣.2.1"} {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fast, ok := parsePlain(s)
		if !ok {
			return
		}
		slow, err := parseSemver(s)
		require.NoError(t, err, "parsePlain read %q", s)
		require.Equal(t, slow, fast, "%q", s)
	})
}

// TestParsePlainTakes: the fast path takes plain versions and leaves any
// other text to Masterminds.
func TestParsePlainTakes(t *testing.T) {
	for _, s := range []string{"1.2.3", "10.0.12", "0.0.1", "0.1.0", "18446744073709551615.0.1"} {
		_, ok := parsePlain(s)
		require.True(t, ok, s)
	}
	for _, s := range []string{"0.0.0", "01.2.3", "1.2", "v1.2.3", "1.2.3-rc.1", "1.2.3+b", "1.2.3.4", "18446744073709551616.0.0", ""} {
		_, ok := parsePlain(s)
		require.False(t, ok, s)
	}
}
