package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"
	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/unicode"

	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/version"
)

// An inventory records in the deployment's files the versions that steps
// give nodes, so that the next plan starts from them: the topology file
// (--topology), or the TOSCA instance file (--instances; the service
// template is never written).
//
// It rewrites the node's version field in place. A YAML file keeps its
// comments, key order and flow or block style (go.yaml.in/yaml/v3 nodes);
// a node without a version field gets one after its template. A JSON
// topology file is written again by topology.WriteJSON, indented, every
// node with its version. An instance file in JSON (.json), which is
// edited as YAML, is written as JSON again, indented, its key order kept.
// Each write reads the file afresh, checks that the result reads back as
// a valid deployment with the nodes at their new versions, and replaces
// the file atomically (see writeFileAtomic); LearnAll makes the edits of
// several steps with one write. Writes of two stackup processes are
// serialised by a lock on the file's directory (flock, on Unix), and
// those of one process by a mutex.
//
// An application step also changes the node's application: the node
// takes the new template's ID when it changed, and, once every node of
// that template in the application has the new template's version, the
// template's definition (version and requirements) becomes the new
// template's, so that later plans read what the nodes now require of
// the platform (and a rollback puts back the definition it replaced, as
// this process remembers it). The definition is written as a block of
// its own: a replaced one loses its comments. A TOSCA deployment's
// templates are in its service template, which is never written: there,
// a step records the node's version only.
//
// A crash between a step and its write leaves the file at the step's From
// while the journal records the step as succeeded. A resumed apply (the
// same journal) accepts that with --stale-check (see
// upgrade.WithStaleCheck) and records, when it ends, the version of every
// node whose last step done was done by the earlier run. A new plan made
// without the journal, from the file as it is, plans that step again.
type inventory struct {
	path    string // the file written
	service string // the TOSCA service template, when path is an instance file
	format  inventoryFormat
	// json says that the instance file is JSON (.json), which YAML reads:
	// it is kept JSON (see setYAML).
	json bool

	mu       sync.Mutex                        // held by a write
	replaced map[appTemplate]topology.Template // the definitions that learning replaced, for Unlearn

}

// appTemplate names a template of an application.
type appTemplate struct {
	app topology.AppID
	id  topology.TemplateID
}

// edit is what a step changes in the deployment's file.
type edit struct {
	app     topology.AppID // the node's, for template changes
	node    topology.NodeID
	version version.Version
	// template is the node's template after the edit; "" leaves it.
	template topology.TemplateID
	// define, when set, is the definition of a template of app, written
	// (in place of one of its ID, or added) once every node of it has
	// define.Version.
	define *topology.Template
	// restore says that define is to be the definition of template that
	// learning replaced, if any, as known when the edit is made: an
	// Unlearn's (see batch.prepare).
	restore bool
}

type inventoryFormat int

const (
	topologyYAML inventoryFormat = iota
	topologyJSON
	toscaInstances
)

// newInventory returns the inventory of the deployment in's flags name.
func newInventory(in *inputFlags) *inventory {
	if in.topology == "" {
		return &inventory{path: in.instances, service: in.tosca, format: toscaInstances,
			json: strings.EqualFold(filepath.Ext(in.instances), ".json")}
	}
	if strings.EqualFold(filepath.Ext(in.topology), ".json") {
		return &inventory{path: in.topology, format: topologyJSON}
	}
	return &inventory{path: in.topology, format: topologyYAML}
}

// Learn records that step s is done: its node is at s.To, and, for an
// application step, runs s.NewTemplate.
func (inv *inventory) Learn(ctx context.Context, s upgrade.Step) error {
	return inv.apply(ctx, inv.learnt(s))
}

// learnt returns the edit that Learn makes for step s.
func (inv *inventory) learnt(s upgrade.Step) edit {
	e := edit{app: s.App, node: s.Node, version: s.To}
	if s.Kind == upgrade.Application && s.NewTemplate != nil && inv.format != toscaInstances {
		e.define = s.NewTemplate
		if s.NewTemplate.ID != s.Template {
			e.template = s.NewTemplate.ID
		}
	}
	return e
}

