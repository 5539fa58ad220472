package upgrade_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/upgrade/upgradetest"
)

func docPlan(t *testing.T, instances int) *upgrade.Plan {
	t.Helper()
	p, err := upgrade.NewPlanner(build(t, shopBuilder(instances)), catalogue(t)).
		Plan(context.Background(), shop2("tomcat_server", ">=10.1, <11", "java_runtime", ">=17"))
	require.NoError(t, err)
	return p
}

// Report: "in the order of the plan's steps", whatever order they ran in.
func TestHuntDocReportOrder(t *testing.T) {
	p := docPlan(t, 4)
	var mu sync.Mutex
	rep, err := upgrade.Run(context.Background(), p, upgrade.ExecutorFunc(func(ctx context.Context, s upgrade.Step) error {
		mu.Lock()
		defer mu.Unlock()
		return nil
	}), upgrade.WithConcurrency(4))
	require.NoError(t, err)
	require.Len(t, rep.Outcomes, len(p.Steps))
	for i, o := range rep.Outcomes {
		assert.Equal(t, p.Steps[i].ID, o.Step)
	}
}

// Roll: "Roll does not change p."
func TestHuntDocRollDoesNotChangePlan(t *testing.T) {
	p := docPlan(t, 5)
	var before bytes.Buffer
	require.NoError(t, p.WriteJSON(&before))
	id := p.ID
	r, err := p.Roll(upgrade.Rolling{Canaries: 1, MaxInFlight: "2"})
	require.NoError(t, err)
	var after bytes.Buffer
	require.NoError(t, p.WriteJSON(&after))
	assert.Equal(t, before.String(), after.String())
	assert.Equal(t, id, p.ID)
	assert.NotEqual(t, id, r.ID)
	assert.Equal(t, r.ID, r.ComputeID())
	// Changing the copy's After lists must not reach p.
	for i := range r.Steps {
		if len(r.Steps[i].After) > 0 {
			r.Steps[i].After[0] = "x"
		}
	}
	var after2 bytes.Buffer
	require.NoError(t, p.WriteJSON(&after2))
	assert.Equal(t, before.String(), after2.String())
}

// Prerequisites: "returns nil for an ID that is not a step of the plan".
func TestHuntDocPrerequisitesNotAStep(t *testing.T) {
	p := docPlan(t, 5)
	r, err := p.Roll(upgrade.Rolling{Canaries: 1, MaxInFlight: "2"})
	require.NoError(t, err)
	require.NotEmpty(t, r.Barriers)
	assert.Nil(t, r.Prerequisites("nope"))
	assert.Nil(t, r.Prerequisites(r.Barriers[0].ID))
	_, ok := r.Step(r.Barriers[0].ID)
	assert.False(t, ok)
}

// Barriers "are sorted by ID"; Decisions "sorted by node"; After "sorted".
func TestHuntDocSorted(t *testing.T) {
	p := docPlan(t, 12)
	r, err := p.Roll(upgrade.Rolling{Canaries: 1, MaxInFlight: "3"})
	require.NoError(t, err)
	for i := 1; i < len(r.Barriers); i++ {
		assert.Less(t, r.Barriers[i-1].ID, r.Barriers[i].ID)
	}
	for i := 1; i < len(r.Decisions); i++ {
		assert.Less(t, r.Decisions[i-1].Node, r.Decisions[i].Node)
	}
	for _, s := range r.Steps {
		for i := 1; i < len(s.After); i++ {
			assert.Less(t, s.After[i-1], s.After[i], "step %s", s.ID)
		}
	}
	for _, b := range r.Barriers {
		for i := 1; i < len(b.After); i++ {
			assert.Less(t, b.After[i-1], b.After[i], "barrier %s", b.ID)
		}
	}
}

// Explain: "an error matching topology.ErrNotFound for a node the plan has nothing about".
func TestHuntDocExplainUnknown(t *testing.T) {
	p, err := upgrade.NewPlanner(build(t, shopBuilder(1)), catalogue(t)).
		Plan(context.Background(), shop2("tomcat_server", ">=10.1, <11", "ubuntu_os", ">=18.04"))
	require.NoError(t, err)
	var b bytes.Buffer
	err = p.Explain(&b, "nope-1")
	assert.ErrorIs(t, err, topology.ErrNotFound)
	assert.NoError(t, p.Explain(&b, "tomcat-1"))
	assert.NoError(t, p.Explain(&b, "shop-1"))
	assert.NoError(t, p.Explain(&b, "vm-1"))
}

