package topology

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// ReadYAML reads a topology file written in YAML, with the same schema and
// rules as ReadJSON (see [Schema]), except that keys are matched as
// written, in lower case, where ReadJSON matches them whatever their
// case. Versions keep their text: 18.04 is version 18.4.0, not a number. Errors match ErrInvalid and give the line
// of the field at fault.
//
// Anchors and aliases (&name, *name) may repeat values, within a budget:
// a document whose aliases would expand it to more than ten times the
// nodes written, plus 10,000, is refused, naming the alias at which it
// passes the budget, and so is an alias within the node it names. Reading
// thus takes work and memory in proportion to the file's size. A key that
// YAML reads as null (~, null) is refused, as decoding would drop it and
// its value.
func ReadYAML(r io.Reader) (*Memory, error) {
	data, err := readCapped(r)
	if err != nil {
		return nil, err
	}
	data = yaml12(data)
	var f fileTopology
	root, err := decodeYAML(data, fileHolds, "file", &f)
	if err != nil {
		return nil, err
	}
	if f.Schema != Schema {
		return nil, &Error{Item: fmt.Sprintf("line %d", yamlLine(root, "schema")),
			Err: fmt.Errorf("%w: schema %s, want %q", ErrInvalid, Quote(f.Schema), Schema)}
	}
	apps, err := f.decode(func(path ...any) int { return yamlLine(root, path...) })
	if err != nil {
		return nil, err
	}
	return newMemory(apps, true)
}

// yaml12Directive is a "%YAML 1.2" directive line, which the parser
// refuses ("found incompatible YAML document") although it reads YAML 1.2
// files: it knows the directive of YAML 1.1 alone.
var yaml12Directive = regexp.MustCompile(`^%YAML[ \t]+1\.2(?:[ \t]+#.*)?[ \t]*\r?$`)

// yaml12 returns data with a "%YAML 1.2" directive, which tools that
// write YAML 1.2 put before the document, turned into a comment of the
// same length, so that lines keep their numbers; data otherwise. It
// changes data in place.
func yaml12(data []byte) []byte {
	for line := range bytes.Lines(data) {
		line = bytes.TrimPrefix(line, []byte("\ufeff")) // a byte-order mark may start the file
		switch text := bytes.TrimSpace(line); {
		case len(text) == 0 || text[0] == '#':
		case text[0] != '%':
			return data // directives come first: this is the document
		case yaml12Directive.Match(bytes.TrimSuffix(line, []byte("\n"))):
			line[0] = '#'
		}
	}
	return data
}

// parseYAML parses one YAML document, a mapping, into its node tree, and
// checks the tree (see yamlDocument.check). holds says what the document
// must hold, for the error on an empty one.
func parseYAML(data []byte, holds string) (*yaml.Node, error) {
	return decodeYAML(data, holds, "", nil)
}

// decodeYAML is parseYAML, which then decodes the document into v, every
// field known to v; file names the document in v's errors ("file",
// "instance file"). It parses data once.
func decodeYAML(data []byte, holds, file string, v any) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	doc := yamlDocument{value: v, file: file}
	err := dec.Decode(&doc)
	if errors.Is(err, io.EOF) {
		return nil, &Error{Item: "file", Err: fmt.Errorf("%w: %w", ErrInvalid, emptyError("white space and comments", holds))}
	}
	// The first document's value; when it is null, which yaml decodes as
	// nothing, the document is parsed again to tell where it is.
	first := doc.root
	var null yaml.Node
	if err == nil && first == nil {
		_ = yaml.NewDecoder(bytes.NewReader(data)).Decode(&null) // it parsed
		first = &null
		if len(null.Content) > 0 {
			first = null.Content[0]
		}
	}
	if first != nil { // the document parsed: is there another?
		var extra yaml.Node
		if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
			return nil, &Error{Item: "file", Err: fmt.Errorf("%w: more than one YAML document%s", ErrInvalid, secondDocument(data, first.Line, &extra, err))}
		}
	}
	var checked *Error
	switch {
	case doc.root == nil && err == nil:
		return nil, &Error{Item: fmt.Sprintf("line %d", null.Line), Err: fmt.Errorf("%w: the document is not a mapping", ErrInvalid)}
	case errors.As(err, &checked):
		return nil, err
	case errors.As(err, new(*yaml.TypeError)):
		return nil, &Error{Item: file, Err: fmt.Errorf("%w: %s", ErrInvalid, yamlMessage(err))}
	case err != nil:
		if place, msg, ok := yamlBadCharacter(data, err); ok {
			return nil, &Error{Item: place, Err: fmt.Errorf("%w: %s", ErrInvalid, msg)}
		}
		return nil, &Error{Item: "file", Err: fmt.Errorf("%w: %s%s%s", ErrInvalid, yamlMessage(err), quoteHint(data, err), tabHint(data, err))}
	}
	return doc.root, nil
}