// Admits checks, before plan runs, that the file can record the end of
// its steps: that the deployment its application steps leave, with the
// new templates defined, is valid, and that the file can be edited as
// learning every step edits it (a node whose version is an alias of
// another's, say, cannot: "edit it by hand"). Without it, such a plan
// would be refused only once every step had run, and its nodes would be
// planned again. A TOSCA deployment records versions only: its
// templates are not checked. Its error names the file and says what to
// do. The file is left as it is.
func (inv *inventory) Admits(plan *upgrade.Plan) error {
	data, err := readRegular(inv.path)
	if err == nil && inv.format != toscaInstances {
		if err := inv.holds(data, plan); err != nil {
			return fmt.Errorf("%s could not record the plan's application steps: %w; change the requests' new templates so that the deployment can hold them", inv.path, err)
		}
	}
	if err == nil {
		es := make([]edit, len(plan.Steps))
		for i, st := range plan.Steps {
			es[i] = inv.learnt(st)
		}
		inv.mu.Lock()
		_, _, err = inv.edit(data, es)
		inv.mu.Unlock()
	}
	if err != nil {
		return fmt.Errorf("%s cannot record the plan's steps: %w; nothing ran", inv.path, err)
	}
	return nil
}

// holds checks that the deployment in data, a topology file, is valid
// with the new templates of plan's application steps defined.
func (inv *inventory) holds(data []byte, plan *upgrade.Plan) error {
	read := topology.ReadYAML
	if inv.format == topologyJSON {
		read = topology.ReadJSON
	}
	m, err := read(bytes.NewReader(data))
	if err != nil {
		return err
	}
	apps := m.Applications()
	for _, st := range plan.Steps {
		if st.Kind == upgrade.Application {
			if _, err := editApps(apps, inv.learnt(st)); err != nil {
				return err
			}
		}
	}
	_, err = topology.New(apps...)
	return err
}

// Unlearn records that step s was rolled back: its node is at s.From,
// and, for an application step, runs its template of before (whose
// definition this process remembers if Learn replaced it).
func (inv *inventory) Unlearn(ctx context.Context, s upgrade.Step) error {
	return inv.apply(ctx, inv.unlearnt(s))
}

// unlearnt returns the edit that Unlearn makes for step s.
func (inv *inventory) unlearnt(s upgrade.Step) edit {
	e := edit{app: s.App, node: s.Node, version: s.From}
	if s.Kind == upgrade.Application && s.NewTemplate != nil && inv.format != toscaInstances {
		e.template, e.restore = s.Template, true
	}
	return e
}

// LearnAll records what Learn records for each of steps, in their order,
// with one write of the file if it can; if that fails, with one write
// each, so that a step the file cannot record keeps none of the others
// from it. Its error names each node not recorded.
func (inv *inventory) LearnAll(ctx context.Context, steps []upgrade.Step) error {
	return inv.applyAll(ctx, steps, inv.learnt)
}

// UnlearnAll records what Unlearn records for each of steps, as LearnAll.
func (inv *inventory) UnlearnAll(ctx context.Context, steps []upgrade.Step) error {
	return inv.applyAll(ctx, steps, inv.unlearnt)
}

