package upgrade_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
)

// hunt9Request asks for the given template of app, replacing the template
// of the same ID, at version ver, with requirements in pairs: template,
// constraint, template, constraint…
func hunt9Request(app topology.AppID, tmpl topology.TemplateID, ver string, pairs ...string) upgrade.Request {
	r := upgrade.Request{Application: app, Replaces: tmpl, Template: topology.Template{ID: tmpl, Type: "webapp", Version: v(ver)}}
	for i := 0; i+1 < len(pairs); i += 2 {
		r.Template.Requirements = append(r.Template.Requirements, topology.Requirement{Template: topology.TemplateID(pairs[i]), Constraint: c(pairs[i+1])})
	}
	return r
}

// hunt9Plan plans reqs on topo with pkgs, and again from topologies and
// sources that list applications, templates, requirements, nodes,
// relationships, dependents and packages in other orders, and requires the
// same plan, byte for byte, or the same error.
func hunt9Plan(t *testing.T, topo *topology.Memory, pkgs []pkgsource.Package, opts []upgrade.Option, reqs ...upgrade.Request) (*upgrade.Plan, error) {
	t.Helper()
	plan, err := upgrade.NewPlanner(topo, source(t, pkgs...), opts...).PlanAll(t.Context(), reqs...)
	for seed := range uint64(6) {
		rng := rand.New(rand.NewPCG(seed, 9))
		apps := shuffled(rng, topo.Applications())
		for a := range apps {
			apps[a].Templates = shuffled(rng, apps[a].Templates)
			for k := range apps[a].Templates {
				apps[a].Templates[k].Requirements = shuffled(rng, apps[a].Templates[k].Requirements)
			}
			apps[a].Nodes = shuffled(rng, apps[a].Nodes)
			for k := range apps[a].Nodes {
				apps[a].Nodes[k].Relationships = shuffled(rng, apps[a].Nodes[k].Relationships)
			}
		}
		mem, nerr := topology.New(apps...)
		require.NoError(t, nerr)
		src := pkgsource.SourceFunc(func(_ context.Context, typ string) ([]pkgsource.Package, error) {
			var out []pkgsource.Package
			for _, p := range pkgs {
				if p.Type == typ {
					out = append(out, p)
				}
			}
			return shuffled(rng, out), nil
		})
		again, aerr := upgrade.NewPlanner(shuffledTopology{mem, rng}, src, opts...).PlanAll(t.Context(), reqs...)
		if err != nil {
			require.Error(t, aerr, "seed %d", seed)
			require.Equal(t, err.Error(), aerr.Error(), "seed %d", seed)
			continue
		}
		require.NoError(t, aerr, "seed %d", seed)
		require.Equal(t, plan.String(), again.String(), "seed %d", seed)
		require.Equal(t, plan.ID, again.ID, "seed %d", seed)
	}
	return plan, err
}

// hunt9Postgres is the maps application's maps-1, which uses a PostgreSQL
// 12 server, db-1, of application "data", where a PostGIS 3.1 extension
// of application "gis", postgis-1, is installed: PostGIS builds are made
// for one PostgreSQL major version, so its template pins the server's.
func hunt9Postgres() *topology.Builder {
	return new(topology.Builder).
		Template("data", topology.Template{ID: "pg_server", Type: "postgresql", Version: v("12.18")}).
		Template("gis", topology.Template{ID: "postgis_ext", Type: "postgis", Version: v("3.1.4"),
			Requirements: []topology.Requirement{{Template: "pg_server", Constraint: c("~12")}}}).
		Template("maps", topology.Template{ID: "maps_app", Type: "webapp", Version: v("1.0.0"),
			Requirements: []topology.Requirement{{Template: "pg_server", Constraint: c(">=12")}}}).
		Node("data", topology.Node{ID: "db-1", Template: "pg_server"}).
		Node("gis", topology.Node{ID: "postgis-1", Template: "postgis_ext", Relationships: on("db-1")}).
		Node("maps", topology.Node{ID: "maps-1", Template: "maps_app", Relationships: []topology.Relationship{hunt6Dep("db-1")}})
}

// hunt9PostgresPackages: pg_upgrade goes from any major to any later one.
func hunt9PostgresPackages() []pkgsource.Package {
	return []pkgsource.Package{pkg("postgresql", "13.14"), pkg("postgresql", "14.11"), pkg("postgresql", "15.6"), pkg("postgresql", "16.2"), pkg("postgresql", "17.0-rc1")}
}

