package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/version"
)

// BenchmarkLearn records 20 steps in the topology file of a deployment of
// 10,000 nodes (2,500 stacks of OS, runtime, server and application), as
// JSON and as YAML: one write per step (Learn), as every step was recorded
// before the recorder, and all in one write (LearnAll), as the recorder
// hands over the steps done while a write is under way. It reports the
// time per step recorded.
func BenchmarkLearn(b *testing.B) {
	const stacks, steps = 2500, 20
	var bld topology.Builder
	v := version.MustParse
	bld.Template("platform", topology.Template{ID: "os", Type: "ubuntu", Version: v("20.04")}).
		Template("platform", topology.Template{ID: "rt", Type: "jdk", Version: v("11.0.22")}).
		Template("platform", topology.Template{ID: "srv", Type: "tomcat", Version: v("9.0.85")}).
		Template("shop", topology.Template{ID: "web", Type: "webapp", Version: v("1.0.0")})
	for i := range stacks {
		id := func(p string) topology.NodeID { return topology.NodeID(fmt.Sprintf("%s-%05d", p, i)) }
		on := func(t topology.NodeID) []topology.Relationship {
			return []topology.Relationship{{Relation: topology.HostedOn, Target: t}}
		}
		bld.Node("platform", topology.Node{ID: id("os"), Template: "os"}).
			Node("platform", topology.Node{ID: id("rt"), Template: "rt", Relationships: on(id("os"))}).
			Node("platform", topology.Node{ID: id("srv"), Template: "srv", Relationships: on(id("rt"))}).
			Node("shop", topology.Node{ID: id("web"), Template: "web", Relationships: on(id("srv"))})
	}
	m, err := bld.Build()
	require.NoError(b, err)
	var done []upgrade.Step
	for i := range steps {
		done = append(done, upgrade.Step{Kind: upgrade.Platform, App: "platform",
			Node: topology.NodeID(fmt.Sprintf("srv-%05d", i*stacks/steps)), To: v("9.0.98")})
	}
	for _, format := range []string{"json", "yaml"} {
		var data bytes.Buffer
		require.NoError(b, m.WriteJSON(&data))
		out := data.Bytes()
		if format == "yaml" { // block style, as people write it
			var doc any
			require.NoError(b, json.Unmarshal(out, &doc))
			out, err = yaml.Marshal(doc)
			require.NoError(b, err)
		}
		path := filepath.Join(b.TempDir(), "topology."+format)
		require.NoError(b, os.WriteFile(path, out, 0o644))
		inv := newInventory(&inputFlags{topology: path})
		for _, all := range []bool{false, true} {
			name := map[bool]string{false: "Learn", true: "LearnAll"}[all]
			b.Run(format+"/"+name, func(b *testing.B) {
				for b.Loop() {
					if all {
						require.NoError(b, inv.LearnAll(b.Context(), done))
						continue
					}
					for _, s := range done {
						require.NoError(b, inv.Learn(b.Context(), s))
					}
				}
				b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N*steps), "ms/step")
			})
		}
	}
}
