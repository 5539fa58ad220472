package upgrade_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
)

func hunt6Dep(id topology.NodeID) topology.Relationship {
	return topology.Relationship{Relation: topology.DependsOn, Target: id}
}

// hunt6Tos returns the To versions of the plan's platform steps of node n,
// in order, as written.
func hunt6Tos(p *upgrade.Plan, n topology.NodeID) []string {
	var out []string
	for _, s := range p.Steps {
		if s.Kind == upgrade.Platform && s.Node == n {
			out = append(out, s.To.String())
		}
	}
	return out
}

// hunt6Cluster is a kubeadm cluster: control plane cp-1 (Kubernetes
// 1.26.9) backed by etcd-1 (3.5.6), two kubelets that allow a control
// plane up to 1.28 (the version skew policy: never older than the
// kubelet), and a Helm release chart-1 on the control plane.
func hunt6Cluster() *topology.Builder {
	return new(topology.Builder).
		Template("cluster", topology.Template{ID: "etcd_cluster", Type: "etcd", Version: v("3.5.6")}).
		Template("cluster", topology.Template{ID: "control_plane", Type: "kubernetes", Version: v("1.26.9")}).
		Template("cluster", topology.Template{ID: "kubelet", Type: "kubelet", Version: v("1.26.9"),
			Requirements: []topology.Requirement{{Template: "control_plane", Constraint: c(">=1.26, <1.29")}}}).
		Template("web", topology.Template{ID: "web_chart", Type: "helm", Version: v("1.0.0"),
			Requirements: []topology.Requirement{{Template: "control_plane", Constraint: c(">=1.24")}}}).
		Node("cluster", topology.Node{ID: "etcd-1", Template: "etcd_cluster"}).
		Node("cluster", topology.Node{ID: "cp-1", Template: "control_plane", Relationships: []topology.Relationship{hunt6Dep("etcd-1")}}).
		Node("cluster", topology.Node{ID: "kubelet-1", Template: "kubelet", Relationships: []topology.Relationship{hunt6Dep("cp-1")}}).
		Node("cluster", topology.Node{ID: "kubelet-2", Template: "kubelet", Relationships: []topology.Relationship{hunt6Dep("cp-1")}}).
		Node("web", topology.Node{ID: "chart-1", Template: "web_chart", Relationships: on("cp-1")})
}