// TestHunt9PostGISPinsServerMajor: maps 2.0 needs PostgreSQL 16; the
// PostGIS extension on the server is built for 12 only, so the plan fails
// with a *ConflictError naming the extension, its application and its
// "~12". Upgrading the extension in the same plan lifts the conflict: one
// server step to 16.2 (not the 17 release candidate), both application
// steps after it, and a warning that PostGIS 3.1 is broken between the
// two.
func TestHunt9PostGISPinsServerMajor(t *testing.T) {
	topo := build(t, hunt9Postgres())
	maps := hunt9Request("maps", "maps_app", "2.0.0", "pg_server", ">=16")
	_, err := hunt9Plan(t, topo, hunt9PostgresPackages(), nil, maps)
	require.ErrorIs(t, err, upgrade.ErrConflict)
	ce, ok := errors.AsType[*upgrade.ConflictError](err)
	require.True(t, ok, err)
	assert.Equal(t, topology.NodeID("db-1"), ce.Node)
	require.Len(t, ce.Blocking, 1)
	assert.Equal(t, "node postgis-1 (gis) requires ~12", ce.Blocking[0].String())
	assert.Equal(t, versions("16.2"), ce.Tried)
	assert.Contains(t, err.Error(), `node "db-1" (postgresql 12.18): maps_app@2.0.0 (maps) requires >=16, but node postgis-1 (gis) requires ~12`)

	postgis := upgrade.Request{Application: "gis", Replaces: "postgis_ext", Template: topology.Template{ID: "postgis_ext", Type: "postgis", Version: v("3.4.2"),
		Requirements: []topology.Requirement{{Template: "pg_server", Constraint: c("~16")}}}}
	plan, err := hunt9Plan(t, topo, hunt9PostgresPackages(), nil, maps, postgis)
	require.NoError(t, err)
	requireTopological(t, plan)
	assert.Equal(t, []hunt8Step{
		{"platform/db-1@16.2.0", "12.18", "16.2", nil},
		{"app/maps-1@2.0.0", "1.0.0", "2.0.0", []upgrade.StepID{"platform/db-1@16.2.0"}},
		{"app/postgis-1@3.4.2", "3.1.4", "3.4.2", []upgrade.StepID{"platform/db-1@16.2.0"}},
	}, hunt8Steps(plan))
	assert.Equal(t, []string{"node postgis-1 (postgis_ext 3.1.4) requires pg_server ~12; it runs on db-1 16.2 from step platform/db-1@16.2.0 until its own step"}, plan.Warnings)

	// Asking for the release candidate gets it.
	plan, err = hunt9Plan(t, topo, hunt9PostgresPackages(), nil, hunt9Request("maps", "maps_app", "2.0.0", "pg_server", ">=17.0-0"),
		hunt9Request("gis", "postgis_ext", "3.5.0", "pg_server", ">=17.0-0"))
	require.NoError(t, err)
	assert.Equal(t, []string{"17.0-rc1"}, hunt6Tos(plan, "db-1"))
}

// hunt9JVM is a JDK 8 VM, jvm-1, of application "platform" with two
// Tomcat 9 servers on it, tomcat-a and tomcat-b; the shop's shop-1 runs on
// tomcat-a and the billing team's billing-1, whose template requires
// java as given, on tomcat-b.
func hunt9JVM(java string) *topology.Builder {
	return new(topology.Builder).
		Template("platform", topology.Template{ID: "java_runtime", Type: "jdk", Version: v("8.0.402")}).
		Template("platform", topology.Template{ID: "tomcat_server", Type: "tomcat", Version: v("9.0.85"),
			Requirements: []topology.Requirement{{Template: "java_runtime", Constraint: c(">=8")}}}).
		Template("shop", topology.Template{ID: "shop_app", Type: "webapp", Version: v("1.4.0"),
			Requirements: []topology.Requirement{{Template: "tomcat_server", Constraint: c("~9")}}}).
		Template("billing", topology.Template{ID: "billing_app", Type: "webapp", Version: v("3.0.0"),
			Requirements: []topology.Requirement{{Template: "tomcat_server", Constraint: c("~9")}, {Template: "java_runtime", Constraint: c(java)}}}).
		Node("platform", topology.Node{ID: "jvm-1", Template: "java_runtime"}).
		Node("platform", topology.Node{ID: "tomcat-a", Template: "tomcat_server", Relationships: on("jvm-1")}).
		Node("platform", topology.Node{ID: "tomcat-b", Template: "tomcat_server", Relationships: on("jvm-1")}).
		Node("shop", topology.Node{ID: "shop-1", Template: "shop_app", Relationships: on("tomcat-a")}).
		Node("billing", topology.Node{ID: "billing-1", Template: "billing_app", Relationships: on("tomcat-b")})
}

// hunt9JVMPackages: Tomcat 10.1 needs Java 11 or later.
func hunt9JVMPackages() []pkgsource.Package {
	return []pkgsource.Package{
		requires(pkg("tomcat", "9.0.98"), "jdk", ">=8"),
		requires(pkg("tomcat", "10.1.34"), "jdk", ">=11"),
		pkg("jdk", "11.0.22"), pkg("jdk", "17.0.10"), pkg("jdk", "21.0.2"), pkg("jdk", "24.0.0-ea+3")}
}

