package upgrade_test

import (
	"context"
	"errors"
	"io"
	"slices"
	"sort"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/version"
)

// pfTopo returns the shop of shopBuilder(instances) with the nodes named in
// versions at the given versions.
func pfTopo(t *testing.T, instances int, versions map[topology.NodeID]string) *topology.Memory {
	t.Helper()
	apps := build(t, shopBuilder(instances)).Applications()
	found := 0
	for a := range apps {
		for n := range apps[a].Nodes {
			if ver, ok := versions[apps[a].Nodes[n].ID]; ok {
				apps[a].Nodes[n].Version = v(ver)
				found++
			}
		}
	}
	require.Equal(t, len(versions), found, "pfTopo: unknown node in %v", versions)
	topo, err := topology.New(apps...)
	require.NoError(t, err)
	return topo
}

// zeroVersions is a topology whose nodes carry no version of their own:
// each has its template's, as Node.Version's doc says.
type zeroVersions struct{ *topology.Memory }

func (z zeroVersions) Node(ctx context.Context, id topology.NodeID) (*topology.Node, error) {
	n, err := z.Memory.Node(ctx, id)
	if err != nil {
		return nil, err
	}
	c := *n
	c.Version = version.Version{}
	return &c, nil
}

// TestRunStaleCheckZeroVersion: a node without a version of its own has
// its template's for the stale check, as for the planner: a plan made
// from such a topology a moment ago is not stale.
func TestRunStaleCheckZeroVersion(t *testing.T) {
	topo := zeroVersions{build(t, shopBuilder(1))}
	plan, err := upgrade.NewPlanner(topo, catalogue(t)).Plan(context.Background(), shop2("tomcat_server", ">=9.0, <10"))
	require.NoError(t, err)
	require.NotEmpty(t, plan.Steps)
	_, err = upgrade.Run(context.Background(), plan, &jrRecorder{}, upgrade.WithStaleCheck(topo))
	require.NoError(t, err)
}

// pfMovedNode returns a topology whose one node, svc-1, has version now
// while its template has planned, and a plan of one step that takes it
// from planned to to: a plan gone stale since it was made.
func pfMovedNode(t *testing.T, planned, now, to string) (*topology.Memory, *upgrade.Plan) {
	t.Helper()
	topo := build(t, new(topology.Builder).
		Template("svc", topology.Template{ID: "svc_app", Type: "webapp", Version: v(planned)}).
		Node("svc", topology.Node{ID: "svc-1", Template: "svc_app", Version: v(now)}))
	plan := &upgrade.Plan{Steps: []upgrade.Step{{ID: upgrade.StepID("app/svc-1@" + to), Kind: upgrade.Application, App: "svc", Node: "svc-1",
		Template: "svc_app", From: v(planned), To: v(to)}}}
	return topo, plan
}

// TestRunStaleCheckBuildMetadata: a node redeployed with another build of
// the same version since planning is stale, as the planner tells builds
// apart.
func TestRunStaleCheckBuildMetadata(t *testing.T) {
	topo, plan := pfMovedNode(t, "1.0.0+b7", "1.0.0+b8", "1.0.0+b9")
	_, err := upgrade.Run(context.Background(), plan, &jrRecorder{}, upgrade.WithStaleCheck(topo))
	var se *upgrade.StaleError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, "1.0.0+b8", se.Actual)
	assert.Equal(t, "1.0.0+b7", se.Expected)
}

func TestRunStaleCheckPasses(t *testing.T) {
	topo := build(t, shopBuilder(2))
	plan := shopPlan(t, 2)
	ex := &jrRecorder{}
	report, err := upgrade.Run(context.Background(), plan, ex, upgrade.WithStaleCheck(topo))
	require.NoError(t, err)
	assert.Equal(t, ids(plan), ex.ran)
	assert.Equal(t, len(plan.Steps), report.Count(upgrade.Succeeded))
}