// TestHunt6KubeadmWithEtcd: the chart needs Kubernetes >=1.28; kubeadm
// goes one minor version at a time, each release at its latest patch
// (LatestPatch), and each release needs a newer etcd, which is upgraded
// first to a version every hop accepts, the newest stable one.
func TestHunt6KubeadmWithEtcd(t *testing.T) {
	src := source(t,
		requires(pkg("kubernetes", "1.27.3"), "etcd", ">=3.5.7, <3.6"),
		requires(pkg("kubernetes", "1.27.13"), "etcd", ">=3.5.7, <3.6"),
		requires(pkg("kubernetes", "1.28.2"), "etcd", ">=3.5.9, <3.6"),
		requires(pkg("kubernetes", "1.28.9"), "etcd", ">=3.5.9, <3.6"),
		requires(pkg("kubernetes", "1.29.4"), "etcd", ">=3.5.10, <3.6"),
		pkg("etcd", "3.5.7"), pkg("etcd", "3.5.9"), pkg("etcd", "3.5.10"), pkg("etcd", "3.5.13"), pkg("etcd", "3.6.0-rc.0"))
	chart := upgrade.Request{Application: "web", Replaces: "web_chart", Template: topology.Template{ID: "web_chart", Type: "helm", Version: v("2.0.0"),
		Requirements: []topology.Requirement{{Template: "control_plane", Constraint: c(">=1.28")}}}}
	planner := upgrade.NewPlanner(build(t, hunt6Cluster()), src, upgrade.WithMaxMinorStep(1), upgrade.WithPolicy(upgrade.LatestPatch))
	plan, err := planner.Plan(t.Context(), chart)
	require.NoError(t, err)
	requireTopological(t, plan)
	assert.Equal(t, []upgrade.StepID{"platform/etcd-1@3.5.13", "platform/cp-1@1.27.13", "platform/cp-1@1.28.9", "app/chart-1@2.0.0"}, ids(plan))
	hop1, _ := plan.Step("platform/cp-1@1.27.13")
	assert.Equal(t, []upgrade.StepID{"platform/etcd-1@3.5.13"}, hop1.After)
	assert.Equal(t, "1.26.9", hop1.From.String())
	hop2, _ := plan.Step("platform/cp-1@1.28.9")
	assert.Equal(t, []upgrade.StepID{"platform/cp-1@1.27.13"}, hop2.After)
	assert.Equal(t, "1.27.13", hop2.From.String())
	app, _ := plan.Step("app/chart-1@2.0.0")
	assert.Equal(t, []upgrade.StepID{"platform/cp-1@1.28.9"}, app.After)
	assert.Empty(t, plan.Warnings, "the kubelets allow 1.27 and 1.28")
	require.Len(t, plan.Satisfied, 0)

	// At 1.29 the kubelets would be more than the skew allows: the plan
	// fails naming both, their application and constraint, and the
	// versions tried.
	chart.Template.Requirements[0].Constraint = c(">=1.29")
	_, err = planner.Plan(t.Context(), chart)
	require.ErrorIs(t, err, upgrade.ErrConflict)
	ce, ok := errors.AsType[*upgrade.ConflictError](err)
	require.True(t, ok, err)
	assert.Equal(t, topology.NodeID("cp-1"), ce.Node)
	assert.Equal(t, versions("1.29.4"), ce.Tried)
	require.Len(t, ce.Blocking, 2)
	for i, d := range ce.Blocking {
		assert.Equal(t, topology.NodeID([]string{"kubelet-1", "kubelet-2"}[i]), d.Node)
		assert.Equal(t, topology.AppID("cluster"), d.App)
		assert.Equal(t, ">=1.26, <1.29", d.Constraint.String())
	}
	for _, s := range []string{`node "cp-1"`, "node kubelet-1 (cluster) requires >=1.26, <1.29", "node kubelet-2 (cluster)", "versions tried: 1.29.4"} {
		assert.Contains(t, err.Error(), s)
	}

	// Upgrading the kubelets in the same plan: they wait for the control
	// plane's last hop.
	kubelets := upgrade.Request{Application: "cluster", Replaces: "kubelet", Template: topology.Template{ID: "kubelet", Type: "kubelet", Version: v("1.29.4"),
		Requirements: []topology.Requirement{{Template: "control_plane", Constraint: c(">=1.29, <1.33")}}}}
	plan, err = planner.PlanAll(t.Context(), chart, kubelets)
	require.NoError(t, err)
	requireTopological(t, plan)
	assert.Equal(t, []upgrade.StepID{"platform/etcd-1@3.5.13", "platform/cp-1@1.27.13", "platform/cp-1@1.28.9", "platform/cp-1@1.29.4",
		"app/chart-1@2.0.0", "app/kubelet-1@1.29.4", "app/kubelet-2@1.29.4"}, ids(plan))
	for _, id := range []upgrade.StepID{"app/kubelet-1@1.29.4", "app/kubelet-2@1.29.4"} {
		s, _ := plan.Step(id)
		assert.Equal(t, []upgrade.StepID{"platform/cp-1@1.29.4"}, s.After, id)
	}
	require.Len(t, plan.Warnings, 2)
	assert.Contains(t, plan.Warnings[0], "node kubelet-1 (kubelet 1.26.9) requires control_plane >=1.26, <1.29; it runs on cp-1 1.29.4 from step platform/cp-1@1.29.4 until its own step")
}