// TestHunt9JavaUnderTomcatSharedJVM: shop 2.0 needs Tomcat 10.1, which
// needs Java 11; the JVM is shared with billing, which is not upgraded.
// When billing allows any Java, the JVM goes to the newest GA release,
// then tomcat-a, then the shop; tomcat-b is left alone, and a warning
// says the shop's old "~9" breaks until its own step. When billing
// allows Java up to 17, the JVM goes to 17, and the decision says why not
// 21. When billing needs Java 8, the plan fails naming billing-1 and the
// Tomcat package whose requirement it conflicts with.
func TestHunt9JavaUnderTomcatSharedJVM(t *testing.T) {
	shop := hunt9Request("shop", "shop_app", "2.0.0", "tomcat_server", ">=10.1")
	for java, jdk := range map[string]string{">=8": "21.0.2", ">=8, <21": "17.0.10"} {
		plan, err := hunt9Plan(t, build(t, hunt9JVM(java)), hunt9JVMPackages(), nil, shop)
		require.NoError(t, err, java)
		requireTopological(t, plan)
		jvm := upgrade.StepID("platform/jvm-1@" + jdk)
		assert.Equal(t, []hunt8Step{
			{jvm, "8.0.402", jdk, nil},
			{"platform/tomcat-a@10.1.34", "9.0.85", "10.1.34", []upgrade.StepID{jvm}},
			{"app/shop-1@2.0.0", "1.4.0", "2.0.0", []upgrade.StepID{"platform/tomcat-a@10.1.34"}},
		}, hunt8Steps(plan), java)
		assert.Equal(t, "package tomcat 10.1.34 for node tomcat-a requires java_runtime >=11; node jvm-1 has 8.0.402", plan.Steps[0].Reason, java)
		assert.Equal(t, []string{"node shop-1 (shop_app 1.4.0) requires tomcat_server ~9; it runs on tomcat-a 10.1.34 from step platform/tomcat-a@10.1.34 until its own step"}, plan.Warnings, java)
		if jdk == "17.0.10" {
			assert.Equal(t, []upgrade.Candidate{
				{Version: v("24.0.0-ea+3"), Rejected: "does not satisfy package tomcat 10.1.34 for node tomcat-a requires >=11; 24.0.0-ea+3 is a pre-release, which >=11 excludes: write >=11.0.0-0 to allow pre-releases"},
				{Version: v("21.0.2"), Rejected: "not allowed by co-tenant node billing-1 (billing) requires >=8, <21"},
				{Version: v("17.0.10"), Chosen: true},
				{Version: v("11.0.22"), Rejected: "policy newest prefers 17.0.10"},
			}, decided(t, plan, "jvm-1").Candidates)
		}
	}

	_, err := hunt9Plan(t, build(t, hunt9JVM("~8")), hunt9JVMPackages(), nil, shop)
	require.ErrorIs(t, err, upgrade.ErrConflict)
	ce, ok := errors.AsType[*upgrade.ConflictError](err)
	require.True(t, ok, err)
	assert.Equal(t, topology.NodeID("jvm-1"), ce.Node)
	require.Len(t, ce.Blocking, 1)
	assert.Equal(t, topology.NodeID("billing-1"), ce.Blocking[0].Node)
	for _, s := range []string{`node "jvm-1" (jdk 8.0.402)`, "package tomcat 10.1.34 for node tomcat-a", ">=11", "node billing-1 (billing) requires ~8"} {
		assert.Contains(t, err.Error(), s)
	}
}

// TestHunt9JVMConflictBetweenRequests: planned together, the shop's
// Tomcat 10.1 needs Java 11 beneath it and billing's new template, on the
// same JVM, still needs Java 8: a *ConflictError on jvm-1 that names the
// Tomcat package and billing's request, the same whichever request comes
// first.
func TestHunt9JVMConflictBetweenRequests(t *testing.T) {
	shop := hunt9Request("shop", "shop_app", "2.0.0", "tomcat_server", ">=10.1")
	billing := hunt9Request("billing", "billing_app", "3.1.0", "tomcat_server", "~9", "java_runtime", "~8")
	topo := build(t, hunt9JVM(">=8"))
	var msgs []string
	for _, reqs := range [][]upgrade.Request{{shop, billing}, {billing, shop}} {
		_, err := hunt9Plan(t, topo, hunt9JVMPackages(), nil, reqs...)
		require.ErrorIs(t, err, upgrade.ErrConflict)
		ce, ok := errors.AsType[*upgrade.ConflictError](err)
		require.True(t, ok, err)
		assert.Equal(t, topology.NodeID("jvm-1"), ce.Node)
		for _, s := range []string{`node "jvm-1" (jdk 8.0.402)`, "package tomcat 10.1.34 for node tomcat-a requires >=11", "billing_app@3.1.0 (billing) requires ~8"} {
			assert.Contains(t, err.Error(), s)
		}
		assert.Equal(t, versions("8.0.402"), ce.Tried, "no JDK 8 package: only the installed version meets billing")
		msgs = append(msgs, err.Error())
	}
	assert.Equal(t, msgs[0], msgs[1])
}

