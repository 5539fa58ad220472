package topology_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/topology"
)

// hostileIDs are identifiers an attacker might put in a topology: shell
// substitution, quotes, a forged line, a terminal escape, an option, a
// lookalike of "tomcat" with a Cyrillic o, and one byte too many. The
// empty identifier is hostile too, and refused, but as missing.
var hostileIDs = map[string]string{
	"shell":      "tomcat-1$(touch pwned)",
	"quote":      "a'b",
	"backquote":  "a`id`",
	"newline":    "x\nFAKE LINE",
	"ansi":       "\x1b[2J",
	"option":     "-rf",
	"lookalike":  "t\u043emcat",
	"too long":   strings.Repeat("a", topology.MaxIDLength+1),
	"separator":  "a\u2028b",
	"bad utf8":   "a\xffb",
	"backslash":  `a\b`,
	"space":      "a b",
	"percent":    "a%0a",
	"semicolon":  "a;b",
	"right-left": "a\u202eb",
}

// idField is where in a topology an identifier sits, with the kind an
// *IDError gives it.
type idField struct {
	name string
	kind string
	set  func(apps []topology.Application, id string)
}

var idFields = []idField{
	{"application ID", "application", func(a []topology.Application, id string) { a[0].ID = topology.AppID(id) }},
	{"template ID", "template", func(a []topology.Application, id string) { a[0].Templates[1].ID = topology.TemplateID(id) }},
	{"template type", "type", func(a []topology.Application, id string) { a[0].Templates[1].Type = id }},
	{"requirement name", "requirement name", func(a []topology.Application, id string) { a[0].Templates[1].Requirements[0].Name = id }},
	{"requirement template", "template", func(a []topology.Application, id string) {
		a[0].Templates[1].Requirements[0].Template = topology.TemplateID(id)
	}},
	{"node ID", "node", func(a []topology.Application, id string) { a[0].Nodes[1].ID = topology.NodeID(id) }},
	{"node template", "template", func(a []topology.Application, id string) { a[0].Nodes[1].Template = topology.TemplateID(id) }},
	{"relationship target", "node", func(a []topology.Application, id string) {
		a[0].Nodes[1].Relationships[0].Target = topology.NodeID(id)
	}},
}

// idBase is a small valid topology: web-1 (web) hosted on vm-1 (os).
func idBase() []topology.Application {
	return []topology.Application{app("shop",
		tmpls(tmpl("os"), tmpl("web", topology.Requirement{Name: "host", Template: "os", Constraint: c(">=1")})),
		node("vm-1", "os"),
		node("web-1", "web", hostedOn("vm-1")),
	)}
}

// fileOf writes apps as a topology file (JSON, which is YAML too), without
// the validation WriteJSON would need.
func fileOf(t *testing.T, apps []topology.Application) []byte {
	t.Helper()
	type obj = map[string]any
	var fa []obj
	for _, a := range apps {
		var ts, ns []obj
		for _, tm := range a.Templates {
			var rs []obj
			for _, r := range tm.Requirements {
				rs = append(rs, obj{"name": r.Name, "template": r.Template, "constraint": r.Constraint.String()})
			}
			ts = append(ts, obj{"id": tm.ID, "type": tm.Type, "version": tm.Version.String(), "requirements": rs})
		}
		for _, n := range a.Nodes {
			var rs []obj
			for _, r := range n.Relationships {
				rs = append(rs, obj{"relation": r.Relation, "target": r.Target})
			}
			ns = append(ns, obj{"id": n.ID, "template": n.Template, "relationships": rs})
		}
		fa = append(fa, obj{"id": a.ID, "templates": ts, "nodes": ns})
	}
	data, err := json.MarshalIndent(obj{"schema": topology.Schema, "applications": fa}, "", "  ")
	require.NoError(t, err)
	return data
}

