package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/version"
)

// maxRequestFile is the largest request file or request body read.
const maxRequestFile = 1 << 20

// maxRequests is the most requests one file or body may hold.
const maxRequests = 100

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(s string) error { *l = append(*l, s); return nil }

// inputFlags are the flags that say where the deployment, the packages and
// the requests are, and how to plan.
type inputFlags struct {
	topology, tosca, instances string
	repo, trustStore           string
	keys                       stringList
	requests                   string
	policy                     string
	allowDowngrade             bool
	trustFirstUse              bool
	maxMinorStep               int
}

// register adds the flags to fs; withRequests adds --requests.
func (in *inputFlags) register(fs *flag.FlagSet, withRequests bool) {
	fs.StringVar(&in.topology, "topology", "", "topology `FILE`, JSON (.json) or YAML (.yaml, .yml)")
	fs.StringVar(&in.tosca, "tosca", "", "TOSCA service template `FILE` (with --instances)")
	fs.StringVar(&in.instances, "instances", "", "instance `FILE` of the TOSCA service template")
	fs.StringVar(&in.repo, "repo", "", "package repository: a `DIR` or an http(s) URL")
	fs.Var(&in.keys, "key", "trust only indexes signed by the base64 ed25519 public key in `FILE` (repeatable)")
	fs.StringVar(&in.trustStore, "trust-store", "", "remember trusted index versions in `FILE` (needs --key)")
	fs.BoolVar(&in.trustFirstUse, "trust-first-use", false, "create the --trust-store FILE if it does not exist (only when setting it up)")
	if withRequests {
		fs.StringVar(&in.requests, "requests", "", "request `FILE`, YAML or JSON")
	}
	fs.StringVar(&in.policy, "policy", "newest", "version selection `POLICY`: newest, nearest or latest-patch")
	fs.BoolVar(&in.allowDowngrade, "allow-downgrade", false, "allow lowering a platform node's version")
	fs.IntVar(&in.maxMinorStep, "max-minor-step", 0, "advance at most `N` minor versions per upgrade hop (0: no limit)")
}

// check reports a missing or contradictory flag.
func (in *inputFlags) check(withRequests bool) error {
	switch {
	case in.topology != "" && (in.tosca != "" || in.instances != ""):
		return usageErr("--topology and --tosca/--instances exclude each other")
	case in.tosca != "" && in.instances == "":
		return usageErr("--tosca needs --instances")
	case in.instances != "" && in.tosca == "":
		return usageErr("--instances needs --tosca")
	case in.topology == "" && in.tosca == "":
		return usageErr("give --topology FILE, or --tosca FILE and --instances FILE")
	case in.repo == "":
		return usageErr("give --repo DIR or --repo URL")
	case in.trustStore != "" && len(in.keys) == 0:
		return usageErr("--trust-store needs --key")
	case in.trustFirstUse && in.trustStore == "":
		return usageErr("--trust-first-use needs --trust-store")
	case withRequests && in.requests == "":
		return usageErr("give --requests FILE")
	case in.maxMinorStep < 0:
		return usageErr("--max-minor-step must not be negative")
	}
	_, err := in.plannerOptions()
	return err
}

// notAnInput refuses, as a usage error, an output file (flag) that is
// one of the input files, which writing it would replace: plan --out
// shop.yaml, a slip for plan.json, would put the plan in place of the
// topology. A file in the --repo directory, or below it, is the
// repository's (its index, the index's signature, a package). A file
// that does not exist yet is no input.
func (in *inputFlags) notAnInput(flag, path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return nil // a new file, or one whose writing will say what is wrong
	}
	inputs := []struct{ flag, path string }{{"--topology", in.topology}, {"--tosca", in.tosca}, {"--instances", in.instances},
		{"--requests", in.requests}, {"--trust-store", in.trustStore}}
	for _, key := range in.keys {
		inputs = append(inputs, struct{ flag, path string }{"--key", key})
	}
	for _, input := range inputs {
		if input.path == "" {
			continue
		}
		if other, err := os.Stat(input.path); err == nil && os.SameFile(fi, other) {
			return usageErr("%s %s is the %s file: give %s a file of its own, such as plan.json", flag, path, input.flag, flag)
		}
	}
	// The files of a repository directory (its index, the index's
	// signature, its packages) are inputs too.
	repo, err := os.Stat(in.repo)
	if err != nil || !repo.IsDir() {
		return nil // a URL, or a repository that loading will report
	}
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil
	}
	for {
		if d, err := os.Stat(dir); err == nil && os.SameFile(d, repo) {
			return usageErr("%s %s is a file of the --repo directory %s: give %s a file of its own, such as plan.json", flag, path, in.repo, flag)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return nil
		}
		dir = parent
	}
}