// hunt9CRM is the CRM application: crm-1 runs on a Tomcat 9 server,
// srv-1, and uses a PostgreSQL 13 database, db-1, both on one Ubuntu
// 20.04 VM, vm-1: a diamond.
func hunt9CRM() *topology.Builder {
	return new(topology.Builder).
		Template("crm", topology.Template{ID: "ubuntu_os", Type: "ubuntu", Version: v("20.04")}).
		Template("crm", topology.Template{ID: "pg_server", Type: "postgresql", Version: v("13.14")}).
		Template("crm", topology.Template{ID: "tomcat_server", Type: "tomcat", Version: v("9.0.85")}).
		Template("crm", topology.Template{ID: "crm_app", Type: "webapp", Version: v("1.0.0"),
			Requirements: []topology.Requirement{{Template: "tomcat_server", Constraint: c("~9")}, {Template: "pg_server", Constraint: c(">=13")}}}).
		Node("crm", topology.Node{ID: "vm-1", Template: "ubuntu_os"}).
		Node("crm", topology.Node{ID: "db-1", Template: "pg_server", Relationships: on("vm-1")}).
		Node("crm", topology.Node{ID: "srv-1", Template: "tomcat_server", Relationships: on("vm-1")}).
		Node("crm", topology.Node{ID: "crm-1", Template: "crm_app", Relationships: append(on("srv-1"), hunt6Dep("db-1"))})
}

// hunt9CRMPackages: Ubuntu goes from one LTS to the next only; PostgreSQL
// 16 is built for 22.04 and later; Tomcat 10.1.33 for any Ubuntu from
// 20.04, and 10.1.34, given tomcat34, for what it says.
func hunt9CRMPackages(tomcat34 string) []pkgsource.Package {
	return []pkgsource.Package{
		from(pkg("ubuntu", "22.04"), ">=20.04, <22.04"),
		from(pkg("ubuntu", "24.04"), ">=22.04, <24.04"),
		requires(pkg("postgresql", "16.2"), "ubuntu", ">=22.04"),
		requires(pkg("tomcat", "10.1.33"), "ubuntu", ">=20.04"),
		requires(pkg("tomcat", "10.1.34"), "ubuntu", tomcat34),
	}
}

// TestHunt9DiamondOnOneVM: CRM 2.0 needs Tomcat 10.1 and PostgreSQL 16;
// PostgreSQL 16 needs Ubuntu 22.04. The VM goes through 22.04 to 24.04
// once, the database and the server each after its last hop, and the
// application after both. When the newest Tomcat is built for 20.04 only,
// the server takes 10.1.33, which runs on what the database needs. When
// every Tomcat 10.1 is built for 20.04 only, the plan fails on the VM
// naming both packages.
func TestHunt9DiamondOnOneVM(t *testing.T) {
	crm := hunt9Request("crm", "crm_app", "2.0.0", "tomcat_server", ">=10.1", "pg_server", ">=16")
	topo := build(t, hunt9CRM())
	plan, err := hunt9Plan(t, topo, hunt9CRMPackages(">=20.04"), nil, crm)
	require.NoError(t, err)
	requireTopological(t, plan)
	assert.Equal(t, []hunt8Step{
		{"platform/vm-1@22.4.0", "20.04", "22.04", nil},
		{"platform/vm-1@24.4.0", "22.04", "24.04", []upgrade.StepID{"platform/vm-1@22.4.0"}},
		{"platform/db-1@16.2.0", "13.14", "16.2", []upgrade.StepID{"platform/vm-1@24.4.0"}},
		{"platform/srv-1@10.1.34", "9.0.85", "10.1.34", []upgrade.StepID{"platform/vm-1@24.4.0"}},
		{"app/crm-1@2.0.0", "1.0.0", "2.0.0", []upgrade.StepID{"platform/db-1@16.2.0", "platform/srv-1@10.1.34"}},
	}, hunt8Steps(plan))
	assert.Equal(t, []string{"node crm-1 (crm_app 1.0.0) requires tomcat_server ~9; it runs on srv-1 10.1.34 from step platform/srv-1@10.1.34 until its own step"}, plan.Warnings)

	plan, err = hunt9Plan(t, topo, hunt9CRMPackages("~20.04"), nil, crm)
	require.NoError(t, err)
	requireTopological(t, plan)
	assert.Equal(t, []string{"10.1.33"}, hunt6Tos(plan, "srv-1"))
	assert.Equal(t, []string{"22.04", "24.04"}, hunt6Tos(plan, "vm-1"))

	pkgs := hunt9CRMPackages("~20.04")
	pkgs[3] = requires(pkg("tomcat", "10.1.33"), "ubuntu", "~20.04")
	_, err = hunt9Plan(t, topo, pkgs, nil, crm)
	require.Error(t, err)
	assert.Equal(t, topology.NodeID("vm-1"), hunt9FailedNode(err), err)
	for _, s := range []string{`node "vm-1" (ubuntu 20.04)`, "package postgresql 16.2 for node db-1 requires >=22.04", "package tomcat 10.1.3", "requires ~20.04"} {
		assert.Contains(t, err.Error(), s)
	}
}

