package upgrade_test

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/upgrade/upgradetest"
	"github.com/stackup/stackup/version"
)

// Scenarios of real systems, modelled as a host program would, through the
// public API only. Helpers are prefixed "hunt15".

// hunt15Juju is a Juju model: machines m-0 to m-3 on Ubuntu 20.04 ("20.4.0",
// as Juju writes series versions), wordpress units wp-0 to wp-2 on m-0 to
// m-2, each with a telegraf subordinate unit beside it on the same machine
// (telegraf does not support 24.04 yet), and one mysql unit on m-3 that
// every wordpress unit is related to (depends_on, not hosted_on).
func hunt15Juju() *topology.Builder {
	b := new(topology.Builder).
		Template("model", topology.Template{ID: "ubuntu_machine", Type: "ubuntu", Version: v("20.4.0")}).
		Template("wordpress", topology.Template{ID: "wordpress_charm", Type: "charm", Version: v("6.4.0"),
			Requirements: []topology.Requirement{
				{Name: "host", Template: "ubuntu_machine", Constraint: c(">=20.4")},
				{Name: "db", Template: "mysql_charm", Constraint: c(">=8.0")}}}).
		Template("telegraf", topology.Template{ID: "telegraf_charm", Type: "charm", Version: v("1.28.0"),
			Requirements: []topology.Requirement{{Name: "host", Template: "ubuntu_machine", Constraint: c(">=20.4, <24.4")}}}).
		Template("mysql", topology.Template{ID: "mysql_charm", Type: "mysql", Version: v("8.0.35"),
			Requirements: []topology.Requirement{{Name: "host", Template: "ubuntu_machine", Constraint: c(">=20.4")}}})
	for i := range 4 {
		b.Node("model", topology.Node{ID: topology.NodeID(fmt.Sprintf("m-%d", i)), Template: "ubuntu_machine"})
	}
	b.Node("mysql", topology.Node{ID: "mysql-0", Template: "mysql_charm", Relationships: on("m-3")})
	for i := range 3 {
		m := topology.NodeID(fmt.Sprintf("m-%d", i))
		b.Node("wordpress", topology.Node{ID: topology.NodeID(fmt.Sprintf("wp-%d", i)), Template: "wordpress_charm",
			Relationships: []topology.Relationship{{Relation: topology.HostedOn, Target: m}, {Relation: topology.DependsOn, Target: "mysql-0"}}})
		b.Node("telegraf", topology.Node{ID: topology.NodeID(fmt.Sprintf("tg-%d", i)), Template: "telegraf_charm", Relationships: on(m)})
	}
	return b
}

func hunt15JujuPackages() []pkgsource.Package {
	return []pkgsource.Package{
		from(pkg("ubuntu", "22.4.0"), ">=20.4, <22.4"),
		from(pkg("ubuntu", "24.4.0"), ">=22.4, <24.4"),
		requires(pkg("mysql", "8.0.36"), "ubuntu", ">=20.4"),
		requires(pkg("mysql", "8.0.39"), "ubuntu", ">=22.4"),
		requires(pkg("mysql", "8.4.2"), "ubuntu", ">=22.4"),
	}
}

// hunt15Lifecycle takes plan, made of reqs on topo with src and opts,
// through what a host program does with it: renders it, runs it with a
// file journal until the step fail fails, plans again against the
// topology the run left (which must give the steps not done, from and to
// the same versions, or fewer of them), resumes the run once the fault is healed (which
// must run only those), and plans again against the topology the whole
// run left (which must give nothing to do). It returns the resumed run's
// executor.
func hunt15Lifecycle(t *testing.T, topo *topology.Memory, src []pkgsource.Package, opts []upgrade.Option, plan *upgrade.Plan, fail upgrade.StepID, reqs ...upgrade.Request) *upgradetest.Executor {
	t.Helper()
	requireTopological(t, plan)
	for _, w := range []func(io.Writer) error{plan.WriteText, plan.WriteJSON, plan.WriteMermaid, plan.WriteDOT} {
		require.NoError(t, w(io.Discard))
	}
	var js strings.Builder
	require.NoError(t, plan.WriteJSON(&js))
	back, err := upgrade.ReadJSON(strings.NewReader(js.String()))
	require.NoError(t, err)
	require.Equal(t, plan.String(), back.String())

	path := filepath.Join(t.TempDir(), "run.journal")
	j, err := upgrade.OpenFileJournal(path)
	require.NoError(t, err)
	exec := new(upgradetest.Executor)
	exec.FailAt(fail, errors.New("juju: hook failed"))
	report, err := upgrade.Run(t.Context(), plan, exec, upgrade.WithJournal(j), upgrade.WithConcurrency(2))
	require.NoError(t, j.Close())
	var serr *upgrade.StepError
	require.ErrorAs(t, err, &serr)
	assert.Equal(t, fail, serr.Step)
	var done []upgrade.StepID
	for _, o := range report.Outcomes {
		if o.State == upgrade.Succeeded {
			done = append(done, o.Step)
		}
	}
	failed, _ := plan.Step(fail)
	assert.Equal(t, failed.Node, serr.Node)

	src2 := source(t, src...)
	again, err := upgrade.NewPlanner(cvApply(t, topo, plan, done), src2, opts...).PlanAll(t.Context(), reqs...)
	require.NoError(t, err, "planned again after %v", done)
	var rest []upgrade.StepID
	for _, id := range ids(plan) {
		if !slices.Contains(done, id) {
			rest = append(rest, id)
		}
	}
	// What is left: the steps not done, but for the further hops of a
	// node that a hop done already took to a version that meets every
	// demand (a check now, as the README says).
	left := ids(again)
	for _, id := range rest {
		if s, _ := plan.Step(id); s.Kind == upgrade.Application {
			assert.Contains(t, left, id, "planned again after %v", done)
		}
	}
	for _, id := range left {
		assert.Contains(t, rest, id, "planned again after %v", done)
	}
	for _, s := range again.Steps {
		if orig, ok := plan.Step(s.ID); ok {
			assert.Equal(t, [2]string{orig.From.String(), orig.To.String()}, [2]string{s.From.String(), s.To.String()}, s.ID)
		}
	}

	j, err = upgrade.OpenFileJournal(path)
	require.NoError(t, err)
	defer j.Close()
	exec2 := new(upgradetest.Executor)
	report, err = upgrade.Run(t.Context(), plan, exec2, upgrade.WithJournal(j), upgrade.WithConcurrency(2),
		upgrade.WithStaleCheck(cvApply(t, topo, plan, done)))
	require.NoError(t, err)
	assert.Equal(t, len(plan.Steps), report.Count(upgrade.Succeeded))
	for _, id := range done {
		assert.Zero(t, exec2.Calls(id), "%s ran again", id)
		o, _ := report.Outcome(id)
		assert.True(t, o.Resumed, id)
	}
	assert.ElementsMatch(t, rest, exec2.Started())

	final, err := upgrade.NewPlanner(cvApply(t, topo, plan, ids(plan)), src2, opts...).PlanAll(t.Context(), reqs...)
	require.NoError(t, err)
	assert.Empty(t, final.Steps, "not converged: %s", final)
	assert.Empty(t, final.Warnings)
	return exec2
}