// yamlReaderErrors are the messages of yaml.v3's reader, which checks the
// characters of a file, and tells neither where nor which.
var yamlReaderErrors = []string{"control characters are not allowed", "invalid leading UTF-8 octet", "incomplete UTF-8 octet sequence",
	"invalid trailing UTF-8 octet", "invalid length of a UTF-8 sequence", "invalid Unicode character"}

// yamlBadCharacter returns, for err, an error of yaml.v3's reader, the
// place ("line L, column C") in data, a UTF-8 file, of the first
// character that YAML does not allow (a byte that is not UTF-8, a control
// character), and what it is and what to do; ok is false for other
// errors, and for a UTF-16 file, which the reader decodes itself.
func yamlBadCharacter(data []byte, err error) (place, msg string, ok bool) {
	if !slices.Contains(yamlReaderErrors, yamlMessage(err)) || bytes.HasPrefix(data, []byte{0xff, 0xfe}) || bytes.HasPrefix(data, []byte{0xfe, 0xff}) {
		return "", "", false
	}
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			return bytePlace(data, int64(i)), fmt.Sprintf("byte 0x%02X is not UTF-8 (was the file saved as Latin-1 or Windows-1252?): save the file as UTF-8", data[i]), true
		case !yamlPrintable(r):
			return bytePlace(data, int64(i)), fmt.Sprintf(`control character %U, which YAML does not allow: remove it, or, within a double-quoted string, write it as an escape, such as "\x%02x"`, r, r), true
		}
		i += size
	}
	return "", "", false
}

// yamlPrintable reports whether YAML allows r in a file, as yaml.v3's
// reader does.
func yamlPrintable(r rune) bool {
	return r == '\t' || r == '\n' || r == '\r' || (r >= 0x20 && r <= 0x7e) || r == 0x85 ||
		(r >= 0xa0 && r <= 0xd7ff) || (r >= 0xe000 && r <= 0xfffd) || (r >= 0x10000 && r <= 0x10ffff)
}

// yamlDocument decodes a document's node tree and, once the tree passes
// check, the value it holds, in one parse where yaml.Node.Decode would
// take a second: the function that an UnmarshalYAML of this form is
// given decodes through the yaml.Decoder's own state, which refuses
// unknown fields (KnownFields), and yaml.Node.Decode cannot be told to.
type yamlDocument struct {
	root  *yaml.Node
	value any    // nil: the tree alone
	file  string // see decodeYAML
}

func (d *yamlDocument) UnmarshalYAML(unmarshal func(any) error) error {
	var tree yamlTree
	if err := unmarshal(&tree); err != nil {
		return err
	}
	d.root = tree.root
	if err := d.check(); err != nil || d.value == nil {
		return err
	}
	return unmarshal(d.value)
}

// yamlTree is the node tree of what is decoded into it (a *yaml.Node
// given to the function of yamlDocument.UnmarshalYAML is decoded as a
// struct, field by field).
type yamlTree struct{ root *yaml.Node }

func (t *yamlTree) UnmarshalYAML(n *yaml.Node) error {
	t.root = n
	return nil
}