// hunt6Search is an Elasticsearch cluster es-1 (6.5.4) that the search
// application's search-1 depends on, with, when kibana is not empty, a
// Kibana of another team that depends on it with that constraint.
func hunt6Search(kibana string) *topology.Builder {
	b := new(topology.Builder).
		Template("search", topology.Template{ID: "es_cluster", Type: "elasticsearch", Version: v("6.5.4")}).
		Template("search", topology.Template{ID: "search_app", Type: "webapp", Version: v("1.0.0"),
			Requirements: []topology.Requirement{{Template: "es_cluster", Constraint: c(">=6.5, <7")}}}).
		Node("search", topology.Node{ID: "es-1", Template: "es_cluster"}).
		Node("search", topology.Node{ID: "search-1", Template: "search_app", Relationships: []topology.Relationship{hunt6Dep("es-1")}})
	if kibana != "" {
		b.Template("kibana", topology.Template{ID: "kibana_ui", Type: "kibana", Version: v("6.8.0"),
			Requirements: []topology.Requirement{{Template: "es_cluster", Constraint: c(kibana)}}}).
			Node("kibana", topology.Node{ID: "kibana-1", Template: "kibana_ui", Relationships: []topology.Relationship{hunt6Dep("es-1")}})
	}
	return b
}

// hunt6ESPackages: 7.x upgrades only from 6.8, 8.x only from 7.17.
func hunt6ESPackages(t *testing.T) *pkgsource.Memory {
	return source(t,
		from(pkg("elasticsearch", "6.8.23"), ">=6.0, <6.8.23"),
		from(pkg("elasticsearch", "7.10.2"), ">=6.8, <7.10.2"),
		from(pkg("elasticsearch", "7.17.18"), ">=6.8, <7.17.18"),
		from(pkg("elasticsearch", "8.12.2"), ">=7.17, <8.12.2"))
}

func hunt6SearchRequest(constraint string) upgrade.Request {
	return upgrade.Request{Application: "search", Replaces: "search_app", Template: topology.Template{ID: "search_app", Type: "webapp", Version: v("2.0.0"),
		Requirements: []topology.Requirement{{Template: "es_cluster", Constraint: c(constraint)}}}}
}

// TestHunt6ElasticsearchThroughEachLastMinor: 6.5 reaches 8 only through
// 6.8 and 7.17, one step per hop, each after the one before; the
// application's old "<7" breaks from the 7.17 hop on, which a warning
// says. Kibana allows every hop, or not the last (a *ConflictError
// naming it), or not the first (a *NoPathError naming it).
func TestHunt6ElasticsearchThroughEachLastMinor(t *testing.T) {
	for _, kibana := range []string{"", ">=6, <9"} {
		plan, err := upgrade.NewPlanner(build(t, hunt6Search(kibana)), hunt6ESPackages(t)).Plan(t.Context(), hunt6SearchRequest(">=8"))
		require.NoError(t, err, kibana)
		requireTopological(t, plan)
		assert.Equal(t, []upgrade.StepID{"platform/es-1@6.8.23", "platform/es-1@7.17.18", "platform/es-1@8.12.2", "app/search-1@2.0.0"}, ids(plan))
		for i, want := range [][2]string{{"6.5.4", "6.8.23"}, {"6.8.23", "7.17.18"}, {"7.17.18", "8.12.2"}} {
			s := plan.Steps[i]
			assert.Equal(t, want, [2]string{s.From.String(), s.To.String()}, s.ID)
			assert.Equal(t, want[1], s.Package.Version.String())
			if i > 0 {
				assert.Equal(t, []upgrade.StepID{plan.Steps[i-1].ID}, s.After, s.ID)
			} else {
				assert.Empty(t, s.After)
			}
			assert.Contains(t, s.Reason, "search_app@2.0.0 (search) requires es_cluster >=8; node es-1 has 6.5.4")
		}
		assert.Equal(t, []upgrade.StepID{"platform/es-1@8.12.2"}, plan.Steps[3].After)
		assert.Equal(t, []string{"node search-1 (search_app 1.0.0) requires es_cluster >=6.5, <7; it runs on es-1 7.17.18 from step platform/es-1@7.17.18 until its own step"}, plan.Warnings)
	}

	// Kibana 7 refuses ES 8: no version meets both.
	_, err := upgrade.NewPlanner(build(t, hunt6Search("<8")), hunt6ESPackages(t)).Plan(t.Context(), hunt6SearchRequest(">=8"))
	require.ErrorIs(t, err, upgrade.ErrConflict)
	ce, ok := errors.AsType[*upgrade.ConflictError](err)
	require.True(t, ok, err)
	require.Len(t, ce.Blocking, 1)
	assert.Equal(t, upgrade.Demand{Constraint: c("<8"), App: "kibana", Template: "kibana_ui", Node: "kibana-1"}.String(), ce.Blocking[0].String())
	assert.Equal(t, versions("8.12.2"), ce.Tried)
	assert.Equal(t, `upgrade: node "es-1" (elasticsearch 6.5.4): search_app@2.0.0 (search) requires >=8, but node kibana-1 (kibana) requires <8; versions tried: 8.12.2; change the demands so that one version meets them all, or add such a version to the package source`, err.Error())

	// A Kibana that needs 7 or later refuses the 6.8 hop: 8 is there,
	// but no path reaches it.
	_, err = upgrade.NewPlanner(build(t, hunt6Search(">=7")), hunt6ESPackages(t)).Plan(t.Context(), hunt6SearchRequest(">=8"))
	require.ErrorIs(t, err, upgrade.ErrNoUpgradePath)
	pe, ok := errors.AsType[*upgrade.NoPathError](err)
	require.True(t, ok, err)
	assert.Equal(t, topology.NodeID("es-1"), pe.Node)
	assert.Equal(t, "6.5.4", pe.Furthest.String())
	require.Len(t, pe.Blocking, 1)
	assert.Equal(t, topology.NodeID("kibana-1"), pe.Blocking[0].Node)
	assert.Equal(t, topology.AppID("kibana"), pe.Blocking[0].App)
	assert.Contains(t, err.Error(), "the co-tenants do not allow 6.8.23: node kibana-1 (kibana) requires >=7")

	// "7.x": Newest takes 7.17.18 through 6.8.23, Nearest 7.10.2.
	for pol, want := range map[upgrade.Policy][]string{upgrade.Newest: {"6.8.23", "7.17.18"}, upgrade.Nearest: {"6.8.23", "7.10.2"}, upgrade.LatestPatch: {"6.8.23", "7.10.2"}} {
		plan, err := upgrade.NewPlanner(build(t, hunt6Search("")), hunt6ESPackages(t), upgrade.WithPolicy(pol)).Plan(t.Context(), hunt6SearchRequest("7.x"))
		require.NoError(t, err, pol)
		assert.Equal(t, want, hunt6Tos(plan, "es-1"), pol)
	}
}

