package topology_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TOSCA 1.2 and 1.3 service templates may name the namespace of the types
// they define: documentation, like description, that bears on no version.
func TestHunt8TOSCANamespace(t *testing.T) {
	service := editFile(t, toscaShop, edit{toscaVersionLine, toscaVersionLine + "namespace: http://shop.example.com/tosca\n"})
	m, err := readTOSCA(service, readTestdata(t, toscaShopInstances))
	require.NoError(t, err)
	app, err := m.Application(t.Context(), "shop")
	require.NoError(t, err)
	tmpl, ok := app.Template("tomcat_server")
	require.True(t, ok)
	assert.Equal(t, "8.5.100", tmpl.Version.String())
}

// get_input names an input by name; the list form, which TOSCA uses to
// reach into an input's value, is refused saying so, not as an input
// named "" without a default.
func TestHunt8TOSCAGetInputList(t *testing.T) {
	service := editFile(t, toscaShop, edit{toscaShopTomcatVersion, "component_version: { get_input: [ tomcat_version, 0 ] }"})
	checkServiceErrors(t, []serviceError{{"a list", service, "get_input: [ tomcat_version, 0 ]",
		"node_templates.tomcat_server.properties.component_version", []string{"get_input", "the name of an input", "such as { get_input: tomcat_version }"}}})
}
