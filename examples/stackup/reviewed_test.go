package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/version"
)

// planArgs returns "plan" with the env's inputs, and more.
func (e *applyEnv) planArgs(more ...string) []string {
	return append([]string{"plan", "--topology", e.topo, "--repo", e.repo, "--key", e.key,
		"--requests", "testdata/requests.yaml"}, more...)
}

// planFileArgs returns "apply PLANFILE" with the env's inputs but the
// requests, and more.
func (e *applyEnv) planFileArgs(planFile string, more ...string) []string {
	return append([]string{"apply", planFile, "--topology", e.topo, "--repo", e.repo, "--key", e.key,
		"--concurrency", "1", "--quiet"}, more...)
}

// nodeVersion reads node's version from the env's topology file.
func (e *applyEnv) nodeVersion(t *testing.T, node string) string {
	t.Helper()
	m, err := topology.Load(e.topo)
	require.NoError(t, err)
	n, err := m.Node(context.Background(), topology.NodeID(node))
	require.NoError(t, err)
	return n.Version.String()
}

// TestReviewedPlan saves a plan, applies exactly it, and plans again: the
// topology learnt every step, so the new plan has nothing to do.
func TestReviewedPlan(t *testing.T) {
	e := newApplyEnv(t)
	planFile := filepath.Join(e.dir, "plan.json")
	saved := stackup(t, e.planArgs("--out", planFile)...)
	require.Equal(t, exitOK, saved.code, saved.stderr)
	assert.Contains(t, saved.stdout, "Upgrade plan: 8 steps", "plan --out prints the plan too")
	info, err := os.Stat(planFile)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o644), info.Mode().Perm())
	f, err := os.Open(planFile)
	require.NoError(t, err)
	plan, err := upgrade.ReadJSON(f)
	f.Close()
	require.NoError(t, err)
	assert.Len(t, plan.Steps, len(allSteps))

	applied := stackup(t, e.planFileArgs(planFile, "--exec", e.record())...)
	require.Equal(t, exitOK, applied.code, applied.stderr)
	assert.Equal(t, ledgerOf(allSteps...), e.readLedger(t))
	assert.FileExists(t, planFile+".journal", "the journal of a plan file is next to it")
	for node, want := range map[string]string{"java-1": "17.0.13", "tomcat-1": "10.1.34", "tomcat-2": "10.1.34", "shop-2": "2.0.0", "vm-1": "18.04"} {
		assert.Equal(t, want, e.nodeVersion(t, node), "node %s", node)
	}
	data, err := os.ReadFile(e.topo)
	require.NoError(t, err)
	assert.Contains(t, string(data), "# The online shop as deployed today", "comments stay")

	again := stackup(t, e.planArgs()...)
	require.Equal(t, exitOK, again.code, again.stderr)
	assert.Contains(t, again.stdout, "No changes")

	// Applying the plan again: the journal says it is done; nothing runs.
	twice := stackup(t, e.planFileArgs(planFile, "--exec", e.record())...)
	require.Equal(t, exitOK, twice.code, twice.stderr)
	assert.Contains(t, twice.stdout, "8 succeeded (8 in an earlier run)")
	assert.Equal(t, ledgerOf(allSteps...), e.readLedger(t))
}

// TestReviewedPlanResume stops a saved plan's run at a failing step, then
// resumes it: the topology has learnt the steps done, and the stale check
// accepts it.
func TestReviewedPlanResume(t *testing.T) {
	e := newApplyEnv(t)
	planFile := filepath.Join(e.dir, "plan.json")
	require.Equal(t, exitOK, stackup(t, e.planArgs("--out", planFile)...).code)
	first := stackup(t, e.planFileArgs(planFile, "--exec", e.failOn("platform/tomcat-2@9.0.98"))...)
	assert.Equal(t, exitFailed, first.code)
	assert.Equal(t, "10.1.34", e.nodeVersion(t, "tomcat-1"), "learnt")
	assert.Equal(t, "8.5.96", e.nodeVersion(t, "tomcat-2"), "failed, not learnt")

	second := stackup(t, e.planFileArgs(planFile, "--exec", e.record())...)
	require.Equal(t, exitOK, second.code, second.stderr)
	assert.Contains(t, second.stdout, "8 succeeded (4 in an earlier run)")
	assert.Equal(t, ledgerOf(allSteps...), e.readLedger(t), "each step once")
	assert.Equal(t, "10.1.34", e.nodeVersion(t, "tomcat-2"))
	e.golden(t, "apply-plan-file-resume", first, second)
}