// hunt9FailedNode returns the node a planning error names, of whichever
// type.
func hunt9FailedNode(err error) topology.NodeID {
	if e, ok := errors.AsType[*upgrade.ConflictError](err); ok {
		return e.Node
	} else if e, ok := errors.AsType[*upgrade.NoPackageError](err); ok {
		return e.Node
	} else if e, ok := errors.AsType[*upgrade.NoPathError](err); ok {
		return e.Node
	} else if e, ok := errors.AsType[*upgrade.DowngradeError](err); ok {
		return e.Node
	}
	return ""
}

// hunt9Kubelets is a cluster whose control plane, cp-1, and two kubelets,
// kubelet-1 and kubelet-2, that depend on it, are at Kubernetes 1.26.9; a
// 1.26 kubelet allows a control plane up to 1.28 (the version skew
// policy). The web pod web-1 runs on kubelet-1, the batch pod batch-1 on
// kubelet-2.
func hunt9Kubelets() *topology.Builder {
	return new(topology.Builder).
		Template("cluster", topology.Template{ID: "control_plane", Type: "kubernetes", Version: v("1.26.9")}).
		Template("cluster", topology.Template{ID: "kubelet", Type: "kubelet", Version: v("1.26.9"),
			Requirements: []topology.Requirement{{Template: "control_plane", Constraint: c(">=1.26, <1.29")}}}).
		Template("web", topology.Template{ID: "web_pod", Type: "pod", Version: v("1.0.0"),
			Requirements: []topology.Requirement{{Template: "kubelet", Constraint: c(">=1.26")}}}).
		Template("batch", topology.Template{ID: "batch_pod", Type: "pod", Version: v("1.0.0"),
			Requirements: []topology.Requirement{{Template: "kubelet", Constraint: c(">=1.26")}}}).
		Node("cluster", topology.Node{ID: "cp-1", Template: "control_plane"}).
		Node("cluster", topology.Node{ID: "kubelet-1", Template: "kubelet", Relationships: []topology.Relationship{hunt6Dep("cp-1")}}).
		Node("cluster", topology.Node{ID: "kubelet-2", Template: "kubelet", Relationships: []topology.Relationship{hunt6Dep("cp-1")}}).
		Node("web", topology.Node{ID: "web-1", Template: "web_pod", Relationships: on("kubelet-1")}).
		Node("batch", topology.Node{ID: "batch-1", Template: "batch_pod", Relationships: on("kubelet-2")})
}

// hunt9KubeletPackages: a kubelet may not be newer than the control plane.
func hunt9KubeletPackages() []pkgsource.Package {
	return []pkgsource.Package{
		pkg("kubernetes", "1.27.13"), pkg("kubernetes", "1.28.9"), pkg("kubernetes", "1.29.4"), pkg("kubernetes", "1.30.0-rc.1"),
		requires(pkg("kubelet", "1.27.13"), "kubernetes", ">=1.27"),
		requires(pkg("kubelet", "1.28.9"), "kubernetes", ">=1.28"),
		requires(pkg("kubelet", "1.29.4"), "kubernetes", ">=1.29"),
		requires(pkg("kubelet", "1.30.0-rc.1"), "kubernetes", ">=1.30.0-0"),
	}
}

