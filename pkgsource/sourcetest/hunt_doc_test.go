package sourcetest_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/pkgsource/sourcetest"
	"github.com/stackup/stackup/version"
)

// listSource lists its packages as given, failing on a cancelled context.
type listSource []pkgsource.Package

func (s listSource) Packages(ctx context.Context, typ string) ([]pkgsource.Package, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []pkgsource.Package
	for _, p := range s {
		if p.Type == typ {
			out = append(out, p)
		}
	}
	return out, nil
}

// Test: "lists ... each once": a version listed twice, in two spellings, is
// a failure, as the planner refuses such a list.
func TestHuntDocOneVersionTwoSpellings(t *testing.T) {
	a := pkgsource.Package{Type: "ubuntu", Version: version.MustParse("18.04")}
	b := pkgsource.Package{Type: "ubuntu", Version: version.MustParse("18.4.0")}
	assert.NoError(t, sourcetest.Test(context.Background(), listSource{a}, a))
	assert.Error(t, sourcetest.Test(context.Background(), listSource{a, b}, a))
}
