package topology_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/topology"
)

// A value of the wrong kind, or an unknown field, is named in the file's
// terms: the field or line, what it holds and what belongs there, never
// the Go types the reader uses.
func TestFileErrorsNameKindsNotGoTypes(t *testing.T) {
	for _, tt := range []struct{ yaml, json, want string }{
		{"applications: abc\n", `"applications":"abc"`, `a string ("abc") where a list belongs`},
		{"applications:\n  - id: [1]\n", `"applications":[{"id":[1]}]`, "a list where a string belongs"},
		{"applications:\n  - id: a\n    nodes: {x: 1}\n", `"applications":[{"id":"a","nodes":{"x":1}}]`, "where a list belongs"},
		{"applications:\n  - id: a\n    templates:\n      - id: t\n        version: [1]\n",
			`"applications":[{"id":"a","templates":[{"id":"t","version":1}]}]`, "where a string belongs"},
		{"applications:\n  - [a]\n", `"applications":[["a"]]`, "a list where "},
		{"requests: []\n", `"requests":[]`, `unknown field "requests"`},
	} {
		_, yerr := topology.ReadYAML(strings.NewReader("schema: stackup/v1\n" + tt.yaml))
		require.ErrorIs(t, yerr, topology.ErrInvalid, tt.yaml)
		assert.Contains(t, yerr.Error(), tt.want, tt.yaml)
		assert.Regexp(t, `line \d+: `, yerr.Error(), tt.yaml)
		_, jerr := topology.ReadJSON(strings.NewReader(`{"schema":"stackup/v1",` + tt.json + `}`))
		require.ErrorIs(t, jerr, topology.ErrInvalid, tt.json)
		assert.Contains(t, jerr.Error(), strings.Replace(tt.want, ` ("abc")`, "", 1), tt.json) // JSON errors do not quote the value
		for _, err := range []error{yerr, jerr} {
			assert.NotContains(t, err.Error(), "topology.")
			assert.NotContains(t, err.Error(), "Go struct")
			assert.NotContains(t, err.Error(), "!!")
		}
	}
	// The field is named in JSON, where the decoder tells it.
	_, err := topology.ReadJSON(strings.NewReader(`{"schema":"stackup/v1","applications":[{"id":"a","templates":[{"id":"t","version":1}]}]}`))
	require.Error(t, err)
	assert.Contains(t, err.Error(), `field "applications.templates.version": a number where a string belongs: write it in quotes`)
}
