package version_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/Masterminds/semver/v3"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/version"
)

var versionSeeds = []string{
	"",
	"0",
	"0.0.0",
	"v0.0.0",
	"1.2.3",
	"8.5",
	"18.04",
	"v1.2.3",
	"1.0.0-rc.1",
	"1.0.0-alpha.beta.1",
	"1.0.0-0",
	"1.0.0+build.5",
	"v2.0.0-rc.1+build.5",
	"1.0.0-alpha-1.x-y+exp.sha.5114f85",
	"1.0.0-99999999999999999999",
	"18446744073709551615.18446744073709551615.18446744073709551615",
	"18446744073709551616",
	"1.2.3.4",
	" 1.0",
	"abc",
	"1.0.0-01",
	"1.0.0+",
	"1.0.0-" + strings.Repeat("a", version.MaxLength-len("1.0.0-")),
	strings.Repeat("1", version.MaxLength+1),
	// As other ecosystems write them: Debian, Ubuntu, RPM, Java, PEP 440,
	// Node, calendar, Kubernetes distributions.
	"1:2.30-0ubuntu1", "8.0.34-0ubuntu0.22.04.1", "15.4-1.el9", "17.0.2+8", "1.8.0_292", "1.0rc1", "2.0.post1",
	"1!2.0", "v18.17.1", "2024.01", "2024-01-15", "v1.28.3+k3s1", "V1.2.3", "1.2.3\n", "１.２.３",
}

func FuzzParse(f *testing.F) {
	for _, s := range versionSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := version.Parse(s)
		if err != nil {
			require.ErrorIs(t, err, version.ErrInvalidVersion)
			var pe *version.ParseError
			require.ErrorAs(t, err, &pe)
			require.LessOrEqual(t, len(pe.Input), maxShownInput)
			require.True(t, v.IsZero(), "failed Parse returned %v", v)
			if len(s) > version.MaxLength {
				require.ErrorIs(t, err, version.ErrTooLong)
			} else {
				require.NotErrorIs(t, err, version.ErrTooLong)
			}
			return
		}
		require.LessOrEqual(t, len(s), version.MaxLength)

		// The parts, read from the text as written, are Masterminds'.
		sv, err := semver.NewVersion(s)
		require.NoError(t, err)
		require.Equal(t, []any{sv.Major(), sv.Minor(), sv.Patch(), sv.Prerelease(), sv.Metadata()},
			[]any{v.Major(), v.Minor(), v.Patch(), v.Prerelease(), v.Metadata()}, "the parts of %q", s)

		str := v.String()
		require.Equal(t, str, v.String(), "String is not stable")
		require.Equal(t, v.IsZero(), str == "0.0.0", "IsZero disagrees with %q", str)
		if !v.IsZero() {
			require.Equal(t, s, str, "String is not the text as written")
		}

		// The canonical form: the allocation-free path against the plain
		// one, and the same version.
		canon := v.Canonical()
		plain := fmt.Sprintf("%d.%d.%d", v.Major(), v.Minor(), v.Patch())
		if p := v.Prerelease(); p != "" {
			plain += "-" + p
		}
		if m := v.Metadata(); m != "" {
			plain += "+" + m
		}
		if !v.IsZero() {
			require.Equal(t, plain, canon.String(), "Canonical(%q)", s)
		}
		require.Equal(t, str == canon.String(), canon == v, "Canonical(%q) == itself", s)
		require.True(t, canon.Same(v) && v.Same(canon), "Canonical(%q) is not Same", s)
		require.Equal(t, 0, canon.Compare(v))
		require.True(t, canon.Canonical() == canon, "Canonical is not idempotent on %q", s)
		fromCanon, err := version.Parse(canon.String())
		require.NoError(t, err, "the canonical form %q of %q does not parse", canon, s)
		require.True(t, fromCanon == canon)

		again, err := version.Parse(str)
		require.NoError(t, err, "Parse(%q) succeeded but its String %q does not parse", s, str)
		require.True(t, again == v, "Parse(String(Parse(%q))) = %v, want == %v", s, again, v)
		require.Equal(t, str, again.String())
		require.Equal(t, 0, v.Compare(again))

		text, err := v.MarshalText()
		require.NoError(t, err)
		require.Equal(t, str, string(text))
		var u version.Version
		require.NoError(t, u.UnmarshalText(text))
		require.True(t, u == v, "text round trip of %q gave %v", s, u)
	})
}