// hunt6TomcatPackages: Tomcat 10 needs Java 11, JDK 17 needs Ubuntu 20.04.
func hunt6TomcatPackages(t *testing.T) *pkgsource.Memory {
	return source(t,
		requires(pkg("tomcat", "9.0.85"), "jdk", ">=8"),
		requires(pkg("tomcat", "10.1.18"), "jdk", ">=11"),
		requires(pkg("tomcat", "10.1.34"), "jdk", ">=11"),
		requires(pkg("jdk", "11.0.22"), "ubuntu", ">=18.04"),
		requires(pkg("jdk", "17.0.10"), "ubuntu", ">=20.04"),
		pkg("ubuntu", "20.04"), pkg("ubuntu", "22.04"))
}

// TestHunt6TomcatJavaOS: shop 2.0 needs Tomcat >=9.0, <11 and Java >=17 on
// two instances; legacy, another team's application on tomcat-2, needs
// Tomcat <10. tomcat-1 goes to 10.1.34, tomcat-2 to 9.0.85; each stack is
// upgraded OS first, each shop instance waits for its own Tomcat only.
func TestHunt6TomcatJavaOS(t *testing.T) {
	b := shopBuilder(2).
		Template("legacy", topology.Template{ID: "legacy_app", Type: "webapp", Version: v("3.2.0"),
			Requirements: []topology.Requirement{{Template: "tomcat_server", Constraint: c("<10")}}}).
		Node("legacy", topology.Node{ID: "legacy-1", Template: "legacy_app", Relationships: on("tomcat-2")})
	planner := upgrade.NewPlanner(build(t, b), hunt6TomcatPackages(t))
	plan, err := planner.Plan(t.Context(), shop2("tomcat_server", ">=9.0, <11", "java_runtime", ">=17"))
	require.NoError(t, err)
	requireTopological(t, plan)
	assert.Equal(t, []upgrade.StepID{
		"platform/vm-1@22.4.0", "platform/java-1@17.0.10", "platform/tomcat-1@10.1.34",
		"platform/vm-2@22.4.0", "platform/java-2@17.0.10", "platform/tomcat-2@9.0.85",
		"app/shop-1@2.0.0", "app/shop-2@2.0.0"}, ids(plan))
	after := map[upgrade.StepID][]upgrade.StepID{
		"platform/vm-1@22.4.0": nil, "platform/java-1@17.0.10": {"platform/vm-1@22.4.0"}, "platform/tomcat-1@10.1.34": {"platform/java-1@17.0.10"},
		"platform/vm-2@22.4.0": nil, "platform/java-2@17.0.10": {"platform/vm-2@22.4.0"}, "platform/tomcat-2@9.0.85": {"platform/java-2@17.0.10"},
		"app/shop-1@2.0.0": {"platform/tomcat-1@10.1.34"}, "app/shop-2@2.0.0": {"platform/tomcat-2@9.0.85"},
	}
	for _, s := range plan.Steps {
		assert.Equal(t, after[s.ID], s.After, s.ID)
	}
	vm, _ := plan.Step("platform/vm-1@22.4.0")
	assert.Equal(t, "18.04", vm.From.String())
	assert.Equal(t, "22.04", vm.To.String())
	assert.Equal(t, "package jdk 17.0.10 for node java-1 requires ubuntu_os >=20.04; node vm-1 has 18.04", vm.Reason)
	// tomcat-2's decision names legacy-1, which ruled out Tomcat 10.
	d := decided(t, plan, "tomcat-2")
	var sources []string
	for _, dm := range d.Demands {
		sources = append(sources, dm.String())
	}
	assert.Contains(t, sources, "node legacy-1 (legacy) requires <10")
	require.Len(t, plan.Warnings, 2)
	assert.Equal(t, "node shop-2 (shop_app 1.4.0) requires tomcat_server >=8.5, <9; it runs on tomcat-2 9.0.85 from step platform/tomcat-2@9.0.85 until its own step", plan.Warnings[1])

	// Tomcat 10 everywhere: legacy-1 blocks tomcat-2, whatever the policy.
	for _, pol := range []upgrade.Policy{upgrade.Newest, upgrade.Nearest, upgrade.LatestPatch} {
		_, err = upgrade.NewPlanner(build(t, b), hunt6TomcatPackages(t), upgrade.WithPolicy(pol)).Plan(t.Context(), shop2("tomcat_server", ">=10"))
		require.ErrorIs(t, err, upgrade.ErrConflict, pol)
		ce, ok := errors.AsType[*upgrade.ConflictError](err)
		require.True(t, ok, err)
		assert.Equal(t, topology.NodeID("tomcat-2"), ce.Node)
		assert.Equal(t, "8.5.100", ce.Installed.String())
		require.Len(t, ce.Wanted, 1)
		assert.Equal(t, "shop_app@2.0.0 (shop) requires >=10", ce.Wanted[0].String())
		require.Len(t, ce.Blocking, 1)
		assert.Equal(t, topology.NodeID("legacy-1"), ce.Blocking[0].Node)
		assert.Equal(t, topology.AppID("legacy"), ce.Blocking[0].App)
		assert.Equal(t, topology.TemplateID("legacy_app"), ce.Blocking[0].Template)
		assert.Equal(t, "<10", ce.Blocking[0].Constraint.String())
		assert.Equal(t, versions("10.1.18", "10.1.34"), ce.Tried)
		assert.Contains(t, err.Error(), "node legacy-1 (legacy) requires <10; versions tried: 10.1.18, 10.1.34")
	}

	// Upgrading legacy in the same batch, to a version that runs on
	// Tomcat 10: legacy-1 is no co-tenant any more, and waits for
	// tomcat-2's step; its old "<10" is a warning.
	legacy := upgrade.Request{Application: "legacy", Replaces: "legacy_app", Template: topology.Template{ID: "legacy_app", Type: "webapp", Version: v("4.0.0"),
		Requirements: []topology.Requirement{{Template: "tomcat_server", Constraint: c(">=10.1")}}}}
	plan, err = planner.PlanAll(t.Context(), shop2("tomcat_server", ">=10"), legacy)
	require.NoError(t, err)
	requireTopological(t, plan)
	assert.Equal(t, []string{"10.1.34"}, hunt6Tos(plan, "tomcat-2"))
	l, ok := plan.Step("app/legacy-1@4.0.0")
	require.True(t, ok)
	assert.Equal(t, []upgrade.StepID{"platform/tomcat-2@10.1.34"}, l.After)
	assert.Equal(t, 1, l.Request)
	assert.Contains(t, plan.Warnings, "node legacy-1 (legacy_app 3.2.0) requires tomcat_server <10; it runs on tomcat-2 10.1.34 from step platform/tomcat-2@10.1.34 until its own step")
	tc, _ := plan.Step("platform/tomcat-2@10.1.34")
	assert.Equal(t, "shop_app@2.0.0 (shop) requires tomcat_server >=10 and legacy_app@4.0.0 (legacy) requires tomcat_server >=10.1; node tomcat-2 has 8.5.100", tc.Reason)
}