func (inv *inventory) applyAll(ctx context.Context, steps []upgrade.Step, edited func(upgrade.Step) edit) error {
	es := make([]edit, len(steps))
	for i, s := range steps {
		es[i] = edited(s)
	}
	if len(es) > 1 && inv.write(ctx, es) == nil {
		return nil
	}
	var errs []error
	for _, e := range es {
		if err := inv.apply(ctx, e); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Ready checks, before anything runs, that the file can be rewritten as
// Set does: a regular file, not a symbolic link, in a directory that can
// be opened. Its error names the file and says what to do.
func (inv *inventory) Ready() error {
	root, err := os.OpenRoot(filepath.Dir(inv.path))
	if err == nil {
		defer root.Close()
		var info os.FileInfo
		if info, err = root.Lstat(filepath.Base(inv.path)); err == nil && !info.Mode().IsRegular() {
			err = fmt.Errorf("not a regular file (%s)", fileKind(info.Mode()))
		}
	}
	if err != nil {
		return fmt.Errorf("%s: stackup records each node's new version in it, and cannot: %w; give the file's own path, or --learn=false", inv.path, err)
	}
	return nil
}

// learnHook, when set (by tests only), is called before each write.
var learnHook func(node topology.NodeID)

// Set records that node is at v. Its errors name the file and the node;
// on error the file is unchanged.
func (inv *inventory) Set(ctx context.Context, node topology.NodeID, v version.Version) error {
	return inv.apply(ctx, edit{node: node, version: v})
}

// apply makes edit e in the file. Its errors name the file and the node;
// on error the file is unchanged.
func (inv *inventory) apply(ctx context.Context, e edit) error {
	if err := inv.write(ctx, []edit{e}); err != nil {
		return fmt.Errorf("recording %s at %s in %s: %w", e.node, e.version, inv.path, err)
	}
	return nil
}

// write makes edits es in the file, in their order, with one write; on
// error the file is unchanged.
func (inv *inventory) write(ctx context.Context, es []edit) error {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	root, err := os.OpenRoot(filepath.Dir(inv.path))
	if err != nil {
		return err
	}
	defer root.Close()
	unlock, err := lockDir(root)
	if err != nil {
		return fmt.Errorf("locking its directory: %w", err)
	}
	defer unlock()

	name := filepath.Base(inv.path)
	// Through openRegular, as the server's other files are: a look at the
	// name, then an open of it, would follow a link (or open a named
	// pipe) swapped in between.
	f, err := openRegular(root, name, os.O_RDONLY, 0)
	if err != nil {
		return fmt.Errorf("%w: stackup records versions only in a regular file", err)
	}
	data, err := io.ReadAll(io.LimitReader(f, topology.MaxFileSize+1))
	f.Close()
	if err != nil {
		return err
	}
	out, b, err := inv.edit(data, es)
	if err != nil {
		return err
	}
	if learnHook != nil {
		for _, e := range es {
			learnHook(e.node)
		}
	}
	if err := writeAtomicIn(root, name, inv.path, out, 0o644); err != nil {
		return err
	}
	for key, t := range b.replaced {
		if inv.replaced == nil {
			inv.replaced = map[appTemplate]topology.Template{}
		}
		inv.replaced[key] = t
	}
	return nil
}

// bareText returns data, a deployment's file, as UTF-8 without what a
// Windows editor may have saved it with, and restore, which puts that back
// on the file written, so that version control shows only the edits: a
// UTF-16 encoding with its byte-order mark (as Windows PowerShell 5 writes
// files, and topology reads them), a UTF-8 byte-order mark, which the
// encoders drop, and CR LF line ends on every line, which yaml.v3 would
// keep in a comment's text, whose line would then end twice.
func bareText(data []byte) (plain []byte, restore func(out []byte) ([]byte, error), err error) {
	var utf16 encoding.Encoding
	switch {
	case bytes.HasPrefix(data, []byte{0xff, 0xfe}):
		utf16 = unicode.UTF16(unicode.LittleEndian, unicode.ExpectBOM)
	case bytes.HasPrefix(data, []byte{0xfe, 0xff}):
		utf16 = unicode.UTF16(unicode.BigEndian, unicode.ExpectBOM)
	}
	if utf16 != nil {
		if data, err = utf16.NewDecoder().Bytes(data); err != nil {
			return nil, nil, fmt.Errorf("reading it as UTF-16: %w", err)
		}
	}
	bom := bytes.HasPrefix(data, []byte(byteOrderMark))
	data = bytes.TrimPrefix(data, []byte(byteOrderMark))
	n := bytes.Count(data, []byte("\n"))
	crlf := n > 0 && bytes.Count(data, []byte("\r\n")) == n
	if crlf {
		data = bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n"))
	}
	return data, func(out []byte) ([]byte, error) {
		if crlf {
			out = bytes.ReplaceAll(out, []byte("\n"), []byte("\r\n"))
		}
		if bom {
			out = append([]byte(byteOrderMark), out...)
		}
		if utf16 != nil {
			return utf16.NewEncoder().Bytes(out) // with its byte-order mark
		}
		return out, nil
	}, nil
}

// edit returns data, the file, with edits es made in their order, checked
// to read back, and their batch, which holds the definitions they
// replaced. inv.mu is held.
func (inv *inventory) edit(data []byte, es []edit) ([]byte, *batch, error) {
	data, restore, err := bareText(data)
	if err != nil {
		return nil, nil, err
	}
	b := &batch{es: es, before: inv.replaced}
	var out []byte
	switch inv.format {
	case topologyJSON:
		out, err = setJSON(data, b)
	default:
		out, err = setYAML(data, b, inv.format == toscaInstances, inv.json)
	}
	if err != nil {
		return nil, nil, err
	}
	if out, err = restore(out); err != nil {
		return nil, nil, err
	}
	if err := inv.check(out, es); err != nil {
		return nil, nil, fmt.Errorf("the file would not read back right (%w); edit it by hand", err)
	}
	return out, b, nil
}

// batch is the edits of one write, and the definitions they replaced.
type batch struct {
	es       []edit
	before   map[appTemplate]topology.Template // replaced by the writes before (inventory.replaced)
	replaced map[appTemplate]topology.Template // replaced by these edits, and not before
}

// prepare returns e as it is to be made after the edits of b before it:
// an Unlearn's definition to restore is the one that learning replaced.
func (b *batch) prepare(e edit) edit {
	if e.restore {
		for _, m := range []map[appTemplate]topology.Template{b.before, b.replaced} {
			if old, ok := m[appTemplate{e.app, e.template}]; ok {
				e.define = &old
			}
		}
	}
	return e
}

// made records that edit e replaced the definition old, if any: the first
// replaced, the definition before the run, is the one Unlearn restores.
func (b *batch) made(e edit, old *topology.Template) {
	if old == nil {
		return
	}
	key := appTemplate{e.app, old.ID}
	if _, ok := b.before[key]; ok {
		return
	}
	if _, ok := b.replaced[key]; ok {
		return
	}
	if b.replaced == nil {
		b.replaced = map[appTemplate]topology.Template{}
	}
	b.replaced[key] = *old
}

// check reads data back as the deployment and checks the version and
// template of each node that es edit, as the last of them left it.
func (inv *inventory) check(data []byte, es []edit) error {
	var m *topology.Memory
	var err error
	switch inv.format {
	case topologyJSON:
		m, err = topology.ReadJSON(bytes.NewReader(data))
	case topologyYAML:
		m, err = topology.ReadYAML(bytes.NewReader(data))
	case toscaInstances:
		var service []byte
		if service, err = readRegular(inv.service); err == nil {
			m, err = topology.ReadTOSCA(bytes.NewReader(service), bytes.NewReader(data))
		}
	}
	if err != nil {
		return err
	}
	last := make(map[topology.NodeID]int, len(es))
	for i, e := range es {
		last[e.node] = i
	}
	for i, e := range es {
		if last[e.node] != i {
			continue
		}
		n, err := m.Node(context.Background(), e.node)
		if err != nil {
			return err
		}
		if !n.Version.Same(e.version) {
			return fmt.Errorf("node %s reads back at %s", e.node, n.Version)
		}
		if e.template != "" && n.Template != e.template {
			return fmt.Errorf("node %s reads back of template %s", e.node, n.Template)
		}
	}
	return nil
}

func readRegular(path string) ([]byte, error) { return readSmallFile(path, topology.MaxFileSize) }

// readSmallFile reads path, a regular file (a FIFO would block, /dev/zero
// never end) of at most limit bytes, and refuses a larger one, naming it.
func readSmallFile(path string, limit int64) ([]byte, error) {
	f, err := topology.OpenRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readAtMost(f, path, limit)
}

// readAtMost reads r, the file at path, refusing more than limit bytes.
func readAtMost(r io.Reader, path string, limit int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return data, nil
}

// setJSON makes edit e in a JSON topology file, and returns the
// definition e.define replaced, if any.
func setJSON(data []byte, b *batch) ([]byte, error) {
	m, err := topology.ReadJSON(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	apps := m.Applications()
	for _, e := range b.es {
		e = b.prepare(e)
		replaced, err := editApps(apps, e)
		if err != nil {
			return nil, err
		}
		b.made(e, replaced)
	}
	if m, err = topology.New(apps...); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := m.WriteJSON(&out); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// editApps makes edit e in apps, and returns the definition e.define
// replaced, if any.
func editApps(apps []topology.Application, e edit) (*topology.Template, error) {
	app := -1
	for a := range apps {
		for n := range apps[a].Nodes {
			if node := &apps[a].Nodes[n]; node.ID == e.node {
				node.Version = e.version
				if e.template != "" {
					node.Template = e.template
				}
				app = a
			}
		}
	}
	if app < 0 {
		return nil, &topology.NotFoundError{Kind: "node", ID: string(e.node)}
	}
	var replaced *topology.Template
	if d := e.define; d != nil && allAt(apps[app], d.ID, d.Version) {
		k := slices.IndexFunc(apps[app].Templates, func(t topology.Template) bool { return t.ID == d.ID })
		if k < 0 {
			apps[app].Templates = append(apps[app].Templates, *d)
		} else if !sameTemplate(&apps[app].Templates[k], d) {
			old := apps[app].Templates[k]
			replaced = &old
			apps[app].Templates[k] = *d
		}
	}
	return replaced, nil
}

// allAt reports whether every node of template id in app has version v,
// its own or, without one, the template's.
func allAt(app topology.Application, id topology.TemplateID, v version.Version) bool {
	t, _ := app.Template(id)
	for _, n := range app.Nodes {
		if n.Template != id {
			continue
		}
		nv := n.Version
		if nv.IsZero() && t != nil {
			nv = t.Version
		}
		if !nv.Same(v) {
			return false
		}
	}
	return true
}

// sameTemplate reports whether two definitions are equal.
func sameTemplate(a, b *topology.Template) bool {
	return a.ID == b.ID && a.Type == b.Type && a.Version.Same(b.Version) &&
		slices.EqualFunc(a.Requirements, b.Requirements, func(x, y topology.Requirement) bool {
			return x.Name == y.Name && x.Template == y.Template && x.Relation == y.Relation && x.Constraint.String() == y.Constraint.String()
		})
}

// setYAML makes the edits of b in a YAML topology file, or in an
// instance file (instances: the nodes' versions only), editing the
// document's nodes so that comments, key order and styles stay. With
// asJSON, the file is JSON and stays so: the strings added are quoted,
// and the result is indented as JSON (the encoder writes JSON's flow
// style on one line).
func setYAML(data []byte, b *batch, instances, asJSON bool) ([]byte, error) {
	prologue, data := yamlPrologue(data)
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, errors.New("not one YAML document")
	}
	var apps []*yaml.Node // the mappings holding the sequences of nodes
	if instances {
		apps = append(apps, doc.Content[0])
	} else if list := mapValue(doc.Content[0], "applications"); list != nil && list.Kind == yaml.SequenceNode {
		apps = list.Content
	}
	for _, e := range b.es {
		e = b.prepare(e)
		replaced, err := editYAML(apps, e, instances)
		if err != nil {
			return nil, err
		}
		b.made(e, replaced)
	}
	if asJSON {
		quoteStrings(&doc)
	}
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	if asJSON {
		var indented bytes.Buffer
		if err := json.Indent(&indented, out.Bytes(), "", "  "); err != nil {
			return nil, fmt.Errorf("the file is JSON, and would not be once written: %w", err)
		}
		return indented.Bytes(), nil
	}
	return append(prologue, out.Bytes()...), nil
}

// documentStart matches the line that starts a YAML document, "---",
// alone or before a comment.
var documentStart = regexp.MustCompile(`^---(?:[ \t]+#.*)?$`)

// yamlPrologue splits data, a YAML file, into its prologue and its
// document, when the document starts with a line "---" alone (or before
// a comment): the prologue is the lines up to that one included, its
// directives (%YAML 1.2) and comments. The encoder writes neither a
// directive nor "---", and the parser refuses "%YAML 1.2", which
// topology.ReadYAML reads: the document is edited alone, and the prologue
// put back as it was.
func yamlPrologue(data []byte) (prologue, doc []byte) {
	at := 0
	for line := range bytes.Lines(data) {
		at += len(line)
		text := bytes.TrimSpace(line)
		switch {
		case len(text) == 0 || text[0] == '#' || text[0] == '%':
		case documentStart.Match(text):
			return data[:at:at], data[at:]
		default:
			return nil, data
		}
	}
	return nil, data
}

// editYAML makes edit e in apps, the mappings of a YAML document that hold
// the sequences of nodes, and returns the definition e.define replaced, if
// any.
func editYAML(apps []*yaml.Node, e edit, instances bool) (*topology.Template, error) {
	var target, app *yaml.Node
	for _, a := range apps {
		l := mapValue(a, "nodes")
		if l == nil || l.Kind != yaml.SequenceNode {
			continue
		}
		for _, n := range l.Content {
			if id := mapValue(n, "id"); id != nil && id.Kind == yaml.ScalarNode && id.Value == string(e.node) {
				target, app = n, a
			}
		}
	}
	if target == nil {
		return nil, fmt.Errorf("node %q not found in the file as written (an alias or merge key?); edit it by hand", e.node)
	}
	if target.Anchor != "" {
		return nil, fmt.Errorf("node %q is an anchor that other nodes may share; edit it by hand", e.node)
	}
	if err := setScalar(target, "version", versionScalar(e.version), "template", e.node); err != nil {
		return nil, err
	}
	if instances {
		return nil, nil
	}
	if e.template != "" {
		id := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: string(e.template)}
		if err := setScalar(target, "template", id, "id", e.node); err != nil {
			return nil, err
		}
	}
	if e.define == nil {
		return nil, nil
	}
	return defineYAML(app, e.define)
}

// quoteStrings gives every plain string scalar under n double quotes, as
// JSON writes strings: those of a JSON document have them already, those
// an edit added not.
func quoteStrings(n *yaml.Node) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!str" && n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) == 0 {
		n.Style = yaml.DoubleQuotedStyle
	}
	for _, c := range n.Content {
		quoteStrings(c)
	}
}