// yamlOf writes apps as a topology file in block-style YAML, every string
// a double-quoted scalar (JSON's escapes are YAML's).
func yamlOf(t *testing.T, apps []topology.Application) []byte {
	t.Helper()
	q := func(s any) string {
		data, err := json.Marshal(s)
		require.NoError(t, err)
		return string(data)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "schema: %s\napplications:\n", topology.Schema)
	for _, a := range apps {
		fmt.Fprintf(&b, "  - id: %s\n    templates:\n", q(a.ID))
		for _, tm := range a.Templates {
			fmt.Fprintf(&b, "      - id: %s\n        type: %s\n        version: %s\n        requirements:\n", q(tm.ID), q(tm.Type), q(tm.Version.String()))
			for _, r := range tm.Requirements {
				fmt.Fprintf(&b, "          - name: %s\n            template: %s\n            constraint: %s\n", q(r.Name), q(r.Template), q(r.Constraint.String()))
			}
		}
		b.WriteString("    nodes:\n")
		for _, n := range a.Nodes {
			fmt.Fprintf(&b, "      - id: %s\n        template: %s\n        relationships:\n", q(n.ID), q(n.Template))
			for _, r := range n.Relationships {
				fmt.Fprintf(&b, "          - relation: %s\n            target: %s\n", q(r.Relation), q(r.Target))
			}
		}
	}
	return []byte(b.String())
}

// checkIDRefusal asserts that a reader refused a hostile identifier: no
// topology, an error matching ErrInvalid and ErrInvalidID in a
// *topology.Error, an *IDError of the kind and identifier given, and a
// message on one line with no control character in it.
func checkIDRefusal(t *testing.T, m *topology.Memory, err error, kind, id string) {
	t.Helper()
	assert.Nil(t, m, "nothing is loaded")
	require.Error(t, err)
	assert.ErrorIs(t, err, topology.ErrInvalid)
	assert.ErrorIs(t, err, topology.ErrInvalidID)
	var te *topology.Error
	assert.ErrorAs(t, err, &te)
	var found bool
	for _, e := range flatten(err) {
		var idErr *topology.IDError
		if errors.As(e, &idErr) && idErr.Kind == kind && idErr.ID == id {
			found = true
		}
	}
	assert.True(t, found, "no *IDError for %s %q in %v", kind, id, err)
	checkLines(t, err)
}

// checkLines asserts that the message of every *topology.Error in err is
// one line (a *multierror.Error puts each on a line of its own).
func checkLines(t *testing.T, err error) {
	t.Helper()
	for _, e := range flatten(err) {
		if te, ok := e.(*topology.Error); ok {
			checkOneLine(t, te.Error())
		}
	}
}

// checkOneLine asserts that msg holds no control character, line or
// paragraph separator or bidirectional override that could forge a line
// or reach a terminal.
func checkOneLine(t *testing.T, msg string) {
	t.Helper()
	for _, r := range msg {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || r == '\u202e' {
			assert.Fail(t, "raw control character in message", "%U in %q", r, msg)
			return
		}
	}
}

// flatten lists err and every error it wraps.
func flatten(err error) []error {
	var all []error
	var walk func(error)
	walk = func(e error) {
		if e == nil {
			return
		}
		all = append(all, e)
		switch u := e.(type) {
		case interface{ Unwrap() []error }:
			for _, inner := range u.Unwrap() {
				walk(inner)
			}
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		}
	}
	walk(err)
	return all
}