func FuzzCompare(f *testing.F) {
	f.Add("1.0.0", "1.0.0-rc.1", "1.0.0+build")
	f.Add("1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta")
	f.Add("1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1")
	f.Add("1.0.0-1", "1.0.0-a", "1.0.0-99999999999999999999")
	f.Add("1.0.0-2", "1.0.0-10", "1.0.0-1a")
	f.Add("0.0.0", "0.0.0+x", "0.0.0-0")
	f.Add("1.9.0", "1.10.0", "1.2")
	f.Add("v2", "2.0.0", "18446744073709551615.0.0")
	f.Add("1.28.2+k3s9", "1.28.2+k3s10", "1.28.2+k3s010")
	f.Add("1.0.0+1.a", "1.0.0+01.b", "1.0.0+1")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		va, errA := version.Parse(a)
		vb, errB := version.Parse(b)
		vc, errC := version.Parse(c)
		if errA != nil || errB != nil || errC != nil {
			return
		}
		vs := []version.Version{va, vb, vc}
		// Compare orders as Masterminds does, from which it was rewritten
		// not to allocate.
		ss := []string{a, b, c}
		for i, x := range vs {
			sx, err := semver.NewVersion(ss[i])
			require.NoError(t, err)
			for j, y := range vs {
				sy, err := semver.NewVersion(ss[j])
				require.NoError(t, err)
				require.Equal(t, sx.Compare(sy), x.Compare(y), "%s.Compare(%s)", x, y)
			}
		}
		for _, x := range vs {
			require.Equal(t, 0, x.Compare(x), "%s.Compare(itself)", x)
			require.False(t, x.Less(x), "%s.Less(itself)", x)
			for _, y := range vs {
				xy, yx := x.Compare(y), y.Compare(x)
				require.Contains(t, []int{-1, 0, 1}, xy)
				require.Equal(t, xy, -yx, "%s.Compare(%s) = %d but reverse = %d", x, y, xy, yx)
				require.Equal(t, xy < 0, x.Less(y), "%s.Less(%s)", x, y)
				if x == y {
					require.Equal(t, 0, xy, "%s == %s but Compare = %d", x, y, xy)
				}
				same := x.Same(y)
				require.Equal(t, x.Canonical() == y.Canonical(), same, "%s.Same(%s)", x, y)
				require.Equal(t, same, y.Same(x))
				if same {
					require.Equal(t, 0, xy, "%s is Same as %s but Compare = %d", x, y, xy)
				}
				sxy := x.CompareStrict(y)
				require.Equal(t, x == y, sxy == 0, "%s.CompareStrict(%s) = %d", x, y, sxy)
				require.Equal(t, sxy, -y.CompareStrict(x))
				if xy != 0 {
					require.Equal(t, xy, sxy, "CompareStrict must refine Compare")
				}
				for _, z := range vs { // CompareStrict is transitive
					if sxy <= 0 && y.CompareStrict(z) <= 0 {
						require.LessOrEqual(t, x.CompareStrict(z), 0, "%s <= %s <= %s strictly", x, y, z)
					}
				}
				for _, z := range vs {
					yz, xz := y.Compare(z), x.Compare(z)
					if xy <= 0 && yz <= 0 {
						require.LessOrEqual(t, xz, 0, "%s <= %s <= %s but %s > %s", x, y, z, x, z)
					}
					if xy < 0 && yz <= 0 {
						require.Less(t, xz, 0, "%s < %s <= %s but not %s < %s", x, y, z, x, z)
					}
					if xy == 0 && yz == 0 {
						require.Equal(t, 0, xz, "%s = %s = %s but %s != %s", x, y, z, x, z)
					}
				}
			}
		}
	})
}

// fuzzProbes are the versions FuzzParseConstraint checks constraints on.
var fuzzProbes = func() []version.Version {
	var vs []version.Version
	for _, s := range []string{
		"0.0.0", "0.0.1", "0.1.0", "0.9.9", "1.0.0-0", "1.0.0-rc.1", "1.0.0",
		"1.2.3", "1.2.3+build", "1.3.0", "2.0.0-alpha", "2.0.0", "2.3.4", "2.3.4-eks-a1", "1.29.3-eks-1", "v1.30.4-eks-a1",
		"3.1.0", "9.0.0", "10.0.0-rc.1", "10.5.0", "11.0.0", "100.0.0",
	} {
		vs = append(vs, version.MustParse(s))
	}
	return vs
}()