// setScalar sets key of the node mapping target to value, keeping a
// quoted value quoted; a missing key is added after the key after.
func setScalar(target *yaml.Node, key string, value *yaml.Node, after string, node topology.NodeID) error {
	if old := mapValue(target, key); old != nil {
		if old.Kind != yaml.ScalarNode || old.Anchor != "" || old.Alias != nil {
			return fmt.Errorf("node %q: its %s is not a plain value; edit it by hand", node, key)
		}
		if old.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
			value.Style = old.Style
		}
		old.Value, old.Tag, old.Style = value.Value, value.Tag, value.Style
		return nil
	}
	k := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}
	at := len(target.Content)
	for i := 0; i+1 < len(target.Content); i += 2 {
		if target.Content[i].Value == after {
			at = i + 2
		}
	}
	target.Content = append(target.Content[:at], append([]*yaml.Node{k, value}, target.Content[at:]...)...)
	return nil
}

// defineYAML writes definition d among the templates of the application
// mapping app, in place of the one of its ID or after the others, once
// every node of d.ID in app has d.Version, and returns the definition it
// replaced, if any.
func defineYAML(app *yaml.Node, d *topology.Template) (*topology.Template, error) {
	templates := mapValue(app, "templates")
	if templates == nil || templates.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("application %q: its templates are not a plain list; edit it by hand", scalarOf(mapValue(app, "id")))
	}
	at := -1
	var current *topology.Template
	for i, t := range templates.Content {
		if scalarOf(mapValue(t, "id")) == string(d.ID) {
			at = i
			var err error
			if current, err = templateOf(t); err != nil {
				return nil, fmt.Errorf("template %q: %w; edit it by hand", d.ID, err)
			}
		}
	}
	nodes := mapValue(app, "nodes")
	for _, n := range nodes.Content {
		if scalarOf(mapValue(n, "template")) != string(d.ID) {
			continue
		}
		text := scalarOf(mapValue(n, "version"))
		v, err := version.Parse(text)
		if text == "" && current != nil {
			v, err = current.Version, nil
		}
		if err != nil || !v.Same(d.Version) {
			return nil, nil // not every node runs it yet
		}
	}
	if current != nil && sameTemplate(current, d) {
		return nil, nil
	}
	def := templateYAML(d)
	if at < 0 {
		templates.Content = append(templates.Content, def)
		return nil, nil
	}
	def.HeadComment = templates.Content[at].HeadComment
	templates.Content[at] = def
	return current, nil
}

