package topology_test

import (
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/topology"
)

// Each refusal of Validate names the item and says what to do: an
// operator who forgot an ID or a type, or pasted a template or an
// application twice, reads what to write, not only what is wrong.
func TestHunt16ValidateRefusalsSayWhatToDo(t *testing.T) {
	tests := []struct {
		name string
		apps []topology.Application
		want string // the whole problem after "invalid topology: "
	}{
		{"application without ID", []topology.Application{app("", tmpls(tmpl("t")))},
			`application #1: invalid topology: no ID: give the application an ID, such as shop`},
		{"template without ID", []topology.Application{app("shop", tmpls(tmpl("")))},
			`application "shop" template #1: invalid topology: no ID: give the template an ID, such as tomcat_server, and name it so in the nodes deployed from it`},
		{"node without ID", []topology.Application{app("shop", tmpls(tmpl("t")), node("", "t"))},
			`application "shop" node #1: invalid topology: no ID: give the node an ID, such as tomcat-1`},
		{"application twice", []topology.Application{app("shop", tmpls(tmpl("t1"))), app("shop", tmpls(tmpl("t2")))},
			`application "shop": invalid topology: duplicate application ID: give each application one entry, holding all its templates and nodes, or give the other application its own ID`},
		{"template twice in one application", []topology.Application{app("shop", tmpls(tmpl("tomcat_server"), tmpl("tomcat_server")))},
			`template "tomcat_server": invalid topology: duplicate template ID (listed twice in application "shop"): give each template once`},
		{"template in two applications", []topology.Application{app("shop", tmpls(tmpl("tomcat_server"))), app("billing", tmpls(tmpl("tomcat_server")))},
			`template "tomcat_server": invalid topology: duplicate template ID (also in application "shop"): a template belongs to one application: ` +
				`list it there only; a template of another application that needs it names it in its requirements`},
		{"template without type", []topology.Application{app("shop", tmpls(topology.Template{ID: "tomcat_server", Version: v("8.5.100")}))},
			`template "tomcat_server": invalid topology: no type: give the platform type it deploys, such as tomcat, as packages name it`},
		{"node without template", []topology.Application{app("shop", tmpls(tmpl("t")), node("tomcat-1", ""))},
			`node "tomcat-1": invalid topology: no template: give the ID of the template the node is deployed from`},
		{"cycle", []topology.Application{app("shop", tmpls(tmpl("t")), node("a", "t", hostedOn("b")), node("b", "t", dependsOn("a")))},
			`node "a": invalid topology: relationship cycle: a → b → a: a node cannot run on or need itself: remove or reverse one of these relationships`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := topology.Validate(tt.apps...)
			require.ErrorIs(t, err, topology.ErrInvalid)
			assert.Equal(t, "topology: "+tt.want, err.Error())
		})
	}
}

