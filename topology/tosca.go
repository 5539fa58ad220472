package topology

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/stackup/stackup/version"
)

// InstancesSchema is the value of the "schema" field of an instance file.
const InstancesSchema = "stackup.instances/v1"

// ReadTOSCA reads a deployment described by a TOSCA Simple Profile (1.0 to
// 1.3) service template and an instance file, and returns it validated as
// New does. The service template becomes one application.
//
// From the service template it reads topology_template.node_templates:
// each node template's type (which packages are looked up by), its version
// (the property "version" or "component_version", a value or a get_input
// of an input with a value or a default, the value winning), and its
// requirements. A requirement names
// its target node template, either alone ("host: tomcat_server") or as
// "node:" in a mapping, whose relationship may be tosca.relationships.
// HostedOn, DependsOn or ConnectsTo (the last read as DependsOn), named
// alone or as the type of a mapping whose properties and interfaces are
// ignored; without
// one, "host" means hosted_on and any other name depends_on. A version
// constraint on the target is written as a node_filter on its version
// property, with the operators equal, greater_than, greater_or_equal,
// less_than, less_or_equal, in_range and valid_values, for example:
//
//	requirements:
//	  - host:
//	      node: tomcat_server
//	      node_filter:
//	        properties:
//	          - component_version: { in_range: [ 9.0, 10.99 ] }
//
// Descriptions, metadata, namespaces, type definitions, outputs and the
// attributes, capabilities, interfaces and artifacts of node templates are
// ignored, as they do not bear on versions. Anything else — imports, substitution
// mappings, groups, policies, workflows, relationship templates, directives,
// node_filter on capabilities, other constraint operators, other functions,
// occurrences — is refused with an error naming the construct and its line
// and saying what to do, never dropped in silence.
//
// Anchors and aliases, in the service template (typically defined under
// dsl_definitions) and in the instance file, are followed within the
// budget of [ReadYAML]; merge keys (<<), aliases used as keys and keys
// that are not single values are refused in the service template. A
// node_filter whose constraint would be longer than [version.MaxLength]
// is refused before it is built: each valid_values entry makes one
// alternative repeating every other clause.
//
// The instance file is YAML:
//
//	schema: stackup.instances/v1
//	application: shop
//	nodes:
//	  - id: tomcat-1
//	    template: tomcat_server
//	    version: 8.5.100            # optional: the template's version; 0.0.0 only if the template's is
//	    relationships:
//	      - { requirement: host, target: java-1 }
//
// A relationship names the requirement of the node's template it fulfils,
// or its relation ("relation: hosted_on") directly.
func ReadTOSCA(service, instances io.Reader) (*Memory, error) {
	sdata, err := readCapped(service)
	if err != nil {
		return nil, err
	}
	idata, err := readCapped(instances)
	if err != nil {
		return nil, err
	}
	return readTOSCA(sdata, idata, "", "")
}

// readTOSCA reads a service template and an instance file, naming their
// paths, when given, in errors.
func readTOSCA(service, instances []byte, servicePath, instancesPath string) (*Memory, error) {
	templates, err := readServiceTemplate(service)
	if err != nil {
		return nil, inFile(err, servicePath)
	}
	app, err := readInstances(instances, templates)
	if err != nil {
		return nil, inFile(err, instancesPath)
	}
	m, err := New(*app)
	return m, inFile(err, instancesPath)
}

// toscaError names the line and construct at fault.
func toscaError(n *yaml.Node, construct string, format string, args ...any) error {
	// A construct is made of keys, which a file may make of any length.
	return &Error{Item: fmt.Sprintf("line %d: %s", n.Line, shownID(construct, 512)), Err: fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)}
}

// notSupported refuses key, a construct that ReadTOSCA does not read,
// saying what to do: it refuses such a construct rather than ignore it,
// as one may change a node template's version or requirements (an import
// may hold templates, a substitution or a copy makes one of another).
// A key a letter or two from one that stackup reads, such as
// "requirments", is called a likely misspelling of it instead: leaving it
// out, as the advice for a construct would have it, would drop what it
// holds.
func notSupported(key *yaml.Node, construct string) error {
	if meant := misspelt(key.Value, toscaKeys); meant != "" {
		return toscaError(key, construct, "unknown key %s: a misspelling of %q? correct it", Quote(key.Value), meant)
	}
	return toscaError(key, construct, "not supported: stackup reads the types, versions and requirements of node templates only; "+
		"give it a copy of the service template without %s, with each node template written out in full", Quote(key.Value))
}

