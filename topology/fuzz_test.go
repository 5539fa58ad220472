package topology_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/topology"
)

// FuzzReadJSON checks that ReadJSON never panics, that every error it
// returns matches ErrInvalid or ErrCycle, and that whatever it accepts
// survives WriteJSON and ReadJSON unchanged.
func FuzzReadJSON(f *testing.F) {
	files, err := filepath.Glob("testdata/*.json")
	require.NoError(f, err)
	require.NotEmpty(f, files)
	var shop string
	for _, name := range files {
		data, err := os.ReadFile(name)
		require.NoError(f, err)
		f.Add(data)
		if name == shopFile {
			shop = string(data)
		}
	}
	require.NotEmpty(f, shop)
	for _, broken := range []string{
		shop[:len(shop)/3],
		shop + "{}",
		strings.Replace(shop, `"tomcat-1"}`, `"shop-1"}`, 1),                                     // a cycle
		strings.Replace(shop, `"1.4.0"`, `"1.4.0-rc.1+b.7"`, 1),                                  // prerelease and metadata
		strings.Replace(shop, `">=8.5, <9"`, `"~8.5 || ^9.0.0-0"`, 1),                            // another constraint
		strings.Replace(shop, `"hosted_on", "target": "vm-2"`, `"runs_on", "target": "vm-2"`, 1), // unknown relation
		strings.Replace(shop, `"version": "18.04"`, `"version": "v18"`, 1),
		strings.Replace(shop, `{"id": "tomcat-1"`, `{"id": "tomcat-1$(touch pwned)"`, 1), // hostile identifiers
		strings.Replace(shop, `"target": "java-1"}`, `"target": "x\nFAKE LINE\u001b[2J"}`, 1),
		strings.Replace(shop, `{"id": "shop-1"`, `{"id": "-rf"`, 1),
		`{"schema": "stackup.topology/v1", "applications": [{"id": "a", "templates": [], "nodes": []}]}`,
		`{"schema": "stackup.topology/v1", "applications": [{"id": "a", "templates": [{"id": "t", "type": "x", "version": "0.0.0"}], "nodes": [{"id": "n", "template": "t", "version": "0.0.0", "relationships": []}]}]}`,
		`{"schema": "stackup.topology/v1", "applications": [{"id": "a", "templates": [{"id": "t", "type": "x", "version": "1", "requirements": [{"template": "t", "constraint": " >=1 "}]}], "nodes": [{"id": "n", "template": "t"}, {"id": "m", "template": "t", "relationships": [{"relation": "depends_on", "target": "n"}]}]}]}`,
		`{"schema": "stackup.topology/v1", "applications": null}`,
		`{"SCHEMA": "stackup.topology/v1", "Applications": [{"ID": "\u00e9\ud800"}]}`,
		`{"schema": "stackup.topology/v1", "applications": [null, {}]}`,
		`[]`,
		`"`,
		"", " \r\n\t", "\ufeff\n", // empty
		// Duplicate keys, in any case; a node at 0.0.0 under a template at 1.
		strings.Replace(shop, `"schema": "stackup.topology/v1",`, `"schema": "stackup.topology/v1", "Schema": "stackup.topology/v1",`, 1),
		strings.Replace(shop, `"target": "java-1"}`, `"target": "java-1", "target": "vm-1"}`, 1),
		`{"schema": "stackup.topology/v1", "applications": [{"id": "a", "templates": [{"id": "t", "type": "x", "version": "1"}], "nodes": [{"id": "n", "template": "t", "version": "0.0.0"}]}]}`,
		`{"schema": "stackup.topology/v1", "applications": [{"id": "a", "id": "b", "templates": [], "nodes": []}]}`,
	} {
		f.Add([]byte(broken))
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := topology.ReadJSON(bytes.NewReader(data))
		if err != nil {
			assert.Nil(t, m)
			assert.True(t, errors.Is(err, topology.ErrInvalid) || errors.Is(err, topology.ErrCycle),
				"error matches neither ErrInvalid nor ErrCycle: %v", err)
			var te *topology.Error
			assert.ErrorAs(t, err, &te)
			return
		}
		require.NotNil(t, m)

		var out bytes.Buffer
		require.NoError(t, m.WriteJSON(&out))
		back, err := topology.ReadJSON(bytes.NewReader(out.Bytes()))
		require.NoError(t, err, "ReadJSON rejects what WriteJSON wrote:\n%s", out.Bytes())
		require.Equal(t, normalize(m.Applications()), normalize(back.Applications()))

		var again bytes.Buffer
		require.NoError(t, back.WriteJSON(&again))
		require.Equal(t, out.String(), again.String(), "WriteJSON is not stable")
	})
}
