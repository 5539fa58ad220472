package upgrade_test

import (
	"regexp"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
)

// hostilePlan builds by hand a plan whose every printed string is one of
// those given: id for the identifiers of nodes, steps and applications,
// tmpl for templates and types, text for reasons, warnings and rejections,
// dem for the fields of demands. A plan file can hold any of them.
func hostilePlan(id, tmpl, text, dem string) *upgrade.Plan {
	newTemplate := &topology.Template{ID: topology.TemplateID(tmpl), Type: tmpl, Version: v("2.0.0")}
	demand := upgrade.Demand{Constraint: c(">=9"), App: topology.AppID(dem), Template: topology.TemplateID(dem),
		Node: topology.NodeID(dem), Package: dem}
	platform := upgrade.StepID("platform/" + id)
	return &upgrade.Plan{
		ID: "sha256:0",
		Requests: []upgrade.Request{{Application: topology.AppID(id), Replaces: topology.TemplateID(tmpl),
			Template: *newTemplate}},
		Steps: []upgrade.Step{
			{ID: platform, Kind: upgrade.Platform, App: topology.AppID(id), Node: topology.NodeID(id),
				Template: topology.TemplateID(tmpl), Type: tmpl, From: v("8.5.100"), To: v("10.1.34"),
				Package: &pkgsource.Package{Type: tmpl, Version: v("10.1.34")},
				Reason:  text},
			{ID: upgrade.StepID("app/" + id), Kind: upgrade.Application, App: topology.AppID(id), Node: topology.NodeID(id + "-app"),
				Template: topology.TemplateID(tmpl), From: v("1.0.0"), To: v("2.0.0"), NewTemplate: newTemplate,
				After: []upgrade.StepID{platform}, Reason: text},
		},
		Satisfied: []upgrade.Check{{Node: topology.NodeID(dem + "-os"), Template: topology.TemplateID(tmpl), Version: v("18.4.0"), Demand: demand}},
		Decisions: []upgrade.Decision{{Node: topology.NodeID(id),
			Demands:    []upgrade.Demand{demand, {Constraint: c("<11"), App: "shop", Template: "shop_app", Version: v("2.0.0")}},
			Candidates: []upgrade.Candidate{{Version: v("11.0.2"), Rejected: text}, {Version: v("10.1.34"), Chosen: true}}}},
		Warnings: []string{text, text + " again"},
	}
}

var renderAttacks = []struct{ name, s string }{
	{"newline", "x\nFAKE LINE"},
	{"carriage return", "x\rFAKE"},
	{"ansi", "\x1b[2J\x1b[31mred"},
	{"quote", `a"b`},
	{"brackets", `a]b[c(d)e{f}g<h>i`},
	{"html", `<script>alert(1)</script>`},
	{"mermaid entity", "a#quot;b#35;"},
	{"mermaid markdown", "a`b`"},
	{"dot escapes", `a\nb\lc\N`},
	{"dot edge", `a" -> "b`},
	{"separator", "a\u2028b\u2029c"},
	{"right-left", "a\u202eb"},
	{"bad utf8", "a\xffb"},
	{"nul and del", "a\x00b\x7fc"},
	{"tab", "a\tb"},
	{"shell", "tomcat-1$(touch pwned)"},
	{"empty", ""},
}

// renderings writes the plan in every form, with Explain of the platform
// node and of the node with a satisfied check.
func renderings(t testing.TB, p *upgrade.Plan) map[string]string {
	t.Helper()
	out := map[string]string{}
	var b strings.Builder
	require.NoError(t, p.WriteText(&b))
	out["text"], b = b.String(), strings.Builder{}
	require.NoError(t, p.WriteMermaid(&b))
	out["mermaid"], b = b.String(), strings.Builder{}
	require.NoError(t, p.WriteDOT(&b))
	out["dot"], b = b.String(), strings.Builder{}
	require.NoError(t, p.Explain(&b, p.Steps[0].Node))
	out["explain"], b = b.String(), strings.Builder{}
	require.NoError(t, p.Explain(&b, p.Satisfied[0].Node))
	out["explain satisfied"] = b.String()
	return out
}

// wantLines is the number of lines each rendering of a plan made by
// hostilePlan has, whatever its strings hold.
var wantLines = map[string]int{
	// header, blank, "Requests:", 1 request, blank, "Steps:", platform step
	// (4 lines: ID, change, after is absent, why: 3), application step (4:
	// ID, change, after, why), blank, "Already met:", 1 check, blank,
	// "Warnings:", 2 warnings.
	"text":              3 + 1 + 2 + 3 + 4 + 2 + 1 + 2 + 2,
	"mermaid":           1 + 2 + 1 + 2 + 2, // flowchart, 2 boxes, 1 arrow, 2 classDef, 2 class
	"dot":               2 + 2 + 1 + 1,     // digraph and node defaults, 2 boxes, 1 edge, }
	"explain":           1 + 1 + 2 + 1 + 2, // header, Demands: 2, Candidates: 2
	"explain satisfied": 1 + 1,             // header, 1 demand
}

var (
	mermaidBox  = regexp.MustCompile(`^  s[0-9]+\["([^"]*)"\]$`)
	dotString   = `"(?:[^"\\]|\\.)*"`
	dotNode     = regexp.MustCompile(`^  ` + dotString + ` \[label=` + dotString + `, fillcolor="#[0-9a-f]{6}"\];$`)
	dotEdge     = regexp.MustCompile(`^  ` + dotString + ` -> ` + dotString + `;$`)
	mermaidLine = regexp.MustCompile(`^(flowchart TD|  s[0-9]+ --> s[0-9]+|  classDef .*|  class [s0-9,]+ (platform|application))$`)
)