// check refuses a document that is not a mapping, and what checkAliases,
// checkTags and checkNullKeys refuse in it; and, before it is decoded into
// a value, what checkMappingKeys refuses.
func (d *yamlDocument) check() error {
	if d.root.Kind != yaml.MappingNode {
		return &Error{Item: fmt.Sprintf("line %d", d.root.Line), Err: fmt.Errorf("%w: the document is not a mapping", ErrInvalid)}
	}
	for _, check := range []func(*yaml.Node) error{checkAliases, checkTags, checkNullKeys} {
		if err := check(d.root); err != nil {
			return err
		}
	}
	if d.value == nil {
		return nil
	}
	if err := d.otherKind(); err != nil {
		return err
	}
	return checkMappingKeys(d.root, d.file)
}

// otherKind refuses, saying what it is and how to read it, a document of
// another kind than d.value reads, which decoding would refuse as a list
// of its fields that d.value does not have.
func (d *yamlDocument) otherKind() error {
	want := topologyKind
	if _, ok := d.value.(*instanceFile); ok {
		want = instancesKind
	}
	for i := 0; i+1 < len(d.root.Content); i += 2 {
		k := d.root.Content[i]
		if msg := notKind(k, d.root.Content[i+1], want); msg != "" {
			return &Error{Item: strings.TrimPrefix(fmt.Sprintf("%s line %d", d.file, k.Line), "file "), Err: fmt.Errorf("%w: %s", ErrInvalid, msg)}
		}
	}
	return nil
}

// The kinds of document the readers read.
const (
	topologyKind  = "a stackup topology file"
	instancesKind = "an instance file"
	toscaKind     = "a TOSCA service template"
)

// notKind says, when a document's top-level key k and its value v tell
// that it is of another kind than want, which, and how to read it; else
// it returns "".
func notKind(k, v *yaml.Node, want string) string {
	var is, how string
	switch {
	case k.Value == "tosca_definitions_version":
		is, how = toscaKind, "read it and its instance file with ReadTOSCA or LoadTOSCA"
	case k.Value != "schema":
		return ""
	case v.Value == Schema:
		is, how = topologyKind, "read it with ReadYAML or Load"
	case v.Value == InstancesSchema:
		is, how = instancesKind, "read it and its TOSCA service template with ReadTOSCA or LoadTOSCA"
	}
	if is == "" || is == want {
		return ""
	}
	if is != topologyKind && want != topologyKind { // the two files of a TOSCA deployment, swapped
		how = "give the service template first and the instance file second"
	}
	if is != toscaKind {
		is = fmt.Sprintf("%s (%q)", is, v.Value)
	}
	return fmt.Sprintf("the file is %s, not %s: %s", is, want, how)
}

// secondDocument says where the document after the first (whose value
// begins on line first) begins, read into extra (with err), and what to
// do; or "" when it cannot say. A file
// made by joining files, or by a template engine such as Helm's, often
// holds a "---" before each document, or after the last.
func secondDocument(data []byte, first int, extra *yaml.Node, err error) string {
	if err != nil {
		return ""
	}
	// The "---" that starts the second document is the first line, after
	// the first document's first line, that begins with "---".
	n, start := 0, 0
	for line := range bytes.Lines(data) {
		if n++; n > first && (bytes.Equal(bytes.TrimRight(line, "\r\n"), []byte("---")) || bytes.HasPrefix(line, []byte("--- ")) || bytes.HasPrefix(line, []byte("---\t"))) {
			start = n
			break
		}
	}
	if start == 0 {
		return ""
	}
	if len(extra.Content) == 0 || extra.Content[0].Kind == yaml.ScalarNode && extra.Content[0].ShortTag() == "!!null" {
		return fmt.Sprintf(`: the "---" on line %d starts an empty one: remove it`, start)
	}
	return fmt.Sprintf(`: the "---" on line %d starts another: a file holds one document; put the other in a file of its own`, start)
}