// TestHunt9ControlPlaneThenKubelets: the web pod 2.0 needs kubelet 1.28;
// one minor version a hop, the control plane goes to 1.27 and 1.28 first,
// then kubelet-1 does, then the pod. Not to 1.29: kubelet-2, which stays,
// allows a control plane below 1.29 only, so asking for kubelet 1.29 fails
// naming it. When both pods need 1.29, both kubelets are upgraded, each
// after the control plane's last hop, each pod after its own kubelet, and
// warnings say the 1.26 kubelets are past their skew until their steps.
// The release candidates are never taken.
func TestHunt9ControlPlaneThenKubelets(t *testing.T) {
	topo := build(t, hunt9Kubelets())
	one := []upgrade.Option{upgrade.WithMaxMinorStep(1)}
	plan, err := hunt9Plan(t, topo, hunt9KubeletPackages(), one, hunt9Request("web", "web_pod", "2.0.0", "kubelet", ">=1.28"))
	require.NoError(t, err)
	requireTopological(t, plan)
	assert.Equal(t, []hunt8Step{
		{"platform/cp-1@1.27.13", "1.26.9", "1.27.13", nil},
		{"platform/cp-1@1.28.9", "1.27.13", "1.28.9", []upgrade.StepID{"platform/cp-1@1.27.13"}},
		{"platform/kubelet-1@1.27.13", "1.26.9", "1.27.13", []upgrade.StepID{"platform/cp-1@1.28.9"}},
		{"platform/kubelet-1@1.28.9", "1.27.13", "1.28.9", []upgrade.StepID{"platform/kubelet-1@1.27.13"}},
		{"app/web-1@2.0.0", "1.0.0", "2.0.0", []upgrade.StepID{"platform/kubelet-1@1.28.9"}},
	}, hunt8Steps(plan))
	assert.Empty(t, plan.Warnings)

	_, err = hunt9Plan(t, topo, hunt9KubeletPackages(), one, hunt9Request("web", "web_pod", "2.0.0", "kubelet", ">=1.29"))
	require.ErrorIs(t, err, upgrade.ErrConflict)
	ce, ok := errors.AsType[*upgrade.ConflictError](err)
	require.True(t, ok, err)
	assert.Equal(t, topology.NodeID("cp-1"), ce.Node)
	require.Len(t, ce.Blocking, 1)
	assert.Equal(t, "node kubelet-2 (cluster) requires >=1.26, <1.29", ce.Blocking[0].String())
	assert.Contains(t, err.Error(), "package kubelet 1.29.4 for node kubelet-1 requires >=1.29")

	plan, err = hunt9Plan(t, topo, hunt9KubeletPackages(), one,
		hunt9Request("web", "web_pod", "2.0.0", "kubelet", ">=1.29"), hunt9Request("batch", "batch_pod", "2.0.0", "kubelet", ">=1.29"))
	require.NoError(t, err)
	requireTopological(t, plan)
	assert.Equal(t, []upgrade.StepID{"platform/cp-1@1.27.13", "platform/cp-1@1.28.9", "platform/cp-1@1.29.4",
		"platform/kubelet-1@1.27.13", "platform/kubelet-1@1.28.9", "platform/kubelet-1@1.29.4",
		"platform/kubelet-2@1.27.13", "platform/kubelet-2@1.28.9", "platform/kubelet-2@1.29.4",
		"app/batch-1@2.0.0", "app/web-1@2.0.0"}, ids(plan))
	for _, k := range []string{"kubelet-1", "kubelet-2"} {
		s, _ := plan.Step(upgrade.StepID("platform/" + k + "@1.27.13"))
		assert.Equal(t, []upgrade.StepID{"platform/cp-1@1.29.4"}, s.After, k)
	}
	assert.Equal(t, []string{
		"node kubelet-1 (kubelet 1.26.9) requires control_plane >=1.26, <1.29; it runs on cp-1 1.29.4 from step platform/cp-1@1.29.4 until its own step",
		"node kubelet-2 (kubelet 1.26.9) requires control_plane >=1.26, <1.29; it runs on cp-1 1.29.4 from step platform/cp-1@1.29.4 until its own step",
	}, plan.Warnings)
}

// TestHunt9KubeadmSkipsNoMinor: one minor version a hop, 1.26 cannot reach
// 1.28 when the mirror has no 1.27 release, nor through a 1.27 release
// candidate: a *NoPathError names the control plane, says it is stuck at
// 1.26.9 and why, and what to do.
func TestHunt9KubeadmSkipsNoMinor(t *testing.T) {
	topo := build(t, hunt6Cluster())
	chart := hunt9Request("web", "web_chart", "2.0.0", "control_plane", ">=1.28")
	for _, pre := range []bool{false, true} {
		pkgs := []pkgsource.Package{pkg("kubernetes", "1.28.2"), pkg("kubernetes", "1.29.4"), pkg("etcd", "3.5.13")}
		if pre {
			pkgs = append(pkgs, pkg("kubernetes", "1.27.0-rc.1"))
		}
		_, err := hunt9Plan(t, topo, pkgs, []upgrade.Option{upgrade.WithMaxMinorStep(1)}, chart)
		require.ErrorIs(t, err, upgrade.ErrNoUpgradePath, pre)
		pe, ok := errors.AsType[*upgrade.NoPathError](err)
		require.True(t, ok, err)
		assert.Equal(t, topology.NodeID("cp-1"), pe.Node)
		assert.Equal(t, "1.26.9", pe.Furthest.String())
		assert.Equal(t, versions("1.28.2"), pe.Targets, "the kubelets allow below 1.29 only")
		for _, s := range []string{`node "cp-1" (kubernetes 1.26.9)`, "furthest reachable is 1.26.9", "(a hop may advance at most 1 minor version)", "add packages that lead on to the package source"} {
			assert.Contains(t, err.Error(), s, pre)
		}
		if pre {
			assert.Contains(t, err.Error(), "only pre-releases lead on from there (1.27.0-rc.1), and a chain of upgrades passes through released versions only")
		}
	}
}

// hunt9Runtimes is an Ubuntu 20.04 VM, vm-1, with a Python 3.8 runtime,
// py, that the ETL job etl-1 runs on, and a Node.js 18 runtime, node, that
// the web application web-1 runs on. Nodes of one height are decided in
// the order of their IDs.
func hunt9Runtimes(py, node topology.NodeID) *topology.Builder {
	return new(topology.Builder).
		Template("base", topology.Template{ID: "ubuntu_os", Type: "ubuntu", Version: v("20.04")}).
		Template("base", topology.Template{ID: "python_runtime", Type: "python", Version: v("3.8.10")}).
		Template("base", topology.Template{ID: "node_runtime", Type: "nodejs", Version: v("18.20.4")}).
		Template("etl", topology.Template{ID: "etl_app", Type: "webapp", Version: v("1.0.0"),
			Requirements: []topology.Requirement{{Template: "python_runtime", Constraint: c(">=3.8")}}}).
		Template("web", topology.Template{ID: "web_app", Type: "webapp", Version: v("1.0.0"),
			Requirements: []topology.Requirement{{Template: "node_runtime", Constraint: c(">=18")}}}).
		Node("base", topology.Node{ID: "vm-1", Template: "ubuntu_os"}).
		Node("base", topology.Node{ID: py, Template: "python_runtime", Relationships: on("vm-1")}).
		Node("base", topology.Node{ID: node, Template: "node_runtime", Relationships: on("vm-1")}).
		Node("etl", topology.Node{ID: "etl-1", Template: "etl_app", Relationships: on(py)}).
		Node("web", topology.Node{ID: "web-1", Template: "web_app", Relationships: on(node)})
}

