package topology

import (
	"bytes"
	"cmp"
	"encoding"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/hashicorp/go-multierror"

	"github.com/stackup/stackup/version"
)

// Schema is the value of the "schema" field of a topology file.
//
// A topology file is a JSON object:
//
//	{
//	  "schema": "stackup.topology/v1",
//	  "applications": [{
//	    "id": "shop",
//	    "templates": [{
//	      "id": "shop_app", "type": "webapp", "version": "1.4.0",
//	      "requirements": [{"name": "host", "template": "tomcat_server",
//	                        "constraint": ">=8.5, <9", "relation": "hosted_on"}]
//	    }],
//	    "nodes": [{
//	      "id": "shop-1", "template": "shop_app", "version": "1.4.0",
//	      "relationships": [{"relation": "hosted_on", "target": "tomcat-1"}]
//	    }]
//	  }]
//	}
//
// Unknown fields are errors, and so is a key given twice in an object,
// in any letter case (field names match keys whatever their case).
// "version" may be left out of a node (it then has its template's
// version); "requirements", "relationships", "name", "constraint" and
// "relation" may be left out. A node's version written as 0.0.0 is an
// error unless its template's version is 0.0.0 too, because a [Node]'s
// zero version means "unset" and would silently become the template's.
const Schema = "stackup.topology/v1"

// fileHolds says what a topology file holds, for the error on an empty
// one.
const fileHolds = `a topology: "schema": "` + Schema + `" and its "applications"`

// MaxFileSize is the largest input file the readers accept, in bytes: a
// topology file (ReadJSON, ReadYAML, Load), and each of a TOSCA service
// template and its instance file (ReadTOSCA, LoadTOSCA).
const MaxFileSize = 64 << 20

// fileTopology is a topology file, as Schema documents it.
type fileTopology struct {
	Schema       string            `json:"schema" yaml:"schema"`
	Applications []fileApplication `json:"applications" yaml:"applications"`
}

type fileApplication struct {
	ID        AppID          `json:"id" yaml:"id"`
	Templates []fileTemplate `json:"templates" yaml:"templates"`
	Nodes     []fileNode     `json:"nodes" yaml:"nodes"`
}

type fileTemplate struct {
	ID           TemplateID        `json:"id" yaml:"id"`
	Type         string            `json:"type" yaml:"type"`
	Version      string            `json:"version" yaml:"version"`
	Requirements []fileRequirement `json:"requirements,omitempty" yaml:"requirements"`
}

type fileRequirement struct {
	Name       string     `json:"name,omitempty" yaml:"name"`
	Template   TemplateID `json:"template" yaml:"template"`
	Constraint string     `json:"constraint,omitempty" yaml:"constraint"`
	Relation   Relation   `json:"relation,omitempty" yaml:"relation"`
}

type fileNode struct {
	ID            NodeID         `json:"id" yaml:"id"`
	Template      TemplateID     `json:"template" yaml:"template"`
	Version       string         `json:"version,omitempty" yaml:"version"`
	Relationships []Relationship `json:"relationships,omitempty" yaml:"relationships"`
}

// ReadJSON reads a topology file (see [Schema]) of at most [MaxFileSize]
// bytes and returns it validated, as [New] does. Errors match
// [ErrInvalid]; they give the line and column of a syntax error (and say
// so of a file written in YAML) and name the template or node of a bad
// version or constraint. Every bad version
// and constraint, and every identifier outside the safe set of [CheckID]
// (an [*IDError], matching ErrInvalidID too), is reported at once, as a
// *multierror.Error of [*Error] values, like the problems [Validate]
// finds. An error means nothing was read. A UTF-8 byte-order mark at the
// start, which some editors write, is skipped, as ReadYAML skips it; a
// file that begins with a UTF-16 one (as Windows PowerShell writes files)
// is read as UTF-16, as ReadYAML reads it.
func ReadJSON(r io.Reader) (*Memory, error) {
	data, err := readCapped(r)
	if err != nil {
		return nil, err
	}
	if data, err = fromUTF16(data); err != nil {
		return nil, &Error{Item: "file", Err: fmt.Errorf("%w: %w", ErrInvalid, err)}
	}
	if err := CheckNotEmpty(data, fileHolds); err != nil {
		return nil, &Error{Item: "file", Err: fmt.Errorf("%w: %w", ErrInvalid, err)}
	}
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	var f fileTopology
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		place, msg := jsonProblem(data, err, reflect.TypeFor[fileTopology]())
		if _, syntax := errors.AsType[*json.SyntaxError](err); syntax && yamlStart.Match(bytes.TrimLeft(data, " \t\r\n")) {
			msg += ": it is YAML, not JSON: read it with ReadYAML, or name the file .yaml or .yml for Load"
		}
		return nil, &Error{Item: cmp.Or(place, "file"), Err: fmt.Errorf("%w: %s", ErrInvalid, msg)}
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, &Error{Item: "file", Err: fmt.Errorf("%w: data after the topology object", ErrInvalid)}
	}
	if err := checkJSONKeys(data); err != nil {
		return nil, err
	}
	if f.Schema != Schema {
		return nil, &Error{Item: "file", Err: fmt.Errorf("%w: schema %s, want %q", ErrInvalid, Quote(f.Schema), Schema)}
	}
	apps, err := f.decode(nil)
	if err != nil {
		return nil, err
	}
	return newMemory(apps, true)
}

