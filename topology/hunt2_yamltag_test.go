package topology_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/topology"
)

// TestHunt2ReadYAMLRefusesLocalTags: YAML reads a plain value that begins
// with "!" as a tag followed by the value, and the decoder drops the tag.
// An operator who writes the constraint !=1.5 <2 unquoted, to keep a broken
// 1.5 out, got the constraint <2, which allows 1.5; and !=1.5 alone became
// no constraint at all. A value with a tag YAML does not define is refused,
// naming its line and saying to quote it.
func TestHunt2ReadYAMLRefusesLocalTags(t *testing.T) {
	const doc = `schema: stackup.topology/v1
applications:
  - id: shop
    templates:
      - id: os
        type: ubuntu
        version: %s
      - id: app
        type: webapp
        version: 1.0.0
        requirements:
          - template: os
            constraint: %s
    nodes:
      - {id: vm-1, template: os}
      - {id: app-1, template: app, relationships: [{relation: hosted_on, target: vm-1}]}
`
	tests := []struct {
		name, version, constraint string
		line                      int
	}{
		{"a != constraint and another", "1.0.0", "!=1.5 <2", 13},
		{"a != constraint and another, with a comma", "1.0.0", "!=1.5, <2", 13},
		{"a != constraint alone", "1.0.0", "!=1.5", 13},
		{"a version", "!1.0", `">=1"`, 7},
		{"a tagged mapping", "1.0.0", "!x {a: b}", 13},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := topology.ReadYAML(strings.NewReader(fmt.Sprintf(doc, tt.version, tt.constraint)))
			require.Error(t, err, "read as %v", m)
			assert.Nil(t, m)
			checkError(t, err, nil, fmt.Sprintf("line %d", tt.line), "quote")
			assert.NotContains(t, err.Error(), "\n")
		})
	}
	// Quoted, and with the tags YAML defines, the values are read.
	for _, ok := range [][2]string{{"1.0.0", `"!=1.5 <2"`}, {"!!str 1.10", `'!=1.5, <2'`}, {"!!float 8.10", `!!str "!=1.5"`}} {
		m, err := topology.ReadYAML(strings.NewReader(fmt.Sprintf(doc, ok[0], ok[1])))
		require.NoError(t, err, "%q", ok)
		a := m.Applications()
		assert.Equal(t, strings.Trim(strings.TrimPrefix(ok[1], "!!str "), `"'`), a[0].Templates[1].Requirements[0].Constraint.String())
	}
}
