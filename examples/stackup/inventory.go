package main

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"

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
// node with its version. Each write reads the file afresh, checks that the
// result reads back as a valid deployment with the node at its new
// version, and replaces the file atomically (see writeFileAtomic). Writes
// of two stackup processes are serialised by a lock on the file's
// directory (flock, on Unix), and those of one process by a mutex.
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

	mu sync.Mutex
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
		return &inventory{path: in.instances, service: in.tosca, format: toscaInstances}
	}
	if strings.EqualFold(filepath.Ext(in.topology), ".json") {
		return &inventory{path: in.topology, format: topologyJSON}
	}
	return &inventory{path: in.topology, format: topologyYAML}
}

// Learn records that step s is done: its node is at s.To.
func (inv *inventory) Learn(ctx context.Context, s upgrade.Step) error {
	return inv.Set(ctx, s.Node, s.To)
}

// Unlearn records that step s was rolled back: its node is at s.From.
func (inv *inventory) Unlearn(ctx context.Context, s upgrade.Step) error {
	return inv.Set(ctx, s.Node, s.From)
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
	if err := inv.set(ctx, node, v); err != nil {
		return fmt.Errorf("recording %s at %s in %s: %w", node, v, inv.path, err)
	}
	return nil
}

func (inv *inventory) set(ctx context.Context, node topology.NodeID, v version.Version) error {
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
	info, err := root.Lstat(name)
	if err != nil {
		return err
	}
	if !info.Mode().IsRegular() {
		return fmt.Errorf("not a regular file (%s): stackup records versions only in a regular file", fileKind(info.Mode()))
	}
	f, err := root.OpenFile(name, os.O_RDONLY|openNonBlock, 0)
	if err != nil {
		return err
	}
	data, err := io.ReadAll(io.LimitReader(f, topology.MaxFileSize+1))
	f.Close()
	if err != nil {
		return err
	}
	var out []byte
	switch inv.format {
	case topologyJSON:
		out, err = setJSON(data, node, v)
	default:
		out, err = setYAML(data, node, v, inv.format == toscaInstances)
	}
	if err != nil {
		return err
	}
	if err := inv.check(out, node, v); err != nil {
		return fmt.Errorf("the file would not read back right (%w); edit it by hand", err)
	}
	if learnHook != nil {
		learnHook(node)
	}
	return writeAtomicIn(root, name, inv.path, out, 0o644)
}

// check reads data back as the deployment and checks node's version.
func (inv *inventory) check(data []byte, node topology.NodeID, v version.Version) error {
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
	n, err := m.Node(context.Background(), node)
	if err != nil {
		return err
	}
	if !n.Version.Same(v) {
		return fmt.Errorf("node %s reads back at %s", node, n.Version)
	}
	return nil
}

func readRegular(path string) ([]byte, error) {
	f, err := topology.OpenRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, topology.MaxFileSize))
}

// setJSON sets node's version in a JSON topology file.
func setJSON(data []byte, node topology.NodeID, v version.Version) ([]byte, error) {
	m, err := topology.ReadJSON(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	apps := m.Applications()
	found := false
	for a := range apps {
		for n := range apps[a].Nodes {
			if apps[a].Nodes[n].ID == node {
				apps[a].Nodes[n].Version = v
				found = true
			}
		}
	}
	if !found {
		return nil, &topology.NotFoundError{Kind: "node", ID: string(node)}
	}
	if m, err = topology.New(apps...); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := m.WriteJSON(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// setYAML sets node's version in a YAML topology file, or in an instance
// file (instances), editing the document's nodes so that comments, key
// order and styles stay.
func setYAML(data []byte, node topology.NodeID, v version.Version, instances bool) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, errors.New("not one YAML document")
	}
	var lists []*yaml.Node // the sequences of nodes
	if instances {
		lists = append(lists, mapValue(doc.Content[0], "nodes"))
	} else if apps := mapValue(doc.Content[0], "applications"); apps != nil && apps.Kind == yaml.SequenceNode {
		for _, a := range apps.Content {
			lists = append(lists, mapValue(a, "nodes"))
		}
	}
	var target *yaml.Node
	for _, l := range lists {
		if l == nil || l.Kind != yaml.SequenceNode {
			continue
		}
		for _, n := range l.Content {
			if id := mapValue(n, "id"); id != nil && id.Kind == yaml.ScalarNode && id.Value == string(node) {
				target = n
			}
		}
	}
	if target == nil {
		return nil, fmt.Errorf("node %q not found in the file as written (an alias or merge key?); edit it by hand", node)
	}
	if target.Anchor != "" {
		return nil, fmt.Errorf("node %q is an anchor that other nodes may share; edit it by hand", node)
	}
	value := versionScalar(v)
	if old := mapValue(target, "version"); old != nil {
		if old.Kind != yaml.ScalarNode || old.Anchor != "" {
			return nil, fmt.Errorf("node %q: its version is not a plain value; edit it by hand", node)
		}
		if old.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
			value.Style = old.Style
		}
		old.Value, old.Tag, old.Style = value.Value, value.Tag, value.Style
	} else {
		key := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "version"}
		at := len(target.Content)
		for i := 0; i+1 < len(target.Content); i += 2 {
			if target.Content[i].Value == "template" {
				at = i + 2
			}
		}
		target.Content = append(target.Content[:at], append([]*yaml.Node{key, value}, target.Content[at:]...)...)
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
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

// errApplying reports a deployment that another stackup apply is
// running on.
var errApplying = errors.New("another stackup apply is running on this deployment")

// lockRuns keeps two applies from running on one deployment at once,
// which would run every step twice: it takes, without waiting, a lock on
// the file .NAME.stackup-lock beside the topology (or TOSCA instance) file
// NAME, which names its holder, and returns its release. Another apply
// holding it gives an error matching errApplying that names the holder.
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
	f, err := root.OpenFile(name, os.O_RDWR|os.O_CREATE|openNonBlock, 0o600)
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
			cmp.Or(escapeControls(strings.TrimSpace(string(holder)), ""), "holder unknown"))
	}
	host, _ := os.Hostname()
	if f.Truncate(0) == nil {
		fmt.Fprintf(f, "pid %d on %s since %s\n", os.Getpid(), host, time.Now().UTC().Format(time.RFC3339))
	}
	return func() { f.Close() }, nil // closing releases the lock
}