// TestReviewedPlanRefused: a plan file edited after review, a topology
// changed behind the plan's back, and a plan file that is not a file are
// refused before anything runs.
func TestReviewedPlanRefused(t *testing.T) {
	e := newApplyEnv(t)
	planFile := filepath.Join(e.dir, "plan.json")
	require.Equal(t, exitOK, stackup(t, e.planArgs("--out", planFile)...).code)
	data, err := os.ReadFile(planFile)
	require.NoError(t, err)

	edited := filepath.Join(e.dir, "edited.json")
	require.NoError(t, os.WriteFile(edited, bytes.Replace(data, []byte(`"to": "17.0.13"`), []byte(`"to": "17.0.12"`), 1), 0o644))
	r := stackup(t, e.planFileArgs(edited, "--exec", e.record())...)
	assert.Equal(t, exitUsage, r.code)
	assert.Contains(t, r.stderr, "plan file "+edited)
	assert.Contains(t, r.stderr, "invalid plan")
	assert.Empty(t, e.readLedger(t), "nothing ran")
	assert.NoFileExists(t, edited+".journal")

	// The topology changed after the review: stale.
	topo, err := os.ReadFile(e.topo)
	require.NoError(t, err)
	changed := strings.Replace(string(topo), "{id: java-1, template: java_runtime,", "{id: java-1, template: java_runtime, version: 11.0.25,", 1)
	require.NotEqual(t, string(topo), changed)
	require.NoError(t, os.WriteFile(e.topo, []byte(changed), 0o644))
	r = stackup(t, e.planFileArgs(planFile, "--exec", e.record())...)
	assert.Equal(t, exitFailed, r.code)
	assert.Contains(t, r.stderr, `stale plan: node "java-1" has 11.0.25`)
	assert.Contains(t, r.stderr, "nothing ran: plan again from the topology as it is (stackup plan --out FILE) and apply that")
	assert.Empty(t, e.readLedger(t), "nothing ran")
	assert.NoFileExists(t, planFile+".journal", "the journal this apply made is removed")
	assert.NoFileExists(t, planFile+".journal.lock")
	after, err := os.ReadFile(e.topo)
	require.NoError(t, err)
	assert.Equal(t, changed, string(after), "the topology is unchanged")

	// Not a regular file, and a plan file with --requests.
	r = stackup(t, e.planFileArgs(e.dir, "--exec", e.record())...)
	assert.Equal(t, exitUsage, r.code)
	assert.Contains(t, r.stderr, "plan file")
	r = stackup(t, e.planFileArgs(planFile, "--requests", "testdata/requests.yaml", "--exec", e.record())...)
	assert.Equal(t, exitUsage, r.code)
	assert.Contains(t, r.stderr, "a plan file and --requests exclude each other")
	r = stackup(t, e.planFileArgs(planFile, "other.json", "--exec", e.record())...)
	assert.Equal(t, exitUsage, r.code)
	assert.Contains(t, r.stderr, `unexpected argument "other.json"`)
	assert.Empty(t, e.readLedger(t), "nothing ran")
}

