package version_test

import (
	"slices"
	"testing"

	"github.com/Masterminds/semver/v3"

	"github.com/stackup/stackup/version"
)

// The constraints operators write in Helm charts and Terraform files
// allow what Masterminds allows.
func TestHuntConstraintsAsMasterminds(t *testing.T) {
	constraints := []string{"~1", "^0.2.3", ">= 1.2 < 2", "1.2.x || 2.x", "!=1.5", "~1.2.3", "^0", "^0.0.3", "~> 1.2", ">1.2.3-alpha", "<=1.2", "1.x", "=1.2", "v1.2", ">=1.2.0-0 <2", "~0.2", "^1.2.x", "1.2 - 1.4", "1 - 2", ">=0.0.0-0", "!=1.5.0-beta", ">1", "<1.2.3-rc.1", "~1.2.3-beta.2", "^1.2.3-beta.2", "1.2.3 || >=2.0.0-rc.1 <3", ">18446744073709551616", "~18446744073709551615", "^18446744073709551615.1", ">=1.2,<2", ">= 1.2, < 2", "1.2.3 - 2", "=v1.2.3", "!= 1.2", "<0.0.0-0", "x", "1.*", "~1.x", "^1.x"}
	versions := []string{"0.0.1", "0.0.3", "0.0.4", "0.1.0", "0.2.2", "0.2.3", "0.2.9", "0.3.0", "1.0.0", "1.0.0-rc.1", "1.1.9", "1.2.0", "1.2.0-beta", "1.2.2", "1.2.3-alpha", "1.2.3-alpha.1", "1.2.3-beta.2", "1.2.3-beta.10", "1.2.3", "1.2.4", "1.2.99", "1.3.0", "1.4.0", "1.4.9", "1.5.0", "1.5.0-beta", "1.5.1", "1.9.9", "2.0.0-rc.1", "2.0.0", "2.0.1", "2.9.0", "2.99.0", "3.0.0", "18446744073709551615.0.0", "1.2.3+build.1", "v1.2.3", "1.2"}
	for _, cs := range constraints {
		c, err := version.ParseConstraint(cs)
		sc, serr := semver.NewConstraint(cs)
		if (err == nil) != (serr == nil) {
			t.Errorf("%q: ours %v, Masterminds %v", cs, err, serr)
			continue
		}
		if err != nil {
			continue
		}
		for _, vs := range versions {
			v, err := version.Parse(vs)
			sv, serr := semver.NewVersion(vs)
			if err != nil || serr != nil {
				t.Fatalf("%q: %v %v", vs, err, serr)
			}
			if got, want := c.Allows(v), sc.Check(sv); got != want {
				t.Errorf("%q allows %q: ours %v, Masterminds %v", cs, vs, got, want)
			}
			if got := c.Check(v) == nil; got != c.Allows(v) {
				t.Errorf("%q %q: Check %v, Allows %v", cs, vs, got, c.Allows(v))
			}
		}
	}
}

func TestHuntVersionsAsMasterminds(t *testing.T) {
	vs := []string{"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.0-1", "1.0.0-01a", "1.0.0-a-b", "1.0.0-99999999999999999999", "1.0.0-9", "1.0.0-x.1", "1.0.0-x", "18446744073709551615.0.0", "v1", "1.0", "01.02.03", "1.0.0+meta", "1.0.0-rc.1+meta", "18446744073709551616.0.0", "1.0.0-18446744073709551616", "1.0.0-0", "1.0.0-00", "1.0.0+00", "v1.2.3-beta+exp.sha.5114f85", "1.2.3.4", "1..2", " 1.2.3", "1.2.3 "}
	for _, a := range vs {
		va, err := version.Parse(a)
		sa, serr := semver.NewVersion(a)
		if (err == nil) != (serr == nil) {
			t.Errorf("%q: ours %v, Masterminds %v", a, err, serr)
			continue
		}
		if err != nil {
			continue
		}
		for _, b := range vs {
			vb, err := version.Parse(b)
			sb, _ := semver.NewVersion(b)
			if err != nil || sb == nil {
				continue
			}
			if got, want := va.Compare(vb), sa.Compare(sb); got != want {
				t.Errorf("Compare(%q, %q): ours %d, Masterminds %d", a, b, got, want)
			}
			if va.Same(vb) != (va.Canonical() == vb.Canonical()) {
				t.Errorf("Same(%q, %q) disagrees with Canonical", a, b)
			}
			if va.Canonical().String() != sa.String() {
				t.Errorf("Canonical(%q) = %q, Masterminds %q", a, va.Canonical(), sa.String())
			}
		}
	}
}

// Span leaves out no version that the constraints above allow.
func TestHuntSpanKeepsAllowed(t *testing.T) {
	var vs []version.Version
	for _, s := range []string{"0.0.1", "0.0.3", "0.2.3", "0.2.9", "1.0.0-rc.1", "1.0.0", "1.2.0-beta", "1.2.0", "1.2.3-alpha", "1.2.3", "1.2.3+b", "v1.2.4", "1.4.9", "1.5.0-beta", "1.5.0", "1.5.1", "2.0.0-rc.1", "2.0.0", "2.99.0", "3.0.0", "18446744073709551615.0.0"} {
		vs = append(vs, version.MustParse(s))
	}
	slices.SortFunc(vs, version.Version.CompareStrict)
	for _, cs := range []string{"~1", "^0.2.3", ">= 1.2 < 2", "1.2.x || 2.x", "!=1.5", "<1 || >2", ">=1.5.0-beta <2", "1.2.3", "=1.2.3+b", ">18446744073709551614"} {
		c := version.MustParseConstraint(cs)
		lo, hi := c.Span(len(vs), func(i int) version.Version { return vs[i] })
		for i, v := range vs {
			if c.Allows(v) && (i < lo || i >= hi) {
				t.Errorf("%q allows %s, outside its span [%d, %d)", cs, v, lo, hi)
			}
		}
	}
}