// hunt6Postgres is one PostgreSQL server pg-1 (12.17) on Debian 10, with
// the databases of three applications on it: shop's (>=12), billing's
// (>=12, <17) and analytics' (^15 || ^16).
func hunt6Postgres() *topology.Builder {
	b := new(topology.Builder).
		Template("dbhost", topology.Template{ID: "debian_os", Type: "debian", Version: v("10.13")}).
		Template("dbhost", topology.Template{ID: "pg_server", Type: "postgres", Version: v("12.17"),
			Requirements: []topology.Requirement{{Template: "debian_os", Constraint: c(">=10")}}}).
		Node("dbhost", topology.Node{ID: "db-vm", Template: "debian_os"}).
		Node("dbhost", topology.Node{ID: "pg-1", Template: "pg_server", Relationships: on("db-vm")})
	for _, d := range []struct{ app, con string }{{"shop", ">=12"}, {"billing", ">=12, <17"}, {"analytics", "^15 || ^16"}} {
		tid := topology.TemplateID(d.app + "_db")
		b.Template(topology.AppID(d.app), topology.Template{ID: tid, Type: "pg_database", Version: v("1.0.0"),
			Requirements: []topology.Requirement{{Template: "pg_server", Constraint: c(d.con)}}}).
			Node(topology.AppID(d.app), topology.Node{ID: topology.NodeID(d.app + "-db"), Template: tid, Relationships: on("pg-1")})
	}
	return b
}