// toscaKeys are the keys of TOSCA constructs that ReadTOSCA reads or
// skips, for misspelt.
var toscaKeys = []string{"tosca_definitions_version", "topology_template", "description", "metadata", "namespace", "dsl_definitions",
	"node_types", "capability_types", "relationship_types", "data_types", "artifact_types", "interface_types", "policy_types",
	"group_types", "repositories", "node_templates", "inputs", "outputs", "type", "properties", "requirements", "attributes",
	"capabilities", "interfaces", "artifacts", "node", "relationship", "node_filter", "capability"}

// misspelt returns the one of keys that key, not one of them, is one
// edit (two for a key of more than five bytes) from, without regard to
// case, counting a swap of two letters as one edit; or "".
func misspelt(key string, keys []string) string {
	if slices.Contains(keys, key) {
		return ""
	}
	allowed := 1
	if len(key) > 5 {
		allowed = 2
	}
	for _, k := range keys {
		if editDistance(strings.ToLower(key), k) <= allowed {
			return k
		}
	}
	return ""
}

// editDistance returns the optimal string alignment distance of a and b:
// the fewest insertions, deletions, substitutions and swaps of adjacent
// bytes that make one the other. Keys are short.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return max(len(a), len(b))
	}
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

// mapping returns the key and value nodes of mapping n, or an error. It
// follows aliases of values, and refuses merge keys and duplicate keys,
// which YAML would otherwise resolve in silence, and keys that are aliases
// or not scalars, which it would read otherwise than their text.
func mapping(n *yaml.Node, construct string) ([][2]*yaml.Node, error) {
	n = resolve(n)
	if n.Kind != yaml.MappingNode {
		return nil, toscaError(n, construct, "want a mapping")
	}
	pairs := make([][2]*yaml.Node, 0, len(n.Content)/2)
	lines := make(map[string]int, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolve(n.Content[i+1])
		switch where := cmp.Or(construct, "service template"); {
		case k.Kind == yaml.AliasNode:
			// Its Value is the anchor's name, not the key YAML reads.
			return nil, toscaError(k, where, "an alias (*%s) as a key is not supported; write the key out", k.Value)
		case k.Kind != yaml.ScalarNode:
			return nil, toscaError(k, where, "a key that is not a single value is not supported; write the key as plain text")
		case k.Value == "<<":
			return nil, toscaError(k, where, "merge keys (<<) are not supported; write the keys out in the mapping")
		}
		if line, dup := lines[k.Value]; dup {
			return nil, toscaError(k, join(construct, k.Value), "duplicate key (also on line %d): give each key once; remove one of the two, or merge them", line)
		}
		lines[k.Value] = k.Line
		pairs = append(pairs, [2]*yaml.Node{k, v})
	}
	return pairs, nil
}

// join names a key within a construct; the top level has no name.
func join(construct, key string) string {
	if construct == "" {
		return key
	}
	return construct + "." + key
}