// yamlStart matches the start of a YAML document that JSON is not: a
// comment, a directive, the start of a document, or a key and its colon.
var yamlStart = regexp.MustCompile(`^(?:#|%YAML|---(?:\s|$)|[A-Za-z_][A-Za-z0-9_.-]*:(?:\s|$))`)

// fromUTF16 returns data, a file that begins with a UTF-16 byte-order
// mark (as Windows PowerShell writes files), as UTF-8 without one, as
// ReadYAML reads it; other data as it is. A UTF-16 file of an odd length
// or holding an unpaired surrogate is an error.
func fromUTF16(data []byte) ([]byte, error) {
	var order binary.ByteOrder
	switch {
	case bytes.HasPrefix(data, []byte{0xff, 0xfe}):
		order = binary.LittleEndian
	case bytes.HasPrefix(data, []byte{0xfe, 0xff}):
		order = binary.BigEndian
	default:
		return data, nil
	}
	data = data[2:]
	if len(data)%2 != 0 {
		return nil, fmt.Errorf("the file begins with a UTF-16 byte-order mark but holds an odd number of bytes: save it as UTF-8")
	}
	out := make([]byte, 0, len(data))
	for i := 0; i < len(data); i += 2 {
		r := rune(order.Uint16(data[i:]))
		if utf16.IsSurrogate(r) {
			var r2 rune = -1
			if i+3 < len(data) {
				r2 = rune(order.Uint16(data[i+2:]))
			}
			if r = utf16.DecodeRune(r, r2); r == utf8.RuneError {
				return nil, fmt.Errorf("the file is UTF-16 and holds an unpaired surrogate at byte %d: save it as UTF-8", i+2)
			}
			i += 2
		}
		out = utf8.AppendRune(out, r)
	}
	return out, nil
}