// Run: "ErrInvalidPlan for a nil plan ...; the report is nil then".
func TestHuntDocRunNilPlan(t *testing.T) {
	rep, err := upgrade.Run(context.Background(), nil, upgrade.ExecutorFunc(func(context.Context, upgrade.Step) error { return nil }))
	assert.ErrorIs(t, err, upgrade.ErrInvalidPlan)
	assert.Nil(t, rep)
}

// WithStop: "Closing stop before Run is called runs no step at all."
func TestHuntDocStopBefore(t *testing.T) {
	p := docPlan(t, 2)
	stop := make(chan struct{})
	close(stop)
	ran := 0
	rep, err := upgrade.Run(context.Background(), p, upgrade.ExecutorFunc(func(context.Context, upgrade.Step) error { ran++; return nil }), upgrade.WithStop(stop))
	assert.ErrorIs(t, err, upgrade.ErrStopped)
	assert.Zero(t, ran)
	require.NotNil(t, rep)
	assert.Equal(t, len(p.Steps), rep.Count(upgrade.NotStarted))
}

// FileJournal: Close again does nothing; Append before Begin is refused;
// Begin with an empty plan ID matches ErrInvalidPlan; another plan's journal
// matches ErrPlanMismatch.
func TestHuntDocFileJournal(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j")
	j, err := upgrade.OpenFileJournal(path)
	require.NoError(t, err)
	assert.Error(t, j.Append(context.Background(), upgrade.Record{Kind: upgrade.RecordStarted, Step: "a"}))
	_, err = j.Begin(context.Background(), "")
	assert.ErrorIs(t, err, upgrade.ErrInvalidPlan)
	_, err = j.Begin(context.Background(), "sha256:aa")
	require.NoError(t, err)
	require.NoError(t, j.Append(context.Background(), upgrade.Record{Kind: upgrade.RecordStarted, Step: "a"}))
	require.NoError(t, j.Close())
	assert.NoError(t, j.Close())

	j2, err := upgrade.OpenFileJournal(path)
	require.NoError(t, err)
	defer j2.Close()
	_, err = j2.Begin(context.Background(), "sha256:bb")
	assert.ErrorIs(t, err, upgrade.ErrPlanMismatch)
	_, err = upgrade.OpenFileJournal(path)
	assert.ErrorIs(t, err, upgrade.ErrLocked)
	var le *upgrade.LockError
	assert.True(t, errors.As(err, &le))
}

// ReadJSON(WriteJSON(p)) gives p back, and the same bytes.
func TestHuntDocJSONRoundTrip(t *testing.T) {
	p := docPlan(t, 3)
	r, err := p.Roll(upgrade.Rolling{Canaries: 1, MaxInFlight: "50%"})
	require.NoError(t, err)
	for _, pl := range []*upgrade.Plan{p, r} {
		var b bytes.Buffer
		require.NoError(t, pl.WriteJSON(&b))
		q, err := upgrade.ReadJSON(bytes.NewReader(b.Bytes()))
		require.NoError(t, err)
		assert.Equal(t, pl.ID, q.ID)
		var b2 bytes.Buffer
		require.NoError(t, q.WriteJSON(&b2))
		assert.Equal(t, b.String(), b2.String())
		assert.True(t, reflect.DeepEqual(pl.Steps[len(pl.Steps)-1].NewTemplate, q.Steps[len(q.Steps)-1].NewTemplate))
	}
}

// An undefined Policy: ErrInvalidOption.
func TestHuntDocInvalidPolicy(t *testing.T) {
	_, err := upgrade.NewPlanner(build(t, shopBuilder(1)), catalogue(t), upgrade.WithPolicy(upgrade.Policy(9))).
		Plan(context.Background(), shop2("tomcat_server", ">=10.1"))
	assert.ErrorIs(t, err, upgrade.ErrInvalidOption)
}

// Roll with a bad MaxInFlight: ErrInvalidRolling.
func TestHuntDocInvalidRolling(t *testing.T) {
	p := docPlan(t, 3)
	for _, m := range []string{"0", "-1", "abc", "0%", "150%", "%"} {
		_, err := p.Roll(upgrade.Rolling{MaxInFlight: m})
		assert.ErrorIs(t, err, upgrade.ErrInvalidRolling, "MaxInFlight %q", m)
	}
	_, err := p.Roll(upgrade.Rolling{Canaries: -1})
	assert.ErrorIs(t, err, upgrade.ErrInvalidRolling)
}

