package pkgsource_test

import (
	"context"
	"fmt"
	"log"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/version"
)

func ExampleNewMemory() {
	src, err := pkgsource.NewMemory(
		pkgsource.Package{Type: "tomcat", Version: version.MustParse("10.1.18"),
			Requires: []pkgsource.Requirement{{Type: "jvm", Constraint: version.MustParseConstraint(">=11")}}},
		pkgsource.Package{Type: "jvm", Version: version.MustParse("17")},
		pkgsource.Package{Type: "tomcat", Version: version.MustParse("9.0.85")},
		pkgsource.Package{Type: "tomcat", Version: version.MustParse("11.0.0-M1")},
	)
	if err != nil {
		log.Fatal(err)
	}
	pkgs, err := src.Packages(context.Background(), "tomcat")
	if err != nil {
		log.Fatal(err)
	}
	for _, p := range pkgs {
		fmt.Println(p)
	}
	// Output:
	// tomcat 9.0.85
	// tomcat 10.1.18
	// tomcat 11.0.0-M1
}