// hunt15Bosh is a BOSH deployment "cf": instance groups router (3
// instances) and api (4 instances), each instance a VM of the
// ubuntu-jammy stemcell (versions such as "1.340") running its job; the
// api's instance 3 also runs a colocated router job (router/3).
func hunt15Bosh() *topology.Builder {
	b := new(topology.Builder).
		Template("cf", topology.Template{ID: "stemcell", Type: "bosh-stemcell-ubuntu-jammy", Version: v("1.340")}).
		Template("cf", topology.Template{ID: "router", Type: "gorouter", Version: v("0.280.0"),
			Requirements: []topology.Requirement{{Template: "stemcell", Constraint: c(">=1.300")}}}).
		Template("cf", topology.Template{ID: "api", Type: "cloud_controller", Version: v("3.150.0"),
			Requirements: []topology.Requirement{{Template: "stemcell", Constraint: c(">=1.300")}}})
	for i := range 3 {
		vm := topology.NodeID(fmt.Sprintf("router-vm-%d", i))
		b.Node("cf", topology.Node{ID: vm, Template: "stemcell"}).
			Node("cf", topology.Node{ID: topology.NodeID(fmt.Sprintf("router/%d", i)), Template: "router", Relationships: on(vm)})
	}
	for i := range 4 {
		vm := topology.NodeID(fmt.Sprintf("api-vm-%d", i))
		b.Node("cf", topology.Node{ID: vm, Template: "stemcell"}).
			Node("cf", topology.Node{ID: topology.NodeID(fmt.Sprintf("api/%d", i)), Template: "api", Relationships: on(vm)})
	}
	b.Node("cf", topology.Node{ID: "router/3", Template: "router", Relationships: on("api-vm-3")})
	return b
}

func hunt15BoshPackages() []pkgsource.Package {
	return []pkgsource.Package{pkg("bosh-stemcell-ubuntu-jammy", "1.351"), pkg("bosh-stemcell-ubuntu-jammy", "1.406"), pkg("bosh-stemcell-ubuntu-jammy", "1.423")}
}

// hunt15Kube is three clusters, each a control plane with the
// ingress-nginx chart released on it: prod on EKS 1.24.17-eks-f8587cb,
// staging on EKS 1.27.3-eks-a5565ad, edge on k3s v1.28.2+k3s1. A chart's
// requirement names one template, so the chart has one per distribution.
// Its kubeVersion is ">=1.21.0-0".
func hunt15Kube() *topology.Builder {
	b := new(topology.Builder).
		Template("clusters", topology.Template{ID: "eks_control_plane", Type: "eks", Version: v("1.24.17-eks-f8587cb")}).
		Template("clusters", topology.Template{ID: "k3s_server", Type: "k3s", Version: v("v1.28.2+k3s1")}).
		Template("ingress", topology.Template{ID: "ingress_eks", Type: "helm-chart", Version: v("4.7.1"),
			Requirements: []topology.Requirement{{Template: "eks_control_plane", Constraint: c(">=1.21.0-0")}}}).
		Template("ingress", topology.Template{ID: "ingress_k3s", Type: "helm-chart", Version: v("4.7.1"),
			Requirements: []topology.Requirement{{Template: "k3s_server", Constraint: c(">=1.21.0-0")}}}).
		Node("clusters", topology.Node{ID: "prod", Template: "eks_control_plane"}).
		Node("clusters", topology.Node{ID: "staging", Template: "eks_control_plane", Version: v("1.27.3-eks-a5565ad")}).
		Node("clusters", topology.Node{ID: "edge", Template: "k3s_server"})
	for _, cl := range []topology.NodeID{"prod", "staging"} {
		b.Node("ingress", topology.Node{ID: "ingress-" + cl, Template: "ingress_eks", Relationships: on(cl)})
	}
	return b.Node("ingress", topology.Node{ID: "ingress-edge", Template: "ingress_k3s", Relationships: on("edge")})
}

// hunt15KubePackages: EKS upgrades one minor version at a time.
func hunt15KubePackages() []pkgsource.Package {
	return []pkgsource.Package{
		from(pkg("eks", "1.25.16-eks-5e0fdde"), ">=1.24.0-0, <1.25.0-0"),
		from(pkg("eks", "1.26.15-eks-ba74326"), ">=1.25.0-0, <1.26.0-0"),
		from(pkg("eks", "1.27.13-eks-3af4770"), ">=1.26.0-0, <1.27.0-0"),
		from(pkg("eks", "1.28.9-eks-036c24b"), ">=1.27.0-0, <1.28.0-0"),
		from(pkg("k3s", "v1.28.5+k3s1"), ">=1.27.0-0, <1.28.5-0"),
		from(pkg("k3s", "v1.29.1+k3s2"), ">=1.28.0-0, <1.29.0-0"),
	}
}

// hunt15Java is a VM on RHEL 8.9 with Temurin JDK 17.0.9+9 and a Tomcat
// 9.0.83 on it that hosts two web applications: shop (javax, to move to
// jakarta) and legacy (javax for good: it needs Tomcat below 10).
func hunt15Java() *topology.Builder {
	return new(topology.Builder).
		Template("infra", topology.Template{ID: "rhel", Type: "rhel", Version: v("8.9")}).
		Template("infra", topology.Template{ID: "jdk", Type: "temurin", Version: v("17.0.9+9"),
			Requirements: []topology.Requirement{{Template: "rhel", Constraint: c(">=8")}}}).
		Template("infra", topology.Template{ID: "tomcat", Type: "tomcat", Version: v("9.0.83"),
			Requirements: []topology.Requirement{{Template: "jdk", Constraint: c(">=8")}}}).
		Template("shop", topology.Template{ID: "shop_war", Type: "war", Version: v("4.2.0"),
			Requirements: []topology.Requirement{{Template: "tomcat", Constraint: c(">=9, <10")}}}).
		Template("legacy", topology.Template{ID: "legacy_war", Type: "war", Version: v("1.0.0"),
			Requirements: []topology.Requirement{{Template: "tomcat", Constraint: c(">=8.5, <10")}}}).
		Node("infra", topology.Node{ID: "vm-1", Template: "rhel"}).
		Node("infra", topology.Node{ID: "jdk-1", Template: "jdk", Relationships: on("vm-1")}).
		Node("infra", topology.Node{ID: "tomcat-1", Template: "tomcat", Relationships: on("jdk-1")}).
		Node("shop", topology.Node{ID: "shop-1", Template: "shop_war", Relationships: on("tomcat-1")}).
		Node("legacy", topology.Node{ID: "legacy-1", Template: "legacy_war", Relationships: on("tomcat-1")})
}