// decode converts the file's applications, reporting every bad version and
// constraint. line, if not nil, gives the line of a field by its path in
// the file, such as ("applications", 0, "nodes", 2, "version").
func (f *fileTopology) decode(line func(path ...any) int) ([]Application, error) {
	var errs *multierror.Error
	bad := func(item string, err error, path ...any) {
		if line != nil {
			item = fmt.Sprintf("line %d: %s", line(path...), item)
		}
		errs = multierror.Append(errs, &Error{Item: item, Err: fmt.Errorf("%w: %w", ErrInvalid, err)})
	}
	// badID is CheckID's error for an identifier outside the safe set; an
	// empty one is left to Validate, which names what is missing. Where it
	// is, is worked out only then: a fleet's file has millions.
	badID := func(kind, id string) error {
		if id == "" {
			return nil
		}
		return CheckID(kind, id)
	}
	parse, parseConstraint := memo(version.Parse), memo(version.ParseConstraint)
	templates := map[TemplateID]version.Version{} // of every template, to check node versions
	for _, fa := range f.Applications {
		for _, ft := range fa.Templates {
			if _, dup := templates[ft.ID]; !dup {
				templates[ft.ID], _ = parse(ft.Version)
			}
		}
	}
	apps := make([]Application, len(f.Applications))
	for i, fa := range f.Applications {
		if err := badID("application", string(fa.ID)); err != nil {
			bad(fmt.Sprintf("application #%d", i+1), err, "applications", i, "id")
		}
		a := Application{ID: fa.ID, Templates: make([]Template, len(fa.Templates)), Nodes: make([]Node, len(fa.Nodes))}
		for j, ft := range fa.Templates {
			item := "template " + Quote(string(ft.ID))
			if err := badID("template", string(ft.ID)); err != nil {
				bad(fmt.Sprintf("application #%d template #%d", i+1, j+1), err, "applications", i, "templates", j, "id")
			}
			if err := badID("type", ft.Type); err != nil {
				bad(item, err, "applications", i, "templates", j, "type")
			}
			t := Template{ID: ft.ID, Type: ft.Type}
			var err error
			if ft.Version == "" {
				bad(item, errNoVersion, "applications", i, "templates", j, "version")
			} else if t.Version, err = parse(ft.Version); err != nil {
				bad(item, err, "applications", i, "templates", j, "version")
			}
			for k, fr := range ft.Requirements {
				ritem := func() string { return fmt.Sprintf("%s requirement #%d", item, k+1) }
				if err := badID("requirement name", fr.Name); err != nil {
					bad(ritem(), err, "applications", i, "templates", j, "requirements", k, "name")
				}
				if err := badID("template", string(fr.Template)); err != nil {
					bad(ritem(), err, "applications", i, "templates", j, "requirements", k, "template")
				}
				req := Requirement{Name: fr.Name, Template: fr.Template, Relation: fr.Relation}
				if req.Constraint, err = parseConstraint(fr.Constraint); err != nil {
					bad(fmt.Sprintf("%s requirement on %s", item, Quote(string(fr.Template))), err,
						"applications", i, "templates", j, "requirements", k, "constraint")
				}
				t.Requirements = append(t.Requirements, req)
			}
			a.Templates[j] = t
		}
		for j, fn := range fa.Nodes {
			item := func() string { return fmt.Sprintf("application #%d node #%d", i+1, j+1) }
			if err := badID("node", string(fn.ID)); err != nil {
				bad(item(), err, "applications", i, "nodes", j, "id")
			}
			if err := badID("template", string(fn.Template)); err != nil {
				bad(item(), err, "applications", i, "nodes", j, "template")
			}
			n := Node{ID: fn.ID, Template: fn.Template, Relationships: fn.Relationships}
			for k, r := range fn.Relationships {
				if err := badID("node", string(r.Target)); err != nil {
					bad(fmt.Sprintf("%s relationship #%d", item(), k+1), err, "applications", i, "nodes", j, "relationships", k, "target")
				}
			}
			if fn.Version != "" {
				var err error
				if n.Version, err = parse(fn.Version); err != nil {
					bad("node "+Quote(string(fn.ID)), err, "applications", i, "nodes", j, "version")
				} else if tv, ok := templates[fn.Template]; ok {
					if err := checkZeroVersion(fn.Version, n.Version, tv); err != nil {
						bad("node "+Quote(string(fn.ID)), err, "applications", i, "nodes", j, "version")
					}
				}
			}
			a.Nodes[j] = n
		}
		apps[i] = a
	}
	return apps, joined(errs)
}

// memo returns parse, remembering what it returned for each text: a
// fleet's file names a few versions and constraints many times.
func memo[T any](parse func(string) (T, error)) func(string) (T, error) {
	type result struct {
		v   T
		err error
	}
	seen := map[string]result{}
	return func(text string) (T, error) {
		r, ok := seen[text]
		if !ok {
			r.v, r.err = parse(text)
			seen[text] = r
		}
		return r.v, r.err
	}
}

// errNoVersion reports a template of a file with no version, which
// version.Parse would call an `invalid version ""`.
var errNoVersion = errors.New(`no version: give the version the template deploys, such as "1.4.0"`)

// checkZeroVersion refuses a node version written as 0.0.0 (text) when the
// node's template has another version: a Node's zero Version means
// "unset", so the node would silently take the template's version. When
// the template's version is 0.0.0 too, the node's is kept as written.
func checkZeroVersion(text string, v, template version.Version) error {
	if !v.IsZero() || template.IsZero() {
		return nil
	}
	return fmt.Errorf("version %q is 0.0.0, which stackup reads as unset: the node would take its template's version %s; "+
		"leave the version out for that, or give the version installed", text, template)
}

