package upgrade

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/version"
)

// idFixture returns a plan in which every field reachable from Plan holds a
// value other than its zero, and every list at least one element (two
// where order or repetition matters, and a package and a candidate list
// repeated). Each call builds it afresh.
func idFixture() *Plan {
	mv, mc := version.MustParse, version.MustParseConstraint
	tmpl := topology.Template{ID: "shop_app", Type: "webapp", Version: mv("2.0.0"),
		Requirements: []topology.Requirement{
			{Name: "host", Template: "tomcat_server", Constraint: mc(">=9"), Relation: topology.HostedOn},
			{Name: "db", Template: "pg_server", Constraint: mc("^15"), Relation: topology.DependsOn},
		}}
	demand := func(i int) Demand {
		return Demand{Constraint: mc(fmt.Sprintf(">=%d", i+1)), App: topology.AppID(fmt.Sprintf("app%d", i)),
			Template: topology.TemplateID(fmt.Sprintf("tmpl%d", i)), Version: mv(fmt.Sprintf("%d.1.0", i+3)),
			Node: topology.NodeID(fmt.Sprintf("node%d", i)), Package: fmt.Sprintf("tomcat %d.0.0", i+9)}
	}
	rejected := "not allowed by node billing-1 (billing) requires <10"
	plan := &Plan{
		ID: "sha256:whatever",
		Requests: []Request{
			{Application: "shop", Replaces: "shop_app", Template: tmpl},
			{Application: "billing", Replaces: "billing_app", Template: topology.Template{ID: "billing_app", Type: "webapp",
				Version: mv("4.0.0"), Requirements: []topology.Requirement{
					{Name: "server", Template: "tomcat_server", Constraint: mc("<11"), Relation: "custom"}}}},
		},
		Steps: []Step{
			{
				ID: "platform/tomcat-1@10.1.34", Kind: Platform, App: "shop", Node: "tomcat-1", Template: "tomcat_server",
				Type: "tomcat", From: mv("8.5.100"), To: mv("10.1.34"),
				Package: &pkgsource.Package{Type: "tomcat", Version: mv("10.1.34"), From: mc(">=8.5"),
					Requires: []pkgsource.Requirement{{Type: "jdk", Constraint: mc(">=11")}, {Type: "ubuntu", Constraint: mc(">=20.04")}},
					Location: "tomcat-10.1.34.tar.gz", Digest: "sha256:" + strings.Repeat("ab", 32), Size: 12345},
				NewTemplate: &tmpl,
				Request:     1,
				After:       []StepID{"platform/java-1@17.0.10", "platform/vm-1@22.4.0"},
				Reason:      "shop_app@2.0.0 (shop) requires tomcat_server >=9",
			},
			{
				ID: "app/shop-1@2.0.0", Kind: Application, App: "shop", Node: "shop-1", Template: "shop_app",
				Type: "webapp", From: mv("1.4.0"), To: mv("2.0.0"),
				Package:     &pkgsource.Package{Type: "webapp", Version: mv("2.0.0"), From: mc("1.x"), Requires: []pkgsource.Requirement{{Type: "tomcat", Constraint: mc(">=10")}}, Location: "shop.tar.gz", Digest: "sha256:" + strings.Repeat("cd", 32), Size: 7},
				NewTemplate: &tmpl,
				Request:     2,
				After:       []StepID{"platform/tomcat-1@10.1.34"},
				Reason:      "request #1",
			},
		},
		Barriers: []Barrier{
			{ID: "batch/shop/shop_app/1", After: []StepID{"app/shop-1@2.0.0", "platform/tomcat-1@10.1.34"}, Reason: "batch 1 of 2"},
			{ID: "batch/shop/shop_app/2", After: []StepID{"batch/shop/shop_app/1"}, Reason: "batch 2 of 3"},
		},
		Satisfied: []Check{
			{Node: "vm-1", Template: "ubuntu_os", Version: mv("22.4.0"), Demand: demand(3)},
			{Node: "vm-2", Template: "ubuntu_os", Version: mv("22.4.1"), Demand: demand(4)},
		},
		Decisions: []Decision{
			{Node: "tomcat-1", Demands: []Demand{demand(0), demand(1)}, Candidates: []Candidate{
				{Version: mv("11.0.2"), Chosen: true, Rejected: rejected},
				{Version: mv("10.1.34"), Chosen: true, Rejected: rejected},
				{Version: mv("9.0.98"), Chosen: true, Rejected: "policy newest prefers 10.1.34"},
			}},
		},
		// A warning longer than the encoder's buffer, so that the buffer
		// is flushed within a string.
		Warnings: []string{"node shop-1 requires tomcat_server <9", strings.Repeat("long warning ", 700)},
	}
	// A third step installs the first one's package, and a second decision
	// has the first's candidates, each an equal copy at another address:
	// the encoding refers back to them, and must not when a field of the
	// copy differs.
	again := plan.Steps[0]
	again.ID, again.Node = "platform/tomcat-2@10.1.34", "tomcat-2"
	pkg := *again.Package
	pkg.Requires = slices.Clone(pkg.Requires)
	again.Package = &pkg
	again.After = slices.Clone(again.After)
	plan.Steps = append(plan.Steps, again)
	decided := plan.Decisions[0]
	decided.Node = "tomcat-2"
	decided.Candidates = slices.Clone(decided.Candidates)
	decided.Demands = slices.Clone(decided.Demands)
	plan.Decisions = append(plan.Decisions, decided)
	return plan
}

