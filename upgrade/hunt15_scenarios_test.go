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