// TestPlanOutRefusesNonRegular: --out never writes through a link, nor
// over a directory or a named pipe.
func TestPlanOutRefusesNonRegular(t *testing.T) {
	e := newApplyEnv(t)
	victim := filepath.Join(e.dir, "victim")
	require.NoError(t, os.WriteFile(victim, []byte("keep me"), 0o600))
	link := filepath.Join(e.dir, "link.json")
	require.NoError(t, os.Symlink(victim, link))
	r := stackup(t, e.planArgs("--out", link)...)
	assert.Equal(t, exitUsage, r.code, "refused before planning (checkOutFile)")
	assert.Contains(t, r.stderr, "--out "+link+" is a symbolic link, not a regular file")
	data, err := os.ReadFile(victim)
	require.NoError(t, err)
	assert.Equal(t, "keep me", string(data))
	target, err := os.Readlink(link)
	require.NoError(t, err)
	assert.Equal(t, victim, target, "the link is left alone")

	r = stackup(t, e.planArgs("--out", e.dir)...)
	assert.Equal(t, exitUsage, r.code)
	assert.Contains(t, r.stderr, "is a directory, not a regular file")
	entries, err := os.ReadDir(e.dir)
	require.NoError(t, err)
	for _, en := range entries {
		assert.NotContains(t, en.Name(), ".tmp-", "no temporary file left")
	}

	// A directory where nothing can be created: the error names --out's
	// file, not the temporary one.
	ro := filepath.Join(e.dir, "ro")
	require.NoError(t, os.Mkdir(ro, 0o500))
	out := filepath.Join(ro, "plan.json")
	if f, err := os.Create(filepath.Join(ro, "probe")); err == nil { // root writes anyway
		f.Close()
		out = "/proc/self/plan.json"
	}
	r = stackup(t, e.planArgs("--out", out)...)
	assert.Equal(t, exitFailed, r.code)
	assert.Contains(t, r.stderr, "--out: "+out+": cannot create a file beside it to put in its place: ")
	assert.NotContains(t, r.stderr, ".tmp-")
}