// TestHunt9RuntimesNeedDifferentOS: Python 3.12.4 is built for Ubuntu
// 22.04 only, 3.12.7 for 22.04 and later; Node.js 22 needs 24.04. Alone,
// the ETL job gets the least change under Nearest: 3.12.4 on 22.04. With
// the web application needing Node 22 in the same plan, every policy
// takes the VM through 22.04 to 24.04 once and Python to 3.12.7, which
// runs there, whichever request comes first.
func TestHunt9RuntimesNeedDifferentOS(t *testing.T) {
	pkgs := []pkgsource.Package{
		from(pkg("ubuntu", "22.04"), ">=20.04, <22.04"), from(pkg("ubuntu", "24.04"), ">=22.04, <24.04"),
		requires(pkg("python", "3.12.4"), "ubuntu", "~22.04"), requires(pkg("python", "3.12.7"), "ubuntu", ">=22.04"),
		requires(pkg("nodejs", "20.17.0"), "ubuntu", ">=20.04"), requires(pkg("nodejs", "22.9.0"), "ubuntu", ">=24.04"),
	}
	topo := build(t, hunt9Runtimes("py-1", "node-1"))
	etl := hunt9Request("etl", "etl_app", "2.0.0", "python_runtime", ">=3.12")
	web := hunt9Request("web", "web_app", "2.0.0", "node_runtime", ">=22")
	plan, err := hunt9Plan(t, topo, pkgs, []upgrade.Option{upgrade.WithPolicy(upgrade.Nearest)}, etl)
	require.NoError(t, err)
	assert.Equal(t, []upgrade.StepID{"platform/vm-1@22.4.0", "platform/py-1@3.12.4", "app/etl-1@2.0.0"}, ids(plan))
	for _, pol := range []upgrade.Policy{upgrade.Newest, upgrade.Nearest, upgrade.LatestPatch} {
		for _, reqs := range [][]upgrade.Request{{etl, web}, {web, etl}} {
			plan, err := hunt9Plan(t, topo, pkgs, []upgrade.Option{upgrade.WithPolicy(pol)}, reqs...)
			require.NoError(t, err, pol)
			requireTopological(t, plan)
			assert.Equal(t, []hunt8Step{
				{"platform/vm-1@22.4.0", "20.04", "22.04", nil},
				{"platform/vm-1@24.4.0", "22.04", "24.04", []upgrade.StepID{"platform/vm-1@22.4.0"}},
				{"platform/node-1@22.9.0", "18.20.4", "22.9.0", []upgrade.StepID{"platform/vm-1@24.4.0"}},
				{"platform/py-1@3.12.7", "3.8.10", "3.12.7", []upgrade.StepID{"platform/vm-1@24.4.0"}},
				{"app/etl-1@2.0.0", "1.0.0", "2.0.0", []upgrade.StepID{"platform/py-1@3.12.7"}},
				{"app/web-1@2.0.0", "1.0.0", "2.0.0", []upgrade.StepID{"platform/node-1@22.9.0"}},
			}, hunt8Steps(plan), pol)
		}
	}
}

// hunt9ESPackages: 7.x upgrades only from 6.8, 8.x only from 7.17, and
// 8.12 has two patch releases.
func hunt9ESPackages() []pkgsource.Package {
	return []pkgsource.Package{
		from(pkg("elasticsearch", "6.8.23"), ">=6.0, <6.8.23"),
		from(pkg("elasticsearch", "7.17.18"), ">=6.8, <7.17.18"),
		from(pkg("elasticsearch", "8.12.1"), ">=7.17, <8.12.1"),
		from(pkg("elasticsearch", "8.12.2"), ">=7.17, <8.12.2"),
		from(pkg("elasticsearch", "8.13.4"), ">=7.17, <8.13.4"),
	}
}