// idStep is one move on the way from a plan to one of its leaf fields.
type idStep struct {
	field int // the field's index, or -1
	index int // the list element's index, or -1 (field and index -1: the pointer's target)
}

type idPath struct {
	name  string
	steps []idStep
}

var (
	versionType    = reflect.TypeFor[version.Version]()
	constraintType = reflect.TypeFor[version.Constraint]()
)

// idExcluded reports whether a field is left out of the ID by design.
func idExcluded(owner reflect.Type, field string) bool {
	return owner == reflect.TypeFor[Plan]() && field == "ID" ||
		owner == reflect.TypeFor[Step]() && field == "NewTemplate"
}

// idLeaves returns the paths to every leaf field of v, failing the test on
// an empty list, a nil pointer, a zero leaf or a kind the walk does not
// know (a new kind of field that planID must be taught about).
func idLeaves(t *testing.T, v reflect.Value, name string, steps []idStep, out *[]idPath) {
	t.Helper()
	if v.Type() == versionType || v.Type() == constraintType {
		require.False(t, v.IsZero(), "%s is zero in the fixture: populate it", name)
		*out = append(*out, idPath{name: name, steps: steps})
		return
	}
	switch v.Kind() {
	case reflect.String, reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		require.False(t, v.IsZero(), "%s is zero in the fixture: populate it", name)
		*out = append(*out, idPath{name: name, steps: steps})
	case reflect.Pointer:
		require.False(t, v.IsNil(), "%s is nil in the fixture: populate it", name)
		idLeaves(t, v.Elem(), name, append(steps[:len(steps):len(steps)], idStep{field: -1, index: -1}), out)
	case reflect.Slice:
		require.Positive(t, v.Len(), "%s is empty in the fixture: populate it", name)
		for i := range v.Len() {
			idLeaves(t, v.Index(i), fmt.Sprintf("%s[%d]", name, i), append(steps[:len(steps):len(steps)], idStep{field: -1, index: i}), out)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if idExcluded(v.Type(), f.Name) {
				continue
			}
			require.True(t, f.IsExported(), "%s.%s: unexported field; teach this test about %s", name, f.Name, v.Type())
			idLeaves(t, v.Field(i), name+"."+f.Name, append(steps[:len(steps):len(steps)], idStep{field: i, index: -1}), out)
		}
	default:
		t.Fatalf("%s: a field of kind %s; teach this test (and planID) about it", name, v.Kind())
	}
}

// idDeepCopy returns a copy of v sharing no slice or pointer target with it
// (versions and constraints, immutable, are copied as values).
func idDeepCopy(v reflect.Value) reflect.Value {
	out := reflect.New(v.Type()).Elem()
	switch {
	case v.Type() == versionType || v.Type() == constraintType:
		out.Set(v)
	case v.Kind() == reflect.Pointer:
		if !v.IsNil() {
			out.Set(reflect.New(v.Type().Elem()))
			out.Elem().Set(idDeepCopy(v.Elem()))
		}
	case v.Kind() == reflect.Slice:
		if !v.IsNil() {
			out.Set(reflect.MakeSlice(v.Type(), v.Len(), v.Len()))
			for i := range v.Len() {
				out.Index(i).Set(idDeepCopy(v.Index(i)))
			}
		}
	case v.Kind() == reflect.Struct:
		for i := range v.NumField() {
			out.Field(i).Set(idDeepCopy(v.Field(i)))
		}
	default:
		out.Set(v)
	}
	return out
}