func hunt6PostgresPackages(t *testing.T) *pkgsource.Memory {
	return source(t,
		requires(pkg("postgres", "15.6"), "debian", ">=11"),
		requires(pkg("postgres", "16.2"), "debian", ">=11"),
		requires(pkg("postgres", "17.0"), "debian", ">=12"),
		from(pkg("debian", "11.9"), "10.x"), from(pkg("debian", "12.5"), "11.x"))
}

func hunt6ShopDB(pairs ...string) upgrade.Request {
	r := upgrade.Request{Application: "shop", Replaces: "shop_db", Template: topology.Template{ID: "shop_db", Type: "pg_database", Version: v("2.0.0")}}
	for i := 0; i+1 < len(pairs); i += 2 {
		r.Template.Requirements = append(r.Template.Requirements, topology.Requirement{Template: topology.TemplateID(pairs[i]), Constraint: c(pairs[i+1])})
	}
	return r
}

// TestHunt6PostgresMajorWithCotenantDatabases: the shop's database needs
// PostgreSQL 16 and Debian 12; Debian goes release by release (10 → 11
// → 12) before the server, and the server stops at 16, which the other
// databases allow. Asking for 17 fails naming both other databases.
func TestHunt6PostgresMajorWithCotenantDatabases(t *testing.T) {
	planner := upgrade.NewPlanner(build(t, hunt6Postgres()), hunt6PostgresPackages(t))
	plan, err := planner.Plan(t.Context(), hunt6ShopDB("pg_server", ">=16", "debian_os", ">=12"))
	require.NoError(t, err)
	requireTopological(t, plan)
	assert.Equal(t, []upgrade.StepID{"platform/db-vm@11.9.0", "platform/db-vm@12.5.0", "platform/pg-1@16.2.0", "app/shop-db@2.0.0"}, ids(plan))
	assert.Equal(t, []string{"11.9", "12.5"}, hunt6Tos(plan, "db-vm"))
	pg, _ := plan.Step("platform/pg-1@16.2.0")
	assert.Equal(t, []upgrade.StepID{"platform/db-vm@12.5.0"}, pg.After)
	assert.Equal(t, "12.17", pg.From.String())
	assert.Empty(t, plan.Warnings)
	assert.Empty(t, plan.Satisfied)

	// Without the request's own Debian 12, PostgreSQL 16's ">=11" is all
	// Debian must meet: Newest still goes to 12, Nearest stops at 11.
	plan, err = planner.Plan(t.Context(), hunt6ShopDB("pg_server", ">=16"))
	require.NoError(t, err)
	assert.Equal(t, []upgrade.StepID{"platform/db-vm@11.9.0", "platform/db-vm@12.5.0", "platform/pg-1@16.2.0", "app/shop-db@2.0.0"}, ids(plan))
	plan, err = upgrade.NewPlanner(build(t, hunt6Postgres()), hunt6PostgresPackages(t), upgrade.WithPolicy(upgrade.Nearest)).Plan(t.Context(), hunt6ShopDB("pg_server", ">=16"))
	require.NoError(t, err)
	assert.Equal(t, []upgrade.StepID{"platform/db-vm@11.9.0", "platform/pg-1@16.2.0", "app/shop-db@2.0.0"}, ids(plan))

	// PostgreSQL 12 already meets ">=12": a satisfied check, no step.
	plan, err = planner.Plan(t.Context(), hunt6ShopDB("pg_server", ">=12"))
	require.NoError(t, err)
	assert.Equal(t, []upgrade.StepID{"app/shop-db@2.0.0"}, ids(plan))
	require.Len(t, plan.Satisfied, 1)
	assert.Equal(t, upgrade.Check{Node: "pg-1", Template: "pg_server", Version: v("12.17"),
		Demand: upgrade.Demand{Constraint: c(">=12"), App: "shop", Template: "shop_db", Version: v("2.0.0")}}.Demand.String(), plan.Satisfied[0].Demand.String())
	assert.Equal(t, topology.NodeID("pg-1"), plan.Satisfied[0].Node)
	assert.Equal(t, "12.17", plan.Satisfied[0].Version.String())

	_, err = planner.Plan(t.Context(), hunt6ShopDB("pg_server", ">=17"))
	require.ErrorIs(t, err, upgrade.ErrConflict)
	ce, ok := errors.AsType[*upgrade.ConflictError](err)
	require.True(t, ok, err)
	var blocking []string
	for _, d := range ce.Blocking {
		blocking = append(blocking, d.String())
	}
	assert.ElementsMatch(t, []string{"node billing-db (billing) requires >=12, <17", "node analytics-db (analytics) requires ^15 || ^16"}, blocking)
	assert.Equal(t, versions("17.0"), ce.Tried)
}