func hunt15JavaPackages() []pkgsource.Package {
	return []pkgsource.Package{
		pkg("temurin", "17.0.10+7"), pkg("temurin", "21.0.1"), requires(pkg("temurin", "21.0.2+13"), "rhel", ">=8"),
		pkg("tomcat", "9.0.85"), requires(pkg("tomcat", "10.1.18"), "temurin", ">=11"), requires(pkg("tomcat", "11.0.2"), "temurin", ">=17"),
	}
}

// hunt15Postgres is a PostgreSQL 13.14 server, pg-1, on Debian 11, with
// two applications depending on it: billing (which will need 15) and
// reports (whose driver does not know 16 yet).
func hunt15Postgres() *topology.Builder {
	return new(topology.Builder).
		Template("db", topology.Template{ID: "debian", Type: "debian", Version: v("11.9")}).
		Template("db", topology.Template{ID: "postgres", Type: "postgresql", Version: v("13.14"),
			Requirements: []topology.Requirement{{Template: "debian", Constraint: c(">=11")}}}).
		Template("billing", topology.Template{ID: "billing_app", Type: "app", Version: v("2.3.0"),
			Requirements: []topology.Requirement{{Template: "postgres", Constraint: c(">=12")}}}).
		Template("reports", topology.Template{ID: "reports_app", Type: "app", Version: v("1.1.0"),
			Requirements: []topology.Requirement{{Template: "postgres", Constraint: c(">=11, <16")}}}).
		Node("db", topology.Node{ID: "deb-1", Template: "debian"}).
		Node("db", topology.Node{ID: "pg-1", Template: "postgres", Relationships: on("deb-1")}).
		Node("billing", topology.Node{ID: "billing-1", Template: "billing_app", Relationships: []topology.Relationship{hunt6Dep("pg-1")}}).
		Node("billing", topology.Node{ID: "billing-2", Template: "billing_app", Relationships: []topology.Relationship{hunt6Dep("pg-1")}}).
		Node("reports", topology.Node{ID: "reports-1", Template: "reports_app", Relationships: []topology.Relationship{hunt6Dep("pg-1")}})
}

// hunt15PostgresPackages: each major upgrades from the one before only
// (as a site's runbook allows), 16 needs Debian 12.
func hunt15PostgresPackages() []pkgsource.Package {
	return []pkgsource.Package{
		from(pkg("postgresql", "13.15"), ">=13, <13.15"),
		from(pkg("postgresql", "14.12"), ">=13, <14"),
		from(pkg("postgresql", "15.7"), ">=14, <15"),
		requires(from(pkg("postgresql", "16.3"), ">=15, <16"), "debian", ">=12"),
		from(pkg("debian", "12.5"), ">=11, <12"),
	}
}

// TestHunt15EKSChainSaysWhatToDo: every EKS version is a pre-release to
// semantic versioning ("1.24.17-eks-f8587cb"), and a chain of upgrades
// passes through released versions only, so the prod cluster cannot be
// planned from 1.24 to 1.26 one minor at a time, even with a constraint
// that lets pre-releases in. The error says why, and what works: writing
// the suffix as build metadata, or planning to the next hop first. Both
// do. Of a released version with only pre-releases leading on (a real
// pre-release, 1.27.0-rc.1), the error gives no such advice.
func TestHunt15EKSChainSaysWhatToDo(t *testing.T) {
	topo := build(t, hunt15Kube())
	req := hunt9Request("ingress", "ingress_eks", "4.9.0", "eks_control_plane", ">=1.26.0-0")
	_, err := hunt9Plan(t, topo, hunt15KubePackages(), nil, req)
	require.ErrorIs(t, err, upgrade.ErrNoUpgradePath)
	var perr *upgrade.NoPathError
	require.ErrorAs(t, err, &perr)
	assert.Equal(t, topology.NodeID("prod"), perr.Node)
	assert.Contains(t, err.Error(), "only pre-releases lead on from there (1.25.16-eks-5e0fdde)")
	assert.Contains(t, err.Error(), "write it as build metadata (1.25.16+eks-5e0fdde)")
	assert.Contains(t, err.Error(), "or ask for >=1.25.16-eks-5e0fdde first and plan again from there")

	// The first way: build metadata in the topology and the packages.
	apps := topo.Applications()
	for a := range apps {
		for k := range apps[a].Templates {
			if apps[a].Templates[k].ID == "eks_control_plane" {
				apps[a].Templates[k].Version = v("1.24.17+eks-f8587cb")
			}
		}
		for k := range apps[a].Nodes {
			if apps[a].Nodes[k].ID == "staging" {
				apps[a].Nodes[k].Version = v("1.27.3+eks-a5565ad")
			}
		}
	}
	meta, err := topology.New(apps...)
	require.NoError(t, err)
	var pk []pkgsource.Package
	for _, p := range hunt15KubePackages() {
		if p.Type == "eks" {
			p = from(pkg("eks", strings.Replace(p.Version.String(), "-", "+", 1)), p.From.String())
		}
		pk = append(pk, p)
	}
	plan, err := hunt9Plan(t, meta, pk, nil, req)
	require.NoError(t, err)
	assert.Equal(t, []string{"1.25.16+eks-5e0fdde", "1.26.15+eks-ba74326", "1.27.13+eks-3af4770", "1.28.9+eks-036c24b"}, hunt6Tos(plan, "prod"))

	// The second: a hop at a time.
	plan, err = hunt9Plan(t, topo, hunt15KubePackages(), nil, hunt9Request("ingress", "ingress_eks", "4.9.0", "eks_control_plane", ">=1.25.16-eks-5e0fdde"))
	require.NoError(t, err)
	assert.Equal(t, []string{"1.25.16-eks-5e0fdde"}, hunt6Tos(plan, "prod"))
	plan, err = hunt9Plan(t, cvApply(t, topo, plan, []upgrade.StepID{"platform/prod@1.25.16-eks-5e0fdde"}), hunt15KubePackages(), nil, req)
	require.NoError(t, err)
	assert.Equal(t, []string{"1.26.15-eks-ba74326"}, hunt6Tos(plan, "prod"))

	// A real pre-release on the way from a release: no such advice.
	rc := build(t, new(topology.Builder).
		Template("k", topology.Template{ID: "kubeadm", Type: "kubeadm", Version: v("1.26.9")}).
		Template("k", topology.Template{ID: "app", Type: "app", Version: v("1.0.0")}).
		Node("k", topology.Node{ID: "cp-1", Template: "kubeadm"}).
		Node("k", topology.Node{ID: "app-1", Template: "app", Relationships: on("cp-1")}))
	_, err = hunt9Plan(t, rc, []pkgsource.Package{from(pkg("kubeadm", "1.27.0-rc.1"), "~1.26.0"), from(pkg("kubeadm", "1.28.2"), "~1.27.0-0")}, nil,
		hunt9Request("k", "app", "2.0.0", "kubeadm", ">=1.28"))
	require.ErrorIs(t, err, upgrade.ErrNoUpgradePath)
	assert.Contains(t, err.Error(), "only pre-releases lead on from there (1.27.0-rc.1)")
	assert.NotContains(t, err.Error(), "build metadata")
}