// Decision.Candidates: "newest first ... all of them, or the 32 nearest the
// chosen one"; NoPackageError.Considered: "every package version of Type,
// ascending".
func TestHuntDocCandidatesAndConsidered(t *testing.T) {
	var pkgs []pkgsource.Package
	for i := 0; i < 100; i++ {
		pkgs = append(pkgs, pkg("tomcat", fmt.Sprintf("9.0.%d", 200-i)))
	}
	pkgs = append(pkgs, pkg("jdk", "21.0.2"))
	topo := build(t, shopBuilder(1))
	for _, policy := range []upgrade.Policy{upgrade.Newest, upgrade.Nearest, upgrade.LatestPatch} {
		p, err := upgrade.NewPlanner(topo, source(t, pkgs...), upgrade.WithPolicy(policy)).
			Plan(context.Background(), shop2("tomcat_server", ">=9.0.150"))
		require.NoError(t, err)
		d := decided(t, p, "tomcat-1")
		assert.LessOrEqual(t, len(d.Candidates), 32, "policy %v", policy)
		chosen := 0
		for i, cand := range d.Candidates {
			if cand.Chosen {
				chosen++
				assert.Empty(t, cand.Rejected)
			} else {
				assert.NotEmpty(t, cand.Rejected)
			}
			if i > 0 {
				assert.True(t, cand.Version.Less(d.Candidates[i-1].Version), "policy %v: newest first", policy)
			}
		}
		assert.Equal(t, 1, chosen, "policy %v", policy)
	}

	_, err := upgrade.NewPlanner(topo, source(t, pkgs...)).
		Plan(context.Background(), shop2("tomcat_server", ">=9.0.500"))
	var np *upgrade.NoPackageError
	require.ErrorAs(t, err, &np)
	assert.Len(t, np.Considered, 100)
	for i := 1; i < len(np.Considered); i++ {
		assert.True(t, np.Considered[i-1].Less(np.Considered[i]), "ascending")
	}
}

// Policy: "ties between versions that compare equal are broken by their
// text, so the choice is deterministic" — whatever order the source gives.
func TestHuntDocPolicyTies(t *testing.T) {
	topo := build(t, shopBuilder(1))
	a := pkgsource.Package{Type: "tomcat", Version: v("10.1.34+b"), Location: "a.tar.gz"}
	b := pkgsource.Package{Type: "tomcat", Version: v("10.1.34+a"), Location: "b.tar.gz"}
	var ids []string
	for _, order := range [][]pkgsource.Package{{a, b}, {b, a}} {
		src := docSource(append(order, pkg("jdk", "21.0.2")))
		p, err := upgrade.NewPlanner(topo, src).Plan(context.Background(), shop2("tomcat_server", ">=10"))
		require.NoError(t, err)
		ids = append(ids, p.ID)
	}
	assert.Equal(t, ids[0], ids[1])
}

// Nearest: "for a downgrade, the highest below it".
func TestHuntDocNearestDowngrade(t *testing.T) {
	topo := build(t, shopBuilder(1))
	src := source(t, pkg("tomcat", "7.0.1"), pkg("tomcat", "7.0.9"), pkg("tomcat", "8.0.5"), pkg("tomcat", "8.5.200"))
	p, err := upgrade.NewPlanner(topo, src, upgrade.WithPolicy(upgrade.Nearest), upgrade.AllowDowngrades()).
		Plan(context.Background(), shop2("tomcat_server", "<8.1"))
	require.NoError(t, err)
	s, ok := p.Step("platform/tomcat-1@8.0.5")
	require.True(t, ok, "steps: %v", ids(p))
	assert.Equal(t, "8.0.5", s.To.String())
	_, err = upgrade.NewPlanner(topo, src, upgrade.WithPolicy(upgrade.Nearest)).
		Plan(context.Background(), shop2("tomcat_server", "<8.1"))
	var de *upgrade.DowngradeError
	require.ErrorAs(t, err, &de)
	for _, cv := range de.Candidates {
		assert.True(t, cv.Less(v("8.5.100")))
	}
}

// docSource is a Source that lists packages as given, in the given order.
type docSource []pkgsource.Package

