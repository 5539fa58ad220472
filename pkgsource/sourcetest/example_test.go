package sourcetest_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/pkgsource/sourcetest"
	"github.com/stackup/stackup/version"
)

// inventory is a host program's own package list, which it serves to the
// planner through a pkgsource.Source.
var inventory = []pkgsource.Package{
	{Type: "tomcat", Version: version.MustParse("9.0.98")},
	{Type: "tomcat", Version: version.MustParse("10.1.34")},
	{Type: "jdk", Version: version.MustParse("21.0.2")},
}

// inventorySource lists the packages of the inventory whose type matches
// the one asked for.
func inventorySource(match func(have, want string) bool) pkgsource.Source {
	return pkgsource.SourceFunc(func(ctx context.Context, typ string) ([]pkgsource.Package, error) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var out []pkgsource.Package
		for _, p := range inventory {
			if match(p.Type, typ) {
				out = append(out, p)
			}
		}
		return out, nil
	})
}

func ExampleTest() {
	ctx := context.Background()

	// A Source that matches types exactly and honours its context passes.
	exact := inventorySource(func(have, want string) bool { return have == want })
	fmt.Println(sourcetest.Test(ctx, exact, inventory...))

	// One that matches types whatever their case does not: a template of
	// type "Tomcat" would be planned with the packages of "tomcat".
	fmt.Println(sourcetest.Test(ctx, inventorySource(strings.EqualFold), inventory...))
	// Output:
	// <nil>
	// 2 problems: sourcetest: Packages("TOMCAT") lists tomcat 9.0.98, of another type: match types exactly; sourcetest: Packages("JDK") lists jdk 21.0.2, of another type: match types exactly
}
