package version_test

import (
	"errors"
	"fmt"

	"github.com/stackup/stackup/version"
)

func ExampleParse() {
	for _, s := range []string{"8.5", "18.04", "v1.2.3", "2.0.0-rc.1+build.5"} {
		v, err := version.Parse(s)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Printf("%-20q -> %-18s canonical %s\n", s, v, v.Canonical())
	}

	_, err := version.Parse("1.2.3.4")
	fmt.Println(errors.Is(err, version.ErrInvalidVersion))
	fmt.Println(err)

	rc, final := version.MustParse("1.0.0-rc.1"), version.MustParse("1.0.0")
	fmt.Println(rc.Less(final))
	// Output:
	// "8.5"                -> 8.5                canonical 8.5.0
	// "18.04"              -> 18.04              canonical 18.4.0
	// "v1.2.3"             -> v1.2.3             canonical 1.2.3
	// "2.0.0-rc.1+build.5" -> 2.0.0-rc.1+build.5 canonical 2.0.0-rc.1+build.5
	// true
	// version: invalid version "1.2.3.4": invalid semantic version: a version has at most three numbers, major.minor.patch: write what follows the third after a "-", as a pre-release (1.2.3-4, which orders before 1.2.3), or after a "+", as build metadata (1.2.3+4, which does not order)
	// true
}

func ExampleConstraint_Check() {
	c := version.MustParseConstraint(">=9.0, <11")

	fmt.Println(c.Check(version.MustParse("10.2")))

	err := c.Check(version.MustParse("11.0.1"))
	fmt.Println(errors.Is(err, version.ErrUnsatisfied))
	fmt.Println(err)

	var ue *version.UnsatisfiedError
	if errors.As(err, &ue) {
		fmt.Println(ue.Version, ue.Constraint, len(ue.Reasons))
	}
	// Output:
	// <nil>
	// true
	// version: 11.0.1 does not satisfy ">=9.0, <11": "11.0.1" is greater than or equal to "11"
	// 11.0.1 >=9.0, <11 1
}

func ExampleConstraint_Allows() {
	c := version.MustParseConstraint("~2.3 || >=3.1")
	for _, s := range []string{"2.2.9", "2.3.0", "2.3.7", "2.4.0", "3.0.0", "3.1.0", "4.0.0-rc.1"} {
		fmt.Println(s, c.Allows(version.MustParse(s)))
	}

	// A prerelease is allowed only by a constraint that names one.
	rc := version.MustParse("2.0.0-rc.1")
	fmt.Println(version.MustParseConstraint(">=1.0.0").Allows(rc))
	fmt.Println(version.MustParseConstraint(">=1.0.0-0").Allows(rc))

	// The zero Constraint allows everything.
	var unset version.Constraint
	fmt.Println(unset, unset.Allows(rc))
	// Output:
	// 2.2.9 false
	// 2.3.0 true
	// 2.3.7 true
	// 2.4.0 false
	// 3.0.0 false
	// 3.1.0 true
	// 4.0.0-rc.1 false
	// false
	// true
	// * true
}

func ExampleConstraint_PrereleaseHint() {
	c := version.MustParseConstraint(">=1.30")
	v := version.MustParse("1.30.4-eks-a1")
	fmt.Println(c.Allows(v), c.ExcludesPrerelease(v))
	fmt.Println(c.PrereleaseHint(v))
	fmt.Println(version.MustParseConstraint(">=1.30.0-0").Allows(v))
	// Output:
	// false true
	// 1.30.4-eks-a1 is a pre-release, which >=1.30 excludes: write >=1.30.0-0 to allow pre-releases
	// true
}

func ExampleConstraint_Span() {
	var versions []version.Version // ascending, as a package index lists them
	for _, s := range []string{"1.0.0", "1.1.0", "1.2.0", "1.2.1", "2.0.0-rc.1", "2.0.0", "3.0.0"} {
		versions = append(versions, version.MustParse(s))
	}
	c := version.MustParseConstraint("~1.2 || ^2")
	lo, hi := c.Span(len(versions), func(i int) version.Version { return versions[i] })
	for _, v := range versions[lo:hi] { // only these can be allowed
		fmt.Println(v, c.Allows(v))
	}
	// Output:
	// 1.2.0 true
	// 1.2.1 true
	// 2.0.0-rc.1 false
	// 2.0.0 true
}