// TestHunt15JujuSeriesUpgrade: wordpress 6.5 needs Ubuntu 22.04 and MySQL
// 8.0.36 or later within 8.0. Each wordpress machine moves to 22.04, not
// 24.04, as the telegraf subordinate beside the unit does not support
// 24.04; the database's machine, m-3, which only the new MySQL package
// needs on 22.04 or later, goes to 24.04 (newest, no co-tenant holds it
// back) in two hops, before the database; each unit waits for its own
// machine and the database only. Asked for 24.04, the plan is refused
// naming the subordinate that blocks. The plan runs, fails, is planned
// again, resumes and converges.
func TestHunt15JujuSeriesUpgrade(t *testing.T) {
	topo := build(t, hunt15Juju())
	req := hunt9Request("wordpress", "wordpress_charm", "6.5.0", "ubuntu_machine", ">=22.4", "mysql_charm", ">=8.0.36, <8.1")
	plan, err := hunt9Plan(t, topo, hunt15JujuPackages(), nil, req)
	require.NoError(t, err)
	assert.Equal(t, []hunt8Step{
		{"platform/m-0@22.4.0", "20.4.0", "22.4.0", nil},
		{"platform/m-1@22.4.0", "20.4.0", "22.4.0", nil},
		{"platform/m-2@22.4.0", "20.4.0", "22.4.0", nil},
		{"platform/m-3@22.4.0", "20.4.0", "22.4.0", nil},
		{"platform/m-3@24.4.0", "22.4.0", "24.4.0", []upgrade.StepID{"platform/m-3@22.4.0"}},
		{"platform/mysql-0@8.0.39", "8.0.35", "8.0.39", []upgrade.StepID{"platform/m-3@24.4.0"}},
		{"app/wp-0@6.5.0", "6.4.0", "6.5.0", []upgrade.StepID{"platform/m-0@22.4.0", "platform/mysql-0@8.0.39"}},
		{"app/wp-1@6.5.0", "6.4.0", "6.5.0", []upgrade.StepID{"platform/m-1@22.4.0", "platform/mysql-0@8.0.39"}},
		{"app/wp-2@6.5.0", "6.4.0", "6.5.0", []upgrade.StepID{"platform/m-2@22.4.0", "platform/mysql-0@8.0.39"}},
	}, hunt8Steps(plan))
	assert.Empty(t, plan.Warnings)
	d := decided(t, plan, "m-0")
	require.Len(t, d.Candidates, 2)
	assert.Equal(t, "24.4.0", d.Candidates[0].Version.String())
	assert.Contains(t, d.Candidates[0].Rejected, "tg-0")
	assert.True(t, d.Candidates[1].Chosen)
	hunt15Lifecycle(t, topo, hunt15JujuPackages(), nil, plan, "platform/m-3@24.4.0", req)

	_, err = hunt9Plan(t, topo, hunt15JujuPackages(), nil, hunt9Request("wordpress", "wordpress_charm", "6.5.0", "ubuntu_machine", ">=24.4"))
	var cerr *upgrade.ConflictError
	require.ErrorAs(t, err, &cerr)
	assert.Equal(t, topology.NodeID("m-0"), cerr.Node)
	require.NotEmpty(t, cerr.Blocking)
	assert.Equal(t, topology.NodeID("tg-0"), cerr.Blocking[0].Node)
	assert.Equal(t, topology.AppID("telegraf"), cerr.Blocking[0].App)
	assert.Contains(t, err.Error(), "node tg-0 (telegraf) requires >=20.4, <24.4")
}