// checkJSONKeys refuses, as an *Error matching ErrInvalid, a document
// that CheckJSONKeys refuses.
func checkJSONKeys(data []byte) error {
	err := CheckJSONKeys(data)
	if dup, ok := err.(*DuplicateKeyError); ok {
		return &Error{Item: fmt.Sprintf("%s: key %q", dup.At, dup.Key), Err: fmt.Errorf("%w: %s", ErrInvalid, dup.problem())}
	}
	if err != nil {
		return &Error{Item: cmp.Or(jsonErrorPlace(data, err), "file"), Err: fmt.Errorf("%w: %v", ErrInvalid, err)}
	}
	return nil
}

// DuplicateKeyError reports a JSON object that gives a key twice, which
// encoding/json reads with the last value winning, where another reader
// of the same bytes may take the first.
type DuplicateKeyError struct {
	Key, At        string // the second key as written, and where: "line L, column C"
	First, FirstAt string // the first, which differs from Key in case when they fold alike
}

func (e *DuplicateKeyError) Error() string {
	return fmt.Sprintf("%s: key %q: %s", e.At, e.Key, e.problem())
}

func (e *DuplicateKeyError) problem() string {
	also := "also at " + e.FirstAt
	if e.First != e.Key {
		also = fmt.Sprintf("also as %q at %s: keys match fields whatever their case", e.First, e.FirstAt)
	}
	return "duplicate key (" + also + "), of which only the last would count; give each key once"
}

// CheckJSONKeys returns a *DuplicateKeyError for the first key that an
// object of the JSON document data, at any depth, gives twice, comparing
// keys as encoding/json matches them to fields (without regard to case);
// the decoder's error for data that is not JSON; or nil.
func CheckJSONKeys(data []byte) error {
	if !json.Valid(data) {
		return checkKeysByToken(data) // the decoder's error, or a duplicate before it
	}
	return checkKeysValid(data)
}

// checkKeysValid is CheckJSONKeys for one JSON value, as json.Valid
// accepts, which it walks byte by byte, keeping the keys of the objects
// open on a stack. checkKeysByToken, which a fuzz test compares it with,
// walks json.Decoder's tokens instead, and Token allocates an error for
// every value it reads (its scanner's, at the end of the value): that
// check took a third of the time to read a plan.
func checkKeysValid(data []byte) error {
	var keys []jsonKey   // those of the objects open, outermost first
	var open []jsonLevel // the objects and arrays open
	for i := 0; i < len(data); i++ {
		switch data[i] {
		case '{', '[':
			open = append(open, jsonLevel{object: data[i] == '{', first: len(keys), keyNext: true})
		case '}', ']':
			keys = keys[:open[len(open)-1].first]
			open = open[:len(open)-1]
		case ',':
			if len(open) > 0 {
				open[len(open)-1].keyNext = true
			}
		case '"':
			end := i + 1
			for data[end] != '"' { // valid: the string ends
				if data[end] == '\\' {
					end++
				}
				end++
			}
			if top := len(open) - 1; top >= 0 && open[top].object && open[top].keyNext {
				k := jsonKey{name: jsonString(data[i : end+1]), offset: int64(i)}
				if first, dup := open[top].add(&keys, k); dup {
					return &DuplicateKeyError{Key: string(k.name), At: bytePlace(data, k.offset), First: string(first.name), FirstAt: bytePlace(data, first.offset)}
				}
			}
			i = end
		}
	}
	return nil
}

// jsonKey is a key of an object, as encoding/json decodes it, and the
// offset of its opening quote.
type jsonKey struct {
	name   []byte // most often the document's own bytes: a fleet's file has millions of keys
	offset int64
}

// jsonLevel is an object or an array that checkKeysValid is in.
type jsonLevel struct {
	object  bool
	first   int            // the index of its first key in the keys of the objects open
	keyNext bool           // the next string is a key: at the start, and after a ","
	folded  map[string]int // by folded name, the index of each key after first, once it has many
}

// add appends key k of object l to keys, unless l has a key that folds as
// k does already, which it returns.
func (l *jsonLevel) add(keys *[]jsonKey, k jsonKey) (jsonKey, bool) {
	const compared = 16 // keys compared one by one, before the object gets a map
	l.keyNext = false
	own := (*keys)[l.first:]
	if l.folded == nil {
		for _, f := range own {
			if bytes.EqualFold(f.name, k.name) { // as foldName matches them
				return f, true
			}
		}
		if len(own) == compared {
			l.folded = make(map[string]int, 2*compared)
			for j, f := range own {
				l.folded[foldName(string(f.name))] = j
			}
		}
	}
	if l.folded != nil {
		folded := foldName(string(k.name))
		if j, ok := l.folded[folded]; ok {
			return own[j], true
		}
		l.folded[folded] = len(own)
	}
	*keys = append(*keys, k)
	return jsonKey{}, false
}