func copyPlan(p *Plan) *Plan {
	c := idDeepCopy(reflect.ValueOf(p).Elem()).Interface().(Plan)
	return &c
}

// idChange changes the leaf at v to another value of its type.
func idChange(t *testing.T, v reflect.Value, name string) {
	t.Helper()
	switch {
	case v.Type() == versionType:
		other := version.MustParse("99.98.97")
		if v.Interface().(version.Version) == other {
			other = version.MustParse("1.2.3")
		}
		v.Set(reflect.ValueOf(other))
		return
	case v.Type() == constraintType:
		other := version.MustParseConstraint(">=77, <78")
		if v.Interface().(version.Constraint).String() == other.String() {
			other = version.MustParseConstraint("~1")
		}
		v.Set(reflect.ValueOf(other))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(v.String() + "x")
	case reflect.Bool:
		v.SetBool(!v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(v.Int() + 1)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(v.Uint() + 1)
	default:
		t.Fatalf("%s: cannot change a %s", name, v.Kind())
	}
}

func idFollow(v reflect.Value, steps []idStep) reflect.Value {
	for _, s := range steps {
		switch {
		case s.field >= 0:
			v = v.Field(s.field)
		case s.index >= 0:
			v = v.Index(s.index)
		default:
			v = v.Elem()
		}
	}
	return v
}

func TestPlanIDCoversEveryField(t *testing.T) {
	orig := idFixture()
	want := planID(orig)
	require.True(t, strings.HasPrefix(want, "sha256:"), want)
	require.Len(t, want, len("sha256:")+64)

	var leaves []idPath
	idLeaves(t, reflect.ValueOf(orig).Elem(), "Plan", nil, &leaves)
	require.Greater(t, len(leaves), 100, "the walk found too few fields")

	// The copy, unchanged, has the original's ID, and changing it leaves
	// the original alone.
	require.Equal(t, want, planID(copyPlan(orig)))

	seen := map[string]string{want: "the original"}
	for _, leaf := range leaves {
		cp := copyPlan(orig)
		idChange(t, idFollow(reflect.ValueOf(cp).Elem(), leaf.steps), leaf.name)
		got := planID(cp)
		if !assert.NotEqual(t, want, got, "changing %s leaves the plan ID as it was", leaf.name) {
			continue
		}
		// Each change gives its own ID: none is confused with another.
		assert.NotContains(t, seen, got, "changing %s gives the ID of changing %s", leaf.name, seen[got])
		seen[got] = leaf.name
	}
	assert.Equal(t, want, planID(orig), "the walk changed the original")
}

func TestPlanIDExcludesIDAndNewTemplate(t *testing.T) {
	orig := idFixture()
	want := planID(orig)
	cp := copyPlan(orig)
	cp.ID = "sha256:other"
	cp.Steps[0].NewTemplate = &topology.Template{ID: "other", Type: "other", Version: version.MustParse("9.9.9")}
	cp.Steps[1].NewTemplate = nil
	assert.Equal(t, want, planID(cp))
}

func TestPlanIDStable(t *testing.T) {
	a, b := idFixture(), idFixture()
	require.Equal(t, planID(a), planID(b), "identical plans built separately")

	// Strings around the encoder's buffer size: equal content gives equal
	// IDs, a change in the last byte another.
	for n := 4080; n <= 4110; n++ {
		p, q := idFixture(), idFixture()
		p.Warnings = []string{strings.Repeat("w", n)}
		q.Warnings = []string{strings.Clone(strings.Repeat("w", n))}
		require.Equal(t, planID(p), planID(q), "warning of %d bytes", n)
		q.Warnings[0] = q.Warnings[0][:n-1] + "v"
		require.NotEqual(t, planID(p), planID(q), "warning of %d bytes, last byte changed", n)
	}

	// The empty plan, and a plan with an empty list rather than none.
	empty := &Plan{}
	require.Equal(t, planID(empty), planID(&Plan{Steps: []Step{}, Warnings: []string{}}), "nil and empty lists encode alike")
	require.NotEqual(t, planID(empty), planID(&Plan{Warnings: []string{""}}), "one empty warning is not none")
	require.NotEqual(t, planID(&Plan{Warnings: []string{""}}), planID(&Plan{Warnings: []string{"", ""}}))
	require.Equal(t, planID(empty), planID(&Plan{Barriers: []Barrier{}}), "no barriers encode as before barriers")
	require.NotEqual(t, planID(empty), planID(&Plan{Barriers: []Barrier{{}}}), "one empty barrier is not none")
	require.NotEqual(t, planID(&Plan{Warnings: []string{"x"}}), planID(&Plan{Barriers: []Barrier{{ID: "x"}}}))
}

func TestPlanIDStringBoundaries(t *testing.T) {
	id := func(app, node string) string {
		p := idFixture()
		p.Steps[0].App, p.Steps[0].Node = topology.AppID(app), topology.NodeID(node)
		return planID(p)
	}
	assert.NotEqual(t, id("ab", "c"), id("a", "bc"))
	assert.NotEqual(t, id("abc", ""), id("", "abc"))
	assert.Equal(t, id("ab", "c"), id("ab", "c"))

	warn := func(ws ...string) string {
		p := idFixture()
		p.Warnings = ws
		return planID(p)
	}
	assert.NotEqual(t, warn("ab", "c"), warn("a", "bc"))
	assert.NotEqual(t, warn("abc"), warn("ab", "c"))
	assert.NotEqual(t, warn("a", "b"), warn("b", "a"))

	// A list's end is not confused with the next field: one more
	// After and one fewer Reason byte.
	p, q := idFixture(), idFixture()
	p.Steps[1].After = []StepID{"x"}
	p.Steps[1].Reason = "yz"
	q.Steps[1].After = []StepID{"x", "y"}
	q.Steps[1].Reason = "z"
	assert.NotEqual(t, planID(p), planID(q))

	// Nor is an absent package a present one.
	p, q = idFixture(), idFixture()
	p.Steps[1].Package = nil
	assert.NotEqual(t, planID(p), planID(q))
	q.Steps[1].Package = &pkgsource.Package{}
	assert.NotEqual(t, planID(p), planID(q), "an absent package and a zero one")
}

func TestPlanIDRepeatedCandidateReasons(t *testing.T) {
	reason := "not allowed by co-tenant node billing-1 (billing) requires <10"
	with := func(first, second string) *Plan {
		p := idFixture()
		p.Decisions[0].Candidates = []Candidate{
			{Version: version.MustParse("11.0.2"), Rejected: first},
			{Version: version.MustParse("10.1.34"), Rejected: second},
			{Version: version.MustParse("9.0.98"), Chosen: true},
		}
		return p
	}
	shared := with(reason, reason)                       // the same string
	cloned := with(reason, strings.Clone(reason))        // equal content, other memory
	rebuilt := with(reason, "not allowed by co-tenant "+ // built at run time
		strings.TrimPrefix(reason, "not allowed by co-tenant "))
	require.Same(t, unsafe.StringData(shared.Decisions[0].Candidates[0].Rejected), unsafe.StringData(shared.Decisions[0].Candidates[1].Rejected))
	require.NotSame(t, unsafe.StringData(cloned.Decisions[0].Candidates[0].Rejected), unsafe.StringData(cloned.Decisions[0].Candidates[1].Rejected))
	assert.Equal(t, planID(shared), planID(cloned), "a repeated reason does not depend on the strings' memory")
	assert.Equal(t, planID(shared), planID(rebuilt))

	distinct := with(reason, reason+"!")
	assert.NotEqual(t, planID(shared), planID(distinct))
	sameLength := with(reason, strings.ToUpper(reason))
	assert.NotEqual(t, planID(shared), planID(sameLength), "a distinct reason of the same length")
	assert.NotEqual(t, planID(with(reason, "")), planID(shared))
	assert.NotEqual(t, planID(with("", reason)), planID(with(reason, reason)))
	assert.NotEqual(t, planID(with("", "")), planID(with("", "x")))
	// The repeat of a reason is not the same as the reason moved on.
	assert.NotEqual(t, planID(with(reason, reason)), planID(with(reason, "x")))
	// Three in a row, the last repeating, against the last differing.
	p, q := with(reason, reason), with(reason, reason)
	p.Decisions[0].Candidates[2].Rejected = reason
	q.Decisions[0].Candidates[2].Rejected = strings.Clone(reason)
	assert.Equal(t, planID(p), planID(q))
	q.Decisions[0].Candidates[2].Rejected = reason[1:]
	assert.NotEqual(t, planID(p), planID(q))
}
