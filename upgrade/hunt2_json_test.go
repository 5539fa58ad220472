package upgrade_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/upgrade"
)

// TestHunt2LocationNotUTF8 lists a package whose location is not UTF-8, as
// a host's source may for a file name in another encoding. JSON cannot
// hold it (it would be written as U+FFFD), so a plan with it could never
// be read back: ReadJSON would find its ID does not match. The planner
// refuses the package, naming it, before a plan is made.
func TestHunt2LocationNotUTF8(t *testing.T) {
	p := pkg("tomcat", "10.1.34")
	p.Location = "tomcat-10.1.34-\xff.tar.gz"
	// A source of the caller's, which pkgsource.NewMemory would refuse.
	unchecked := pkgsource.SourceFunc(func(context.Context, string) ([]pkgsource.Package, error) { return []pkgsource.Package{p}, nil })
	plan, err := upgrade.NewPlanner(build(t, shopBuilder(1)), unchecked).Plan(t.Context(), shop2("tomcat_server", ">=10"))
	require.ErrorIs(t, err, pkgsource.ErrInvalid)
	assert.ErrorContains(t, err, "tomcat 10.1.34")
	assert.ErrorContains(t, err, "location")
	assert.Nil(t, plan)

	// A location in UTF-8, whatever its script, round-trips.
	p.Location = "tomcat-10.1.34-é.tar.gz"
	plan, err = upgrade.NewPlanner(build(t, shopBuilder(1)), source(t, p)).Plan(t.Context(), shop2("tomcat_server", ">=10"))
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, plan.WriteJSON(&buf))
	back, err := upgrade.ReadJSON(&buf)
	require.NoError(t, err)
	assert.Equal(t, plan.ID, back.ID)
}

// TestHunt2RequestRelationNotUTF8: a requirement's relation is free text,
// kept in the plan's requests; one that is not UTF-8 made a plan that
// could not be read back (JSON wrote U+FFFD, and ReadJSON found the ID
// did not match). The request is refused, naming the field; any other
// relation, in any script, round-trips.
func TestHunt2RequestRelationNotUTF8(t *testing.T) {
	req := shop2("tomcat_server", ">=10")
	req.Template.Requirements[0].Relation = "hosted_on\xff"
	plan, err := upgrade.NewPlanner(build(t, shopBuilder(1)), catalogue(t)).Plan(t.Context(), req)
	require.ErrorIs(t, err, upgrade.ErrInvalidRequest)
	var re *upgrade.RequestError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, "Template.Requirements[0].Relation", re.Field)
	assert.Nil(t, plan)

	req.Template.Requirements[0].Relation = "läuft auf"
	plan, err = upgrade.NewPlanner(build(t, shopBuilder(1)), catalogue(t)).Plan(t.Context(), req)
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, plan.WriteJSON(&buf))
	back, err := upgrade.ReadJSON(&buf)
	require.NoError(t, err)
	assert.Equal(t, plan.ID, back.ID)
}