func (s docSource) Packages(_ context.Context, typ string) ([]pkgsource.Package, error) {
	var out []pkgsource.Package
	for _, p := range s {
		if p.Type == typ {
			out = append(out, p)
		}
	}
	return out, nil
}

// Run: "One at a time, steps run in the plan's order", barriers included.
func TestHuntDocRunOneAtATimeInPlanOrder(t *testing.T) {
	p, err := docPlan(t, 6).Roll(upgrade.Rolling{Canaries: 1, MaxInFlight: "2"})
	require.NoError(t, err)
	var got []upgrade.StepID
	_, err = upgrade.Run(context.Background(), p, upgrade.ExecutorFunc(func(_ context.Context, s upgrade.Step) error {
		got = append(got, s.ID)
		return nil
	}))
	require.NoError(t, err)
	assert.Equal(t, ids(p), got)
}

// Run: "When a step fails, the steps after it, directly or not, are
// Skipped"; events count Done of Total; Run never emits StepWaiting.
func TestHuntDocFailureSkipsDescendants(t *testing.T) {
	p := docPlan(t, 2)
	var events []upgrade.Event
	rep, err := upgrade.Run(context.Background(), p, upgrade.ExecutorFunc(func(_ context.Context, s upgrade.Step) error {
		if s.ID == "platform/java-1@21.0.2" {
			return errors.New("boom")
		}
		return nil
	}), upgrade.WithFailurePolicy(upgrade.ContinueIndependent), upgrade.WithEvents(func(e upgrade.Event) { events = append(events, e) }))
	require.ErrorIs(t, err, upgrade.ErrStepFailed)
	for _, id := range []upgrade.StepID{"platform/tomcat-1@10.1.34", "app/shop-1@2.0.0"} {
		o, ok := rep.Outcome(id)
		require.True(t, ok, "%s in %v", id, ids(p))
		assert.Equal(t, upgrade.Skipped, o.State, "%s", id)
	}
	for _, id := range []upgrade.StepID{"platform/java-2@21.0.2", "platform/tomcat-2@10.1.34", "app/shop-2@2.0.0"} {
		o, _ := rep.Outcome(id)
		assert.Equal(t, upgrade.Succeeded, o.State, "%s", id)
	}
	require.NotEmpty(t, events)
	last := events[len(events)-1]
	assert.Equal(t, len(p.Steps), last.Total)
	assert.Equal(t, len(p.Steps), last.Done)
	for _, e := range events {
		assert.NotEqual(t, upgrade.StepWaiting, e.Kind)
	}
}

// A source that lists one version twice, in two spellings, is refused with
// an error that names both spellings, so that the index can be mended.
func TestHuntDocListedTwiceNamesBothSpellings(t *testing.T) {
	src := docSource{pkg("tomcat", "10.1.34"), pkg("tomcat", "v10.1.34"), pkg("jdk", "21.0.2")}
	_, err := upgrade.NewPlanner(build(t, shopBuilder(1)), src).Plan(context.Background(), shop2("tomcat_server", ">=10"))
	require.ErrorIs(t, err, pkgsource.ErrInvalid)
	assert.Contains(t, err.Error(), `"10.1.34"`)
	assert.Contains(t, err.Error(), `"v10.1.34"`)
}

// "Unknown applications, templates and nodes match topology.ErrNotFound",
// and errors name the item at fault.
func TestHuntDocUnknownsNotFound(t *testing.T) {
	topo := build(t, shopBuilder(1))
	pl := upgrade.NewPlanner(topo, catalogue(t))
	r := shop2("tomcat_server", ">=10")
	r.Application = "nosuchapp"
	_, err := pl.Plan(context.Background(), r)
	assert.ErrorIs(t, err, topology.ErrNotFound)
	assert.ErrorContains(t, err, "nosuchapp")

	r = shop2("tomcat_server", ">=10")
	r.Replaces = "nosuchtemplate"
	r.Template.ID = "nosuchtemplate"
	_, err = pl.Plan(context.Background(), r)
	assert.ErrorIs(t, err, topology.ErrNotFound)
	assert.ErrorContains(t, err, "nosuchtemplate")

	r = shop2("nosuchplatform", ">=10")
	_, err = pl.Plan(context.Background(), r)
	assert.ErrorIs(t, err, topology.ErrNotFound)
	assert.ErrorContains(t, err, "nosuchplatform")
	t.Log(err)
}

