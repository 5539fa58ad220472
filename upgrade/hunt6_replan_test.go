package upgrade_test

import (
	"bytes"
	"context"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
)

// TestHunt6ReplanElasticsearchChain runs the Elasticsearch chain step by
// step, applying each to the topology by hand: planning again gives the
// rest of the steps with the same IDs, From and To, each after the one
// before it, and after the last no step and no warning.
func TestHunt6ReplanElasticsearchChain(t *testing.T) {
	topo := build(t, hunt6Search(">=6, <9"))
	req := hunt6SearchRequest(">=8")
	plan, err := upgrade.NewPlanner(topo, hunt6ESPackages(t)).Plan(t.Context(), req)
	require.NoError(t, err)
	all := ids(plan)
	require.Len(t, all, 4)
	for done := 0; done <= len(all); done++ {
		again, err := upgrade.NewPlanner(cvApply(t, topo, plan, all[:done]), hunt6ESPackages(t)).Plan(t.Context(), req)
		require.NoError(t, err, "after %d steps", done)
		requireTopological(t, again)
		assert.Equal(t, all[done:], ids(again), "after %d steps", done)
		for i, s := range again.Steps {
			orig, _ := plan.Step(s.ID)
			assert.Equal(t, orig.From.String(), s.From.String(), s.ID)
			assert.Equal(t, orig.To.String(), s.To.String(), s.ID)
			if i == 0 {
				assert.Empty(t, s.After, "after %d steps, %s waits for nothing done", done, s.ID)
			} else {
				assert.Equal(t, []upgrade.StepID{again.Steps[i-1].ID}, s.After)
			}
		}
		switch done {
		case 3:
			require.Len(t, again.Satisfied, 1)
			assert.Equal(t, topology.NodeID("es-1"), again.Satisfied[0].Node)
		case 4:
			assert.Empty(t, again.Warnings)
			require.Len(t, again.Satisfied, 2, "the server and the application node are where the request wants them")
			assert.Equal(t, topology.NodeID("search-1"), again.Satisfied[1].Node)
			assert.Equal(t, "2.0.0", again.Satisfied[1].Version.String())
		}
	}
}

// TestHunt6ReplanTomcatAfterPlatformOnly: after the platform steps of the
// Tomcat/Java/OS plan ran, but no application step, planning again gives
// exactly the two application steps, which now wait for nothing, and
// satisfied checks for every platform node.
func TestHunt6ReplanTomcatAfterPlatformOnly(t *testing.T) {
	topo := build(t, shopBuilder(2))
	req := shop2("tomcat_server", ">=9.0, <11", "java_runtime", ">=17")
	plan, err := upgrade.NewPlanner(topo, hunt6TomcatPackages(t)).Plan(t.Context(), req)
	require.NoError(t, err)
	platform := platformIDs(plan)
	require.Len(t, platform, 6)
	again, err := upgrade.NewPlanner(cvApply(t, topo, plan, platform), hunt6TomcatPackages(t)).Plan(t.Context(), req)
	require.NoError(t, err)
	assert.Equal(t, []upgrade.StepID{"app/shop-1@2.0.0", "app/shop-2@2.0.0"}, ids(again))
	for _, s := range again.Steps {
		assert.Empty(t, s.After, s.ID)
	}
	var met []string
	for _, c := range again.Satisfied {
		met = append(met, string(c.Node)+" "+c.Version.String()+" "+c.Demand.Constraint.String())
	}
	assert.Equal(t, []string{"java-1 17.0.10 >=17", "java-2 17.0.10 >=17", "tomcat-1 10.1.34 >=9.0, <11", "tomcat-2 10.1.34 >=9.0, <11"}, met)
}

// hunt6Reversed lists every type's packages in the reverse of src's
// order, with each package's Requires reversed too.
func hunt6Reversed(src pkgsource.Source) pkgsource.Source {
	return pkgsource.SourceFunc(func(ctx context.Context, typ string) ([]pkgsource.Package, error) {
		ps, err := src.Packages(ctx, typ)
		ps = slices.Clone(ps)
		slices.Reverse(ps)
		for i := range ps {
			ps[i].Requires = slices.Clone(ps[i].Requires)
			slices.Reverse(ps[i].Requires)
		}
		return ps, err
	})
}

// hunt6ReversedTopology is topo with every application's templates and
// nodes, and every node's relationships, in reverse order.
func hunt6ReversedTopology(t *testing.T, topo *topology.Memory) *topology.Memory {
	apps := topo.Applications()
	slices.Reverse(apps)
	for i := range apps {
		slices.Reverse(apps[i].Templates)
		slices.Reverse(apps[i].Nodes)
		for k := range apps[i].Nodes {
			apps[i].Nodes[k].Relationships = slices.Clone(apps[i].Nodes[k].Relationships)
			slices.Reverse(apps[i].Nodes[k].Relationships)
		}
	}
	out, err := topology.New(apps...)
	require.NoError(t, err)
	return out
}