// checkTags refuses a node tagged with a tag that YAML does not define
// (one not written "!!str", "!!float" and so on), naming its line. YAML
// reads a plain value that begins with "!" as a tag and what follows, and
// decoding drops the tag: the constraint !=1.5 <2, unquoted, would be
// read as <2, and !=1.5 alone as no constraint. It does not follow
// aliases: the nodes they name are walked where they are written.
func checkTags(n *yaml.Node) error {
	if n.Style&yaml.TaggedStyle != 0 && !strings.HasPrefix(n.Tag, "!!") {
		return &Error{Item: fmt.Sprintf("line %d", n.Line),
			Err: fmt.Errorf("%w: YAML reads %q as a tag, not as text, and would drop it: quote a value that begins with \"!\", "+
				"such as the constraint \"!=1.5 <2\"", ErrInvalid, shownID(n.Tag, 64))}
	}
	for _, c := range n.Content {
		if err := checkTags(c); err != nil {
			return err
		}
	}
	return nil
}

// maxMappingKeys is the most keys a mapping of a topology or instance
// file may hold: each is read into a structure of a few fields, so more
// are fields it does not have.
const maxMappingKeys = 64

// checkMappingKeys refuses, before a document is decoded into structures
// (file names it in errors: "file" or "instance file"),
// a mapping that gives a key twice, naming both lines as the decoder
// would, and a mapping of more than maxMappingKeys keys. The decoder
// compares every key of a mapping with every other and reports every
// pair: a file of 50 kB holding one key 10,000 times took minutes and
// gigabytes. This takes time in proportion to the nodes written; it does
// not follow aliases, whose nodes it checks where they are written.
func checkMappingKeys(n *yaml.Node, file string) error {
	if n.Kind == yaml.MappingNode {
		type key struct {
			kind  yaml.Kind
			value string
		}
		lines := make(map[key]int, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if first, dup := lines[key{k.Kind, k.Value}]; dup {
				return &Error{Item: file, Err: fmt.Errorf("%w: %s", ErrInvalid, yamlTypeMessage(
					fmt.Sprintf("line %d: mapping key %q already defined at line %d", k.Line, shownID(k.Value, 64), first), nil))}
			}
			lines[key{k.Kind, k.Value}] = k.Line
		}
		if keys := len(n.Content) / 2; keys > maxMappingKeys {
			return &Error{Item: strings.TrimPrefix(fmt.Sprintf("%s line %d", file, n.Line), "file "),
				Err: fmt.Errorf("%w: a mapping of %d keys, where no mapping of this file has more than a few fields: remove the keys that are not its fields", ErrInvalid, keys)}
		}
	}
	for _, c := range n.Content {
		if err := checkMappingKeys(c, file); err != nil {
			return err
		}
	}
	return nil
}

// checkNullKeys refuses a mapping key that YAML reads as null (~, null,
// Null, NULL, or an empty "?" key), naming its line. Decoding drops such a
// key with its value in silence, whatever the value holds: "~:" written
// for "nodes:" would load an application without nodes. It does not
// follow aliases: the nodes they name are walked where they are written.
func checkNullKeys(n *yaml.Node) error {
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k := n.Content[i]; k.Kind == yaml.ScalarNode && k.ShortTag() == "!!null" {
				key := "an empty key"
				if k.Value != "" {
					key = "the key " + Quote(k.Value)
				}
				return &Error{Item: fmt.Sprintf("line %d", k.Line),
					Err: fmt.Errorf("%w: YAML reads %s as null, and would drop it and its value: write the field's name there, or quote the key if it is text", ErrInvalid, key)}
			}
		}
	}
	for _, c := range n.Content {
		if err := checkNullKeys(c); err != nil {
			return err
		}
	}
	return nil
}

// A YAML document may grow, through its aliases, to at most aliasGrowth
// times its own nodes plus aliasSlack: reading it then costs work and
// memory proportional to its size. Without a bound, anchors that refer to
// anchors (a "billion laughs"), or many aliases of one long list, make a
// small file cost a gigabyte or minutes of CPU.
const (
	aliasGrowth = 10
	aliasSlack  = 10_000
	// sizeCap keeps expanded sizes from overflowing: anything larger is
	// far past the budget anyway.
	sizeCap = 1 << 50
)