func TestHostileIDsRefused(t *testing.T) {
	readers := []struct {
		name string
		text bool // reads text, in which invalid UTF-8 arrives as U+FFFD
		read func(t *testing.T, apps []topology.Application) (*topology.Memory, error)
	}{
		{"New", false, func(t *testing.T, apps []topology.Application) (*topology.Memory, error) {
			return topology.New(apps...)
		}},
		{"Builder", false, func(t *testing.T, apps []topology.Application) (*topology.Memory, error) {
			var b topology.Builder
			for _, a := range apps {
				for _, tm := range a.Templates {
					b.Template(a.ID, tm)
				}
				for _, n := range a.Nodes {
					b.Node(a.ID, n)
				}
			}
			return b.Build()
		}},
		{"ReadJSON", true, func(t *testing.T, apps []topology.Application) (*topology.Memory, error) {
			return topology.ReadJSON(strings.NewReader(string(fileOf(t, apps))))
		}},
		{"ReadYAML", true, func(t *testing.T, apps []topology.Application) (*topology.Memory, error) {
			return topology.ReadYAML(strings.NewReader(string(yamlOf(t, apps))))
		}},
		{"Load", true, func(t *testing.T, apps []topology.Application) (*topology.Memory, error) {
			path := filepath.Join(t.TempDir(), "topology.yaml")
			require.NoError(t, os.WriteFile(path, yamlOf(t, apps), 0o600))
			m, err := topology.Load(path)
			var te *topology.Error
			if err != nil && assert.ErrorAs(t, err, &te) {
				assert.Equal(t, path, te.File, "the error names the file")
			}
			return m, err
		}},
	}
	// The base topology is valid on every path: what is refused below is
	// the identifier.
	for _, r := range readers {
		m, err := r.read(t, idBase())
		require.NoError(t, err, r.name)
		require.NotNil(t, m)
	}
	for _, r := range readers {
		for _, f := range idFields {
			for name, id := range hostileIDs {
				t.Run(r.name+"/"+f.name+"/"+name, func(t *testing.T) {
					apps := idBase()
					f.set(apps, id)
					m, err := r.read(t, apps)
					if r.text {
						id = strings.ToValidUTF8(id, "\uFFFD")
					}
					checkIDRefusal(t, m, err, f.kind, id)
				})
			}
			if f.name == "requirement name" {
				continue // optional: empty is no name
			}
			t.Run(r.name+"/"+f.name+"/empty", func(t *testing.T) {
				apps := idBase()
				f.set(apps, "")
				m, err := r.read(t, apps)
				assert.Nil(t, m)
				assert.ErrorIs(t, err, topology.ErrInvalid)
				checkLines(t, err)
			})
		}
	}
}

// TestHostileIDsReadFilesNameTheLine checks that the file readers name the
// line of a hostile identifier.
func TestHostileIDsReadFilesNameTheLine(t *testing.T) {
	apps := idBase()
	apps[0].Nodes[1].Relationships[0].Target = "vm-1$(touch pwned)"
	yml := yamlOf(t, apps)
	m, err := topology.ReadYAML(strings.NewReader(string(yml)))
	checkIDRefusal(t, m, err, "node", "vm-1$(touch pwned)")
	line := lineOf(t, string(yml), `"vm-1$(touch pwned)"`)
	te := checkError(t, err, topology.ErrInvalidID, fmt.Sprintf("line %d: application #1 node #2 relationship #1", line))
	assert.Contains(t, te.Error(), `node "vm-1$(touch pwned)": character '$' at byte 4`)
}

// toscaIDService is a TOSCA service template with its instance file; %[n]s
// mark where the hostile identifier goes, each a double-quoted scalar.
const toscaIDService = `tosca_definitions_version: tosca_simple_yaml_1_3
topology_template:
  node_templates:
    %[1]s:
      type: %[2]s
      properties: { version: 1.0.0 }
      requirements:
        - %[3]s: { node: %[4]s }
    os:
      type: example.OS
      properties: { version: 1.0.0 }
`

const toscaIDInstances = `schema: stackup.instances/v1
application: %[1]s
nodes:
  - { id: vm-1, template: os }
  - { id: %[2]s, template: %[3]s, relationships: [{ requirement: %[4]s, target: %[5]s }] }
`