// A journal of another plan (as when a plan file is made again after a
// partial run) is refused with an error that says what to do.
func TestHuntDocJournalMismatchSaysWhatToDo(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plan.json.journal")
	j, err := upgrade.OpenFileJournal(path)
	require.NoError(t, err)
	_, err = j.Begin(context.Background(), "sha256:aa")
	require.NoError(t, err)
	require.NoError(t, j.Append(context.Background(), upgrade.Record{Kind: upgrade.RecordStarted, Step: "a"})) // a journal without records is taken over
	require.NoError(t, j.Close())
	j, err = upgrade.OpenFileJournal(path)
	require.NoError(t, err)
	defer j.Close()
	_, err = j.Begin(context.Background(), "sha256:bb")
	require.ErrorIs(t, err, upgrade.ErrPlanMismatch)
	assert.ErrorContains(t, err, "sha256:aa")
	assert.ErrorContains(t, err, "a journal of its own")
}

// FileJournal.Begin: a file that does not start as a journal does is
// refused, unchanged, with an error matching ErrCorruptJournal (not
// ErrInvalidPlan, which is for a plan without an ID).
func TestHuntDocBeginNotAJournal(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notes.txt")
	require.NoError(t, os.WriteFile(path, []byte("my notes\n"), 0o600))
	j, err := upgrade.OpenFileJournal(path)
	require.NoError(t, err)
	defer j.Close()
	_, err = j.Begin(context.Background(), "sha256:aa")
	assert.ErrorIs(t, err, upgrade.ErrCorruptJournal)
	assert.NotErrorIs(t, err, upgrade.ErrInvalidPlan)
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "my notes\n", string(data))
}

// A journal whose header line is damaged is refused with an error matching
// ErrCorruptJournal that says what to do.
func TestHuntDocBadHeaderSaysWhatToDo(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j")
	j, err := upgrade.OpenFileJournal(path)
	require.NoError(t, err)
	_, err = j.Begin(context.Background(), "sha256:aa")
	require.NoError(t, err)
	require.NoError(t, j.Append(context.Background(), upgrade.Record{Kind: upgrade.RecordStarted, Step: "a"})) // a journal without records is taken over
	require.NoError(t, j.Close())
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	nl := bytes.IndexByte(data, '\n')
	require.Positive(t, nl)
	require.NoError(t, os.WriteFile(path, append(append([]byte{}, data[:nl-1]...), data[nl:]...), 0o600)) // drop the header's last byte
	j, err = upgrade.OpenFileJournal(path)
	require.NoError(t, err)
	defer j.Close()
	_, err = j.Begin(context.Background(), "sha256:aa")
	require.ErrorIs(t, err, upgrade.ErrCorruptJournal)
	assert.ErrorContains(t, err, "give the path of a journal or of a new file")
}

// Roll: "the first r.Canaries steps, by node ID, come before all the
// others, which go in batches of at most r.MaxInFlight, each batch after
// the whole batch before it".
func TestHuntDocRollCanariesByNodeID(t *testing.T) {
	p := docPlan(t, 12)
	r, err := p.Roll(upgrade.Rolling{Canaries: 2, MaxInFlight: "3"})
	require.NoError(t, err)
	apps := map[upgrade.StepID]topology.NodeID{}
	var nodes []string
	for _, s := range r.Steps {
		if s.Kind == upgrade.Application {
			apps[s.ID] = s.Node
			nodes = append(nodes, string(s.Node))
		}
	}
	require.Len(t, nodes, 12)
	sort.Strings(nodes)
	canaries := map[topology.NodeID]bool{topology.NodeID(nodes[0]): true, topology.NodeID(nodes[1]): true}
	// Group the rest by the instances they wait for: each batch waits for
	// the whole batch before it, the first for the canaries.
	groups := map[string][]topology.NodeID{}
	for id, n := range apps {
		var appPre []string
		for _, q := range r.Prerequisites(id) {
			if m, ok := apps[q]; ok {
				appPre = append(appPre, string(m))
			}
		}
		if canaries[n] {
			assert.Empty(t, appPre, "canary %s waits for no instance", n)
			continue
		}
		sort.Strings(appPre)
		key := fmt.Sprint(appPre)
		groups[key] = append(groups[key], n)
	}
	sizes := 0
	for _, g := range groups {
		assert.LessOrEqual(t, len(g), 3)
		sizes += len(g)
	}
	assert.Equal(t, 10, sizes)
	assert.Len(t, groups, 4) // 10 = 3+3+3+1
	assert.Contains(t, groups, fmt.Sprint(nodes[:2]), "the first batch waits for the canaries")
	for key := range groups {
		if key == fmt.Sprint(nodes[:2]) {
			continue
		}
		found := false
		for _, g := range groups {
			prev := make([]string, len(g))
			for i, n := range g {
				prev[i] = string(n)
			}
			sort.Strings(prev)
			found = found || fmt.Sprint(prev) == key
		}
		assert.True(t, found, "batch after %s: a whole batch", key)
	}
}