// checkAliases counts the nodes of the tree below root as if every alias
// were replaced by a copy of the node it names, and refuses the document,
// naming the alias at which the count passes the budget, when it is more
// than aliasGrowth times the nodes written plus aliasSlack. It also
// refuses an alias within the node it names, which would never end. It
// takes time and memory proportional to the nodes written.
func checkAliases(root *yaml.Node) error {
	sizes := map[*yaml.Node]int{} // anchored node → expanded size; 0 while open
	written := 0
	var size func(n *yaml.Node) (int, error)
	size = func(n *yaml.Node) (int, error) {
		if n.Kind == yaml.AliasNode {
			written++
			if n.Alias == nil {
				return 1, nil
			}
			s := sizes[n.Alias]
			if s == 0 { // the alias is inside the node it names
				return 0, &Error{Item: fmt.Sprintf("line %d: alias *%s", n.Line, n.Value),
					Err: fmt.Errorf("%w: the alias is within the node it names (line %d), which would repeat forever; remove the alias", ErrInvalid, n.Alias.Line)}
			}
			return s, nil
		}
		written++
		if n.Anchor != "" {
			sizes[n] = 0
		}
		s := 1
		for _, c := range n.Content {
			cs, err := size(c)
			if err != nil {
				return 0, err
			}
			s = min(s+cs, sizeCap)
		}
		if n.Anchor != "" {
			sizes[n] = s
		}
		return s, nil
	}
	total, err := size(root)
	if err != nil || total <= aliasBudget(written) {
		return err
	}
	// Name the alias at which the count passes the budget.
	budget, count := aliasBudget(written), 0
	var blame func(n *yaml.Node) *yaml.Node
	blame = func(n *yaml.Node) *yaml.Node {
		if n.Kind == yaml.AliasNode {
			if n.Alias != nil {
				count = min(count+sizes[n.Alias], sizeCap)
			}
			if count > budget {
				return n
			}
			return nil
		}
		count++
		for _, c := range n.Content {
			if at := blame(c); at != nil {
				return at
			}
		}
		return nil
	}
	at := blame(root)
	if at == nil { // cannot happen: the same count over the same tree
		at = root
	}
	return &Error{Item: fmt.Sprintf("line %d: alias *%s", at.Line, at.Value),
		Err: fmt.Errorf("%w: aliases expand the document to more than %d nodes (%d written, at most %d times as many plus %d allowed); "+
			"write the repeated values out, or use fewer aliases of large nodes", ErrInvalid, budget, written, aliasGrowth, aliasSlack)}
}

func aliasBudget(written int) int { return aliasGrowth*written + aliasSlack }

// yamlLine returns the line of the node at path below root: mapping keys
// as strings, sequence indexes as ints. It returns the line of the deepest
// node found when the path goes further than the document.
func yamlLine(root *yaml.Node, path ...any) int {
	n := root
	for _, step := range path {
		next := yamlChild(n, step)
		if next == nil {
			break
		}
		n = next
	}
	return n.Line
}

func yamlChild(n *yaml.Node, step any) *yaml.Node {
	switch s := step.(type) {
	case string:
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == s {
					return n.Content[i+1]
				}
			}
		}
	case int:
		if n.Kind == yaml.SequenceNode && s >= 0 && s < len(n.Content) {
			return n.Content[s]
		}
	}
	return nil
}

// yamlErrorLine finds the line of a YAML syntax error, and
// yamlIndicator a value, after a key or a list's "-", or within a flow
// mapping or list ("{template: u, constraint: >=1.0}"), that begins with
// a character YAML reads as syntax: ">" and "|" start a block, "*" an
// alias, "&" an anchor, "!" a tag, and "%", "@" and "`" are reserved. A
// comment may follow it.
var (
	yamlErrorLine = regexp.MustCompile(`^yaml: line (\d+):`)
	yamlIndicator = regexp.MustCompile("(?:^\\s*(?:-\\s+)?(?:[^\\s:#]+:\\s+|-\\s+)|[{\\[,]\\s*(?:[^\\s:#,\\[\\]{}]+:\\s+)?)" +
		"([>|*&!%@`][^#]*?)\\s*(?:\\s#.*)?$")
)

