package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/version"
)

// TestHunt14JSONInstancesStayJSON: a TOSCA instance file in JSON (YAML
// reads it, and a CMDB may export it so) stays JSON when apply records a
// node's version in it. A node without a version field got one written
// as YAML, `version: 17.0.13` without quotes, and the file, still named
// .json, was JSON no more: jq, or the CMDB reading it back, failed.
func TestHunt14JSONInstancesStayJSON(t *testing.T) {
	dir := t.TempDir()
	svcData, err := os.ReadFile("testdata/tosca/shop.yaml")
	require.NoError(t, err)
	svc := filepath.Join(dir, "service.yaml")
	require.NoError(t, os.WriteFile(svc, svcData, 0o644))
	instYAML, err := os.ReadFile("testdata/tosca/shop-instances.yaml")
	require.NoError(t, err)
	var doc any
	require.NoError(t, yaml.Unmarshal(instYAML, &doc))
	instJSON, err := json.MarshalIndent(doc, "", "  ")
	require.NoError(t, err)
	inst := filepath.Join(dir, "instances.json")
	require.NoError(t, os.WriteFile(inst, instJSON, 0o644))

	inv := newInventory(&inputFlags{tosca: svc, instances: inst})
	ctx := t.Context()
	// java-1 has no version field; java-2 has one.
	require.NoError(t, inv.Set(ctx, "java-1", version.MustParse("17.0.13")))
	require.NoError(t, inv.Set(ctx, "java-2", version.MustParse("17.0.13")))

	data, err := os.ReadFile(inst)
	require.NoError(t, err)
	assert.True(t, json.Valid(data), "the instance file is JSON no more:\n%s", data)
	m, err := topology.LoadTOSCA(svc, inst)
	require.NoError(t, err)
	for _, node := range []topology.NodeID{"java-1", "java-2"} {
		n, err := m.Node(ctx, node)
		require.NoError(t, err)
		assert.Equal(t, "17.0.13", n.Version.String(), node)
	}
}
