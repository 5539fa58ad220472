package upgrade

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/version"
)

// asksAlike: two requirements on a type ask alike when they allow the same
// of its packaged versions and of the failed node's installed one, however
// written; and not when they differ on either, or when the type cannot be
// listed (but for the same text).
func TestAsksAlike(t *testing.T) {
	mem, err := pkgsource.NewMemory(pkgsource.Package{Type: "ubuntu", Version: version.MustParse("22.04")},
		pkgsource.Package{Type: "ubuntu", Version: version.MustParse("24.04")})
	require.NoError(t, err)
	src := pkgsource.SourceFunc(func(ctx context.Context, typ string) ([]pkgsource.Package, error) {
		if typ == "ubuntu" {
			return mem.Packages(ctx, typ)
		}
		return nil, errors.New("mirror down")
	})
	topo, err := topology.New()
	require.NoError(t, err)
	pl := &planning{Planner: NewPlanner(topo, src), ctx: t.Context(), catalogs: map[string]*catalog{}}
	passed := &passedOver{Demand: Demand{Constraint: version.MustParseConstraint("~22.04")}, typ: "ubuntu", installed: version.MustParse("20.04")}
	for c, want := range map[string]bool{
		"~22.04":            true,
		"=22.04":            true,
		"22.04.x":           true,
		">=22.04, <24.04":   true,
		">22.03, <22.05":    true,
		">=22.04":           false, // 24.04 too
		">=20.04, <=22.04":  false, // stays on the installed 20.04
		"<22.04 || =22.04":  false, // so does this
		">=24.04":           false,
		"=22.04 || >=24.04": false,
	} {
		assert.Equal(t, want, pl.asksAlike(version.MustParseConstraint(c), passed), c)
	}
	unlisted := *passed
	unlisted.typ = "debian"
	assert.True(t, pl.asksAlike(version.MustParseConstraint("~22.04"), &unlisted), "the same text")
	assert.False(t, pl.asksAlike(version.MustParseConstraint("=22.04"), &unlisted), "nothing listed to compare on")
	assert.False(t, pl.asksAlike(version.MustParseConstraint("<21"), passed), "not on the installed version, whatever the mirror")
}
