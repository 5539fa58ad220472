package topology_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/topology"
)

// Test: a service template that uses a construct ReadTOSCA refuses gets
// an error that says what to write instead, as ReadTOSCA's documentation
// promises ("refused with an error naming the construct and its line and
// saying what to do"): a constraint operator it does not read names the
// ones it does, a merge key says to write the keys out, and a key that is
// not a single value says to write one. Before, the three said only "not
// supported", and a user writing a node_filter with pattern or
// min_length learnt neither what would do.
func TestHunt15TOSCARefusalsSayWhatToDo(t *testing.T) {
	const inst = "schema: stackup.instances/v1\napplication: shop\nnodes:\n  - {id: tomcat-1, template: tomcat_server}\n" +
		"  - id: shop-1\n    template: shop_app\n    relationships:\n      - {requirement: host, target: tomcat-1}\n"
	// Variants of hunt14Service, whose tomcat_server's type is on line 10.
	filtered := strings.Replace(hunt14Service, "        - host: tomcat_server\n",
		"        - host:\n            node: tomcat_server\n            node_filter:\n              properties:\n"+
			"                - version: { min_length: 3 }\n", 1)
	merged := strings.Replace(strings.Replace(hunt14Service, "      type: tomcat\n      properties: {version: 9.0.1}\n", "      <<: *tomcat\n", 1),
		"topology_template:\n", "dsl_definitions:\n  tomcat: &tomcat {type: tomcat, properties: {version: 9.0.1}}\ntopology_template:\n", 1)
	complexKey := strings.Replace(hunt14Service, "      type: tomcat\n", "      type: tomcat\n      ? [a, b]\n      : 1\n", 1)
	for _, c := range []struct {
		name, service string
		want          []string
	}{
		{"operator", filtered, []string{`"min_length"`, "line 12", "in_range", "valid_values", "greater_or_equal"}},
		{"merge key", merged, []string{"<<", "line 12", "write"}},
		{"key not a single value", complexKey, []string{"line 11", "write"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, err := topology.ReadTOSCA(strings.NewReader(c.service), strings.NewReader(inst))
			require.Error(t, err)
			assert.Nil(t, m)
			assert.ErrorIs(t, err, topology.ErrInvalid)
			for _, w := range c.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}