// docCountingTopology counts the calls a Planner makes.
type docCountingTopology struct {
	topology.Topology
	calls int
}

func (c *docCountingTopology) Application(ctx context.Context, id topology.AppID) (*topology.Application, error) {
	c.calls++
	return c.Topology.Application(ctx, id)
}

func (c *docCountingTopology) Dependents(ctx context.Context, id topology.NodeID) ([]topology.Dependent, error) {
	c.calls++
	return c.Topology.Dependents(ctx, id)
}

// RequestError: Request is the index in the call, Field names the field;
// identifiers outside the safe set also match topology.ErrInvalidID, and
// are refused before the topology is asked anything.
func TestHuntDocRequestError(t *testing.T) {
	topo := &docCountingTopology{Topology: build(t, shopBuilder(1))}
	pl := upgrade.NewPlanner(topo, catalogue(t))
	bad := shop2("tomcat_server", ">=10", "bad id!", ">=1")
	other := shop2("tomcat_server", ">=10")
	other.Application, other.Replaces, other.Template.ID = "other", "other_app", "other_app"
	_, err := pl.PlanAll(context.Background(), other, bad)
	var re *upgrade.RequestError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, 1, re.Request)
	assert.Equal(t, "Template.Requirements[1].Template", re.Field)
	assert.ErrorIs(t, err, upgrade.ErrInvalidRequest)
	assert.ErrorIs(t, err, topology.ErrInvalidID)
	assert.Zero(t, topo.calls)

	empty := shop2("tomcat_server", ">=10")
	empty.Application = ""
	_, err = pl.Plan(context.Background(), empty)
	require.ErrorAs(t, err, &re)
	assert.Equal(t, 0, re.Request)
	assert.Equal(t, "Application", re.Field)
	assert.Zero(t, topo.calls)
	t.Log(err)
}

// A negative canary count is refused with an error that says what is
// allowed.
func TestHuntDocNegativeCanariesSaysWhatToDo(t *testing.T) {
	_, err := docPlan(t, 2).Roll(upgrade.Rolling{Canaries: -1})
	require.ErrorIs(t, err, upgrade.ErrInvalidRolling)
	assert.ErrorContains(t, err, "0 or more")
}

// WithConcurrency: n < 1 runs one step at a time, as the default does (it
// does not mean "no limit").
func TestHuntDocConcurrencyBelowOne(t *testing.T) {
	p := docPlan(t, 4)
	for _, n := range []int{0, -3} {
		exec := new(upgradetest.Executor)
		_, err := upgrade.Run(context.Background(), p, exec, upgrade.WithConcurrency(n))
		require.NoError(t, err)
		assert.Equal(t, 1, exec.Peak(), "WithConcurrency(%d)", n)
		assert.Equal(t, ids(p), exec.Started())
	}
}

// WithRetry: "try a failing step up to attempts times in all"; fewer than
// one attempt still tries each step once.
func TestHuntDocRetryBelowOne(t *testing.T) {
	p := docPlan(t, 1)
	for _, n := range []int{0, -1} {
		exec := new(upgradetest.Executor)
		rep, err := upgrade.Run(context.Background(), p, exec, upgrade.WithRetry(n, 0, 0))
		require.NoError(t, err, "WithRetry(%d)", n)
		assert.Equal(t, len(p.Steps), rep.Count(upgrade.Succeeded))
		assert.Equal(t, ids(p), exec.Started())
	}
}

// WithStepTimeout: a zero or negative duration is no bound.
func TestHuntDocStepTimeoutNotPositive(t *testing.T) {
	p := docPlan(t, 1)
	for _, d := range []time.Duration{0, -time.Second} {
		exec := new(upgradetest.Executor)
		rep, err := upgrade.Run(context.Background(), p, exec, upgrade.WithStepTimeout(d))
		require.NoError(t, err, "WithStepTimeout(%v)", d)
		assert.Equal(t, len(p.Steps), rep.Count(upgrade.Succeeded))
	}
}