func FuzzParseConstraint(f *testing.F) {
	for _, s := range []string{
		"", " ", "*", "x", "1.x", ">=9.0, <11", "^1.2", "~2.3 || >=3.1", "1.2 - 2.0",
		">=1.0.0", ">=1.0.0-0", "!=1.2.3", "=1.2.3", "~>1.2", "^0.0.3", "^0", "<=2.x",
		">1.2.3-alpha.1 <2", "1.2.3 || 2.x || >=10.0.0-0", " >= 1.0 , < 2 ", ">=1.30", ">=1.29, <1.30", "~ v2.3", "=1.29 || ^2",
		">>1", "abc", "1.0.0 ||", "||", "1.0.0-01", ">=1.0.0.0",
		"|| <2", ">=1 |||| <3", ">=1 | <2", ">=1,,<2", ",>=1", ">=1,", "==1.2", ">=1, <2 || ,3",
		"~=1.4", "[1.0,2.0)", "'>= 1.0', '< 2'", ">=1.0 and <2", ">=1.0 && <2", "≥1.0", ">=1:2.3", "latest",
		strings.Repeat(">=1.0.0 ", 40),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := version.ParseConstraint(s)
		if err != nil {
			require.ErrorIs(t, err, version.ErrInvalidConstraint)
			var pe *version.ParseError
			require.ErrorAs(t, err, &pe)
			require.LessOrEqual(t, len(pe.Input), maxShownInput)
			require.True(t, c.IsZero())
			if len(s) > version.MaxLength {
				require.ErrorIs(t, err, version.ErrTooLong)
			}
			return
		}
		require.LessOrEqual(t, len(s), version.MaxLength)

		// Every probe gets the same answer from Allows and Check.
		for _, v := range fuzzProbes {
			err := c.Check(v)
			require.Equal(t, c.Allows(v), err == nil, "%q: Allows(%s) disagrees with Check: %v", s, v, err)
			if err != nil {
				require.ErrorIs(t, err, version.ErrUnsatisfied)
				var ue *version.UnsatisfiedError
				require.True(t, errors.As(err, &ue))
				require.True(t, ue.Version == v)
				require.NotEmpty(t, ue.Reasons, "%q rejects %s without a reason", s, v)
			}
			// The pre-release hint: only for a refused pre-release that
			// the same constraint allows once pre-releases count.
			hint := c.PrereleaseHint(v)
			require.Equal(t, c.ExcludesPrerelease(v), hint != "", "%q on %s: hint %q", s, v, hint)
			if hint != "" {
				require.NotEmpty(t, v.Prerelease())
				require.False(t, c.Allows(v))
				require.Contains(t, err.Error(), hint)
				if fix, ok := strings.CutPrefix(hint[strings.Index(hint, "excludes: ")+len("excludes: "):], "write "); ok {
					fix = strings.TrimSuffix(fix, " to allow pre-releases")
					fc, err := version.ParseConstraint(fix)
					require.NoError(t, err, "the hint's constraint %q does not parse", fix)
					require.True(t, fc.Allows(v), "the hint's constraint %q does not allow %s", fix, v)
				}
			}
		}

		// The text form round-trips to a constraint with the same answers.
		text, err := c.MarshalText()
		require.NoError(t, err)
		var u version.Constraint
		require.NoError(t, u.UnmarshalText(text), "UnmarshalText(%q)", text)
		require.Equal(t, c.IsZero(), u.IsZero())
		requireSameAllows(t, c, u)

		str := c.String()
		require.Equal(t, str, c.String(), "String is not stable")
		if c.IsZero() {
			// "", blank and "*" all give the zero Constraint, which prints "*".
			require.Contains(t, []string{"", "*"}, strings.TrimSpace(s))
			require.Equal(t, "*", str)
			return
		}
		// As written, trimmed, with its white space made spaces: one line.
		require.Equal(t, strings.Map(func(r rune) rune {
			if strings.ContainsRune("\t\n\v\f\r", r) {
				return ' '
			}
			return r
		}, strings.TrimSpace(s)), str)
		require.NotContains(t, str, "\n")
		again, err := version.ParseConstraint(str)
		require.NoError(t, err, "ParseConstraint(%q) succeeded but its String %q does not parse", s, str)
		require.Equal(t, str, again.String())
		requireSameAllows(t, c, again)
	})
}

func requireSameAllows(t *testing.T, want, got version.Constraint) {
	t.Helper()
	for _, v := range fuzzProbes {
		require.Equal(t, want.Allows(v), got.Allows(v), "%q vs %q on %s", want, got, v)
	}
}