// TestCrashBeforeLearn kills stackup (SIGKILL) after a step ran and the
// journal recorded it, before the topology file records it. A plan made
// from the file plans the step again; the resumed apply of the saved plan
// accepts the file as it is, does not run the step again, and records it.
// The file learns in the background (see recorder): the step after it,
// which waits there till the kill, may have started, and the steps
// before it may be lost with it.
func TestCrashBeforeLearn(t *testing.T) {
	e := newApplyEnv(t)
	planFile := filepath.Join(e.dir, "plan.json")
	require.Equal(t, exitOK, stackup(t, e.planArgs("--out", planFile)...).code)
	args := e.planFileArgs(planFile, "--exec", e.script(`if [ "$1" = `+sq(allSteps[3])+` ]; then exec sleep 600; fi; `+recordBody))
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = childEnv(t, "STACKUP_TEST_CRASH_LEARN=tomcat-1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	require.Error(t, err, "stackup should have been killed; stderr: %s", stderr.String())
	assert.Equal(t, "signal: killed", err.Error())
	assert.Equal(t, ledgerOf(allSteps[:3]...), e.readLedger(t), "tomcat-1's first hop ran")
	assert.Equal(t, "8.5.100", e.nodeVersion(t, "tomcat-1"), "the crash lost the write")
	j, err := os.ReadFile(planFile + ".journal")
	require.NoError(t, err)
	assert.Contains(t, string(j), allSteps[2], "the journal has the step")

	// Without the journal, a new plan runs the step again.
	replan := stackup(t, e.planArgs()...)
	require.Equal(t, exitOK, replan.code, replan.stderr)
	assert.Contains(t, replan.stdout, "platform/tomcat-1@9.0.98")

	resumed := stackup(t, e.planFileArgs(planFile, "--exec", e.record())...)
	require.Equal(t, exitOK, resumed.code, resumed.stderr)
	assert.Contains(t, resumed.stdout, "8 succeeded (3 in an earlier run)")
	// In doubt (true) if it had started when stackup was killed.
	assert.Regexp(t, "^"+regexp.QuoteMeta(ledgerOf(allSteps[:3]...)+allSteps[3])+" (true|false)\n"+
		regexp.QuoteMeta(ledgerOf(allSteps[4:]...))+"$", e.readLedger(t), "each step once")
	assert.Equal(t, "17.0.13", e.nodeVersion(t, "java-1"))
	assert.Equal(t, "10.1.34", e.nodeVersion(t, "tomcat-1"))
	again := stackup(t, e.planArgs()...)
	assert.Contains(t, again.stdout, "No changes")
}

// TestInventoryFormats records a version in each kind of file the
// inventory writes, and reads it back.
func TestInventoryFormats(t *testing.T) {
	dir := t.TempDir()
	copyFile := func(src, name string) string {
		data, err := os.ReadFile(src)
		require.NoError(t, err)
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, data, 0o640))
		return path
	}
	ctx := context.Background()
	v := version.MustParse("9.0.98")

	yml := copyFile("testdata/shop.yaml", "shop.yaml")
	inv := newInventory(&inputFlags{topology: yml})
	require.NoError(t, inv.Set(ctx, "tomcat-1", v))
	data, err := os.ReadFile(yml)
	require.NoError(t, err)
	assert.Contains(t, string(data), "- {id: tomcat-1, template: tomcat_server, version: 9.0.98, relationships: [{relation: hosted_on, target: java-1}]}")
	assert.Contains(t, string(data), "The billing service\n# runs on the first Tomcat", "comments stay")
	require.NoError(t, inv.Set(ctx, "vm-1", version.MustParse("20.4.0")))
	info, err := os.Stat(yml)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o640), info.Mode().Perm(), "the file keeps its mode")

	// JSON, through the topology writer.
	m, err := topology.Load(yml)
	require.NoError(t, err)
	var b bytes.Buffer
	require.NoError(t, m.WriteJSON(&b))
	js := filepath.Join(dir, "shop.json")
	require.NoError(t, os.WriteFile(js, b.Bytes(), 0o644))
	inv = newInventory(&inputFlags{topology: js})
	require.NoError(t, inv.Set(ctx, "java-2", version.MustParse("17.0.13")))
	m, err = topology.Load(js)
	require.NoError(t, err)
	n, err := m.Node(ctx, "java-2")
	require.NoError(t, err)
	assert.Equal(t, "17.0.13", n.Version.String())

	// A TOSCA instance file; the service template is not written.
	svc := copyFile("testdata/tosca/shop.yaml", "service.yaml")
	svcBefore, err := os.ReadFile(svc)
	require.NoError(t, err)
	inst := copyFile("testdata/tosca/shop-instances.yaml", "instances.yaml")
	inv = newInventory(&inputFlags{tosca: svc, instances: inst})
	require.NoError(t, inv.Set(ctx, "tomcat-2", v))
	require.NoError(t, inv.Set(ctx, "shop-1", version.MustParse("2.0.0")))
	m, err = topology.LoadTOSCA(svc, inst)
	require.NoError(t, err)
	for node, want := range map[topology.NodeID]string{"tomcat-2": "9.0.98", "shop-1": "2.0.0"} {
		n, err := m.Node(ctx, node)
		require.NoError(t, err)
		assert.Equal(t, want, n.Version.String())
	}
	svcAfter, err := os.ReadFile(svc)
	require.NoError(t, err)
	assert.Equal(t, svcBefore, svcAfter)

	// An unknown node changes nothing, and says which.
	before, err := os.ReadFile(inst)
	require.NoError(t, err)
	err = inv.Set(ctx, "ghost-1", v)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "ghost-1")
	after, err := os.ReadFile(inst)
	require.NoError(t, err)
	assert.Equal(t, before, after)
}