func (in *inputFlags) plannerOptions() ([]upgrade.Option, error) {
	var opts []upgrade.Option
	switch in.policy {
	case "newest":
	case "nearest":
		opts = append(opts, upgrade.WithPolicy(upgrade.Nearest))
	case "latest-patch":
		opts = append(opts, upgrade.WithPolicy(upgrade.LatestPatch))
	default:
		return nil, usageErr("--policy %q: want newest, nearest or latest-patch", in.policy)
	}
	if in.allowDowngrade {
		opts = append(opts, upgrade.AllowDowngrades())
	}
	if in.maxMinorStep > 0 {
		opts = append(opts, upgrade.WithMaxMinorStep(in.maxMinorStep))
	}
	return opts, nil
}

// env is what the inputs load to: the deployment, the repository and a
// planner over them.
type env struct {
	repo repository
	in   *inputFlags
	opts []upgrade.Option // the planner's

	dirty   atomic.Bool  // the topology file changed since it was read
	mu      sync.RWMutex // guards topo, planner and stamp, which refresh replaces
	topo    *topology.Memory
	planner *upgrade.Planner
	stamp   []os.FileInfo // the topology files as they were when last read
}

// current returns the topology and a planner on it, as last read.
func (e *env) current() (*topology.Memory, *upgrade.Planner) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.topo, e.planner
}

// changed records that the inventory wrote the topology file: refresh
// reads it again, once, however many steps it learnt meanwhile.
func (e *env) changed() { e.dirty.Store(true) }

// refresh reads the topology again if the inventory, or anything else,
// changed its files since they were last read, for the plan or run about
// to start: a file replaced, or written with a new size or modification
// time.
func (e *env) refresh() error {
	stamp := e.in.topologyStamp() // before reading: a change while it reads is seen next time
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.dirty.Swap(false) && sameFiles(stamp, e.stamp) {
		return nil
	}
	topo, err := e.in.loadTopology()
	if err != nil {
		e.dirty.Store(true)
		return err
	}
	e.topo, e.planner, e.stamp = topo, upgrade.NewPlanner(topo, e.repo, e.opts...), stamp
	return nil
}

// topologyStamp returns what the topology files are now, nil for a file
// that cannot be read.
func (in *inputFlags) topologyStamp() []os.FileInfo {
	paths := []string{in.topology}
	if in.topology == "" {
		paths = []string{in.tosca, in.instances}
	}
	stamp := make([]os.FileInfo, len(paths))
	for i, p := range paths {
		stamp[i], _ = os.Stat(p)
	}
	return stamp
}

// sameFiles reports whether two stamps of the topology files tell the
// same contents: the same files, sizes and modification times.
func sameFiles(a, b []os.FileInfo) bool {
	return slices.EqualFunc(a, b, func(x, y os.FileInfo) bool {
		return x != nil && y != nil && os.SameFile(x, y) && x.Size() == y.Size() && x.ModTime().Equal(y.ModTime())
	})
}

// repoTimeout bounds each request to an HTTP repository.
const repoTimeout = 60 * time.Second

// repository is what Dir and HTTP have in common.
type repository interface {
	pkgsource.Source
	pkgsource.Opener
	Index(ctx context.Context) (*pkgsource.Index, error)
}