// Roll's doc: platform steps that only a later wave's instances need wait
// for the wave before; those the first wave needs do not wait.
func TestHuntDocRollHoldsPlatformOfLaterWaves(t *testing.T) {
	r, err := docPlan(t, 5).Roll(upgrade.Rolling{Canaries: 1, MaxInFlight: "2"})
	require.NoError(t, err)
	assert.Empty(t, r.Prerequisites("platform/java-1@21.0.2"))
	for _, id := range []upgrade.StepID{"platform/java-2@21.0.2", "platform/java-3@21.0.2"} {
		assert.Equal(t, []upgrade.StepID{"app/shop-1@2.0.0"}, r.Prerequisites(id), "%s", id)
	}
	for _, id := range []upgrade.StepID{"platform/java-4@21.0.2", "platform/java-5@21.0.2"} {
		assert.Equal(t, []upgrade.StepID{"app/shop-2@2.0.0", "app/shop-3@2.0.0"}, r.Prerequisites(id), "%s", id)
	}
}

// WithPackages: the copy is in a directory Run creates under dir, "readable
// by this user only".
func TestHuntDocPackageCopyPrivate(t *testing.T) {
	plan, src := signedPlan(t)
	dir := t.TempDir()
	checked := 0
	_, err := upgrade.Run(context.Background(), plan, upgrade.ExecutorFunc(func(ctx context.Context, s upgrade.Step) error {
		path := upgrade.PackageFile(ctx)
		if s.Package == nil {
			assert.Empty(t, path)
			return nil
		}
		fi, err := os.Stat(path)
		if !assert.NoError(t, err) {
			return err
		}
		assert.Zero(t, fi.Mode().Perm()&0o077, "file %s mode %v", path, fi.Mode())
		di, err := os.Stat(filepath.Dir(path))
		if !assert.NoError(t, err) {
			return err
		}
		assert.Zero(t, di.Mode().Perm()&0o077, "dir mode %v", di.Mode())
		checked++
		return nil
	}), upgrade.WithPackages(src, dir))
	require.NoError(t, err)
	assert.Positive(t, checked)
}

// Events of a rolled plan: barriers are not steps; every event names a
// step of the plan and Total is the number of steps.
func TestHuntDocEventsOfRolledPlan(t *testing.T) {
	p, err := docPlan(t, 6).Roll(upgrade.Rolling{Canaries: 1, MaxInFlight: "2"})
	require.NoError(t, err)
	require.NotEmpty(t, p.Barriers)
	var events []upgrade.Event
	rep, err := upgrade.Run(context.Background(), p, new(upgradetest.Executor), upgrade.WithEvents(func(e upgrade.Event) { events = append(events, e) }))
	require.NoError(t, err)
	assert.Len(t, rep.Outcomes, len(p.Steps))
	succeeded := 0
	for _, e := range events {
		require.NotNil(t, e.Step)
		_, ok := p.Step(e.Step.ID)
		assert.True(t, ok, "event for %s, not a step", e.Step.ID)
		assert.Equal(t, len(p.Steps), e.Total)
		if e.Kind == upgrade.StepSucceeded {
			succeeded++
		}
	}
	assert.Equal(t, len(p.Steps), succeeded)
	assert.Equal(t, len(p.Steps), events[len(events)-1].Done)
}

// An unknown step kind in a plan's JSON is refused with an error that
// names the kinds there are.
func TestHuntDocUnknownStepKindSaysWhatToDo(t *testing.T) {
	var k upgrade.StepKind
	err := k.UnmarshalText([]byte("plaform"))
	require.Error(t, err)
	assert.ErrorContains(t, err, `"plaform"`)
	assert.ErrorContains(t, err, `want "platform" or "application"`)

	// Through ReadJSON, the package is named once.
	_, err = upgrade.ReadJSON(strings.NewReader(`{"schema":"` + upgrade.Schema + `","steps":[{"id":"a","kind":"plaform"}]}`))
	require.ErrorIs(t, err, upgrade.ErrInvalidPlan)
	assert.ErrorContains(t, err, `upgrade: invalid plan: unknown step kind "plaform"`)
}
