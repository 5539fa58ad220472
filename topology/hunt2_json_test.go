package topology_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/topology"
)

// TestHunt2ReadJSONByteOrderMark: a topology file saved by an editor that
// starts UTF-8 with a byte-order mark (Notepad, PowerShell's Set-Content)
// was refused with "invalid character 'ï' looking for beginning of value",
// though ReadYAML reads the same bytes. ReadJSON reads it as without the
// mark, and places errors as an editor shows them.
func TestHunt2ReadJSONByteOrderMark(t *testing.T) {
	shop := readTestdata(t, shopFile)
	want, err := topology.ReadJSON(strings.NewReader(shop))
	require.NoError(t, err)
	m, err := topology.ReadJSON(strings.NewReader("\ufeff" + shop))
	require.NoError(t, err)
	var a, b bytes.Buffer
	require.NoError(t, want.WriteJSON(&a))
	require.NoError(t, m.WriteJSON(&b))
	assert.Equal(t, a.String(), b.String())

	_, err = topology.ReadJSON(strings.NewReader("\ufeff{\"schema\": 1}"))
	checkError(t, err, nil, "line 1, column 12", "a number where a string belongs")
}