func (e *env) Close() error {
	if c, ok := e.repo.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// load reads the topology, opens the repository and reads its index once,
// so that a missing, malformed or untrusted repository is reported before
// planning. Errors are marked for exit code 2, but an interrupt while it
// reads the index (ctx's cause errInterrupted), exit code 1.
func (in *inputFlags) load(ctx context.Context) (*env, error) {
	stamp := in.topologyStamp()
	topo, err := in.loadTopology()
	if err != nil {
		return nil, err
	}
	repo, err := in.openRepo()
	if err != nil {
		return nil, inputErr(err)
	}
	e := &env{topo: topo, repo: repo, in: in, stamp: stamp}
	if _, err := repo.Index(ctx); err != nil {
		e.Close()
		if errors.Is(context.Cause(ctx), errInterrupted) { // not the repository's fault: exit 1, as for an interrupted run
			return nil, failedErr(fmt.Errorf("%w while reading the repository %s: nothing was planned or run", errInterrupted, pkgsource.RedactURL(in.repo)))
		}
		if errors.Is(err, pkgsource.ErrNoTrustStore) {
			err = fmt.Errorf("%w; to create it, run once with --trust-first-use", err)
		}
		return nil, inputErr(fmt.Errorf("repository %s: %w", pkgsource.RedactURL(in.repo), err))
	}
	opts, err := in.plannerOptions()
	if err != nil {
		e.Close()
		return nil, err
	}
	e.opts = opts
	e.planner = upgrade.NewPlanner(topo, repo, opts...)
	return e, nil
}

// loadTopology reads the deployment the flags name.
func (in *inputFlags) loadTopology() (*topology.Memory, error) {
	var topo *topology.Memory
	var err error
	if in.topology != "" {
		topo, err = topology.Load(in.topology)
	} else {
		topo, err = topology.LoadTOSCA(in.tosca, in.instances)
	}
	if err != nil {
		return nil, inputErr(err)
	}
	return topo, nil
}

func (in *inputFlags) openRepo() (repository, error) {
	for _, key := range in.keys {
		if err := othersCannotWrite("--key", key); err != nil {
			return nil, err
		}
	}
	if err := othersCannotWrite("--trust-store", in.trustStore); err != nil {
		return nil, err
	}
	var opts []pkgsource.Option
	if len(in.keys) > 0 {
		keys := make([]ed25519.PublicKey, 0, len(in.keys))
		for _, file := range in.keys {
			k, err := pkgsource.ReadPublicKey(file)
			if err != nil {
				return nil, err
			}
			keys = append(keys, k)
		}
		opts = append(opts, pkgsource.WithKeys(keys...))
	}
	if in.trustStore != "" {
		var storeOpts []pkgsource.FileTrustStoreOption
		if in.trustFirstUse {
			storeOpts = append(storeOpts, pkgsource.AllowFirstUse())
		}
		opts = append(opts, pkgsource.WithTrustStore(pkgsource.NewFileTrustStore(in.trustStore, storeOpts...)))
	}
	var repo repository
	var err error
	switch scheme, _, ok := strings.Cut(in.repo, "://"); {
	case strings.HasPrefix(in.repo, "http://") || strings.HasPrefix(in.repo, "https://"):
		repo, err = pkgsource.NewHTTP(in.repo, &http.Client{Timeout: repoTimeout}, opts...)
	case ok && !strings.ContainsAny(scheme, `/\`):
		return nil, fmt.Errorf("--repo %s: a repository is a directory or an http(s) URL, not %s", pkgsource.RedactURL(in.repo), topology.Printable(scheme))
	default:
		repo, err = pkgsource.NewDir(in.repo, opts...)
	}
	if err != nil {
		return nil, fmt.Errorf("--repo: %w", err) // the repository's error names it, not the flag
	}
	return repo, nil
}

// othersCannotWrite refuses file, given as flag, a file of what the
// repository is trusted by (a key, the trust store), when other users of
// the host can write it: they could put their own key there, or lower a
// version and have an old index replayed. A file that does not exist, or
// is not a regular file, is for reading it to report.
func othersCannotWrite(flag, file string) error {
	info, err := os.Stat(file)
	if file == "" || err != nil || !info.Mode().IsRegular() || runtime.GOOS == "windows" {
		return nil
	}
	if perm := info.Mode().Perm(); perm&0o002 != 0 {
		return fmt.Errorf("%s %s: other users can write it (mode %04o): chmod o-w %s; they could choose which indexes are trusted", flag, file, perm, file)
	}
	return nil
}

// requestFile is the request file, and the body of the server's POST
// requests. Everything is a string here, parsed in convert so that errors
// can name the request and the field.
type requestFile struct {
	Requests []requestSpec `yaml:"requests" json:"requests"`
}

type requestSpec struct {
	Application string       `yaml:"application" json:"application"`
	Replaces    string       `yaml:"replaces" json:"replaces"`
	Template    templateSpec `yaml:"template" json:"template"`
}

type templateSpec struct {
	ID           string            `yaml:"id" json:"id"`
	Type         string            `yaml:"type" json:"type"`
	Version      string            `yaml:"version" json:"version"`
	Requirements []requirementSpec `yaml:"requirements" json:"requirements"`
}

type requirementSpec struct {
	Name       string `yaml:"name" json:"name"`
	Template   string `yaml:"template" json:"template"`
	Constraint string `yaml:"constraint" json:"constraint"`
	Relation   string `yaml:"relation" json:"relation"`
}

// loadRequests reads a request file, YAML or JSON (which YAML reads too).
func loadRequests(path string) ([]upgrade.Request, error) {
	data, err := readSmallFile(path, maxRequestFile)
	if err != nil {
		return nil, err
	}
	reqs, err := parseRequestsYAML(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.ToSlash(path), err)
	}
	return reqs, nil
}

// parseRequestsYAML parses a request file in YAML (or JSON).
func parseRequestsYAML(data []byte) ([]upgrade.Request, error) {
	var rf requestFile
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(withoutPrologue(data)))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("empty request file")
		}
		return nil, errors.New(yamlMessage(err))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("more than one YAML document")
	}
	if len(doc.Content) == 1 {
		if err := checkFields(doc.Content[0], reflect.TypeFor[requestFile](), ""); err != nil {
			return nil, err
		}
	}
	if err := doc.Decode(&rf); err != nil {
		return nil, errors.New(yamlMessage(err))
	}
	return rf.convert()
}

// withoutPrologue returns data, a YAML file, with its prologue (see
// yamlPrologue) made blank lines, so that lines keep their numbers: yaml.v3
// refuses a "%YAML 1.2" directive, which tools writing YAML 1.2 put
// there, and which topology.ReadYAML reads.
func withoutPrologue(data []byte) []byte {
	prologue, doc := yamlPrologue(bytes.TrimPrefix(data, []byte(byteOrderMark)))
	if prologue == nil {
		return data
	}
	return append(bytes.Repeat([]byte("\n"), bytes.Count(prologue, []byte("\n"))), doc...)
}

// byteOrderMark is the UTF-8 byte-order mark.
const byteOrderMark = "\ufeff"

// errNullBody reports a body that is the JSON null, which the decoder
// would take for an empty object: a call that runs something must not run
// it on no request at all.
var errNullBody = errors.New("the body is null: send a JSON object")

// decodeOneJSON reads one JSON value, not null, and nothing after it. A
// UTF-8 byte-order mark before it, which an editor may save a request
// file with (and plan --requests reads), is skipped, as RFC 8259 allows.
// An error in the JSON gives its line and column, and what to do (see
// topology.JSONError); a body too large is the reader's
// *http.MaxBytesError, which the server tells apart.
func decodeOneJSON(r io.Reader) (json.RawMessage, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	data = bytes.TrimPrefix(data, []byte(byteOrderMark))
	dec := json.NewDecoder(bytes.NewReader(data))
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("empty body")
		}
		return nil, bodyError(data, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, fmt.Errorf("data after the JSON object: %w", bodyError(data, err))
		}
		return nil, errors.New("data after the JSON object")
	}
	if string(raw) == "null" {
		return nil, errNullBody
	}
	return raw, nil
}

// bodyError returns err, an error of decoding data, a body, as JSON, with
// its place and what to do; for a body in YAML (a request file posted as
// it is), also that the API reads JSON.
func bodyError(data []byte, err error) error {
	err = topology.JSONError(data, err)
	start := bytes.TrimLeft(data, " \t\r\n")
	for _, yaml := range []string{"#", "---", "%YAML", "requests:"} {
		if bytes.HasPrefix(start, []byte(yaml)) {
			return fmt.Errorf(`%w: it is YAML, as a request file may be, and the API reads JSON: post the requests as JSON, {"requests": [...]}`, err)
		}
	}
	return err
}

// parseRequestsJSON parses a request body: JSON, with no unknown fields
// and nothing after the object.
func parseRequestsJSON(r io.Reader) ([]upgrade.Request, error) {
	raw, err := decodeOneJSON(r)
	if err != nil {
		return nil, err
	}
	// Every key and every value is checked first, so that an error names
	// its place, list indexes included, and quotes only the start of a
	// long key or value.
	if err := checkJSONKeys(raw); err != nil {
		return nil, err
	}
	var rf requestFile
	if err := json.Unmarshal(raw, &rf); err != nil { // checkJSONKeys let through only what decodes
		return nil, fmt.Errorf("internal error: %w", err)
	}
	return rf.convert()
}

// checkJSONKeys checks a request body against requestFile, naming the
// place of the first problem, as a request file's are named: a key that
// is no field's, given twice in one object (the decoder keeps the last)
// or spelled in another case than the field's (the decoder matches keys
// without regard to case), and a value of the wrong kind: fields where
// requestFile has none, or a number or boolean where it has a string.
// null is taken anywhere, as the decoder takes it. Its errors are
// *placeError values, or the decoder's own for what is not JSON.
func checkJSONKeys(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	// Lines are counted only for an error: counting each key's would take
	// time growing with the square of the body's size.
	lineAt := func(offset int64) int { return 1 + bytes.Count(data[:offset], []byte("\n")) }
	line := func() int { return lineAt(dec.InputOffset()) }
	var walk func(t reflect.Type, path string) error
	walk = func(t reflect.Type, path string) error {
		place := path
		if place == "" {
			place = "the top level"
		}
		wrong := func(want string, tok json.Token) error {
			return &placeError{Line: line(), Place: place, Problem: fmt.Sprintf("want %s, got %s", want, tokenKind(tok))}
		}
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		if tok == nil {
			return nil // null, which the decoder takes anywhere
		}
		switch t.Kind() {
		case reflect.Struct:
			if tok != json.Delim('{') {
				return wrong(fmt.Sprintf("fields (%s)", strings.Join(fieldNames(t), ", ")), tok)
			}
			seen := map[string]int64{} // the offset of each key
			for dec.More() {
				tok, err := dec.Token()
				if err != nil {
					return err
				}
				key, _ := tok.(string)
				f, ok := fieldByName(t, key)
				if !ok {
					return &placeError{Line: line(), Place: place, Problem: fmt.Sprintf("unknown field %s; known fields: %s", topology.Quote(key), strings.Join(fieldNames(t), ", "))}
				}
				if first, twice := seen[key]; twice {
					return &placeError{Line: line(), Place: place, Problem: fmt.Sprintf("field %q given twice (first on line %d)", key, lineAt(first))}
				}
				seen[key] = dec.InputOffset()
				p := key
				if path != "" {
					p = path + "." + key
				}
				if err := walk(f.Type, p); err != nil {
					return err
				}
			}
			_, err = dec.Token() // '}'
			return err
		case reflect.Slice:
			if tok != json.Delim('[') {
				return wrong("a list", tok)
			}
			for i := 0; dec.More(); i++ {
				if err := walk(t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
					return err
				}
			}
			_, err = dec.Token() // ']'
			return err
		case reflect.String:
			switch tok.(type) {
			case string:
				return nil
			case json.Delim: // '{' or '['
				return wrong("a value", tok)
			}
			return wrong("a string", tok)
		}
		return fmt.Errorf("internal error: no JSON for a field of kind %s", t.Kind())
	}
	return walk(reflect.TypeFor[requestFile](), "")
}

// tokenKind names what a JSON token starts, as nodeKind does a YAML
// node, quoting only the start of a long value.
func tokenKind(tok json.Token) string {
	switch v := tok.(type) {
	case json.Delim:
		if v == '[' {
			return "a list"
		}
		return "fields"
	case json.Number:
		return "the number " + topology.Printable(truncate(string(v)))
	case bool:
		return fmt.Sprintf("the boolean %t", v)
	case string:
		return "the value " + topology.Quote(v)
	}
	return "null"
}

// placeError is what is wrong at one place of a request file or body:
// an unknown field, or a value of the wrong kind.
type placeError struct {
	Line    int    // the line of the file or body
	Place   string // such as requests[3].template.version, or "the top level"
	Problem string // such as `want a string, got the number 5`
}

func (e *placeError) Error() string {
	return fmt.Sprintf("line %d: %s: %s", e.Line, e.Place, e.Problem)
}

// checkFields checks that every mapping in n has only the fields of t
// (by their yaml names), and that objects and lists are where t has them,
// naming the place (such as requests[0].template) and the known fields:
// the messages speak of the file, not of Go types. Its errors are
// *placeError values. (A request body, JSON, is checked by
// checkJSONKeys, which refuses a number or a boolean for a string, as
// encoding/json does, where YAML reads 5 or true as a string.)
func checkFields(n *yaml.Node, t reflect.Type, path string) error {
	at := func(n *yaml.Node, format string, a ...any) error {
		place := path
		if place == "" {
			place = "the top level"
		}
		return &placeError{Line: n.Line, Place: place, Problem: fmt.Sprintf(format, a...)}
	}
	if n.Kind == yaml.AliasNode {
		return nil // the decoder follows it, within its limits
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return at(n, "want fields (%s), got %s", strings.Join(fieldNames(t), ", "), nodeKind(n))
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := n.Content[i].Value
			f, ok := fieldByName(t, key)
			if !ok {
				return at(n.Content[i], "unknown field %s; known fields: %s", topology.Quote(key), strings.Join(fieldNames(t), ", "))
			}
			p := key
			if path != "" {
				p = path + "." + key
			}
			if err := checkFields(n.Content[i+1], f.Type, p); err != nil {
				return err
			}
		}
	case reflect.Slice:
		if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
			return nil
		}
		if n.Kind != yaml.SequenceNode {
			return at(n, "want a list, got %s", nodeKind(n))
		}
		for i, c := range n.Content {
			if err := checkFields(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			return at(n, "want a value, got %s", nodeKind(n))
		}
	}
	return nil
}

// fieldNames are the yaml names of t's fields, in order.
func fieldNames(t reflect.Type) []string {
	var names []string
	for f := range t.Fields() {
		names = append(names, strings.Split(f.Tag.Get("yaml"), ",")[0])
	}
	return names
}

func fieldByName(t reflect.Type, name string) (reflect.StructField, bool) {
	for f := range t.Fields() {
		if strings.Split(f.Tag.Get("yaml"), ",")[0] == name {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func nodeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "fields"
	case yaml.SequenceNode:
		return "a list"
	}
	switch n.Tag {
	case "!!int", "!!float":
		return "the number " + topology.Printable(truncate(n.Value))
	case "!!bool":
		return "the boolean " + topology.Printable(truncate(n.Value))
	}
	return "the value " + topology.Quote(n.Value)
}

// yamlMessage flattens a yaml error into one line.
func yamlMessage(err error) string {
	if te, ok := errors.AsType[*yaml.TypeError](err); ok {
		return strings.Join(te.Errors, "; ")
	}
	return strings.TrimPrefix(err.Error(), "yaml: ")
}

// convert parses versions and constraints and checks relations, naming
// the request and field of the first error.
func (rf *requestFile) convert() ([]upgrade.Request, error) {
	if len(rf.Requests) == 0 {
		return nil, errors.New("no requests")
	}
	if len(rf.Requests) > maxRequests {
		return nil, fmt.Errorf("%d requests, at most %d allowed", len(rf.Requests), maxRequests)
	}
	reqs := make([]upgrade.Request, len(rf.Requests))
	for i, rs := range rf.Requests {
		fail := func(field string, err error) error {
			name := fmt.Sprintf("requests[%d]", i)
			if rs.Application != "" {
				name += fmt.Sprintf(" (%s)", shownName(rs.Application))
			}
			return fmt.Errorf("%s: %s: %w", name, field, err)
		}
		r := upgrade.Request{
			Application: topology.AppID(rs.Application),
			Replaces:    topology.TemplateID(rs.Replaces),
			Template:    topology.Template{ID: topology.TemplateID(rs.Template.ID), Type: rs.Template.Type},
		}
		for _, f := range [...]struct{ name, value string }{{"application", rs.Application}, {"replaces", rs.Replaces},
			{"template.id", rs.Template.ID}, {"template.type", rs.Template.Type}, {"template.version", rs.Template.Version}} {
			if strings.TrimSpace(f.value) == "" {
				return nil, fail(f.name, errors.New("missing"))
			}
		}
		v, err := version.Parse(rs.Template.Version)
		if err != nil {
			return nil, fail("template.version", err)
		}
		r.Template.Version = v
		for j, q := range rs.Template.Requirements {
			field := fmt.Sprintf("template.requirements[%d]", j)
			if strings.TrimSpace(q.Template) == "" {
				return nil, fail(field+".template", errors.New("missing"))
			}
			c, err := version.ParseConstraint(q.Constraint)
			if err != nil {
				return nil, fail(field+".constraint", err)
			}
			rel := topology.Relation(q.Relation)
			switch rel {
			case "", topology.HostedOn, topology.DependsOn:
			default:
				return nil, fail(field+".relation", fmt.Errorf("%s, want %s or %s", topology.Quote(q.Relation), topology.HostedOn, topology.DependsOn))
			}
			r.Template.Requirements = append(r.Template.Requirements, topology.Requirement{
				Name: q.Name, Template: topology.TemplateID(q.Template), Constraint: c, Relation: rel})
		}
		reqs[i] = r
	}
	return reqs, nil
}

// shownName returns name, from a client, as a message shows a name: as it
// is, unless it is long or holds what is not printable, when it is
// quoted by topology.Quote (its start, escaped, and its length).
func shownName(name string) string {
	if q := topology.Quote(name); q != strconv.Quote(name) || topology.Printable(name) != name {
		return q
	}
	return name
}

// planExit returns the exit code for a planning error: 3 when no plan is
// possible, 2 for invalid requests and repositories, 1 otherwise.
func planExit(err error) int {
	switch planKind(err) {
	case "invalid_request", "repository":
		return exitUsage
	case "internal":
		return exitFailed
	}
	return exitNoPlan
}

// planKind names the kind of a planning error, as the server reports it.
func planKind(err error) string {
	switch {
	case errors.Is(err, upgrade.ErrInvalidRequest):
		return "invalid_request"
	case errors.Is(err, upgrade.ErrConflict):
		return "conflict"
	case errors.Is(err, upgrade.ErrNoUpgradePath):
		return "no_upgrade_path"
	case errors.Is(err, upgrade.ErrNoPackage):
		return "no_package"
	case errors.Is(err, upgrade.ErrDowngrade):
		return "downgrade"
	case errors.Is(err, upgrade.ErrCycle):
		return "cycle"
	case errors.Is(err, topology.ErrNotFound):
		return "not_found"
	case errors.Is(err, pkgsource.ErrUntrusted), errors.Is(err, pkgsource.ErrRollback),
		errors.Is(err, pkgsource.ErrExpired), errors.Is(err, pkgsource.ErrInvalidIndex),
		errors.Is(err, pkgsource.ErrInvalid), errors.Is(err, pkgsource.ErrNotFound),
		errors.Is(err, pkgsource.ErrNoTrustStore), errors.Is(err, pkgsource.ErrNoIndex),
		repositoryUnreachable(err):
		return "repository"
	}
	return "internal"
}

// repositoryUnreachable reports whether err says that the repository did
// not answer as it should: an HTTP status other than the one expected, a
// redirect refused, or a transport error such as a connection refused or
// a timeout.
func repositoryUnreachable(err error) bool {
	if _, ok := errors.AsType[*pkgsource.StatusError](err); ok {
		return true
	}
	if _, ok := errors.AsType[*pkgsource.RedirectError](err); ok {
		return true
	}
	if _, ok := errors.AsType[*url.Error](err); ok {
		return true
	}
	_, ok := errors.AsType[net.Error](err)
	return ok
}
