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