// TestHunt15JujuUnitsInContainers: two wordpress units in LXD containers
// on one machine, each with a telegraf subordinate related to the unit
// (hosted on it, as juju-info relates them), which supports no 24.04. The
// containers go to 22.04 (the subordinate, two nodes up, holds them back),
// the machine to 24.04 first when the request needs it too; rolled with a
// canary, the second container waits for the first unit.
func TestHunt15JujuUnitsInContainers(t *testing.T) {
	b := new(topology.Builder).
		Template("model", topology.Template{ID: "ubuntu_machine", Type: "ubuntu", Version: v("20.4.0")}).
		Template("model", topology.Template{ID: "lxd_container", Type: "ubuntu", Version: v("20.4.0"),
			Requirements: []topology.Requirement{{Template: "ubuntu_machine", Constraint: c(">=20.4")}}}).
		Template("wordpress", topology.Template{ID: "wordpress_charm", Type: "charm", Version: v("6.4.0"),
			Requirements: []topology.Requirement{{Name: "host", Template: "lxd_container", Constraint: c(">=20.4")}}}).
		Template("telegraf", topology.Template{ID: "telegraf_charm", Type: "charm", Version: v("1.28.0"),
			Requirements: []topology.Requirement{{Name: "juju-info", Template: "wordpress_charm"}, {Template: "lxd_container", Constraint: c(">=20.4, <24.4")}}}).
		Node("model", topology.Node{ID: "m-0", Template: "ubuntu_machine"})
	for i := range 2 {
		ct, wp := topology.NodeID(fmt.Sprintf("m-0-lxd-%d", i)), topology.NodeID(fmt.Sprintf("wp-%d", i))
		b.Node("model", topology.Node{ID: ct, Template: "lxd_container", Relationships: on("m-0")}).
			Node("wordpress", topology.Node{ID: wp, Template: "wordpress_charm", Relationships: on(ct)}).
			Node("telegraf", topology.Node{ID: topology.NodeID(fmt.Sprintf("tg-%d", i)), Template: "telegraf_charm", Relationships: on(wp)})
	}
	topo := build(t, b)
	pk := []pkgsource.Package{from(pkg("ubuntu", "22.4.0"), ">=20.4, <22.4"), from(pkg("ubuntu", "24.4.0"), ">=22.4, <24.4")}
	req := hunt9Request("wordpress", "wordpress_charm", "6.5.0", "lxd_container", ">=22.4", "ubuntu_machine", ">=22.4")
	plan, err := hunt9Plan(t, topo, pk, nil, req)
	require.NoError(t, err)
	rolled, err := plan.Roll(upgrade.Rolling{Canaries: 1})
	require.NoError(t, err)
	assert.Equal(t, []hunt8Step{
		{"platform/m-0@22.4.0", "20.4.0", "22.4.0", nil},
		{"platform/m-0@24.4.0", "22.4.0", "24.4.0", []upgrade.StepID{"platform/m-0@22.4.0"}},
		{"platform/m-0-lxd-0@22.4.0", "20.4.0", "22.4.0", []upgrade.StepID{"platform/m-0@24.4.0"}},
		{"app/wp-0@6.5.0", "6.4.0", "6.5.0", []upgrade.StepID{"platform/m-0-lxd-0@22.4.0"}},
		{"platform/m-0-lxd-1@22.4.0", "20.4.0", "22.4.0", []upgrade.StepID{"app/wp-0@6.5.0", "platform/m-0@24.4.0"}},
		{"app/wp-1@6.5.0", "6.4.0", "6.5.0", []upgrade.StepID{"app/wp-0@6.5.0", "platform/m-0-lxd-1@22.4.0"}},
	}, hunt8Steps(rolled))
	hunt15Lifecycle(t, topo, pk, nil, rolled, "platform/m-0-lxd-1@22.4.0", req)
}

// TestHunt15BoshCanariesThenBatches: a stemcell bump for the router and
// api instance groups, rolled with one canary and max_in_flight 2. The
// api's later VMs change only after its canary, its last VM only after the
// batch before; the VM that both groups share (api-vm-3, with a colocated
// router job) waits for both canaries. A failed canary, rolled back,
// leaves every other VM as it was. The rolled plan runs, fails in a
// batch, resumes and converges.
func TestHunt15BoshCanariesThenBatches(t *testing.T) {
	topo := build(t, hunt15Bosh())
	router := hunt9Request("cf", "router", "0.290.0", "stemcell", ">=1.400")
	api := hunt9Request("cf", "api", "3.160.0", "stemcell", ">=1.400")
	plan, err := hunt9Plan(t, topo, hunt15BoshPackages(), nil, router, api)
	require.NoError(t, err)
	for _, s := range plan.Steps {
		if s.Kind == upgrade.Platform {
			assert.Equal(t, "1.423", s.To.String(), s.ID)
		}
	}
	rolled, err := plan.Roll(upgrade.Rolling{Canaries: 1, MaxInFlight: "2"})
	require.NoError(t, err)
	requireTopological(t, rolled)
	after := func(id upgrade.StepID) []upgrade.StepID { return rolled.Prerequisites(id) }
	assert.Equal(t, []upgrade.StepID{"app/api/0@3.160.0"}, after("platform/api-vm-1@1.423.0"))
	assert.Equal(t, []upgrade.StepID{"app/api/0@3.160.0", "app/router/0@0.290.0"}, after("platform/api-vm-3@1.423.0"))
	assert.Equal(t, []upgrade.StepID{"app/api/1@3.160.0", "app/api/2@3.160.0", "platform/api-vm-3@1.423.0"}, after("app/api/3@3.160.0"))

	only := hunt9Request("cf", "api", "3.160.0", "stemcell", ">=1.400")
	plan1, err := hunt9Plan(t, topo, hunt15BoshPackages(), nil, only)
	require.NoError(t, err)
	rolled1, err := plan1.Roll(upgrade.Rolling{Canaries: 1, MaxInFlight: "50%"})
	require.NoError(t, err)
	assert.Equal(t, []upgrade.StepID{"app/api/1@3.160.0", "app/api/2@3.160.0"}, rolled1.Prerequisites("platform/api-vm-3@1.423.0"))

	exec := new(upgradetest.Executor)
	exec.FailAt("app/router/0@0.290.0", errors.New("canary failed"))
	report, err := upgrade.Run(t.Context(), rolled, exec, upgrade.WithRollback(), upgrade.WithConcurrency(4))
	require.ErrorIs(t, err, upgrade.ErrStepFailed)
	// No step behind the failed canary started; the api's batches may
	// have, their own canary having succeeded before the router's failed.
	var behind func(id upgrade.StepID) bool
	behind = func(id upgrade.StepID) bool {
		for _, p := range rolled.Prerequisites(id) {
			if p == "app/router/0@0.290.0" || behind(p) {
				return true
			}
		}
		return false
	}
	for _, id := range exec.Started() {
		assert.False(t, behind(id), "%s ran after the canary it waits for failed", id)
	}
	assert.True(t, behind("platform/router-vm-1@1.423.0"), "the router's batches wait for its canary")
	assert.ElementsMatch(t, exec.Started(), exec.RolledBack())
	assert.Zero(t, report.Count(upgrade.Succeeded))

	hunt15Lifecycle(t, topo, hunt15BoshPackages(), nil, rolled, "app/api/1@3.160.0", router, api)
}