// TestHunt6BatchSharedElasticsearch: the search application needs ES
// >=7.10 and Kibana's new version ~7.17, in one batch, whatever their
// order: one chain to 7.17.18 (through 6.8) that satisfies both, both
// application steps after its last hop, a warning for each old "<7".
func TestHunt6BatchSharedElasticsearch(t *testing.T) {
	kibana := upgrade.Request{Application: "kibana", Replaces: "kibana_ui", Template: topology.Template{ID: "kibana_ui", Type: "kibana", Version: v("7.17.18"),
		Requirements: []topology.Requirement{{Template: "es_cluster", Constraint: c("~7.17")}}}}
	search := hunt6SearchRequest(">=7.10")
	for _, pol := range []upgrade.Policy{upgrade.Newest, upgrade.Nearest, upgrade.LatestPatch} {
		for _, reqs := range [][]upgrade.Request{{search, kibana}, {kibana, search}} {
			plan, err := upgrade.NewPlanner(build(t, hunt6Search(">=6.5, <7")), hunt6ESPackages(t), upgrade.WithPolicy(pol)).PlanAll(t.Context(), reqs...)
			require.NoError(t, err, pol)
			requireTopological(t, plan)
			assert.Equal(t, []upgrade.StepID{"platform/es-1@6.8.23", "platform/es-1@7.17.18", "app/kibana-1@7.17.18", "app/search-1@2.0.0"}, ids(plan), pol)
			for _, s := range plan.Steps[2:] {
				assert.Equal(t, []upgrade.StepID{"platform/es-1@7.17.18"}, s.After, s.ID)
				assert.Equal(t, s.App, plan.Requests[s.Request].Application, s.ID)
			}
			d := decided(t, plan, "es-1")
			assert.Len(t, d.Demands, 2, "both requests' demands")
			assert.Equal(t, []string{
				"node kibana-1 (kibana_ui 6.8.0) requires es_cluster >=6.5, <7; it runs on es-1 7.17.18 from step platform/es-1@7.17.18 until its own step",
				"node search-1 (search_app 1.0.0) requires es_cluster >=6.5, <7; it runs on es-1 7.17.18 from step platform/es-1@7.17.18 until its own step",
			}, plan.Warnings)
		}
	}

	// Kibana's new version wants 7.x, the search application 8: no
	// version meets both; the error names both requests.
	_, err := upgrade.NewPlanner(build(t, hunt6Search(">=6.5, <7")), hunt6ESPackages(t)).PlanAll(t.Context(), hunt6SearchRequest(">=8"), kibana)
	require.ErrorIs(t, err, upgrade.ErrConflict)
	assert.Contains(t, err.Error(), "search_app@2.0.0 (search) requires >=8")
	assert.Contains(t, err.Error(), "kibana_ui@7.17.18 (kibana) requires ~7.17")
}