// TestHunt6DeterministicJSON: a batch that touches every part of a plan
// (chains, transitive requirements, co-tenant decisions, warnings,
// satisfied checks, versions written "v1.27.4", "22.04" and
// "1.28.4+build.7") writes byte-identical JSON whatever order the topology
// and the source list things in, and reads back to the same bytes and
// ID.
func TestHunt6DeterministicJSON(t *testing.T) {
	b := shopBuilder(2).
		Template("legacy", topology.Template{ID: "legacy_app", Type: "webapp", Version: v("3.2.0"),
			Requirements: []topology.Requirement{{Template: "tomcat_server", Constraint: c("<10")}}}).
		Node("legacy", topology.Node{ID: "legacy-1", Template: "legacy_app", Relationships: on("tomcat-2")})
	for _, n := range []topology.Node{
		{ID: "etcd-1", Template: "etcd_cluster"},
		{ID: "cp-1", Template: "control_plane", Relationships: []topology.Relationship{hunt6Dep("etcd-1")}},
		{ID: "chart-1", Template: "web_chart", Relationships: on("cp-1")},
	} {
		app := topology.AppID("cluster")
		if n.ID == "chart-1" {
			app = "web"
		}
		b.Node(app, n)
	}
	b.Template("cluster", topology.Template{ID: "etcd_cluster", Type: "etcd", Version: v("3.5.6")}).
		Template("cluster", topology.Template{ID: "control_plane", Type: "kubernetes", Version: v("v1.26.9")}).
		Template("web", topology.Template{ID: "web_chart", Type: "helm", Version: v("1.0.0")})
	src := source(t,
		requires(pkg("tomcat", "9.0.85"), "jdk", ">=8"),
		requires(pkg("tomcat", "10.1.34"), "jdk", ">=11"),
		requires(requires(pkg("jdk", "17.0.10"), "ubuntu", ">=20.04"), "ubuntu", "<24.04"),
		pkg("ubuntu", "20.04"), pkg("ubuntu", "22.04"),
		requires(pkg("kubernetes", "v1.27.4"), "etcd", ">=3.5.6"),
		from(requires(pkg("kubernetes", "1.28.4+build.7"), "etcd", ">=3.5"), "~1.27"),
		pkg("etcd", "3.5.9"), pkg("etcd", "3.5.13"))
	reqs := []upgrade.Request{shop2("tomcat_server", ">=9.0, <11", "java_runtime", ">=17"), hunt6Chart(">=1.28")}
	topo := build(t, b)
	write := func(t *testing.T, p *upgrade.Plan) []byte {
		var buf bytes.Buffer
		require.NoError(t, p.WriteJSON(&buf))
		return buf.Bytes()
	}
	plan, err := upgrade.NewPlanner(topo, src, upgrade.WithMaxMinorStep(1)).PlanAll(t.Context(), reqs...)
	require.NoError(t, err)
	requireTopological(t, plan)
	assert.Equal(t, []string{"v1.27.4", "1.28.4+build.7"}, hunt6Tos(plan, "cp-1"))
	assert.NotEmpty(t, plan.Warnings)
	assert.NotEmpty(t, plan.Satisfied)
	want := write(t, plan)
	assert.Equal(t, want, write(t, plan), "written twice")

	again, err := upgrade.NewPlanner(hunt6ReversedTopology(t, topo), hunt6Reversed(src), upgrade.WithMaxMinorStep(1)).PlanAll(t.Context(), reqs...)
	require.NoError(t, err)
	assert.Equal(t, string(want), string(write(t, again)), "the topology and the source in reverse order")

	read, err := upgrade.ReadJSON(bytes.NewReader(want))
	require.NoError(t, err)
	assert.Equal(t, plan.ID, read.ID)
	assert.Equal(t, plan.ID, read.ComputeID())
	assert.Equal(t, string(want), string(write(t, read)), "read back and written again")
	assert.Equal(t, plan.String(), read.String())
}

// TestHunt6ConcurrentPlansAreEqual: a Planner is safe for concurrent use
// when its Topology and Source are, and keeps nothing from one plan to
// the next: plans made at once by one Planner are byte-identical.
func TestHunt6ConcurrentPlansAreEqual(t *testing.T) {
	planner := upgrade.NewPlanner(build(t, hunt6Cluster()), source(t,
		requires(pkg("kubernetes", "1.27.13"), "etcd", ">=3.5.7, <3.6"),
		requires(pkg("kubernetes", "1.28.9"), "etcd", ">=3.5.9, <3.6"),
		pkg("etcd", "3.5.9"), pkg("etcd", "3.5.13")), upgrade.WithMaxMinorStep(1))
	chart := upgrade.Request{Application: "web", Replaces: "web_chart", Template: topology.Template{ID: "web_chart", Type: "helm", Version: v("2.0.0"),
		Requirements: []topology.Requirement{{Template: "control_plane", Constraint: c(">=1.28")}}}}
	const n = 8
	out := make([][]byte, n)
	errs := make([]error, n)
	done := make(chan int)
	for i := range n {
		go func() {
			defer func() { done <- i }()
			plan, err := planner.Plan(context.Background(), chart)
			if err != nil {
				errs[i] = err
				return
			}
			var buf bytes.Buffer
			errs[i] = plan.WriteJSON(&buf)
			out[i] = buf.Bytes()
		}()
	}
	for range n {
		<-done
	}
	for i := range n {
		require.NoError(t, errs[i])
		assert.Equal(t, string(out[0]), string(out[i]), "plan %d", i)
	}
	assert.Contains(t, string(out[0]), `"platform/cp-1@1.28.9"`)
}