// TestHunt15HelmKubeVersions: the ingress chart's new kubeVersion is
// ">=1.25.0-0", whose "-0" lets EKS's versions in. Staging on
// 1.27.3-eks-a5565ad meets it; prod on 1.24.17-eks-f8587cb moves to
// 1.25.16-eks-5e0fdde, the only package that upgrades from 1.24; edge on
// k3s v1.28.2+k3s1 goes to v1.29.1+k3s2 for ">=1.29.0-0". Without the
// "-0", no EKS version meets ">=1.26", and the error says how to let
// them in.
func TestHunt15HelmKubeVersions(t *testing.T) {
	topo := build(t, hunt15Kube())
	eks := hunt9Request("ingress", "ingress_eks", "4.9.0", "eks_control_plane", ">=1.25.0-0")
	k3s := hunt9Request("ingress", "ingress_k3s", "4.9.0", "k3s_server", ">=1.29.0-0")
	plan, err := hunt9Plan(t, topo, hunt15KubePackages(), nil, eks, k3s)
	require.NoError(t, err)
	assert.Equal(t, []hunt8Step{
		{"platform/edge@1.29.1+k3s2", "v1.28.2+k3s1", "v1.29.1+k3s2", nil},
		{"platform/prod@1.25.16-eks-5e0fdde", "1.24.17-eks-f8587cb", "1.25.16-eks-5e0fdde", nil},
		{"app/ingress-edge@4.9.0", "4.7.1", "4.9.0", []upgrade.StepID{"platform/edge@1.29.1+k3s2"}},
		{"app/ingress-prod@4.9.0", "4.7.1", "4.9.0", []upgrade.StepID{"platform/prod@1.25.16-eks-5e0fdde"}},
		{"app/ingress-staging@4.9.0", "4.7.1", "4.9.0", nil},
	}, hunt8Steps(plan))
	assert.Equal(t, []string{"staging 1.27.3-eks-a5565ad"}, hunt10Satisfied(plan))
	hunt15Lifecycle(t, topo, hunt15KubePackages(), nil, plan, "platform/edge@1.29.1+k3s2", eks, k3s)

	_, err = hunt9Plan(t, topo, hunt15KubePackages(), nil, hunt9Request("ingress", "ingress_eks", "4.9.0", "eks_control_plane", ">=1.26"))
	require.ErrorIs(t, err, upgrade.ErrNoPackage)
	assert.Contains(t, err.Error(), "write >=1.26.0-0 to allow pre-releases")
}

// TestHunt15TomcatJakarta: shop 5.0 moves from javax to jakarta and needs
// Tomcat 10, but legacy, on the same Tomcat, needs below 10: refused,
// naming legacy-1, its application and constraint, and the version tried.
// Needing only a JDK 21, the JDK moves (to 21.0.2+13, build metadata and
// all) and Tomcat stays; needing only RHEL 9, only the OS two nodes down
// moves. The plan runs, fails, resumes and converges.
func TestHunt15TomcatJakarta(t *testing.T) {
	topo := build(t, hunt15Java())
	_, err := hunt9Plan(t, topo, hunt15JavaPackages(), nil, hunt9Request("shop", "shop_war", "5.0.0", "tomcat", ">=10, <11"))
	require.ErrorIs(t, err, upgrade.ErrConflict)
	var cerr *upgrade.ConflictError
	require.ErrorAs(t, err, &cerr)
	assert.Equal(t, topology.NodeID("tomcat-1"), cerr.Node)
	require.Len(t, cerr.Blocking, 1)
	assert.Equal(t, topology.NodeID("legacy-1"), cerr.Blocking[0].Node)
	assert.Equal(t, topology.AppID("legacy"), cerr.Blocking[0].App)
	assert.Equal(t, []string{"10.1.18"}, hunt15Strings(cerr.Tried))

	plan, err := hunt9Plan(t, topo, hunt15JavaPackages(), nil, hunt9Request("shop", "shop_war", "5.0.0", "jdk", ">=21"))
	require.NoError(t, err)
	assert.Equal(t, []hunt8Step{
		{"platform/jdk-1@21.0.2+13", "17.0.9+9", "21.0.2+13", nil},
		{"app/shop-1@5.0.0", "4.2.0", "5.0.0", []upgrade.StepID{"platform/jdk-1@21.0.2+13"}},
	}, hunt8Steps(plan))

	pk := append(hunt15JavaPackages(), from(pkg("rhel", "9.3"), ">=8.8"))
	req := hunt9Request("shop", "shop_war", "5.0.0", "rhel", ">=9")
	plan, err = hunt9Plan(t, topo, pk, nil, req)
	require.NoError(t, err)
	assert.Equal(t, []hunt8Step{
		{"platform/vm-1@9.3.0", "8.9", "9.3", nil},
		{"app/shop-1@5.0.0", "4.2.0", "5.0.0", []upgrade.StepID{"platform/vm-1@9.3.0"}},
	}, hunt8Steps(plan))

	req = hunt9Request("shop", "shop_war", "5.0.0", "jdk", ">=21", "rhel", ">=9")
	plan, err = hunt9Plan(t, topo, pk, nil, req)
	require.NoError(t, err)
	hunt15Lifecycle(t, topo, pk, nil, plan, "platform/jdk-1@21.0.2+13", req)
}

func hunt15Strings(vs []version.Version) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.String()
	}
	return out
}

// TestHunt15PostgresMajorHops: billing 3.0 needs PostgreSQL 15; each major
// upgrades from the one before only, so pg-1 goes 13 → 14 → 15 whatever
// the policy, and no further, as reports needs below 16. Asked for 16,
// the plan is refused naming reports-1. With reports 2.0 (which needs 16)
// in the same plan, pg-1 goes on to 16, after Debian 12, which 16 needs,
// and the plan warns that reports-1 runs on 16 until its own step.
func TestHunt15PostgresMajorHops(t *testing.T) {
	topo := build(t, hunt15Postgres())
	billing := hunt9Request("billing", "billing_app", "3.0.0", "postgres", ">=15")
	for _, pol := range []upgrade.Policy{upgrade.Newest, upgrade.Nearest, upgrade.LatestPatch} {
		plan, err := hunt9Plan(t, topo, hunt15PostgresPackages(), []upgrade.Option{upgrade.WithPolicy(pol)}, billing)
		require.NoError(t, err, pol)
		assert.Equal(t, []string{"14.12", "15.7"}, hunt6Tos(plan, "pg-1"), pol)
	}
	_, err := hunt9Plan(t, topo, hunt15PostgresPackages(), nil, hunt9Request("billing", "billing_app", "3.0.0", "postgres", ">=16"))
	var cerr *upgrade.ConflictError
	require.ErrorAs(t, err, &cerr)
	assert.Equal(t, topology.NodeID("pg-1"), cerr.Node)
	assert.Equal(t, topology.NodeID("reports-1"), cerr.Blocking[0].Node)

	reports := hunt9Request("reports", "reports_app", "2.0.0", "postgres", ">=16")
	plan, err := hunt9Plan(t, topo, hunt15PostgresPackages(), nil, billing, reports)
	require.NoError(t, err)
	assert.Equal(t, []hunt8Step{
		{"platform/deb-1@12.5.0", "11.9", "12.5", nil},
		{"platform/pg-1@14.12.0", "13.14", "14.12", []upgrade.StepID{"platform/deb-1@12.5.0"}},
		{"platform/pg-1@15.7.0", "14.12", "15.7", []upgrade.StepID{"platform/pg-1@14.12.0"}},
		{"platform/pg-1@16.3.0", "15.7", "16.3", []upgrade.StepID{"platform/pg-1@15.7.0"}},
		{"app/billing-1@3.0.0", "2.3.0", "3.0.0", []upgrade.StepID{"platform/pg-1@16.3.0"}},
		{"app/billing-2@3.0.0", "2.3.0", "3.0.0", []upgrade.StepID{"platform/pg-1@16.3.0"}},
		{"app/reports-1@2.0.0", "1.1.0", "2.0.0", []upgrade.StepID{"platform/pg-1@16.3.0"}},
	}, hunt8Steps(plan))
	require.Len(t, plan.Warnings, 1)
	assert.Contains(t, plan.Warnings[0], "reports-1")
	hunt15Lifecycle(t, topo, hunt15PostgresPackages(), nil, plan, "platform/pg-1@15.7.0", billing, reports)
}