// TestHunt9PoliciesAroundBlockedReleases: the search application needs
// Elasticsearch 8, reached through 6.8 and 7.17. Kibana refuses 8.12.2,
// a release with a known bug: LatestPatch and Nearest take 8.12.1, the
// highest patch of the nearest minor that Kibana allows; Newest takes
// 8.13.4. Kibana refusing all of 8.12: every policy takes 8.13.4.
func TestHunt9PoliciesAroundBlockedReleases(t *testing.T) {
	for kibana, want := range map[string]map[upgrade.Policy]string{
		"!=8.12.2":          {upgrade.Newest: "8.13.4", upgrade.Nearest: "8.12.1", upgrade.LatestPatch: "8.12.1"},
		"<8.12.0 || >=8.13": {upgrade.Newest: "8.13.4", upgrade.Nearest: "8.13.4", upgrade.LatestPatch: "8.13.4"},
	} {
		for pol, last := range want {
			plan, err := hunt9Plan(t, build(t, hunt6Search(kibana)), hunt9ESPackages(), []upgrade.Option{upgrade.WithPolicy(pol)}, hunt6SearchRequest(">=8"))
			require.NoError(t, err, kibana, pol)
			requireTopological(t, plan)
			assert.Equal(t, []string{"6.8.23", "7.17.18", last}, hunt6Tos(plan, "es-1"), kibana, pol)
			app, _ := plan.Step("app/search-1@2.0.0")
			assert.Equal(t, []upgrade.StepID{upgrade.StepID("platform/es-1@" + last)}, app.After, kibana, pol)
		}
	}
}

// TestHunt9ReplacedRuntimeAndItsApps: the web team replaces its Node.js
// runtime node itself (a request, not a package) while the storefront
// asks for Node 22 on it. At 20, the runtime's request and the
// storefront's conflict, naming both; at 22, the admin UI beside blocks
// it until the admin UI is upgraded in the same plan: then the runtime
// gets an application step, which both applications wait for.
func TestHunt9ReplacedRuntimeAndItsApps(t *testing.T) {
	topo := build(t, hunt8NodeRuntime())
	runtime := func(ver string) upgrade.Request {
		return upgrade.Request{Application: "web", Replaces: "node_runtime", Template: topology.Template{ID: "node_runtime", Type: "nodejs", Version: v(ver)}}
	}
	admin := hunt9Request("admin", "admin_ui", "2.0.0", "node_runtime", ">=20, <24")
	for _, tc := range []struct {
		reqs     []upgrade.Request
		blocking string
	}{
		{[]upgrade.Request{runtime("20.17.0"), hunt8Storefront(">=22")}, "storefront_app@3.0.0 (storefront) requires >=22"},
		{[]upgrade.Request{runtime("22.9.0"), hunt8Storefront(">=22")}, "node admin-1 (admin) requires >=18, <22"},
	} {
		_, err := hunt9Plan(t, topo, nil, nil, tc.reqs...)
		require.ErrorIs(t, err, upgrade.ErrConflict)
		ce, ok := errors.AsType[*upgrade.ConflictError](err)
		require.True(t, ok, err)
		assert.Equal(t, topology.NodeID("node-1"), ce.Node)
		assert.Contains(t, err.Error(), "node_runtime@"+tc.reqs[0].Template.Version.String()+" (web) requires ="+tc.reqs[0].Template.Version.String())
		assert.Contains(t, err.Error(), tc.blocking)
	}

	plan, err := hunt9Plan(t, topo, nil, nil, runtime("22.9.0"), hunt8Storefront(">=22"), admin)
	require.NoError(t, err)
	requireTopological(t, plan)
	assert.Equal(t, []hunt8Step{
		{"app/node-1@22.9.0", "18.20.4", "22.9.0", nil},
		{"app/admin-1@2.0.0", "1.9.0", "2.0.0", []upgrade.StepID{"app/node-1@22.9.0"}},
		{"app/sf-1@3.0.0", "2.3.0", "3.0.0", []upgrade.StepID{"app/node-1@22.9.0"}},
	}, hunt8Steps(plan))
	assert.Equal(t, []string{"node admin-1 (admin_ui 1.9.0) requires node_runtime >=18, <22; it runs on node-1 22.9.0 from step app/node-1@22.9.0 until its own step"}, plan.Warnings)
}

// TestHunt9ApplicationRollback: going back to the previous inventory
// release is a downgrade of the application node: refused naming the
// node and saying how to allow it, or, allowed, one application step
// from 4.2.0 to 4.1.0 with the MySQL requirement a satisfied check.
func TestHunt9ApplicationRollback(t *testing.T) {
	topo := build(t, hunt8Inventory())
	back := hunt8InventoryRequest("mysql_server", ">=5.7")
	back.Template.Version = v("4.1.0")
	_, err := upgrade.NewPlanner(topo, source(t)).Plan(t.Context(), back)
	require.ErrorIs(t, err, upgrade.ErrDowngrade)
	de, ok := errors.AsType[*upgrade.DowngradeError](err)
	require.True(t, ok, err)
	assert.Equal(t, topology.NodeID("inventory-1"), de.Node)
	assert.Contains(t, err.Error(), "allow them (upgrade.AllowDowngrades)")

	plan, err := upgrade.NewPlanner(topo, source(t), upgrade.AllowDowngrades()).Plan(t.Context(), back)
	require.NoError(t, err)
	assert.Equal(t, []hunt8Step{{"app/inventory-1@4.1.0", "4.2.0", "4.1.0", nil}}, hunt8Steps(plan))
	require.Len(t, plan.Satisfied, 1)
	assert.Equal(t, topology.NodeID("db-1"), plan.Satisfied[0].Node)
}