// TestInventoryRefusesLink: a topology path that is a symbolic link is not
// written through, and neither the link nor its target changes.
func TestInventoryRefusesLink(t *testing.T) {
	dir := t.TempDir()
	data, err := os.ReadFile("testdata/shop.yaml")
	require.NoError(t, err)
	target := filepath.Join(dir, "elsewhere.yaml")
	require.NoError(t, os.WriteFile(target, data, 0o644))
	link := filepath.Join(dir, "shop.yaml")
	require.NoError(t, os.Symlink(target, link))
	err = newInventory(&inputFlags{topology: link}).Set(context.Background(), "tomcat-1", version.MustParse("9.0.98"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), link)
	assert.Contains(t, err.Error(), "symbolic link")
	after, err := os.ReadFile(target)
	require.NoError(t, err)
	assert.Equal(t, data, after)
	fi, err := os.Lstat(link)
	require.NoError(t, err)
	assert.NotZero(t, fi.Mode()&os.ModeSymlink)
}

// TestInventoryConcurrentWriters: writers with inventories of their own
// (as two stackup processes have) on one file lose no update: the
// directory lock serialises their read-modify-write.
func TestInventoryConcurrentWriters(t *testing.T) {
	dir := t.TempDir()
	data, err := os.ReadFile("testdata/shop.yaml")
	require.NoError(t, err)
	path := filepath.Join(dir, "shop.yaml")
	require.NoError(t, os.WriteFile(path, data, 0o644))
	nodes := map[topology.NodeID]string{"java-1": "17.0.13", "java-2": "17.0.13", "tomcat-1": "9.0.98", "tomcat-2": "9.0.98",
		"shop-1": "2.0.0", "shop-2": "2.0.0", "vm-1": "20.4.0", "vm-2": "20.4.0"}
	var wg sync.WaitGroup
	for node, v := range nodes {
		wg.Go(func() {
			inv := newInventory(&inputFlags{topology: path})
			assert.NoError(t, inv.Set(context.Background(), node, version.MustParse(v)))
		})
	}
	wg.Wait()
	m, err := topology.Load(path)
	require.NoError(t, err)
	for node, want := range nodes {
		n, err := m.Node(context.Background(), node)
		require.NoError(t, err)
		assert.Equal(t, want, n.Version.String(), "node %s", node)
	}
}

// TestApplyRefusesLinkedTopology: apply, which would record versions in
// the topology file, refuses one that is a symbolic link before anything
// runs, naming it; --learn=false runs and leaves it alone.
func TestApplyRefusesLinkedTopology(t *testing.T) {
	e := newApplyEnv(t)
	actual := filepath.Join(e.dir, "actual.yaml")
	require.NoError(t, os.Rename(e.topo, actual))
	require.NoError(t, os.Symlink(actual, e.topo))
	before, err := os.ReadFile(actual)
	require.NoError(t, err)
	r := stackup(t, e.args("--quiet", "--exec", e.record())...)
	assert.Equal(t, exitUsage, r.code)
	assert.Contains(t, r.stderr, e.topo+": stackup records each node's new version in it, and cannot: not a regular file (a symbolic link)")
	assert.Empty(t, e.readLedger(t), "nothing ran")
	after, err := os.ReadFile(actual)
	require.NoError(t, err)
	assert.Equal(t, before, after)

	r = stackup(t, e.args("--quiet", "--learn=false", "--exec", e.record())...)
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Equal(t, ledgerOf(allSteps...), e.readLedger(t))
	after, err = os.ReadFile(actual)
	require.NoError(t, err)
	assert.Equal(t, before, after, "--learn=false leaves the file alone")
}