// TestHunt15RequestEdges: a request whose version some nodes have already
// plans only the others (the rest are checks); a request for a lower
// version is a downgrade, refused unless allowed; an application with no
// instance of the template, and a template replaced twice in one plan,
// are refused, each with an error that says what to do.
func TestHunt15RequestEdges(t *testing.T) {
	apps := build(t, hunt15Postgres()).Applications()
	for a := range apps {
		for k := range apps[a].Nodes {
			if apps[a].Nodes[k].ID == "billing-2" {
				apps[a].Nodes[k].Version = v("3.0.0")
			}
		}
	}
	topo, err := topology.New(apps...)
	require.NoError(t, err)
	plan, err := hunt9Plan(t, topo, hunt15PostgresPackages(), nil, hunt9Request("billing", "billing_app", "3.0.0", "postgres", ">=12"))
	require.NoError(t, err)
	assert.Equal(t, []upgrade.StepID{"app/billing-1@3.0.0"}, ids(plan))
	assert.Equal(t, []string{"billing-2 3.0.0", "pg-1 13.14"}, hunt10Satisfied(plan))

	down := hunt9Request("billing", "billing_app", "2.0.0", "postgres", ">=12")
	_, err = hunt9Plan(t, topo, hunt15PostgresPackages(), nil, down)
	require.ErrorIs(t, err, upgrade.ErrDowngrade)
	assert.Contains(t, err.Error(), "allow them (upgrade.AllowDowngrades)")
	plan, err = hunt9Plan(t, topo, hunt15PostgresPackages(), []upgrade.Option{upgrade.AllowDowngrades()}, down)
	require.NoError(t, err)
	assert.Equal(t, []upgrade.StepID{"app/billing-1@2.0.0", "app/billing-2@2.0.0"}, ids(plan))

	none := build(t, hunt15Postgres().Template("batch", topology.Template{ID: "batch_job", Type: "app", Version: v("1.0.0"),
		Requirements: []topology.Requirement{{Template: "postgres", Constraint: c(">=12")}}}))
	_, err = hunt9Plan(t, none, hunt15PostgresPackages(), nil, hunt9Request("batch", "batch_job", "2.0.0", "postgres", ">=15"))
	require.ErrorIs(t, err, topology.ErrNotFound)
	assert.Contains(t, err.Error(), `application "batch" has no node of template "batch_job"`)

	_, err = hunt9Plan(t, topo, hunt15PostgresPackages(), nil,
		hunt9Request("billing", "billing_app", "3.0.0", "postgres", ">=15"), hunt9Request("billing", "billing_app", "3.1.0", "postgres", ">=14"))
	require.ErrorIs(t, err, upgrade.ErrInvalidRequest)
	assert.Contains(t, err.Error(), "already replaced by request #1")
}

// TestHunt15JavaAndDebianVersionsSayWhatToWrite: a topology file written
// from what the hosts report holds Java 8's "1.8.0_392" (with its build,
// "1.8.0_392-b08") and a Debian pre-release, "2.0~beta1". Each is refused
// naming the node and the character, and saying what to write: Java 8's
// version as Adoptium writes it (8.0.392, 8.0.392+8), Debian's "~" as a
// "-", which orders the same. Written so, the file is read and planned.
func TestHunt15JavaAndDebianVersionsSayWhatToWrite(t *testing.T) {
	file := func(jdk, jdk2, agent string) string {
		return `{"schema": "stackup.topology/v1", "applications": [{"id": "infra",
		  "templates": [
		    {"id": "jdk", "type": "temurin", "version": "` + jdk + `"},
		    {"id": "agent", "type": "agent", "version": "` + agent + `", "requirements": [{"template": "jdk", "constraint": ">=8"}]}],
		  "nodes": [
		    {"id": "jdk-1", "template": "jdk"},
		    {"id": "jdk-2", "template": "jdk", "version": "` + jdk2 + `"},
		    {"id": "agent-1", "template": "agent", "relationships": [{"relation": "hosted_on", "target": "jdk-1"}]}]}]}`
	}
	_, err := topology.ReadJSON(strings.NewReader(file("1.8.0_392", "1.8.0_392-b08", "2.0~beta1")))
	require.ErrorIs(t, err, version.ErrInvalidVersion)
	for _, want := range []string{
		`"1.8.0_392": invalid semantic version: character '_' at byte 5: a version holds only ASCII letters and digits, ".", "-" and "+": Java 8's 1.8.0_392 is 8.0.392, as Adoptium writes it`,
		`Java 8's 1.8.0_392-b08 is 8.0.392+8, as Adoptium writes it`,
		`character '~' at byte 3: a version holds only ASCII letters and digits, ".", "-" and "+": write Debian's pre-release 2.0~beta1 as 2.0-beta1, which orders before 2.0 as it does`,
	} {
		assert.Contains(t, err.Error(), want)
	}
	_, err = version.Parse("1.8.0_0-b00")
	assert.ErrorContains(t, err, "Java 8's 1.8.0_0-b00 is 8.0.0+0, as Adoptium writes it")
	topo, err := topology.ReadJSON(strings.NewReader(file("8.0.392", "8.0.392+8", "2.0-beta1")))
	require.NoError(t, err)
	plan, err := upgrade.NewPlanner(topo, source(t, pkg("temurin", "8.0.402+6"))).Plan(t.Context(),
		hunt9Request("infra", "agent", "2.0.0", "jdk", ">=8.0.402"))
	require.NoError(t, err)
	assert.Equal(t, []hunt8Step{
		{"platform/jdk-1@8.0.402+6", "8.0.392", "8.0.402+6", nil},
		{"app/agent-1@2.0.0", "2.0-beta1", "2.0.0", []upgrade.StepID{"platform/jdk-1@8.0.402+6"}},
	}, hunt8Steps(plan))
}

