package upgrade_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/version"
)

// TestHunt3EmptyPlanFile: an empty plan file, or one of white space only,
// was refused as "invalid plan: EOF". It now says the file is empty, what
// it must hold and what to do.
func TestHunt3EmptyPlanFile(t *testing.T) {
	for _, in := range []string{"", " ", "\r\n\n"} {
		p, err := upgrade.ReadJSON(strings.NewReader(in))
		assert.Nil(t, p)
		require.ErrorIs(t, err, upgrade.ErrInvalidPlan)
		require.ErrorIs(t, err, topology.ErrEmpty)
		assert.EqualError(t, err, `upgrade: invalid plan: empty file: it holds nothing but white space; it must hold a plan as Plan.WriteJSON writes it, a JSON object with "schema": "`+upgrade.Schema+`"; plan again to make one`)
	}
}

// TestHunt3RequirementWithoutTemplate: a request's requirement that named
// no template was refused as "Template.Requirements[1].Template: empty",
// which did not say what belongs there; and a template with no version
// did not say to give one. Both now say what to give.
func TestHunt3RequirementWithoutTemplate(t *testing.T) {
	ctx := context.Background()
	req := shop2("tomcat_server", ">=9")
	req.Template.Requirements = append(req.Template.Requirements, topology.Requirement{Name: "db", Constraint: version.MustParseConstraint(">=15")})
	p, err := upgrade.NewPlanner(build(t, shopBuilder(1)), catalogue(t)).Plan(ctx, req)
	assert.Nil(t, p)
	require.ErrorIs(t, err, upgrade.ErrInvalidRequest)
	var re *upgrade.RequestError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, "Template.Requirements[1].Template", re.Field)
	assert.EqualError(t, err, "upgrade: request #1: Template.Requirements[1].Template: empty: give the template of the platform the requirement is on, such as tomcat_server")

	req = shop2("tomcat_server", ">=9")
	req.Template.Version = version.Version{}
	p, err = upgrade.NewPlanner(build(t, shopBuilder(1)), catalogue(t)).Plan(ctx, req)
	assert.Nil(t, p)
	require.ErrorAs(t, err, &re)
	assert.Equal(t, "Template.Version", re.Field)
	assert.Contains(t, err.Error(), `template "shop_app" has no version: give the version the new template deploys`)
}

// TestHunt3LongValuesAreCutShort: a plan file that held a schema, an ID
// or an unknown field of megabytes made a message of megabytes; each is
// now quoted cut short, with its length.
func TestHunt3LongValuesAreCutShort(t *testing.T) {
	big := strings.Repeat("x", 1<<20)
	for _, doc := range []string{
		`{"schema": "` + big + `"}`,
		`{"schema": "` + upgrade.Schema + `", "id": "` + big + `", "requests": [], "steps": []}`,
		`{"schema": "` + upgrade.Schema + `", "` + big + `": 1}`,
	} {
		p, err := upgrade.ReadJSON(strings.NewReader(doc))
		assert.Nil(t, p)
		require.ErrorIs(t, err, upgrade.ErrInvalidPlan)
		assert.Less(t, len(err.Error()), 1000)
		assert.Contains(t, err.Error(), `…" (1048576 bytes)`)
	}
}

// TestReadJSONErrorPlace: a plan file that is not JSON, or holds a value
// of the wrong kind, is refused with the line and column of the fault, as
// topology files are, so that a plan edited by hand can be mended.
func TestReadJSONErrorPlace(t *testing.T) {
	for _, tt := range []struct{ doc, want string }{
		{"{\"schema\": \"" + upgrade.Schema + "\",\n  \"requests\": [],\n  \"steps\": [,]}",
			`upgrade: invalid plan: line 3, column 13: invalid character ',' looking for beginning of value`},
		{"{\"schema\": \"" + upgrade.Schema + "\",\n  \"steps\": {}}",
			`upgrade: invalid plan: line 2, column 12: field "steps": an object where a list belongs`},
	} {
		p, err := upgrade.ReadJSON(strings.NewReader(tt.doc))
		assert.Nil(t, p)
		require.ErrorIs(t, err, upgrade.ErrInvalidPlan)
		assert.EqualError(t, err, tt.want)
	}
}