// A key misspelt in a hand-written JSON file is found by its line, as
// YAML's is, and the error lists the keys that belong there. The JSON
// decoder tells no place for an unknown field; a key known elsewhere in
// the file ("version", which a relationship does not take) is found
// where it is unknown, not where it first appears.
func TestHunt16UnknownFieldSaysWhereAndWhichKeys(t *testing.T) {
	const nodeKeys = `the keys here are "id", "template", "version" and "relationships"`
	jsonFile := func(node, rel string) string {
		return `{
  "schema": "stackup.topology/v1",
  "applications": [{
    "id": "shop",
    "templates": [
      {"id": "os", "type": "ubuntu", "version": "22.04"}
    ],
    "nodes": [
      {"id": "vm-1", "template": "os"},
      {"id": "vm-2",
       "template": "os",
       ` + node + `: "os",
       "relationships": [{"relation": "depends_on", ` + rel + `: "vm-1"}]}
    ]
  }]
}`
	}
	tests := []struct {
		name, file string
		read       func(io.Reader) (*topology.Memory, error)
		want       []string
	}{
		{"json misspelt node key", jsonFile(`"tempalte"`, `"target"`), topology.ReadJSON,
			[]string{"line 12, column 8", `unknown field "tempalte"`, nodeKeys}},
		{"json key of another object", jsonFile(`"version"`, `"Version"`), topology.ReadJSON,
			[]string{"line 13, column 53", `unknown field "Version"`, `the keys here are "relation" and "target"`}},
		{"yaml misspelt node key", "schema: stackup.topology/v1\napplications:\n  - id: shop\n    templates:\n      - {id: os, type: ubuntu, version: 22.04}\n" +
			"    nodes:\n      - id: vm-1\n        tempalte: os\n", topology.ReadYAML,
			[]string{"line 8", `unknown field "tempalte"`, nodeKeys}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := tt.read(strings.NewReader(tt.file))
			require.ErrorIs(t, err, topology.ErrInvalid)
			assert.Nil(t, m)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

// A YAML file holding a control character (pasted from a terminal) or a
// byte that is not UTF-8 (saved as Latin-1 by an old editor) is refused
// with the line and column of the character and what to do; yaml.v3 says
// only "control characters are not allowed" or "invalid trailing UTF-8
// octet", without a place.
func TestHunt16YAMLBadCharacterSaysWhere(t *testing.T) {
	const file = "schema: stackup.topology/v1\napplications:\n  - id: shop\n    templates:\n      - {id: os, type: ubuntu, version: 22.04}\n" +
		"    nodes:\n      - id: vm-1\n        template: os # %s\n"
	tests := []struct {
		name, bad string
		want      []string
	}{
		{"control character", "\x01", []string{"line 8, column 24", "control character U+0001", "remove it"}},
		{"delete", "ab\x7f", []string{"line 8, column 26", "control character U+007F"}},
		{"latin-1", "caf\xe9", []string{"line 8, column 27", "byte 0xE9 is not UTF-8", "save the file as UTF-8"}},
		{"cut short", "\xe2\x82", []string{"line 8, column 24", "byte 0xE2 is not UTF-8"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := topology.ReadYAML(strings.NewReader(fmt.Sprintf(file, tt.bad)))
			require.ErrorIs(t, err, topology.ErrInvalid)
			assert.Nil(t, m)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

// A JSON topology file cut short (an interrupted copy, a "}" left out)
// says so, and where the data ends, not only "unexpected EOF".
func TestHunt16JSONCutShortSaysSo(t *testing.T) {
	file := "{\n  \"schema\": \"stackup.topology/v1\",\n  \"applications\": [{\"id\": \"shop\", \"templates\": []"
	m, err := topology.ReadJSON(strings.NewReader(file))
	require.ErrorIs(t, err, topology.ErrInvalid)
	assert.Nil(t, m)
	assert.Contains(t, err.Error(), `line 3, column 50: invalid topology: unexpected EOF: the JSON ends before every object and list it opens is closed: `+
		`was the file cut short, or a "}" or "]" left out?`)
}

// A key misspelt in a TOSCA service template ("requirments") was refused
// as a construct stackup does not support, with the advice to give a copy
// without it: an operator who followed it would drop the node's
// requirements, and plan without them. A key a letter or two from one
// stackup reads is now called a likely misspelling of it; a real TOSCA
// construct that stackup does not read keeps the old advice.
func TestHunt16TOSCAMisspeltKeySaysSo(t *testing.T) {
	tests := []struct {
		name, old, new string
		want, not      []string
	}{
		{"requirements", "      requirements:\n        - host: web_server_os", "      requirments:\n        - host: web_server_os",
			[]string{"line 57", `unknown key "requirments": a misspelling of "requirements"? correct it`}, []string{"without"}},
		{"type", "      type: example.nodes.OpenJDK", "      tpye: example.nodes.OpenJDK",
			[]string{`unknown key "tpye": a misspelling of "type"? correct it`}, []string{"without"}},
		{"node_templates", "  node_templates:", "  node_template:",
			[]string{`a misspelling of "node_templates"?`}, nil},
		{"relationship", "            relationship: tosca.relationships.HostedOn", "            relationshp: tosca.relationships.HostedOn",
			[]string{`a misspelling of "relationship"?`}, nil},
		{"a construct not read", "topology_template:", "imports: [other.yaml]\ntopology_template:",
			[]string{`not supported`, `without "imports"`}, []string{"misspelling"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			service := editFile(t, toscaShop, edit{tt.old, tt.new})
			m, err := readTOSCA(service, readTestdata(t, toscaShopInstances))
			require.ErrorIs(t, err, topology.ErrInvalid)
			assert.Nil(t, m)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
			for _, w := range tt.not {
				assert.NotContains(t, err.Error(), w)
			}
		})
	}
}

// An instance file's relationship that names a requirement its node's
// template does not have says which it has; one whose node names a
// template the service template does not hold says that, not that the
// template lacks the requirement.
func TestHunt16TOSCAUnknownRequirementSaysWhichThereAre(t *testing.T) {
	service := readTestdata(t, toscaShop)
	tests := []struct {
		name, old, new, want string
	}{
		{"requirement misspelt", "{requirement: host, target: java-1}", "{requirement: hots, target: java-1}",
			`template "tomcat_server" has no requirement "hots": name one it has: "host"`},
		{"several", "- {requirement: host, target: tomcat-1}", "- {requirement: hosting, target: tomcat-1}",
			`template "shop_app" has no requirement "hosting": name one it has: "host" or "database"`},
		{"none", "{requirement: host, target: vm-1}", "{requirement: host, target: vm-1}", ""},
		{"unknown template", "{id: java-1, template: java_runtime,", "{id: java-1, template: java_runtme,",
			`template "java_runtme" is not in the service template: name one of its node templates`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			instances := editFile(t, toscaShopInstances, edit{tt.old, tt.new})
			m, err := readTOSCA(service, instances)
			if tt.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, topology.ErrInvalid)
			assert.Nil(t, m)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

// A tab that indents the first line after a blank line or a comment is
// named too: yaml.v3 names the last line of content before it, and the
// hint looked at that line and the next only, so that the error said
// "found a tab character that violates indentation" on a line without one.
func TestHunt16YAMLTabAfterBlankLine(t *testing.T) {
	const file = "schema: stackup.topology/v1\napplications:\n  - id: shop\n    templates:\n      - id: os\n        type: ubuntu\n        version: 1.0\n%s" +
		"\tnodes:\n      - id: vm-1\n        template: os\n"
	for name, between := range map[string]string{"blank line": "\n", "comment": "\n# the nodes\n  \n"} {
		t.Run(name, func(t *testing.T) {
			in := fmt.Sprintf(file, between)
			line := strings.Count(in[:strings.Index(in, "\tnodes")], "\n") + 1
			_, err := topology.ReadYAML(strings.NewReader(in))
			require.ErrorIs(t, err, topology.ErrInvalid)
			assert.Contains(t, err.Error(), fmt.Sprintf("line %d is indented with a tab, and YAML indents with spaces only: replace the tab with spaces", line))
		})
	}
}

// A relationship with no relation, or one stackup does not know, names
// its target (a node may have several) and says what to give.
func TestHunt16RelationshipWithoutRelationSaysWhatToGive(t *testing.T) {
	tests := []struct {
		name string
		rel  topology.Relation
		want string
	}{
		{"none", "", `node "tomcat-1": invalid topology: relationship to "java-1" names no relation: ` +
			`give "hosted_on" (the node runs on it) or "depends_on" (the node needs it)`},
		{"unknown", "runs_on", `node "tomcat-1": invalid topology: relationship to "java-1": unknown relation "runs_on": ` +
			`give "hosted_on" (the node runs on it) or "depends_on" (the node needs it)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := topology.Validate(app("shop", tmpls(tmpl("t")), node("java-1", "t"),
				node("tomcat-1", "t", topology.Relationship{Relation: tt.rel, Target: "java-1"})))
			require.ErrorIs(t, err, topology.ErrInvalid)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

// A file beyond MaxFileSize says what the limit is and what to do for a
// topology that large, not only that it is too large.
func TestHunt16FileTooLargeSaysWhatToDo(t *testing.T) {
	if testing.Short() {
		t.Skip("reads 64 MiB")
	}
	_, err := topology.ReadYAML(spaces{})
	require.ErrorIs(t, err, topology.ErrInvalid)
	assert.Contains(t, err.Error(), fmt.Sprintf("larger than %d bytes (topology.MaxFileSize): ", topology.MaxFileSize)+
		"if it is a topology, serve one that large through a topology.Topology over the inventory that holds it, or build it with topology.New")
}

// A tab or a line break typed or pasted inside a JSON string is refused
// with what to write instead; encoding/json says only "invalid character
// '\t' in string literal".
func TestHunt16JSONControlCharacterInStringSaysWhatToWrite(t *testing.T) {
	for name, c := range map[string]string{"tab": "\t", "line break": "\n", "carriage return": "\r"} {
		t.Run(name, func(t *testing.T) {
			file := "{\n  \"schema\": \"stackup.topology/v1\",\n  \"applications\": [{\"id\": \"sh" + c + "op\"}]\n}\n"
			_, err := topology.ReadJSON(strings.NewReader(file))
			require.ErrorIs(t, err, topology.ErrInvalid)
			assert.Contains(t, err.Error(), "line 3, column 30")
			assert.Contains(t, err.Error(), `: a JSON string holds no control character: remove it, or write it as an escape, such as "\t" for a tab or "\n" for a line break`)
		})
	}
}