func TestHostileIDsReadTOSCA(t *testing.T) {
	q := func(s string) string {
		data, err := json.Marshal(s)
		require.NoError(t, err)
		return string(data)
	}
	service := func(slot int, id string) string {
		args := []any{q("web"), q("example.Web"), q("host"), q("os")}
		args[slot] = q(id)
		return fmt.Sprintf(toscaIDService, args...)
	}
	instances := func(slot int, id string) string {
		args := []any{q("shop"), q("web-1"), q("web"), q("host"), q("vm-1")}
		if slot >= 0 {
			args[slot] = q(id)
		}
		return fmt.Sprintf(toscaIDInstances, args...)
	}
	m, err := readTOSCA(service(0, "web"), instances(-1, ""))
	require.NoError(t, err, "the base template and instances are valid")
	require.NotNil(t, m)

	serviceSlots := []struct{ name, kind string }{
		{"node template name", "template"},
		{"type", "type"},
		{"requirement name", "requirement name"},
		{"requirement target", "template"},
	}
	instanceSlots := []struct{ name, kind string }{
		{"application", "application"},
		{"node ID", "node"},
		{"node template", "template"},
		{"relationship requirement", "requirement name"},
		{"relationship target", "node"},
	}
	for name, id := range hostileIDs {
		want := strings.ToValidUTF8(id, "\uFFFD") // JSON's quoting turns invalid UTF-8 into U+FFFD
		for i, s := range serviceSlots {
			t.Run("service/"+s.name+"/"+name, func(t *testing.T) {
				text := service(i, id)
				m, err := readTOSCA(text, instances(-1, ""))
				checkIDRefusal(t, m, err, s.kind, want)
				line := lineOf(t, text, q(id))
				assert.Contains(t, err.Error(), fmt.Sprintf("line %d: ", line), "the error names the line")
			})
		}
		for i, s := range instanceSlots {
			t.Run("instances/"+s.name+"/"+name, func(t *testing.T) {
				text := instances(i, id)
				m, err := readTOSCA(service(0, "web"), text)
				checkIDRefusal(t, m, err, s.kind, want)
				line := lineOf(t, text, q(id))
				assert.Contains(t, err.Error(), fmt.Sprintf("instance file line %d: ", line), "the error names the line")
			})
		}
	}
}

// TestErrorMessageOneLine checks that a *topology.Error escapes what it
// quotes from a file: a hostile key or value cannot forge a line.
func TestErrorMessageOneLine(t *testing.T) {
	for name, id := range hostileIDs {
		t.Run(name, func(t *testing.T) {
			// An unsupported key is named raw in the construct.
			text := fmt.Sprintf("tosca_definitions_version: tosca_simple_yaml_1_3\n%s: 1\n", func() string {
				data, _ := json.Marshal(id)
				return string(data)
			}())
			m, err := readTOSCA(text, noInstances)
			assert.Nil(t, m)
			require.Error(t, err)
			checkLines(t, err)
			assert.NotContains(t, err.Error(), "\nFAKE LINE")
		})
	}
}

// TestLongIDMessageBounded: an identifier of a megabyte is refused with a
// message that shows its first bytes and its length, not the megabyte,
// however it is read.
func TestLongIDMessageBounded(t *testing.T) {
	long := "x" + strings.Repeat("\xff", 1<<20)
	err := topology.CheckID("node", long)
	var ie *topology.IDError
	require.ErrorAs(t, err, &ie)
	assert.Equal(t, long, ie.ID, "the error keeps the identifier as given")
	assert.Less(t, len(err.Error()), 1<<10, "the message is short")
	assert.Contains(t, err.Error(), `node "x\xff\xff`)
	assert.Contains(t, err.Error(), `…": 1048577 bytes long`)

	// One of the longest length with a bad character is shown whole.
	bad := strings.Repeat("a", topology.MaxIDLength-1) + "$"
	assert.Contains(t, topology.CheckID("node", bad).Error(), strconv.Quote(bad))
	over := strings.Repeat("a", topology.MaxIDLength+1)
	assert.Contains(t, topology.CheckID("node", over).Error(), strconv.Quote(over[:64]+"…")+": 254 bytes long")

	apps := idBase()
	apps[0].Nodes[1].ID = topology.NodeID(strings.Repeat("n", 1<<20))
	_, err = topology.ReadJSON(bytes.NewReader(fileOf(t, apps)))
	require.ErrorIs(t, err, topology.ErrInvalidID)
	assert.Less(t, len(err.Error()), 1<<10, "the message is short: %.300s", err)
	assert.Contains(t, err.Error(), "1048576 bytes long")
}