func TestRunStaleCheckRefuses(t *testing.T) {
	tests := []struct {
		name             string
		node             topology.NodeID
		version          string
		step             upgrade.StepID
		expected, actual string
	}{
		{"platform node upgraded behind the plan's back", "tomcat-1", "9.0.85", "platform/tomcat-1@10.1.34", "8.5.100", "9.0.85"},
		{"platform node downgraded", "java-2", "7.0.1", "platform/java-2@21.0.2", "8.0.402", "7.0.1"},
		{"application node", "shop-1", "1.5.0", "app/shop-1@2.0.0", "1.4.0", "1.5.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan := shopPlan(t, 2)
			topo := pfTopo(t, 2, map[topology.NodeID]string{tt.node: tt.version})
			ex := &jrRecorder{}
			report, err := upgrade.Run(context.Background(), plan, ex, upgrade.WithStaleCheck(topo))
			require.ErrorIs(t, err, upgrade.ErrStalePlan)
			var se *upgrade.StaleError
			require.ErrorAs(t, err, &se)
			assert.Equal(t, tt.node, se.Node)
			assert.Equal(t, tt.step, se.Step)
			assert.Equal(t, tt.expected, se.Expected)
			assert.Equal(t, tt.actual, se.Actual)
			for _, s := range []string{string(tt.node), tt.expected, tt.actual} {
				assert.Contains(t, err.Error(), s)
			}
			assert.Nil(t, report)
			assert.Empty(t, ex.ran, "a stale plan runs nothing")
		})
	}
}

func TestRunStaleCheckTopologyError(t *testing.T) {
	plan := shopPlan(t, 2)
	topo := build(t, shopBuilder(1)) // no tomcat-2, java-2 or shop-2
	ex := &jrRecorder{}
	report, err := upgrade.Run(context.Background(), plan, ex, upgrade.WithStaleCheck(topo))
	// Nodes gone since the plan was made (an application scaled in): the
	// plan is stale, and a host that plans again on ErrStalePlan does.
	require.ErrorIs(t, err, topology.ErrNotFound)
	require.ErrorIs(t, err, upgrade.ErrStalePlan)
	var stale *upgrade.StaleError
	require.ErrorAs(t, err, &stale)
	assert.Equal(t, topology.NodeID("java-2"), stale.Node)
	assert.Contains(t, err.Error(), `step platform/java-2@21.0.2 expects node "java-2" at 8.0.402, but the topology no longer has it (topology: node "java-2" not found)`)
	assert.Contains(t, err.Error(), "plan again")
	assert.Nil(t, report)
	assert.Empty(t, ex.ran)
}

// TestRunStaleCheckTopologyDown pins that a topology that cannot answer
// is not taken for a stale plan: nothing is known to have changed.
func TestRunStaleCheckTopologyDown(t *testing.T) {
	plan := shopPlan(t, 1)
	down := errors.New("inventory unreachable")
	ex := &jrRecorder{}
	_, err := upgrade.Run(context.Background(), plan, ex, upgrade.WithStaleCheck(failingTopology{build(t, shopBuilder(1)), down}))
	require.ErrorIs(t, err, down)
	assert.NotErrorIs(t, err, upgrade.ErrStalePlan)
	assert.Empty(t, ex.ran)
}

// failingTopology answers every Node with err.
type failingTopology struct {
	topology.Topology
	err error
}

func (f failingTopology) Node(context.Context, topology.NodeID) (*topology.Node, error) {
	return nil, f.err
}