// TestInventoryLearnsTemplates: an application step's new template is
// learned once every node of it runs it, in YAML (comments elsewhere
// kept) and JSON, so that later plans read what the nodes now require;
// rolled back, the definition of before comes back once no node runs the
// new one; a renamed template moves the node to it.
func TestInventoryLearnsTemplates(t *testing.T) {
	ctx := context.Background()
	v := version.MustParse
	c := version.MustParseConstraint
	shop2 := topology.Template{ID: "shop_app", Type: "webapp", Version: v("2.0.0"), Requirements: []topology.Requirement{
		{Name: "host", Template: "tomcat_server", Constraint: c(">=10.1, <11"), Relation: topology.HostedOn},
		{Template: "ubuntu_os", Constraint: c(">=18.04")}}}
	step := func(node string, tmpl *topology.Template) upgrade.Step {
		return upgrade.Step{ID: upgrade.StepID("app/" + node), Kind: upgrade.Application, App: "shop", Node: topology.NodeID(node),
			Template: "shop_app", Type: "webapp", From: v("1.4.0"), To: tmpl.Version, NewTemplate: tmpl}
	}
	definition := func(t *testing.T, path string, id topology.TemplateID) *topology.Template {
		t.Helper()
		m, err := topology.Load(path)
		require.NoError(t, err)
		app, err := m.Application(ctx, "shop")
		require.NoError(t, err)
		tmpl, ok := app.Template(id)
		require.True(t, ok, id)
		return tmpl
	}
	yml := filepath.Join(t.TempDir(), "shop.yaml")
	data, err := os.ReadFile("testdata/shop.yaml")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(yml, data, 0o600))
	m, err := topology.Load(yml)
	require.NoError(t, err)
	var js bytes.Buffer
	require.NoError(t, m.WriteJSON(&js))
	jsn := filepath.Join(t.TempDir(), "shop.json")
	require.NoError(t, os.WriteFile(jsn, js.Bytes(), 0o600))

	for _, path := range []string{yml, jsn} {
		t.Run(filepath.Ext(path), func(t *testing.T) {
			inv := newInventory(&inputFlags{topology: path})
			old := definition(t, path, "shop_app")
			require.NoError(t, inv.Learn(ctx, step("shop-1", &shop2)))
			assert.Equal(t, old, definition(t, path, "shop_app"), "shop-2 runs the old one still")
			require.NoError(t, inv.Learn(ctx, step("shop-2", &shop2)))
			assert.Equal(t, &shop2, definition(t, path, "shop_app"), "every node runs the new one")
			if path == yml {
				data, err := os.ReadFile(path)
				require.NoError(t, err)
				assert.Contains(t, string(data), "The billing service\n# runs on the first Tomcat", "comments stay")
				assert.Contains(t, string(data), `- {name: host, template: tomcat_server, constraint: ">=10.1, <11", relation: hosted_on}`)
			}

			// A later plan reads the new requirement: a Tomcat 11 for
			// billing is blocked by shop-1 as it now is.
			topo, err := topology.Load(path)
			require.NoError(t, err)
			deps, err := topo.Dependents(ctx, "tomcat-1")
			require.NoError(t, err)
			var shop1 []string
			for _, d := range deps {
				if d.Node == "shop-1" {
					shop1 = append(shop1, d.Constraint.String())
				}
			}
			assert.Equal(t, []string{">=10.1, <11"}, shop1)

			require.NoError(t, inv.Unlearn(ctx, step("shop-2", &shop2)))
			assert.Equal(t, &shop2, definition(t, path, "shop_app"), "shop-1 runs the new one still")
			require.NoError(t, inv.Unlearn(ctx, step("shop-1", &shop2)))
			assert.Equal(t, old, definition(t, path, "shop_app"), "no node runs the new one: the old one is back")

			// A template of another ID: the node moves to it, defined.
			ng := shop2
			ng.ID = "shop_ng"
			require.NoError(t, inv.Learn(ctx, step("shop-1", &ng)))
			topo, err = topology.Load(path)
			require.NoError(t, err)
			n, err := topo.Node(ctx, "shop-1")
			require.NoError(t, err)
			assert.Equal(t, topology.TemplateID("shop_ng"), n.Template)
			assert.Equal(t, &ng, definition(t, path, "shop_ng"))
			assert.Equal(t, old, definition(t, path, "shop_app"), "shop-2 runs it still")
			require.NoError(t, inv.Unlearn(ctx, step("shop-1", &ng)))
			topo, err = topology.Load(path)
			require.NoError(t, err)
			n, err = topo.Node(ctx, "shop-1")
			require.NoError(t, err)
			assert.Equal(t, topology.TemplateID("shop_app"), n.Template)
			assert.Equal(t, "1.4.0", n.Version.String())
		})
	}
}