// scalarOf returns the value of a scalar node, or "".
func scalarOf(n *yaml.Node) string {
	if n == nil || n.Kind != yaml.ScalarNode {
		return ""
	}
	return n.Value
}

// templateOf reads a template's definition from its YAML mapping.
func templateOf(n *yaml.Node) (*topology.Template, error) {
	var f struct {
		ID           topology.TemplateID `yaml:"id"`
		Type         string              `yaml:"type"`
		Version      string              `yaml:"version"`
		Requirements []struct {
			Name       string              `yaml:"name"`
			Template   topology.TemplateID `yaml:"template"`
			Constraint string              `yaml:"constraint"`
			Relation   topology.Relation   `yaml:"relation"`
		} `yaml:"requirements"`
	}
	if err := n.Decode(&f); err != nil {
		return nil, err
	}
	t := &topology.Template{ID: f.ID, Type: f.Type}
	var err error
	if t.Version, err = version.Parse(f.Version); err != nil {
		return nil, err
	}
	for _, r := range f.Requirements {
		c, err := version.ParseConstraint(r.Constraint)
		if err != nil {
			return nil, err
		}
		t.Requirements = append(t.Requirements, topology.Requirement{Name: r.Name, Template: r.Template, Constraint: c, Relation: r.Relation})
	}
	return t, nil
}