func TestRunStaleCheckAfterPartialRun(t *testing.T) {
	plan := shopPlan(t, 2)
	s := ids(plan) // java-1, java-2, tomcat-1, tomcat-2, shop-1, shop-2
	done := []upgrade.Record{
		jrRec(upgrade.RecordStarted, s[0]), jrRec(upgrade.RecordSucceeded, s[0]),
		jrRec(upgrade.RecordStarted, s[1]), jrRec(upgrade.RecordSucceeded, s[1]),
		jrRec(upgrade.RecordStarted, s[2]), jrRec(upgrade.RecordSucceeded, s[2]),
	}
	inDoubt := append(done[:len(done):len(done)], jrRec(upgrade.RecordStarted, s[4]))                                   // shop-1 cut short
	failed := append(done[:len(done):len(done)], jrRec(upgrade.RecordStarted, s[4]), jrRec(upgrade.RecordFailed, s[4])) // shop-1's Verify failed, say

	upgraded := map[topology.NodeID]string{"java-1": "21.0.2", "java-2": "21.0.2", "tomcat-1": "10.1.34"}
	with := func(extra map[topology.NodeID]string) map[topology.NodeID]string {
		m := map[topology.NodeID]string{}
		for k, v := range upgraded {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}

	tests := []struct {
		name     string
		journal  []upgrade.Record
		versions map[topology.NodeID]string
		ran      []upgrade.StepID
		stale    *upgrade.StaleError // nil: passes
	}{
		{name: "completed nodes at their new version", journal: done, versions: upgraded, ran: s[3:]},
		// The topology did not learn the steps done (a crash between a
		// step and that write, or nothing that records them).
		{name: "topology the plan was made from", journal: done, versions: nil, ran: s[3:]},
		{name: "one completed node still old", journal: done, versions: with(map[topology.NodeID]string{"tomcat-1": "8.5.100"}), ran: s[3:]},
		{name: "completed node at neither end", journal: done, versions: with(map[topology.NodeID]string{"tomcat-1": "9.0.85"}),
			stale: &upgrade.StaleError{Node: "tomcat-1", Step: s[2], Expected: "8.5.100 or 10.1.34", Actual: "9.0.85"}},
		{name: "unfinished node already new", journal: done, versions: with(map[topology.NodeID]string{"tomcat-2": "10.1.34"}),
			stale: &upgrade.StaleError{Node: "tomcat-2", Step: s[3], Expected: "8.5.100", Actual: "10.1.34"}},
		{name: "in doubt, not carried out", journal: inDoubt, versions: upgraded, ran: s[3:]},
		{name: "in doubt, nothing learnt", journal: inDoubt, versions: nil, ran: s[3:]},
		{name: "in doubt, carried out", journal: inDoubt, versions: with(map[topology.NodeID]string{"shop-1": "2.0.0"}), ran: s[3:]},
		{name: "in doubt, neither end", journal: inDoubt, versions: with(map[topology.NodeID]string{"shop-1": "1.9.0"}),
			stale: &upgrade.StaleError{Node: "shop-1", Step: s[4], Expected: "1.4.0 or 2.0.0", Actual: "1.9.0"}},
		// A failed step's Execute may have changed its node.
		{name: "failed, carried out", journal: failed, versions: with(map[topology.NodeID]string{"shop-1": "2.0.0"}), ran: s[3:]},
		{name: "failed, not carried out", journal: failed, versions: upgraded, ran: s[3:]},
		{name: "failed, neither end", journal: failed, versions: with(map[topology.NodeID]string{"shop-1": "1.9.0"}),
			stale: &upgrade.StaleError{Node: "shop-1", Step: s[4], Expected: "1.4.0 or 2.0.0", Actual: "1.9.0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := jrPath(t)
			jrSeed(t, path, plan.ID, tt.journal...)
			j := jrOpen(t, path)
			ex := &jrRecorder{}
			report, err := upgrade.Run(context.Background(), plan, ex, upgrade.WithJournal(j),
				upgrade.WithStaleCheck(pfTopo(t, 2, tt.versions)))
			if tt.stale == nil {
				require.NoError(t, err)
				assert.Equal(t, tt.ran, ex.ran)
				assert.Equal(t, len(plan.Steps), report.Count(upgrade.Succeeded))
				return
			}
			require.ErrorIs(t, err, upgrade.ErrStalePlan)
			var se *upgrade.StaleError
			require.ErrorAs(t, err, &se)
			assert.Equal(t, tt.stale, se)
			assert.Nil(t, report)
			assert.Empty(t, ex.ran)
		})
	}
}

func TestRunStaleCheckAllDone(t *testing.T) {
	plan := shopPlan(t, 1)
	var recs []upgrade.Record
	for _, id := range ids(plan) {
		recs = append(recs, jrRec(upgrade.RecordStarted, id), jrRec(upgrade.RecordSucceeded, id))
	}
	path := jrPath(t)
	jrSeed(t, path, plan.ID, recs...)
	j := jrOpen(t, path)
	ex := &jrRecorder{}
	topo := pfTopo(t, 1, map[topology.NodeID]string{"java-1": "21.0.2", "tomcat-1": "10.1.34", "shop-1": "2.0.0"})
	_, err := upgrade.Run(context.Background(), plan, ex, upgrade.WithJournal(j), upgrade.WithStaleCheck(topo))
	require.NoError(t, err)
	assert.Empty(t, ex.ran)
}

// pfContent is what a pfOpener holds for one package.
type pfContent struct {
	data     []byte
	tampered bool  // the reader reports ErrDigestMismatch at the end
	closeErr error // Close returns it
}

// pfOpener is a pkgsource.Opener over a map. It counts, per package, the
// opens, the reads to EOF and the closes.
type pfOpener struct {
	content map[pkgsource.Key]pfContent

	mu                  sync.Mutex
	opened, eof, closed map[pkgsource.Key]int
}

func newPfOpener(content map[pkgsource.Key]pfContent) *pfOpener {
	return &pfOpener{content: content, opened: map[pkgsource.Key]int{}, eof: map[pkgsource.Key]int{}, closed: map[pkgsource.Key]int{}}
}

func (o *pfOpener) Open(_ context.Context, p pkgsource.Package) (io.ReadCloser, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.opened[p.Key()]++
	c, ok := o.content[p.Key()]
	if !ok {
		return nil, &pkgsource.PackageError{Package: p.Key(), Err: pkgsource.ErrNotFound}
	}
	return &pfReader{o: o, key: p.Key(), c: c}, nil
}

type pfReader struct {
	o   *pfOpener
	key pkgsource.Key
	c   pfContent
	off int
}

func (r *pfReader) Read(p []byte) (int, error) {
	if r.off < len(r.c.data) {
		n := copy(p[:min(len(p), 3)], r.c.data[r.off:]) // a few bytes at a time
		r.off += n
		return n, nil
	}
	r.o.mu.Lock()
	r.o.eof[r.key]++
	r.o.mu.Unlock()
	if r.c.tampered {
		return 0, pkgsource.ErrDigestMismatch
	}
	return 0, io.EOF
}

func (r *pfReader) Close() error {
	r.o.mu.Lock()
	r.o.closed[r.key]++
	r.o.mu.Unlock()
	return r.c.closeErr
}

// pfPackages returns the keys of the packages the plan's steps install,
// sorted.
func pfPackages(plan *upgrade.Plan) []pkgsource.Key {
	seen := map[pkgsource.Key]bool{}
	var keys []pkgsource.Key
	for _, s := range plan.Steps {
		if s.Package != nil && !seen[s.Package.Key()] {
			seen[s.Package.Key()] = true
			keys = append(keys, s.Package.Key())
		}
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
	return keys
}

func pfGoodContent(plan *upgrade.Plan) map[pkgsource.Key]pfContent {
	m := map[pkgsource.Key]pfContent{}
	for _, k := range pfPackages(plan) {
		m[k] = pfContent{data: []byte("content of " + k.String())}
	}
	return m
}

// pfWatch wraps an executor to note what had been opened when the first
// step started.
type pfWatch struct {
	o     *pfOpener
	inner upgrade.Executor
	at    map[pkgsource.Key]int // opens when the first step ran
}

func (w *pfWatch) Execute(ctx context.Context, s upgrade.Step) error {
	if w.at == nil {
		w.o.mu.Lock()
		w.at = map[pkgsource.Key]int{}
		for k, n := range w.o.opened {
			w.at[k] = n
		}
		w.o.mu.Unlock()
	}
	return w.inner.Execute(ctx, s)
}

func TestRunPrefetchAllGood(t *testing.T) {
	plan := shopPlan(t, 3)
	keys := pfPackages(plan)
	require.Len(t, keys, 2, "the shop plan installs one JDK and one Tomcat package")
	o := newPfOpener(pfGoodContent(plan))
	ex := &jrRecorder{}
	w := &pfWatch{o: o, inner: ex}
	report, err := upgrade.Run(context.Background(), plan, w, upgrade.WithPrefetch(o))
	require.NoError(t, err)
	assert.Equal(t, ids(plan), ex.ran, "the run proceeds")
	assert.Equal(t, len(plan.Steps), report.Count(upgrade.Succeeded))
	for _, k := range keys {
		assert.Equal(t, 1, o.opened[k], "%s opened once, though several steps install it", k)
		assert.Equal(t, 1, o.eof[k], "%s read to the end", k)
		assert.Equal(t, 1, o.closed[k], "%s closed", k)
		assert.Equal(t, 1, w.at[k], "%s fetched before the first step", k)
	}
	assert.Len(t, o.opened, len(keys), "only the plan's packages are opened")
}

func TestRunPrefetchFails(t *testing.T) {
	plan := shopPlan(t, 2)
	jdk := pkgsource.Key{Type: "jdk", Version: v("21.0.2")}
	tomcat := pkgsource.Key{Type: "tomcat", Version: v("10.1.34")}
	closeFailed := errors.New("connection reset on close")
	tests := []struct {
		name     string
		change   func(m map[pkgsource.Key]pfContent)
		sentinel error
		mention  []string
	}{
		{"tampered", func(m map[pkgsource.Key]pfContent) { m[tomcat] = pfContent{data: []byte("evil"), tampered: true} },
			pkgsource.ErrDigestMismatch, []string{"tomcat 10.1.34", "platform/tomcat-1@10.1.34"}},
		{"tampered and empty", func(m map[pkgsource.Key]pfContent) { m[jdk] = pfContent{tampered: true} },
			pkgsource.ErrDigestMismatch, []string{"jdk 21.0.2", "platform/java-1@21.0.2"}},
		{"missing", func(m map[pkgsource.Key]pfContent) { delete(m, jdk) },
			pkgsource.ErrNotFound, []string{"jdk 21.0.2", "platform/java-1@21.0.2"}},
		{"close fails", func(m map[pkgsource.Key]pfContent) {
			m[tomcat] = pfContent{data: []byte("ok"), closeErr: closeFailed}
		}, closeFailed, []string{"tomcat 10.1.34", "platform/tomcat-1@10.1.34"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			content := pfGoodContent(plan)
			tt.change(content)
			o := newPfOpener(content)
			ex := &jrRecorder{}
			report, err := upgrade.Run(context.Background(), plan, ex, upgrade.WithPrefetch(o))
			require.ErrorIs(t, err, upgrade.ErrPrefetch)
			require.ErrorIs(t, err, tt.sentinel)
			for _, m := range tt.mention {
				assert.Contains(t, err.Error(), m)
			}
			assert.Nil(t, report)
			assert.Empty(t, ex.ran, "nothing is executed when a package cannot be had")
			for k, n := range o.opened {
				if _, ok := content[k]; ok {
					assert.Equal(t, n, o.closed[k], "%s: every opened reader is closed", k)
				}
			}
		})
	}
}

func TestRunPrefetchSkipsDoneSteps(t *testing.T) {
	plan := shopPlan(t, 2)
	s := ids(plan) // java-1, java-2, tomcat-1, ...
	path := jrPath(t)
	jrSeed(t, path, plan.ID,
		jrRec(upgrade.RecordStarted, s[0]), jrRec(upgrade.RecordSucceeded, s[0]),
		jrRec(upgrade.RecordStarted, s[1]), jrRec(upgrade.RecordSucceeded, s[1]))
	content := pfGoodContent(plan)
	jdk := pkgsource.Key{Type: "jdk", Version: v("21.0.2")}
	content[jdk] = pfContent{tampered: true} // no longer needed: both JDK steps are done
	o := newPfOpener(content)
	ex := &jrRecorder{}
	_, err := upgrade.Run(context.Background(), plan, ex, upgrade.WithJournal(jrOpen(t, path)), upgrade.WithPrefetch(o))
	require.NoError(t, err)
	assert.Equal(t, s[2:], ex.ran)
	assert.Zero(t, o.opened[jdk], "the package of steps already done is not fetched")
	assert.Equal(t, 1, o.opened[pkgsource.Key{Type: "tomcat", Version: v("10.1.34")}])
}

// TestRunStaleCheckResumesHops resumes, with a FileJournal, a node upgraded
// in hops (1.2.0 → 1.3.4 → 1.4.2 → 1.5.1) whose first two hops are done:
// the topology may say any version from the first From to the last hop
// done, and nothing else.
func TestRunStaleCheckResumesHops(t *testing.T) {
	plan, err := upgrade.NewPlanner(build(t, chainShop()), source(t,
		pkg("tomcat", "1.3.4"), pkg("tomcat", "1.4.2"), pkg("tomcat", "1.5.1")), upgrade.WithMaxMinorStep(1)).
		Plan(context.Background(), shop2("tomcat_server", ">=1.5"))
	require.NoError(t, err)
	s := ids(plan)
	require.Len(t, s, 4, "three hops and the application step")
	done := []upgrade.Record{
		jrRec(upgrade.RecordStarted, s[0]), jrRec(upgrade.RecordSucceeded, s[0]),
		jrRec(upgrade.RecordStarted, s[1]), jrRec(upgrade.RecordSucceeded, s[1]),
	}
	inDoubt := append(done[:len(done):len(done)], jrRec(upgrade.RecordStarted, s[2]))
	node := plan.Steps[0].Node
	tests := []struct {
		name     string
		journal  []upgrade.Record
		at       string
		expected string // "": passes
	}{
		{"nothing learnt", done, "1.2.0", ""},
		{"first hop learnt", done, "1.3.4", ""},
		{"both hops learnt", done, "1.4.2", ""},
		{"a hop not done", done, "1.5.1", "1.2.0, 1.3.4 or 1.4.2"},
		{"another version", done, "1.3.0", "1.2.0, 1.3.4 or 1.4.2"},
		{"in doubt, carried out", inDoubt, "1.5.1", ""},
		{"in doubt, not carried out", inDoubt, "1.4.2", ""},
		{"no journal records", nil, "1.3.4", "1.2.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := jrPath(t)
			jrSeed(t, path, plan.ID, tt.journal...)
			j := jrOpen(t, path)
			apps := build(t, chainShop()).Applications()
			for a := range apps {
				for n := range apps[a].Nodes {
					if apps[a].Nodes[n].ID == node {
						apps[a].Nodes[n].Version = v(tt.at)
					}
				}
			}
			topo, err := topology.New(apps...)
			require.NoError(t, err)
			ex := &jrRecorder{}
			report, err := upgrade.Run(context.Background(), plan, ex, upgrade.WithJournal(j), upgrade.WithStaleCheck(topo))
			if tt.expected == "" {
				require.NoError(t, err)
				assert.Equal(t, len(plan.Steps), report.Count(upgrade.Succeeded))
				return
			}
			var se *upgrade.StaleError
			require.ErrorAs(t, err, &se)
			assert.Equal(t, node, se.Node)
			assert.Equal(t, tt.expected, se.Expected)
			assert.Equal(t, tt.at, se.Actual)
			assert.Contains(t, err.Error(), string(node))
			assert.Nil(t, report)
			assert.Empty(t, ex.ran, "a stale plan runs nothing")
		})
	}
}

// TestRunStaleCheckDependentSince: a node deployed since the plan was made
// on a node the plan upgrades, requiring less than the plan's version of
// it, makes the plan stale: planned now, the plan would be refused. One
// that allows the plan's version does not.
func TestRunStaleCheckDependentSince(t *testing.T) {
	plan, err := upgrade.NewPlanner(build(t, shopBuilder(1)), catalogue(t)).Plan(context.Background(), shop2("tomcat_server", ">=9.0, <10"))
	require.NoError(t, err)
	tomcat := plan.Steps[slices.IndexFunc(plan.Steps, func(s upgrade.Step) bool { return s.Node == "tomcat-1" })]
	withBilling := func(constraint string) *topology.Memory {
		return build(t, shopBuilder(1).
			Template("billing", topology.Template{ID: "billing_app", Type: "webapp", Version: v("3.3.0"),
				Requirements: []topology.Requirement{{Template: "tomcat_server", Constraint: c(constraint)}}}).
			Node("billing", topology.Node{ID: "billing-1", Template: "billing_app", Relationships: on("tomcat-1")}))
	}
	ex := &jrRecorder{}
	_, err = upgrade.Run(context.Background(), plan, ex, upgrade.WithStaleCheck(withBilling(">=8.5, <9")))
	var se *upgrade.StaleError
	require.ErrorAs(t, err, &se)
	require.ErrorIs(t, err, upgrade.ErrStalePlan)
	assert.Equal(t, topology.NodeID("tomcat-1"), se.Node)
	assert.Equal(t, tomcat.ID, se.Step)
	require.NotNil(t, se.Dependent)
	assert.Equal(t, topology.NodeID("billing-1"), se.Dependent.Node)
	assert.ErrorContains(t, err, `node "billing-1" (billing) now requires >=8.5, <9 of node "tomcat-1", which step `+string(tomcat.ID)+" takes to "+tomcat.To.String()+": plan again")
	assert.Empty(t, ex.ran, "nothing runs")

	_, err = upgrade.Run(context.Background(), plan, ex, upgrade.WithStaleCheck(withBilling(">=8.5, <10")))
	require.NoError(t, err)
	assert.Equal(t, ids(plan), ex.ran)
}