// TestHunt6SharedOSHoldsTheJDKBack: the shop's VM also runs the ops
// team's monitoring agent JVM, whose template needs Ubuntu <22.04. Tomcat
// 10 needs a JDK >=11; JDK 21 would need Ubuntu 22.04, which the agent
// does not allow, so the plan takes JDK 17 on Ubuntu 20.04. Asking for
// JDK 21 fails on the VM, naming the agent, its application and
// constraint.
func TestHunt6SharedOSHoldsTheJDKBack(t *testing.T) {
	b := shopBuilder(1).
		Template("ops", topology.Template{ID: "agent_jvm", Type: "jdk", Version: v("11.0.22"),
			Requirements: []topology.Requirement{{Template: "ubuntu_os", Constraint: c("<22.04")}}}).
		Node("ops", topology.Node{ID: "agent-jvm", Template: "agent_jvm", Relationships: on("vm-1")})
	src := source(t,
		requires(pkg("tomcat", "10.1.34"), "jdk", ">=11"),
		requires(pkg("jdk", "17.0.10"), "ubuntu", ">=20.04"),
		requires(pkg("jdk", "21.0.2"), "ubuntu", ">=22.04"),
		pkg("ubuntu", "20.04"), pkg("ubuntu", "22.04"))
	planner := upgrade.NewPlanner(build(t, b), src)
	plan, err := planner.Plan(t.Context(), shop2("tomcat_server", ">=10"))
	require.NoError(t, err)
	requireTopological(t, plan)
	assert.Equal(t, []upgrade.StepID{"platform/vm-1@20.4.0", "platform/java-1@17.0.10", "platform/tomcat-1@10.1.34", "app/shop-1@2.0.0"}, ids(plan))
	d := decided(t, plan, "java-1")
	require.NotEmpty(t, d.Candidates)
	assert.Equal(t, "21.0.2", d.Candidates[0].Version.String())
	assert.Contains(t, d.Candidates[0].Rejected, "agent-jvm", "21 is passed over for the agent's Ubuntu")

	_, err = planner.Plan(t.Context(), shop2("tomcat_server", ">=10", "java_runtime", ">=21"))
	require.ErrorIs(t, err, upgrade.ErrConflict)
	ce, ok := errors.AsType[*upgrade.ConflictError](err)
	require.True(t, ok, err)
	assert.Equal(t, topology.NodeID("vm-1"), ce.Node)
	require.Len(t, ce.Blocking, 1)
	assert.Equal(t, "node agent-jvm (ops) requires <22.04", ce.Blocking[0].String())
	assert.Equal(t, versions("22.04"), ce.Tried)
}