// templateYAML is the YAML mapping of a template's definition, its
// requirements one flow mapping a line, as the shipped files write them.
func templateYAML(d *topology.Template) *yaml.Node {
	str := func(v string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v} }
	m := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: []*yaml.Node{
		str("id"), str(string(d.ID)), str("type"), str(d.Type), str("version"), versionScalar(d.Version)}}
	if len(d.Requirements) == 0 {
		return m
	}
	reqs := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
	for _, r := range d.Requirements {
		rm := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Style: yaml.FlowStyle}
		if r.Name != "" {
			rm.Content = append(rm.Content, str("name"), str(r.Name))
		}
		rm.Content = append(rm.Content, str("template"), str(string(r.Template)))
		if !r.Constraint.IsZero() {
			c := str(r.Constraint.String())
			c.Style = yaml.DoubleQuotedStyle
			rm.Content = append(rm.Content, str("constraint"), c)
		}
		if r.Relation != "" {
			rm.Content = append(rm.Content, str("relation"), str(string(r.Relation)))
		}
		reqs.Content = append(reqs.Content, rm)
	}
	m.Content = append(m.Content, str("requirements"), reqs)
	return m
}

// mapValue returns the value of key in the mapping m, or nil.
func mapValue(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if k := m.Content[i]; k.Kind == yaml.ScalarNode && k.Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// numberLike matches what YAML would read as a number, not a string.
var numberLike = regexp.MustCompile(`^[0-9]+(\.[0-9]*)?$`)

// versionScalar is v as a YAML string: plain, or quoted where a plain
// value would read as a number (18.04).
func versionScalar(v version.Version) *yaml.Node {
	n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v.String()}
	if numberLike.MatchString(n.Value) {
		n.Style = yaml.DoubleQuotedStyle
	}
	return n
}