// jsonString returns the text of quoted, a JSON string that json.Valid
// accepted, as encoding/json decodes it: quoted's own bytes when they are
// ASCII without an escape.
func jsonString(quoted []byte) []byte {
	text := quoted[1 : len(quoted)-1]
	if bytes.IndexByte(text, '\\') < 0 && !slices.ContainsFunc(text, func(b byte) bool { return b >= utf8.RuneSelf }) {
		return text
	}
	var s string
	_ = json.Unmarshal(quoted, &s) // valid: it decodes
	return []byte(s)
}

// checkKeysByToken is CheckJSONKeys, walking json.Decoder's tokens.
func checkKeysByToken(data []byte) error {
	type key struct {
		name   string
		offset int64 // of its opening quote
	}
	// The keys of an object by folded name; nil in an array.
	enter := func(_ *map[string]key, array bool) map[string]key {
		if array {
			return nil
		}
		return map[string]key{}
	}
	return walkKeys(data, enter, func(keys *map[string]key, name string, at int64) error {
		folded := foldName(name)
		if first, dup := (*keys)[folded]; dup {
			return &DuplicateKeyError{Key: name, At: bytePlace(data, at), First: first.name, FirstAt: bytePlace(data, first.offset)}
		}
		(*keys)[folded] = key{name: name, offset: at}
		return nil
	})
}

// errStopWalk ends walkKeys early, as a visitor found what it looked for.
var errStopWalk = errors.New("stop")

// walkKeys walks the tokens of data, a JSON document, keeping a state S
// for each object and array open: enter makes it from its parent's (nil
// at the top) as the object or array opens, and key is called with the
// innermost object's state for each of its keys, and the offset of the
// key's opening quote. It returns key's error, but for errStopWalk, or
// the decoder's.
func walkKeys[S any](data []byte, enter func(parent *S, array bool) S, key func(level *S, name string, at int64) error) error {
	type level struct {
		s         S
		object    bool
		valueNext bool // a key was read: its value comes next
	}
	var open []level
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber() // a number beyond float64 is JSON too
	for {
		before := dec.InputOffset()
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			open = open[:len(open)-1]
			continue
		}
		if top := len(open) - 1; top >= 0 && open[top].object && !open[top].valueNext {
			open[top].valueNext = true
			start := before // skip the white space and comma before the quote
			for start < int64(len(data)) && data[start] != '"' {
				start++
			}
			name, _ := tok.(string)
			if err := key(&open[top].s, name, start); err != nil {
				return nilIfStop(err)
			}
			continue
		}
		// A value.
		var parent *S
		if top := len(open) - 1; top >= 0 {
			open[top].valueNext, parent = false, &open[top].s
		}
		if d, ok := tok.(json.Delim); ok {
			open = append(open, level{s: enter(parent, d == '['), object: d == '{'})
		}
	}
}

// nilIfStop returns err, or nil for errStopWalk.
func nilIfStop(err error) error {
	if errors.Is(err, errStopWalk) {
		return nil
	}
	return err
}

// foldName folds a key as encoding/json does to match it to a field: two
// keys that fold alike set the same field.
func foldName(name string) string {
	return strings.Map(func(r rune) rune {
		if r < utf8.RuneSelf {
			if 'a' <= r && r <= 'z' {
				r -= 'a' - 'A'
			}
			return r
		}
		// The smallest rune of its fold set, as encoding/json's foldRune.
		for {
			next := unicode.SimpleFold(r)
			if next <= r {
				return next
			}
			r = next
		}
	}, name)
}