// quoteHint returns, for err, a YAML syntax error in data, advice to
// quote the value on its line when that value begins with a character
// YAML reads as syntax, as an unquoted constraint such as >=1.0 or * does;
// or "". Without it, YAML says only "did not find expected comment or
// line break". Within a flow mapping or list, the value ends before the
// first ",", "]" or "}".
func quoteHint(data []byte, err error) string {
	g := yamlErrorLine.FindStringSubmatch(err.Error())
	if g == nil {
		return ""
	}
	n, _ := strconv.Atoi(g[1])
	var text string
	var at []int
	for line := range bytes.Lines(data) { // not a list of every line of a file of megabytes
		if n--; n == 0 {
			text = string(bytes.TrimSuffix(line, []byte("\n")))
			at = yamlIndicator.FindStringSubmatchIndex(text)
			break
		}
	}
	if at == nil {
		return ""
	}
	v := text[at[2]:at[3]]
	// In a flow mapping or list (begun on this line, or closed in v, as
	// one written over several lines is), the value ends at its first
	// ",", "]" or "}".
	if strings.ContainsAny(text[:at[2]], "{[") || strings.Count(v, "}")+strings.Count(v, "]") > strings.Count(v, "{")+strings.Count(v, "[") {
		if i := strings.IndexAny(v, ",]}"); i > 0 {
			v = strings.TrimSpace(v[:i])
		}
	}
	return fmt.Sprintf(": YAML reads a value that begins with %q as syntax, not text: quote it, as %s", v[:1], Quote(v))
}

// tabHint returns, for err, a YAML syntax error in data, advice to
// indent with spaces when the line it names, or the next line of content
// (the parser often names the line before the one at fault, before any
// blank lines and comments), is indented with a tab;
// or "". YAML says only "found character that cannot start any token",
// or names a tab on the line before.
func tabHint(data []byte, err error) string {
	msg := err.Error()
	if !strings.Contains(msg, "tab character") && !strings.Contains(msg, "cannot start any token") {
		return ""
	}
	g := yamlErrorLine.FindStringSubmatch(msg)
	if g == nil {
		return ""
	}
	n, _ := strconv.Atoi(g[1])
	i := 0
	for line := range bytes.Lines(data) { // not a list of every line of a file of megabytes
		if i++; i < n {
			continue
		}
		text := bytes.TrimLeft(line, " \t")
		if bytes.IndexByte(line[:len(line)-len(text)], '\t') >= 0 {
			return fmt.Sprintf(": line %d is indented with a tab, and YAML indents with spaces only: replace the tab with spaces", i)
		}
		// The next line of content may be the one, after blank lines
		// and comments, which the parser skips.
		if text = bytes.TrimSpace(text); i > n && len(text) > 0 && text[0] != '#' {
			break
		}
	}
	return ""
}

// maxYAMLMessages is the most problems of a yaml.TypeError an error
// lists: a file of megabytes may hold an unknown field in each of a
// hundred thousand entries, which would make a message of megabytes.
const maxYAMLMessages = 10

// yamlMessage flattens a yaml.v3 error ("yaml: line 3: …", or a
// *yaml.TypeError listing several) into one line.
func yamlMessage(err error) string {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		shown := te.Errors[:min(len(te.Errors), maxYAMLMessages)]
		msgs := make([]string, len(shown))
		listed := map[string]bool{} // the types whose keys a message listed
		for i, m := range shown {
			msgs[i] = yamlTypeMessage(m, listed)
		}
		if more := len(te.Errors) - len(shown); more > 0 {
			msgs = append(msgs, fmt.Sprintf("and %d more problems of which these are the first", more))
		}
		return strings.Join(msgs, "; ")
	}
	return strings.TrimPrefix(err.Error(), "yaml: ")
}

// The messages of a yaml.TypeError that name Go types.
var (
	yamlUnknownField = regexp.MustCompile(`^(line \d+: )field (.*) not found in type (\S+)$`)
	yamlWrongKind    = regexp.MustCompile("^(line \\d+: )cannot unmarshal !!(\\w+) (?:`(.*)` )?into (\\S+)$")
)