// errApplying reports a deployment that another stackup apply, or a run
// of stackup serve, is running steps on.
var errApplying = errors.New("another stackup apply or serve is running steps on this deployment")

// lockRuns keeps two applies (or an apply and the runs of a serve) from
// running on one deployment at once, which would run every step twice:
// it takes, without waiting, a lock on the file .NAME.stackup-lock beside
// the topology (or TOSCA instance) file NAME, which names its holder, and
// returns its release. Another holder gives an error matching errApplying
// that names it.
func lockRuns(in *inputFlags) (unlock func(), err error) {
	path := in.topology
	if path == "" {
		path = in.instances
	}
	root, err := os.OpenRoot(filepath.Dir(path))
	if err != nil {
		return nil, err
	}
	defer root.Close()
	name := "." + filepath.Base(path) + ".stackup-lock"
	// Not through a link, nor into a named pipe or a device: the lock's
	// holder note would be written over what it leads to (the topology
	// file, say).
	f, err := openRegular(root, name, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", filepath.Join(filepath.Dir(path), name), err)
	}
	held, err := tryLockFile(f)
	if err != nil || held {
		holder, _ := io.ReadAll(io.LimitReader(f, 200))
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("lock %s: %w", filepath.Join(filepath.Dir(path), name), err)
		}
		return nil, fmt.Errorf("%w (%s): wait for it to finish; two at once would run the same steps twice", errApplying,
			cmp.Or(topology.Printable(strings.TrimSpace(string(holder))), "holder unknown"))
	}
	host, _ := os.Hostname()
	if f.Truncate(0) == nil {
		fmt.Fprintf(f, "pid %d on %s since %s\n", os.Getpid(), host, time.Now().UTC().Format(time.RFC3339))
	}
	return func() { f.Close() }, nil // closing releases the lock
}