// unknownField returns the place ("line L, column C") in data, a JSON
// document that decodes into a value of type t, of the first key that no
// field of the struct it would set matches, as encoding/json matches them
// (whatever their case), and the keys of that struct; or "" and nil.
// encoding/json names an unknown field, but not where it is, and a key
// unknown in one object may be known in another.
func unknownField(data []byte, t reflect.Type) (place string, keys []string) {
	// The struct or slice type an object or array decodes into, or nil
	// for one not checked (a map, an interface); and, in a struct, the
	// type of the value of the key just read.
	type level struct{ t, next reflect.Type }
	enter := func(parent *level, _ bool) level {
		vt := t
		switch {
		case parent == nil:
		case parent.t == nil:
			vt = nil
		case parent.t.Kind() == reflect.Struct:
			vt = parent.next
		default:
			vt = parent.t.Elem()
		}
		for vt != nil && vt.Kind() == reflect.Pointer {
			vt = vt.Elem()
		}
		if vt != nil && vt.Kind() != reflect.Struct && vt.Kind() != reflect.Slice && vt.Kind() != reflect.Array {
			vt = nil
		}
		return level{t: vt}
	}
	_ = walkKeys(data, enter, func(l *level, name string, at int64) error {
		if l.t == nil || l.t.Kind() != reflect.Struct {
			return nil
		}
		f, ok := fieldByKey(l.t, name)
		if !ok {
			place, keys = bytePlace(data, at), structKeys(l.t, "json")
			return errStopWalk
		}
		l.next = f.Type
		return nil
	})
	return place, keys
}

