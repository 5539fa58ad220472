package topology_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/topology"
)

// TestJSONFileIsAWebPage: a topology file that holds a web page (saved
// from a browser, or fetched from an inventory's URL that answered with a
// login page) is refused saying so, not only "invalid character '<'".
func TestJSONFileIsAWebPage(t *testing.T) {
	_, err := topology.ReadJSON(strings.NewReader("\n<html><head><title>Sign in</title></head></html>\n"))
	require.ErrorIs(t, err, topology.ErrInvalid)
	assert.Contains(t, err.Error(), "line 2, column 1: invalid topology: invalid character '<' looking for beginning of value: it holds markup (HTML or XML), not JSON")
}