// resolve follows an alias to the node it names.
func resolve(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// scalarValue returns the text of a single value, or "" for one that YAML
// reads as null ("null", "~", nothing), as decoding into a string does.
func scalarValue(n *yaml.Node, construct string) (string, error) {
	n = resolve(n)
	if n.Kind != yaml.ScalarNode {
		if fn := toscaFunction(n); fn != "" {
			return "", toscaError(n, construct, "want a single value, not the function %s, which is read only for a node template's version: write the value itself", Quote(fn))
		}
		return "", toscaError(n, construct, "want a single value")
	}
	if n.ShortTag() == "!!null" {
		return "", nil
	}
	return n.Value, nil
}

// toscaFunction returns the name of the TOSCA function (get_input,
// concat, …) that n calls, a mapping of that one key, or "".
func toscaFunction(n *yaml.Node) string {
	if n.Kind != yaml.MappingNode || len(n.Content) != 2 {
		return ""
	}
	switch name := n.Content[0].Value; {
	case strings.HasPrefix(name, "get_"), name == "concat", name == "join", name == "token":
		return name
	}
	return ""
}

type toscaDoc struct {
	inputs    map[string][2]*yaml.Node // input name → its value's key and value: "value", or else "default"
	templates []Template
	targets   []target // of requirements, checked once all templates are read
}

// target is a node template a requirement names, and where.
type target struct {
	name TemplateID
	node *yaml.Node
	at   string
}

func readServiceTemplate(data []byte) ([]Template, error) {
	data = yaml12(data)
	root, err := parseYAML(data, `a TOSCA service template: "tosca_definitions_version" and "topology_template" with its "node_templates"`)
	if err != nil {
		return nil, err
	}
	pairs, err := mapping(root, "")
	if err != nil {
		return nil, err
	}
	if err := notServiceTemplate(pairs); err != nil {
		return nil, err
	}
	var topo *yaml.Node
	versionSeen := false
	for _, kv := range pairs {
		switch key := kv[0].Value; key {
		case "tosca_definitions_version":
			v, err := scalarValue(kv[1], key)
			if err != nil {
				return nil, err
			}
			if !slices.Contains([]string{"tosca_simple_yaml_1_0", "tosca_simple_yaml_1_1", "tosca_simple_yaml_1_2", "tosca_simple_yaml_1_3"}, v) {
				return nil, toscaError(kv[1], key, "%s is not a TOSCA Simple Profile version from 1.0 to 1.3: "+
					`write the service template in one ("tosca_simple_yaml_1_0" to "tosca_simple_yaml_1_3"), the TOSCA that stackup reads`, Quote(v))
			}
			versionSeen = true
		case "topology_template":
			topo = kv[1]
		case "description", "metadata", "namespace", "dsl_definitions", "node_types", "capability_types", "relationship_types",
			"data_types", "artifact_types", "interface_types", "policy_types", "group_types", "repositories":
			// Definitions and documentation: nothing that bears on versions.
		default:
			return nil, notSupported(kv[0], key)
		}
	}
	if !versionSeen {
		return nil, toscaError(root, "tosca_definitions_version", "missing")
	}
	if topo == nil {
		return nil, toscaError(root, "topology_template", "missing")
	}
	doc := &toscaDoc{inputs: map[string][2]*yaml.Node{}}
	tpairs, err := mapping(topo, "topology_template")
	if err != nil {
		return nil, err
	}
	var nodeTemplates *yaml.Node
	for _, kv := range tpairs {
		switch key := kv[0].Value; key {
		case "node_templates":
			nodeTemplates = kv[1]
		case "inputs":
			if err := doc.readInputs(kv[1]); err != nil {
				return nil, err
			}
		case "description", "outputs":
		default:
			return nil, notSupported(kv[0], "topology_template."+key)
		}
	}
	if nodeTemplates == nil {
		return nil, toscaError(topo, "topology_template.node_templates", "missing")
	}
	npairs, err := mapping(nodeTemplates, "node_templates")
	if err != nil {
		return nil, err
	}
	for _, kv := range npairs {
		if err := CheckID("template", kv[0].Value); err != nil {
			return nil, toscaError(kv[0], "node_templates", "%w", err)
		}
		t, err := doc.readNodeTemplate(kv[0].Value, kv[1])
		if err != nil {
			return nil, err
		}
		doc.templates = append(doc.templates, t)
	}
	names := make(map[TemplateID]bool, len(doc.templates))
	ofType := make(map[string]TemplateID, len(doc.templates)) // the first node template of each type
	for _, t := range doc.templates {
		names[t.ID] = true
		if _, ok := ofType[t.Type]; !ok {
			ofType[t.Type] = t.ID
		}
	}
	for _, tg := range doc.targets {
		if names[tg.name] {
			continue
		}
		// TOSCA lets a requirement name a node type, for an orchestrator
		// to pick a template of it; stackup reads what was deployed.
		if t, ok := ofType[string(tg.name)]; ok {
			return nil, toscaError(tg.node, tg.at, "no node template %q: it is the type of node template %q: name the node template, such as \"node: %s\"", tg.name, t, t)
		}
		return nil, toscaError(tg.node, tg.at, "no node template %q: add it to topology_template.node_templates, or name one of the node templates there", tg.name)
	}
	return doc.templates, nil
}

// notServiceTemplate refuses, saying what it is and what to do, one of stackup's
// own files given in place of a service template (its top-level keys
// are pairs): notSupported would advise removing its "schema", which
// would not make it one.
func notServiceTemplate(pairs [][2]*yaml.Node) error {
	for _, kv := range pairs {
		if msg := notKind(kv[0], kv[1], toscaKind); msg != "" {
			return toscaError(kv[0], "schema", "%s", msg)
		}
	}
	return nil
}

func (doc *toscaDoc) readInputs(n *yaml.Node) error {
	pairs, err := mapping(n, "inputs")
	if err != nil {
		return err
	}
	for _, kv := range pairs {
		def, err := mapping(kv[1], "inputs."+kv[0].Value)
		if err != nil {
			return err
		}
		for _, d := range def {
			// A parameter definition may give the value the deployment
			// was given (TOSCA 1.3 "value"), as orchestrators export it:
			// it, not the default, is what the nodes were deployed with.
			switch _, had := doc.inputs[kv[0].Value]; {
			case d[0].Value == "value", d[0].Value == "default" && !had:
				doc.inputs[kv[0].Value] = d
			}
		}
	}
	return nil
}

func (doc *toscaDoc) readNodeTemplate(name string, n *yaml.Node) (Template, error) {
	t := Template{ID: TemplateID(name)}
	where := "node_templates." + name
	pairs, err := mapping(n, where)
	if err != nil {
		return t, err
	}
	var versionNode *yaml.Node
	versionKey := "version"
	for _, kv := range pairs {
		switch key := kv[0].Value; key {
		case "type":
			if t.Type, err = scalarValue(kv[1], where+".type"); err != nil {
				return t, err
			}
			if err := CheckID("type", t.Type); t.Type != "" && err != nil {
				return t, toscaError(kv[1], where+".type", "%w", err)
			}
		case "properties":
			props, err := mapping(kv[1], where+".properties")
			if err != nil {
				return t, err
			}
			for _, p := range props {
				if p[0].Value == "version" || p[0].Value == "component_version" {
					if versionNode != nil {
						return t, toscaError(p[0], where+".properties."+p[0].Value, "a second version property")
					}
					versionNode, versionKey = p[1], p[0].Value
				}
			}
		case "requirements":
			if t.Requirements, err = doc.readRequirements(where, kv[1]); err != nil {
				return t, err
			}
		case "description", "metadata", "attributes", "capabilities", "interfaces", "artifacts":
		default:
			return t, notSupported(kv[0], where+"."+key)
		}
	}
	if t.Type == "" {
		return t, toscaError(n, where, "no type")
	}
	if versionNode == nil {
		return t, toscaError(n, where, "no version: set the property version or component_version")
	}
	text, err := doc.value(versionNode, where+".properties."+versionKey)
	if err != nil {
		return t, err
	}
	if t.Version, err = version.Parse(text); err != nil {
		return t, toscaError(versionNode, where+".properties."+versionKey, "%w", err)
	}
	return t, nil
}

// value returns a scalar's text, resolving get_input to the input's
// default.
func (doc *toscaDoc) value(n *yaml.Node, where string) (string, error) {
	if n.Kind == yaml.ScalarNode {
		return scalarValue(n, where)
	}
	pairs, err := mapping(n, where)
	if err != nil {
		return "", err
	}
	switch {
	case len(pairs) != 1:
		return "", toscaError(n, where, "want one value or one function, got %d keys", len(pairs))
	case pairs[0][0].Value != "get_input":
		return "", toscaError(n, where, "function %s not supported (only get_input)", Quote(pairs[0][0].Value))
	}
	arg := pairs[0][1]
	if arg.Kind != yaml.ScalarNode || arg.Tag == "!!null" || arg.Value == "" {
		return "", toscaError(arg, where, "get_input takes the name of an input, such as { get_input: tomcat_version }; "+
			"reaching into an input's value ([ name, index ]) is not supported: give the version an input of its own")
	}
	input := arg.Value
	in, ok := doc.inputs[input]
	if !ok {
		return "", toscaError(pairs[0][1], where, "get_input of %s, an input with no default or value: give the input the version deployed as its default", Quote(input))
	}
	return scalarValue(in[1], "inputs."+input+"."+in[0].Value)
}

func (doc *toscaDoc) readRequirements(where string, n *yaml.Node) ([]Requirement, error) {
	if n.Kind != yaml.SequenceNode {
		return nil, toscaError(n, where+".requirements", "want a list")
	}
	var reqs []Requirement
	for i, item := range n.Content {
		at := fmt.Sprintf("%s.requirements[%d]", where, i)
		pairs, err := mapping(item, at)
		if err != nil {
			return nil, err
		}
		if len(pairs) != 1 {
			return nil, toscaError(item, at, "want one requirement name")
		}
		name, body := pairs[0][0].Value, pairs[0][1]
		if err := CheckID("requirement name", name); err != nil {
			return nil, toscaError(pairs[0][0], at, "%w", err)
		}
		at += "." + name
		req := Requirement{Name: name, Relation: DependsOn}
		if name == "host" {
			req.Relation = HostedOn
		}
		if body.Kind == yaml.ScalarNode {
			if body.Tag == "!!null" || body.Value == "" {
				return nil, toscaError(body, at, "names no target node template")
			}
			if err := CheckID("template", body.Value); err != nil {
				return nil, toscaError(body, at, "%w", err)
			}
			req.Template = TemplateID(body.Value)
			doc.targets = append(doc.targets, target{name: req.Template, node: body, at: at})
			reqs = append(reqs, req)
			continue
		}
		fields, err := mapping(body, at)
		if err != nil {
			return nil, err
		}
		for _, kv := range fields {
			switch key := kv[0].Value; key {
			case "node":
				v, err := scalarValue(kv[1], at+".node")
				if err != nil {
					return nil, err
				}
				if kv[1].Tag == "!!null" || v == "" {
					return nil, toscaError(kv[1], at+".node", "names no target node template")
				}
				if err := CheckID("template", v); err != nil {
					return nil, toscaError(kv[1], at+".node", "%w", err)
				}
				req.Template = TemplateID(v)
				doc.targets = append(doc.targets, target{name: req.Template, node: kv[1], at: at + ".node"})
			case "relationship":
				if req.Relation, err = relationOf(kv[1], at+".relationship"); err != nil {
					return nil, err
				}
			case "node_filter":
				if req.Constraint, err = doc.readNodeFilter(kv[1], at+".node_filter"); err != nil {
					return nil, err
				}
			case "capability", "description", "metadata":
			default:
				return nil, notSupported(kv[0], at+"."+key)
			}
		}
		if req.Template == "" {
			return nil, toscaError(body, at, "names no target node template (node:)")
		}
		reqs = append(reqs, req)
	}
	return reqs, nil
}

func relationOf(n *yaml.Node, where string) (Relation, error) {
	typ := n.Value
	if n.Kind == yaml.MappingNode {
		pairs, err := mapping(n, where)
		if err != nil {
			return "", err
		}
		typ = ""
		for _, kv := range pairs {
			switch kv[0].Value {
			case "type":
				typ = kv[1].Value
			case "properties", "interfaces": // a relationship's others, which do not bear on versions
			default: // such as a misspelt "type", which would be dropped in silence
				return "", notSupported(kv[0], where+"."+kv[0].Value)
			}
		}
	}
	switch strings.TrimPrefix(typ, "tosca.relationships.") {
	case "": // a mapping without its type, or an empty value
		return "", toscaError(n, where, "names no relationship type: give one of tosca.relationships.HostedOn, DependsOn or ConnectsTo")
	case "HostedOn":
		return HostedOn, nil
	case "DependsOn", "ConnectsTo":
		return DependsOn, nil
	}
	return "", toscaError(n, where, "relationship %s not supported (HostedOn, DependsOn or ConnectsTo)", Quote(typ))
}

// readNodeFilter turns property constraints on the version into a
// constraint: clauses are ANDed; valid_values makes alternatives.
func (doc *toscaDoc) readNodeFilter(n *yaml.Node, where string) (version.Constraint, error) {
	pairs, err := mapping(n, where)
	if err != nil {
		return version.Constraint{}, err
	}
	var and []string  // clauses that must all hold
	var or [][]string // alternatives from valid_values, each a clause
	var orNode *yaml.Node
	// The constraint is built only once its length is known to be within
	// version.MaxLength: each alternative repeats every other clause, so
	// a small file could otherwise make a constraint of gigabytes.
	andLen, orLen := 0, 0 // of the clauses and of the alternatives, joined
	tooLong := func(at *yaml.Node) error {
		n := andLen
		if or != nil {
			n = orLen
			if andLen > 0 {
				n += len(or) * (len(", ") + andLen)
			}
		}
		if n <= version.MaxLength {
			return nil
		}
		why := fmt.Sprintf("%d clauses", len(and))
		if or != nil {
			why = fmt.Sprintf("each of the %d valid_values repeats the %d other clauses", len(or), len(and))
		}
		return toscaError(at, where, "%w: %w: the constraint it makes is too long (%d bytes or more, %s); "+
			"write fewer valid_values or fewer clauses, such as one in_range", version.ErrInvalidConstraint, version.ErrTooLong, n, why)
	}
	for _, kv := range pairs {
		if kv[0].Value != "properties" {
			return version.Constraint{}, toscaError(kv[0], where+"."+kv[0].Value, "not supported (only properties)")
		}
		if kv[1].Kind != yaml.SequenceNode {
			return version.Constraint{}, toscaError(kv[1], where+".properties", "want a list")
		}
		for _, item := range kv[1].Content {
			props, err := mapping(item, where+".properties")
			if err != nil {
				return version.Constraint{}, err
			}
			for _, p := range props {
				prop := p[0].Value
				at := where + ".properties." + prop
				if prop != "version" && prop != "component_version" {
					return version.Constraint{}, toscaError(p[0], at, "a filter on property %s is not supported (only version or component_version)", Quote(prop))
				}
				clauses := []*yaml.Node{p[1]}
				if p[1].Kind == yaml.SequenceNode {
					clauses = p[1].Content
				}
				for _, c := range clauses {
					ops, err := mapping(c, at)
					if err != nil {
						return version.Constraint{}, err
					}
					for _, op := range ops {
						a, alts, err := constraintClause(op[0], op[1], at)
						if err != nil {
							return version.Constraint{}, err
						}
						if alts != nil {
							if or != nil {
								return version.Constraint{}, toscaError(op[0], at, "a second valid_values: a node_filter takes one; write one valid_values of the versions that every one allows")
							}
							or, orNode = alts, op[0]
							for i, alt := range or {
								if i > 0 {
									orLen += len(" || ")
								}
								for j, clause := range alt {
									if j > 0 {
										orLen += len(", ")
									}
									orLen += len(clause)
								}
							}
						}
						for _, clause := range a {
							if len(and) > 0 {
								andLen += len(", ")
							}
							andLen += len(clause)
							and = append(and, clause)
						}
						if err := tooLong(op[0]); err != nil {
							return version.Constraint{}, err
						}
					}
				}
			}
		}
	}
	text := strings.Join(and, ", ")
	if or != nil {
		alts := make([]string, len(or))
		for i, alt := range or {
			alts[i] = strings.Join(append(slices.Clone(alt), and...), ", ")
		}
		text = strings.Join(alts, " || ")
	}
	c, err := version.ParseConstraint(text)
	if err != nil {
		at := n
		if orNode != nil {
			at = orNode
		}
		return version.Constraint{}, toscaError(at, where, "%w", err)
	}
	return c, nil
}

// constraintClause translates one TOSCA constraint operator: clauses to
// AND, or alternatives for valid_values.
func constraintClause(op, arg *yaml.Node, where string) (and []string, or [][]string, err error) {
	at := where + "." + op.Value
	// TOSCA versions are exact: 8.5 is 8.5.0, not 8.5.x as a partial
	// version in a semver constraint would be. The constraint is written
	// with the versions' canonical form, which is exact; a version's
	// String is the text as written ("8.5").
	exact := func(n *yaml.Node) (version.Version, error) {
		text, err := scalarValue(n, at)
		if err != nil {
			return version.Version{}, err
		}
		v, err := version.Parse(text)
		if err != nil {
			return version.Version{}, toscaError(n, at, "%w", err)
		}
		return v, nil
	}
	one := func(prefix string) ([]string, [][]string, error) {
		v, err := exact(arg)
		return []string{prefix + v.Canonical().String()}, nil, err
	}
	list := func(n int) ([]version.Version, error) {
		if arg.Kind != yaml.SequenceNode || n > 0 && len(arg.Content) != n || len(arg.Content) == 0 {
			want := "one or more values"
			if n > 0 {
				want = fmt.Sprintf("%d values", n)
			}
			return nil, toscaError(arg, at, "want a list of %s", want)
		}
		vs := make([]version.Version, len(arg.Content))
		for i, c := range arg.Content {
			v, err := exact(c)
			if err != nil {
				return nil, err
			}
			vs[i] = v
		}
		return vs, nil
	}
	switch op.Value {
	case "equal":
		return one("=")
	case "greater_than":
		return one(">")
	case "greater_or_equal":
		return one(">=")
	case "less_than":
		return one("<")
	case "less_or_equal":
		return one("<=")
	case "in_range":
		if arg.Kind == yaml.SequenceNode && len(arg.Content) == 2 && resolve(arg.Content[1]).Value == "UNBOUNDED" {
			lo, err := exact(arg.Content[0])
			if err != nil {
				return nil, nil, err
			}
			return []string{">=" + lo.Canonical().String()}, nil, nil
		}
		vs, err := list(2)
		if err != nil {
			return nil, nil, err
		}
		if vs[1].Less(vs[0]) {
			return nil, nil, toscaError(arg, at, "the range [%s, %s] is empty", vs[0], vs[1])
		}
		return []string{">=" + vs[0].Canonical().String(), "<=" + vs[1].Canonical().String()}, nil, nil
	case "valid_values":
		if arg.Kind != yaml.SequenceNode || len(arg.Content) == 0 {
			_, err := list(0)
			return nil, nil, err
		}
		// Stop at the first value that makes the alternatives alone too
		// long, rather than parse thousands.
		n := 0
		for i, c := range arg.Content {
			v, err := exact(c)
			if err != nil {
				return nil, nil, err
			}
			alt := "=" + v.Canonical().String()
			if n += len(alt); i > 0 {
				n += len(" || ")
			}
			if n > version.MaxLength {
				return nil, nil, toscaError(c, at, "%w: %w: the constraint it makes is too long (more than %d bytes from the first %d of %d valid_values alone); "+
					"write fewer valid_values, or use an in_range", version.ErrInvalidConstraint, version.ErrTooLong, version.MaxLength, i+1, len(arg.Content))
			}
			or = append(or, []string{alt})
		}
		return nil, or, nil
	}
	return nil, nil, toscaError(op, at, "constraint operator %s not supported; write the constraint with equal, greater_than, "+
		"greater_or_equal, less_than, less_or_equal, in_range or valid_values", Quote(op.Value))
}

type instanceFile struct {
	Schema      string         `yaml:"schema"`
	Application AppID          `yaml:"application"`
	Nodes       []instanceNode `yaml:"nodes"`
}

type instanceNode struct {
	ID            NodeID                 `yaml:"id"`
	Template      TemplateID             `yaml:"template"`
	Version       string                 `yaml:"version"`
	Relationships []instanceRelationship `yaml:"relationships"`
}

type instanceRelationship struct {
	Requirement string   `yaml:"requirement"`
	Relation    Relation `yaml:"relation"`
	Target      NodeID   `yaml:"target"`
}

func readInstances(data []byte, templates []Template) (*Application, error) {
	data = yaml12(data)
	var f instanceFile
	root, err := decodeYAML(data, `the deployed nodes: "schema": "`+InstancesSchema+`", "application" and "nodes"`, "instance file", &f)
	if err != nil {
		return nil, err
	}
	if f.Schema != InstancesSchema {
		return nil, &Error{Item: fmt.Sprintf("instance file line %d", yamlLine(root, "schema")),
			Err: fmt.Errorf("%w: schema %s, want %q", ErrInvalid, Quote(f.Schema), InstancesSchema)}
	}
	app := &Application{ID: f.Application, Templates: templates}
	// Templates by ID, and the first requirement of each name of each
	// template, rather than a search for every node and relationship.
	byID := make(map[TemplateID]*Template, len(templates))
	for i := range templates {
		if _, dup := byID[templates[i].ID]; !dup {
			byID[templates[i].ID] = &templates[i]
		}
	}
	// A template may give several requirements one name (TOSCA templates
	// often list a "dependency" on each of several nodes): a relationship
	// naming it fulfils the one whose template its target is a node of.
	reqIndex := make(map[*Template]map[string][]int)
	requirements := func(t *Template, name string) []int {
		idx, ok := reqIndex[t]
		if !ok {
			idx = make(map[string][]int, len(t.Requirements))
			for k, q := range t.Requirements {
				idx[q.Name] = append(idx[q.Name], k)
			}
			reqIndex[t] = idx
		}
		return idx[name]
	}
	templateOf := make(map[NodeID]TemplateID, len(f.Nodes))
	for _, in := range f.Nodes {
		if _, dup := templateOf[in.ID]; !dup {
			templateOf[in.ID] = in.Template
		}
	}
	bad := func(path []any, item string, format string, args ...any) error {
		return &Error{Item: fmt.Sprintf("instance file line %d: %s", yamlLine(root, path...), item),
			Err: fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)}
	}
	// An empty identifier is left to Validate, which names what is
	// missing.
	badID := func(id, kind string, path []any, item string) error {
		if err := CheckID(kind, id); id != "" && err != nil {
			return bad(path, item, "%w", err)
		}
		return nil
	}
	if f.Application == "" { // Validate would name it "application #1", which this file does not hold
		return nil, bad([]any{"application"}, `"application"`, `no application ID: give the ID of the application the nodes belong to, such as "application: shop"`)
	}
	if err := badID(string(f.Application), "application", []any{"application"}, "application"); err != nil {
		return nil, err
	}
	var fulfils []fulfil
	for i, in := range f.Nodes {
		item := fmt.Sprintf("node #%d", i+1)
		if err := cmp.Or(
			badID(string(in.ID), "node", []any{"nodes", i, "id"}, item),
			badID(string(in.Template), "template", []any{"nodes", i, "template"}, item),
		); err != nil {
			return nil, err
		}
		for j, r := range in.Relationships {
			ritem := fmt.Sprintf("%s relationship #%d", item, j+1)
			if err := cmp.Or(
				badID(string(r.Target), "node", []any{"nodes", i, "relationships", j, "target"}, ritem),
				badID(r.Requirement, "requirement name", []any{"nodes", i, "relationships", j, "requirement"}, ritem),
			); err != nil {
				return nil, err
			}
		}
		item = fmt.Sprintf("node %q", in.ID)
		n := Node{ID: in.ID, Template: in.Template}
		if in.Version != "" {
			if n.Version, err = version.Parse(in.Version); err != nil {
				return nil, bad([]any{"nodes", i, "version"}, item, "%w", err)
			}
		}
		t := byID[in.Template]
		if t != nil && in.Version != "" {
			if err := checkZeroVersion(in.Version, n.Version, t.Version); err != nil {
				return nil, bad([]any{"nodes", i, "version"}, item, "%w", err)
			}
		}
		for j, r := range in.Relationships {
			rel := r.Relation
			switch {
			case r.Requirement != "" && r.Relation != "":
				return nil, bad([]any{"nodes", i, "relationships", j}, item, "give a requirement or a relation, not both")
			case r.Requirement == "" && r.Relation != HostedOn && r.Relation != DependsOn:
				// Validate would say only `unknown relation ""`, naming no line.
				what := "gives neither the requirement it fulfils nor a relation"
				if r.Relation != "" {
					what = fmt.Sprintf("names the unknown relation %s", Quote(string(r.Relation)))
				}
				return nil, bad([]any{"nodes", i, "relationships", j}, item, "relationship #%d %s: give the requirement of template %q it fulfils, "+
					"such as \"requirement: host\", or its relation, \"relation: %s\" or \"relation: %s\"", j+1, what, in.Template, HostedOn, DependsOn)
			case r.Requirement != "":
				var ks []int
				if t != nil {
					ks = requirements(t, r.Requirement)
				}
				if t == nil {
					return nil, bad([]any{"nodes", i, "template"}, item,
						"template %q is not in the service template: name one of its node templates", in.Template)
				}
				if len(ks) == 0 {
					var names []string
					for _, req := range t.Requirements {
						if req.Name != "" && !slices.Contains(names, req.Name) {
							names = append(names, req.Name)
						}
					}
					has := "it has none: give the relation instead, \"relation: " + string(HostedOn) + "\" or \"relation: " + string(DependsOn) + "\""
					if len(names) > 0 {
						has = "name one it has: " + quotedList(names, "or")
					}
					return nil, bad([]any{"nodes", i, "relationships", j, "requirement"}, item,
						"template %q has no requirement %q: %s", in.Template, r.Requirement, has)
				}
				fl := fulfil{node: i, rel: j, requirement: r.Requirement}
				for _, c := range ks {
					fl.templates = append(fl.templates, t.Requirements[c].Template)
				}
				// The one whose template the target's is, else the first
				// (which the check below refuses).
				k := ks[max(0, slices.Index(fl.templates, templateOf[r.Target]))]
				rel = t.Requirements[k].Relation
				fulfils = append(fulfils, fl)
			}
			n.Relationships = append(n.Relationships, Relationship{Relation: rel, Target: r.Target})
		}
		app.Nodes = append(app.Nodes, n)
	}
	// A requirement is fulfilled by a node of the template it names: one
	// of another would take the requirement's constraint off both.
	for _, fl := range fulfils {
		in := f.Nodes[fl.node]
		target := in.Relationships[fl.rel].Target
		// A node of another file is not known here, nor is one of an
		// unknown template (Validate says so).
		if got, ok := templateOf[target]; ok && !slices.Contains(fl.templates, got) && byID[got] != nil {
			names, of := fmt.Sprintf("template %q", fl.templates[0]), fmt.Sprintf("%q", fl.templates[0])
			if len(fl.templates) > 1 {
				quoted := make([]string, len(fl.templates))
				for i, tm := range fl.templates {
					quoted[i] = fmt.Sprintf("%q", tm)
				}
				names, of = "the templates "+strings.Join(quoted, ", "), "one of them"
			}
			return nil, bad([]any{"nodes", fl.node, "relationships", fl.rel, "target"}, fmt.Sprintf("node %q", in.ID),
				"requirement %q names %s, but node %q is a %q: give a node of %s, or the requirement its template fulfils",
				fl.requirement, names, target, got, of)
		}
	}
	return app, nil
}

// fulfil is a relationship of the instances (the rel-th of the node-th
// node) that fulfils a requirement, which names a template.
type fulfil struct {
	node, rel   int
	requirement string
	templates   []TemplateID // of the requirements of that name
}