// yamlKeys are the keys of the YAML files read here, by their lower-case
// form (they are all lower case), for the error on a key written in other
// case; yamlKeysOf, the keys of each type they are read into, by its name
// (such as "topology.fileNode"), for the error on an unknown key.
var yamlKeys, yamlKeysOf = func() (map[string]string, map[string][]string) {
	keys, of := map[string]string{}, map[string][]string{}
	for _, v := range []any{fileTopology{}, fileApplication{}, fileTemplate{}, fileRequirement{}, fileNode{}, Relationship{},
		instanceFile{}, instanceNode{}, instanceRelationship{}} {
		t := reflect.TypeOf(v)
		of[t.String()] = structKeys(t, "yaml")
		for _, key := range of[t.String()] {
			keys[strings.ToLower(key)] = key
		}
	}
	return keys, of
}()

// yamlTypeMessage says what one message of a yaml.TypeError says in the
// file's terms: an unknown field, or a value of the wrong kind and what
// belongs there, not the Go types it was read into; and what to do about
// a key given twice, the merge key "<<" among them. An unknown key's
// message lists the keys that belong there, unless listed holds its type;
// it then records it, so that a list of messages lists them once.
func yamlTypeMessage(m string, listed map[string]bool) string {
	if strings.Contains(m, `mapping key "<<" already defined at line`) {
		return m + `: merge several mappings with one "<<" and a list, such as "<<: [*a, *b]"`
	}
	if strings.Contains(m, "already defined at line") {
		// Which of the two another reader would keep is not said: this one keeps neither.
		return m + ": a mapping gives each key once: remove one of the two, or, if both are wanted, put them in separate entries"
	}
	if g := yamlUnknownField.FindStringSubmatch(m); g != nil {
		if key, ok := yamlKeys[strings.ToLower(g[2])]; ok {
			// ReadJSON matches keys whatever their case: a file
			// converted from JSON may hold "ID".
			return fmt.Sprintf("%sunknown field %q: write %q: YAML keys are matched as written, in lower case", g[1], g[2], key)
		}
		if keys, ok := yamlKeysOf[g[3]]; ok && !listed[g[3]] {
			if listed != nil {
				listed[g[3]] = true
			}
			return fmt.Sprintf("%sunknown field %q: %s", g[1], g[2], theKeysHere(keys))
		}
		return fmt.Sprintf("%sunknown field %q", g[1], g[2])
	}
	g := yamlWrongKind.FindStringSubmatch(m)
	if g == nil {
		return m
	}
	kinds := map[string]string{"str": "a string", "seq": "a list", "map": "a mapping", "int": "a number", "float": "a number",
		"bool": "true or false", "null": "null"}
	got, ok := kinds[g[2]]
	if !ok {
		got = "a value tagged !!" + g[2]
	}
	if g[3] != "" {
		got += fmt.Sprintf(" (%q)", g[3])
	}
	want := "a mapping" // the file's structures
	switch typ := g[4]; {
	case strings.HasPrefix(typ, "[]"):
		want = "a list"
	case typ == "string", strings.HasPrefix(typ, "topology.") && strings.HasSuffix(typ, "ID"),
		typ == "topology.Relation", strings.HasPrefix(typ, "version."):
		want = "a string"
	case typ == "bool":
		want = "true or false"
	case strings.HasPrefix(typ, "int"), strings.HasPrefix(typ, "uint"), strings.HasPrefix(typ, "float"):
		want = "a number"
	}
	return fmt.Sprintf("%s%s where %s belongs", g[1], got, want)
}

// readCapped reads at most MaxFileSize bytes of a topology file.
func readCapped(r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("topology: reading file: %w", err)
	}
	if len(data) > MaxFileSize {
		return nil, &Error{Item: "file", Err: fmt.Errorf("%w: larger than %d bytes (topology.MaxFileSize): if it is a topology, serve one that large "+
			"through a topology.Topology over the inventory that holds it, or build it with topology.New", ErrInvalid, MaxFileSize)}
	}
	return data, nil
}