// fieldByKey returns the field of struct t that encoding/json sets for
// key: one of t's own, or else one of a struct t embeds without naming it
// (whose fields encoding/json reads as t's), as encoding/json prefers.
func fieldByKey(t reflect.Type, key string) (reflect.StructField, bool) {
	var embedded []reflect.Type
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if et := embeddedJSON(f, name); et != nil {
			embedded = append(embedded, et)
		} else if f.IsExported() && name != "-" && foldName(cmp.Or(name, f.Name)) == foldName(key) {
			return f, true
		}
	}
	for _, et := range embedded {
		if f, ok := fieldByKey(et, key); ok {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// embeddedJSON returns the struct type of field f, of JSON name name,
// when encoding/json reads its fields as those of the struct that holds
// it: an embedded struct, or pointer to one, that the tag does not name.
func embeddedJSON(f reflect.StructField, name string) reflect.Type {
	t := f.Type
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if !f.Anonymous || name != "" || t.Kind() != reflect.Struct {
		return nil
	}
	return t
}

// structKeys returns the keys, by their tag (json or yaml), of struct t;
// for json, with those of the structs it embeds (see embeddedJSON) in
// their place, but for the keys of t's own fields, which hide them.
func structKeys(t reflect.Type, tag string) []string {
	own := map[string]bool{}
	for i := range t.NumField() {
		if key, _, _ := strings.Cut(t.Field(i).Tag.Get(tag), ","); key != "" && key != "-" {
			own[key] = true
		}
	}
	var keys []string
	for i := range t.NumField() {
		key, _, _ := strings.Cut(t.Field(i).Tag.Get(tag), ",")
		if et := embeddedJSON(t.Field(i), key); tag == "json" && et != nil {
			for _, k := range structKeys(et, tag) {
				if !own[k] && !slices.Contains(keys, k) {
					keys = append(keys, k)
				}
			}
		} else if key != "" && key != "-" {
			keys = append(keys, key)
		}
	}
	return keys
}

// theKeysHere says which keys belong where an unknown one was found.
func theKeysHere(keys []string) string {
	if len(keys) == 1 {
		return "the key here is " + quotedList(keys, "and")
	}
	return "the keys here are " + quotedList(keys, "and")
}

// quotedList returns items quoted, separated by commas, the last two by
// conj ("and", "or"): `"a", "b" and "c"`.
func quotedList(items []string, conj string) string {
	quoted := make([]string, len(items))
	for i, k := range items {
		quoted[i] = strconv.Quote(k)
	}
	if len(quoted) == 1 {
		return quoted[0]
	}
	return strings.Join(quoted[:len(quoted)-1], ", ") + " " + conj + " " + quoted[len(quoted)-1]
}

// bytePlace gives the place of the byte at offset as "line L, column C".
func bytePlace(data []byte, offset int64) string {
	before := data[:min(offset, int64(len(data)))]
	line := bytes.Count(before, []byte("\n")) + 1
	col := len(before) - bytes.LastIndexByte(before, '\n')
	return fmt.Sprintf("line %d, column %d", line, col)
}

// WriteJSON writes the topology as a file that ReadJSON reads back, with
// applications sorted by ID and indented for people and diffs.
func (m *Memory) WriteJSON(w io.Writer) error {
	f := fileTopology{Schema: Schema, Applications: []fileApplication{}}
	for _, a := range m.Applications() {
		fa := fileApplication{ID: a.ID, Templates: []fileTemplate{}, Nodes: []fileNode{}}
		for _, t := range a.Templates {
			ft := fileTemplate{ID: t.ID, Type: t.Type, Version: t.Version.String()}
			for _, r := range t.Requirements {
				fr := fileRequirement{Name: r.Name, Template: r.Template, Relation: r.Relation}
				if !r.Constraint.IsZero() {
					fr.Constraint = r.Constraint.String()
				}
				ft.Requirements = append(ft.Requirements, fr)
			}
			fa.Templates = append(fa.Templates, ft)
		}
		for _, n := range a.Nodes {
			fa.Nodes = append(fa.Nodes, fileNode{ID: n.ID, Template: n.Template, Version: n.Version.String(), Relationships: n.Relationships})
		}
		f.Applications = append(f.Applications, fa)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(f)
}

// JSONError returns err, an error of encoding/json decoding data, with
// the message of jsonMessage: in the file's terms, with what it quotes of
// the file cut short (see [Quote]), and after the line and column of the
// error, where encoding/json tells. into, when given, is the value data
// was decoded into (a pointer to a struct): an unknown field, of which
// encoding/json tells no place, is then found, and the message lists the
// keys that belong there. It unwraps to err.
func JSONError(data []byte, err error, into ...any) error {
	var t reflect.Type
	if len(into) > 0 {
		t = reflect.TypeOf(into[0])
	}
	place, msg := jsonProblem(data, err, t)
	return &jsonError{place, msg, err}
}

// jsonProblem returns the place ("line L, column C", or "") and the
// message of jsonMessage for err, an error of encoding/json decoding data
// into a value of type t; an unknown field is found when t is not nil.
func jsonProblem(data []byte, err error, t reflect.Type) (place, msg string) {
	place, msg = jsonErrorPlace(data, err), jsonMessage(data, err)
	if errors.Is(err, io.ErrUnexpectedEOF) { // encoding/json says only "unexpected EOF"
		end := bytes.TrimRight(data, " \t\r\n")
		return bytePlace(data, int64(len(end))), `unexpected EOF: the JSON ends before every object and list it opens is closed: ` +
			`was the file cut short, or a "}" or "]" left out?`
	}
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t != nil && strings.HasPrefix(msg, "unknown field ") {
		if at, keys := unknownField(data, t); keys != nil {
			place, msg = at, msg+": "+theKeysHere(keys)
		}
	}
	return place, msg
}

type jsonError struct {
	place string // "line L, column C", or ""
	msg   string
	err   error
}

func (e *jsonError) Error() string {
	if e.place == "" {
		return e.msg
	}
	return e.place + ": " + e.msg
}
func (e *jsonError) Unwrap() error { return e.err }

// jsonMessage says what is wrong with a file's JSON in the file's terms:
// a value of the wrong kind names its field and what belongs there, not
// the Go types it was read into, and an unknown field or a number is
// quoted cut short, as a file may make them of megabytes; a syntax error
// gets a hint (see jsonSyntaxHint): a web page where the file belongs (a
// login page, a proxy's error page) would otherwise read only "invalid
// character '<'", and a compressed file "invalid character '\x1f'".
func jsonMessage(data []byte, err error) string {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return strings.TrimPrefix(err.Error(), "json: ") + jsonSyntaxHint(data, syn)
	}
	var typ *json.UnmarshalTypeError
	if !errors.As(err, &typ) || typ.Type == nil {
		msg := strings.TrimPrefix(err.Error(), "json: ")
		if field, ok := strings.CutPrefix(msg, "unknown field "); ok {
			if name, uerr := strconv.Unquote(field); uerr == nil {
				return "unknown field " + Quote(name)
			}
		}
		return msg
	}
	value := typ.Value
	if number, ok := strings.CutPrefix(value, "number "); ok && len(number) > 64 {
		value = "number " + shownID(number, 0)
	}
	if value == "array" || value == "object" {
		value = map[string]string{"array": "list", "object": "object"}[value]
	}
	article := "a "
	if strings.HasPrefix(value, "o") {
		article = "an "
	}
	kind := kindOf(typ.Type)
	msg := fmt.Sprintf("%s%s where %s belongs", article, value, kind)
	if strings.HasPrefix(value, "number") && kind == "a string" {
		msg += ": write it in quotes" // a version such as 18.04, as YAML takes it bare
	}
	if typ.Field == "" {
		return msg
	}
	return fmt.Sprintf("field %q: %s", fieldPath(typ.Field), msg)
}

// jsonSyntaxHint says, for a syntax error in data, what the data is
// when it is not JSON at all (markup, a compressed file), or what JSON does
// not allow where editors and other languages do (comments, a "," before
// "}" or "]", single quotes, keys without quotes, a "," left out, a tab or
// a line break within a string) and what
// to write; or "".
func jsonSyntaxHint(data []byte, syn *json.SyntaxError) string {
	if trimmed := bytes.TrimLeft(data, " \t\r\n"); len(trimmed) > 0 && trimmed[0] == '<' {
		return ": it holds markup (HTML or XML), not JSON: a web page, such as a login page or a proxy's error page, where the file belongs?"
	}
	for _, c := range compressedMagic {
		if bytes.HasPrefix(data, []byte(c.magic)) {
			return ": it is " + c.name + `-compressed, not JSON: store the file uncompressed (a server may still send it compressed, with "Content-Encoding: gzip")`
		}
	}
	if syn.Offset < 1 || syn.Offset > int64(len(data)) {
		return ""
	}
	at := data[syn.Offset-1:]
	before := bytes.TrimRight(data[:syn.Offset-1], " \t\r\n")
	msg := syn.Error()
	switch {
	case at[0] == '/':
		return ": JSON holds no comments: remove them"
	case at[0] < 0x20 && strings.HasSuffix(msg, "in string literal"):
		return `: a JSON string holds no control character: remove it, or write it as an escape, such as "\t" for a tab or "\n" for a line break`
	case (at[0] == '}' || at[0] == ']') && bytes.HasSuffix(before, []byte(",")):
		return `: JSON allows no "," before "}" or "]": remove the last ","`
	case at[0] == '\'':
		return `: JSON quotes keys and strings with '"', not '\''`
	case strings.HasSuffix(msg, "looking for beginning of object key string"):
		key := at[:len(at)-len(bytes.TrimLeft(at, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"))]
		if len(key) > 0 {
			return fmt.Sprintf(`: JSON quotes keys with '"': write "%s"`, shownID(string(key), 64))
		}
	case strings.HasSuffix(msg, "after object key:value pair"), strings.HasSuffix(msg, "after array element"):
		if at[0] == '"' || at[0] == '{' || at[0] == '[' {
			return `: a "," is missing before it`
		}
	}
	return ""
}

// compressedMagic are the bytes that begin files of the compressed
// formats, for jsonMessage.
var compressedMagic = []struct{ name, magic string }{
	{"gzip", "\x1f\x8b"}, {"zstd", "\x28\xb5\x2f\xfd"}, {"xz", "\xfd7zXZ\x00"}, {"bzip2", "BZh"},
}

// fieldPath returns encoding/json's path to a field as the file spells
// it: without the Go names (capitalised, where every key of the files
// read here is in lower case) of the embedded structs along it, which the
// file does not spell.
func fieldPath(path string) string {
	parts := strings.Split(path, ".")
	kept := parts[:0]
	for i, p := range parts {
		if i == len(parts)-1 || p == "" || !unicode.IsUpper(rune(p[0])) {
			kept = append(kept, p)
		}
	}
	return strings.Join(kept, ".")
}

// kindOf names what a file holds for a value of type t.
func kindOf(t reflect.Type) string {
	if reflect.PointerTo(t).Implements(reflect.TypeFor[encoding.TextUnmarshaler]()) {
		return "a string" // versions and constraints
	}
	switch t.Kind() {
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a string"
	case reflect.Float32, reflect.Float64:
		return "a number"
	default:
		return "a whole number"
	}
}

// jsonErrorPlace turns the offset of a decoding error into "line L, column
// C", or "" when the error has none.
func jsonErrorPlace(data []byte, err error) string {
	var offset int64 = -1
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		offset = syn.Offset
	case errors.As(err, &typ):
		offset = typ.Offset
	}
	if offset < 1 || offset > int64(len(data)) {
		return ""
	}
	return bytePlace(data, offset-1) // the offset counts the byte at fault
}