// TestHunt15SubordinatePinsPrincipal: the telegraf subordinate of each
// wordpress unit is hosted on the unit and supports wordpress below 6.5
// only. Asked for wordpress 6.5, the plan is refused naming the unit, the
// subordinate, its application and its constraint. The version is the
// request's, not a package's: the error says to change the subordinates'
// constraint or ask for another version, not to add a version to the
// package source, which cannot help.
func TestHunt15SubordinatePinsPrincipal(t *testing.T) {
	apps := build(t, hunt15Juju()).Applications()
	for a := range apps {
		for k := range apps[a].Templates {
			if tm := &apps[a].Templates[k]; tm.ID == "telegraf_charm" {
				tm.Requirements = append(tm.Requirements, topology.Requirement{Name: "juju-info", Template: "wordpress_charm", Constraint: c("<6.5")})
			}
		}
		for k := range apps[a].Nodes {
			if n := &apps[a].Nodes[k]; n.Template == "telegraf_charm" {
				n.Relationships = on(topology.NodeID("wp-" + strings.TrimPrefix(string(n.ID), "tg-")))
			}
		}
	}
	topo, err := topology.New(apps...)
	require.NoError(t, err)
	_, err = hunt9Plan(t, topo, hunt15JujuPackages(), nil, hunt9Request("wordpress", "wordpress_charm", "6.5.0", "ubuntu_machine", ">=22.4"))
	require.ErrorIs(t, err, upgrade.ErrConflict)
	var cerr *upgrade.ConflictError
	require.ErrorAs(t, err, &cerr)
	assert.Equal(t, topology.NodeID("wp-0"), cerr.Node)
	require.Len(t, cerr.Blocking, 1)
	assert.Equal(t, topology.NodeID("tg-0"), cerr.Blocking[0].Node)
	assert.Equal(t, `upgrade: node "wp-0" (charm 6.4.0): wordpress_charm@6.5.0 (wordpress) requires =6.5.0, but node tg-0 (telegraf) requires <6.5; `+
		`the version is the request's: change the demands so that they allow it, or ask for a version that they allow`, err.Error())
}

// TestHunt15ReplacesAnotherApplicationsTemplate: asked to upgrade the
// "wordpress" application's mysql_charm (a template of the mysql
// application), or its "wordpres_charm" (a typo), the planner said only
// that the template was not found in application "wordpress". The error,
// still a *topology.NotFoundError, names the request and its field, and
// says what to name: the application's templates, or, for another
// application's template, that application.
func TestHunt15ReplacesAnotherApplicationsTemplate(t *testing.T) {
	topo := build(t, hunt15Juju())
	for _, tc := range []struct {
		replaces topology.TemplateID
		want     string
	}{
		{"mysql_charm", `upgrade: request #1: Replaces: topology: template "mysql_charm" not found in application "wordpress"; ` +
			`it is another application's: name the application whose nodes are of it, or a template of application "wordpress": wordpress_charm`},
		{"wordpres_charm", `upgrade: request #1: Replaces: topology: template "wordpres_charm" not found in application "wordpress"; ` +
			`name a template of application "wordpress": wordpress_charm`},
	} {
		_, err := hunt9Plan(t, topo, hunt15JujuPackages(), nil, hunt9Request("wordpress", tc.replaces, "8.0.36"))
		require.ErrorIs(t, err, topology.ErrNotFound)
		var nf *topology.NotFoundError
		require.ErrorAs(t, err, &nf)
		assert.Equal(t, topology.NotFoundError{Kind: "template", ID: string(tc.replaces), App: "wordpress"}, *nf)
		assert.Equal(t, tc.want, err.Error())
	}
}

// TestHunt15EKSExplainSaysWhyNotNewer: asked for ">=1.25.0-0", the prod
// cluster on EKS 1.24 goes to 1.25.16-eks-5e0fdde, the newest it reaches,
// though 1.28.9-eks-036c24b is the newest listed. Why not the newer
// ones? Its decision said only "no upgrade path from
// 1.24.17-eks-f8587cb", though each of them upgrades from the one before:
// it now says why, that only pre-releases upgrade from it and a chain
// passes through released versions only, as the *NoPathError does. Where
// a release upgrades from the installed version, it says no more.
func TestHunt15EKSExplainSaysWhyNotNewer(t *testing.T) {
	topo := build(t, hunt15Kube())
	plan, err := hunt9Plan(t, topo, hunt15KubePackages(), nil, hunt9Request("ingress", "ingress_eks", "4.9.0", "eks_control_plane", ">=1.25.0-0"))
	require.NoError(t, err)
	d := decided(t, plan, "prod")
	require.Len(t, d.Candidates, 4)
	for _, c := range d.Candidates[:3] {
		assert.Equal(t, "no upgrade path from 1.24.17-eks-f8587cb: only pre-releases upgrade from it (1.25.16-eks-5e0fdde), and a chain of upgrades passes through released versions only", c.Rejected, c.Version)
	}
	assert.True(t, d.Candidates[3].Chosen)

	// A release leads on, to a version from which nothing goes further.
	pg := hunt15PostgresPackages()[1:] // no 13.15
	pg[1] = from(pkg("postgresql", "15.7"), ">=14.13, <15")
	plan, err = hunt9Plan(t, build(t, hunt15Postgres()), pg, nil, hunt9Request("billing", "billing_app", "3.0.0", "postgres", ">=14"))
	require.NoError(t, err)
	var unreached []string
	for _, c := range decided(t, plan, "pg-1").Candidates {
		if strings.HasPrefix(c.Rejected, "no upgrade path") {
			unreached = append(unreached, c.Version.String()+": "+c.Rejected)
		}
	}
	assert.Equal(t, []string{"15.7: no upgrade path from 13.14"}, unreached)
}