// checkRendering asserts that a rendering holds no raw control byte, line
// or paragraph separator or bidirectional control, that it has the number
// of lines its plan's shape gives, and that every Mermaid and DOT line is
// one well-formed statement whose labels hold nothing that ends them.
func checkRendering(t *testing.T, form, out string) {
	t.Helper()
	require.True(t, strings.HasSuffix(out, "\n"), "%s ends its last line", form)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	assert.Len(t, lines, wantLines[form], "%s: one line per item:\n%s", form, out)
	assert.True(t, utf8.ValidString(out), "%s is valid UTF-8", form)
	for _, line := range lines {
		for _, r := range line {
			if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029' || r == utf8.RuneError {
				assert.Failf(t, "raw control character", "%s: %U in line %q", form, r, line)
				break
			}
		}
		assert.False(t, strings.HasPrefix(line, "FAKE LINE"), "%s: a forged line: %q", form, line)
		switch form {
		case "mermaid":
			if m := mermaidBox.FindStringSubmatch(line); m != nil {
				label := strings.Replace(m[1], "<br/>", "", 1)
				assert.NotContains(t, label, "<", "a Mermaid label holds no markup")
				assert.NotContains(t, label, ">")
				assert.NotContains(t, label, "`")
				assert.NotRegexp(t, `#(?:[^0-9a-z]|$)`, label, "every # in a Mermaid label starts an entity code")
				continue
			}
			assert.Regexp(t, mermaidLine, line)
		case "dot":
			if !dotNode.MatchString(line) && !dotEdge.MatchString(line) {
				assert.Contains(t, []string{"digraph plan {", `  node [shape=box, style="rounded,filled", fontname="Helvetica"];`, "}"}, line)
			}
		}
	}
}

func TestRenderingsEscapeHostileStrings(t *testing.T) {
	// The plan's shape gives the lines of each rendering: check it with
	// strings that need no escaping.
	for form, out := range renderings(t, hostilePlan("tomcat-1", "tomcat_server", "a reason", "billing-1")) {
		checkRendering(t, form, out)
	}
	for _, a := range renderAttacks {
		for _, field := range []string{"id", "template", "text", "demand"} {
			t.Run(a.name+"/"+field, func(t *testing.T) {
				args := map[string]string{"id": "tomcat-1", "template": "tomcat_server", "text": "a reason", "demand": "billing-1"}
				args[field] = a.s
				p := hostilePlan(args["id"], args["template"], args["text"], args["demand"])
				for form, out := range renderings(t, p) {
					checkRendering(t, form, out)
				}
			})
		}
	}
}

// TestRenderingsQuoteHostileIDs checks how the text says that an
// identifier is odd: quoted, Go-style, while identifiers in the safe set
// print as they are.
func TestRenderingsQuoteHostileIDs(t *testing.T) {
	out := renderings(t, hostilePlan("x\nFAKE LINE", "tomcat_server", "why\x1b[2J", "billing-1"))
	assert.Contains(t, out["text"], `  1. "platform/x\nFAKE LINE"`+"\n")
	assert.Contains(t, out["text"], `       upgrade "x\nFAKE LINE" (tomcat_server, tomcat_server) 8.5.100 → 10.1.34 with package tomcat_server 10.1.34`+"\n")
	assert.Contains(t, out["text"], `       why: why\x1b[2J`+"\n")
	assert.Contains(t, out["explain"], `"x\nFAKE LINE" (tomcat_server, tomcat_server): 8.5.100 → 10.1.34 in 1 step`+"\n")
	assert.Contains(t, out["mermaid"], `  s0["platform/x\nFAKE LINE<br/>x\nFAKE LINE: 8.5.100 → 10.1.34"]`+"\n")
	assert.Contains(t, out["dot"], `  "platform/x\\nFAKE LINE" [label="platform/x\\nFAKE LINE\nx\\nFAKE LINE: 8.5.100 → 10.1.34", fillcolor="#e3ecfa"];`+"\n")

	out = renderings(t, hostilePlan(`a"b`, "tomcat_server", "a reason", "billing-1"))
	assert.Contains(t, out["mermaid"], `  s0["platform/a#quot;b<br/>a#quot;b: 8.5.100 → 10.1.34"]`+"\n")
	assert.Contains(t, out["dot"], `  "platform/a\"b" -> "app/a\"b";`+"\n")
}

// FuzzRenderings checks that no string in a plan, however hostile, puts a
// raw control character in a rendering, changes its number of lines, or
// breaks a Mermaid or DOT statement.
func FuzzRenderings(f *testing.F) {
	f.Add("tomcat-1", "tomcat_server", "a reason", "billing-1")
	for _, a := range renderAttacks {
		f.Add(a.s, a.s, a.s, a.s)
	}
	f.Fuzz(func(t *testing.T, id, tmpl, text, dem string) {
		p := hostilePlan(id, tmpl, text, dem)
		if id == dem+"-os" {
			return // the checked node is the upgraded one: Explain tells of the step
		}
		for form, out := range renderings(t, p) {
			checkRendering(t, form, out)
		}
	})
}

func TestRequestStringQuotesHostileIDs(t *testing.T) {
	r := upgrade.Request{Application: "x\nFAKE", Replaces: "shop_app", Template: topology.Template{ID: "\x1b[2J", Version: v("2.0.0")}}
	assert.Equal(t, `"x\nFAKE": shop_app → "\x1b[2J"@2.0.0`, r.String())
	assert.Equal(t, "shop: shop_app → shop_app@2.0.0", shop2().String())
}
