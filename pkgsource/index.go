package pkgsource

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/version"
)

// IndexSchema is the value of the "schema" field of a package index.
const IndexSchema = "stackup.index/v1"

// MaxIndexSize is the largest index a source reads, in bytes, unless
// configured otherwise.
const MaxIndexSize = 32 << 20

// Index is a package repository's table of contents, stored as JSON:
//
//	{
//	  "schema": "stackup.index/v1",
//	  "version": 42,
//	  "generated": "2026-11-24T10:00:00Z",
//	  "expires": "2026-12-24T10:00:00Z",
//	  "packages": [{
//	    "type": "tomcat", "version": "10.1.34", "from": ">=9.0",
//	    "requires": [{"type": "jdk", "constraint": ">=11"}],
//	    "file": "tomcat-10.1.34.tar.gz",
//	    "sha256": "<64 lowercase hex digits>", "size": 12345678
//	  }]
//	}
//
// Version must grow with every new index of a repository: a signed source
// refuses an index older than the newest it has trusted. Each package
// names its content by "file" (relative to the repository) or "url", and
// gives its SHA-256 and size, which every read of the content is checked
// against. "from", "requires", "generated" and "expires" may be left out.
// Unknown fields are errors, and so is a key given twice in an object, in
// any letter case.
type Index struct {
	Version   int64
	Generated time.Time
	Expires   time.Time // zero: never
	Packages  []Package // Location holds the entry's file or URL
}

type indexJSON struct {
	Schema    string       `json:"schema"`
	Version   int64        `json:"version"`
	Generated time.Time    `json:"generated"`
	Expires   *time.Time   `json:"expires,omitempty"`
	Packages  []indexEntry `json:"packages"`
}

type indexEntry struct {
	Type     string             `json:"type"`
	Version  string             `json:"version"`
	From     string             `json:"from,omitempty"`
	Requires []indexRequirement `json:"requires,omitempty"`
	File     string             `json:"file,omitempty"`
	URL      string             `json:"url,omitempty"`
	SHA256   string             `json:"sha256"`
	Size     int64              `json:"size"`
}

type indexRequirement struct {
	Type       string `json:"type"`
	Constraint string `json:"constraint"`
}

// ErrInvalidIndex reports an index that cannot be read: too large,
// malformed, of another schema, or with a bad entry.
var ErrInvalidIndex = errors.New("invalid index")

// IndexError reports a problem with an index, naming the repository it
// was read from, when it was, and the entry at fault when there is one
// (such as `package #3 (tomcat 10.1.34)`). It matches ErrInvalidIndex.
type IndexError struct {
	Repo  string // the repository, as a Dir or HTTP source names it; empty for ParseIndex
	Entry string // empty for the index as a whole
	Err   error
}

func (e *IndexError) Error() string {
	prefix := "pkgsource: "
	if e.Repo != "" {
		prefix += e.Repo + ": "
	}
	if e.Entry == "" {
		return fmt.Sprintf("%s%v: %v", prefix, ErrInvalidIndex, e.Err)
	}
	return fmt.Sprintf("%s%v: %s: %v", prefix, ErrInvalidIndex, e.Entry, e.Err)
}

// Unwrap returns ErrInvalidIndex and the cause.
func (e *IndexError) Unwrap() []error { return []error{ErrInvalidIndex, e.Err} }

// ParseIndex parses an index of at most MaxIndexSize bytes. Every package
// must be valid (see Package.Validate), name a file or a URL, not both,
// give a digest and a size, and appear once; packages that name the same
// file or URL must give it the same digest and size.
func ParseIndex(data []byte) (*Index, error) {
	return parseIndex(data, MaxIndexSize)
}

func parseIndex(data []byte, limit int64) (*Index, error) {
	if int64(len(data)) > limit {
		return nil, &IndexError{Err: fmt.Errorf("larger than %d bytes", limit)}
	}
	if bytes.HasPrefix(data, []byte("\xEF\xBB\xBF")) {
		return nil, &IndexError{Err: errors.New("starts with a UTF-8 byte order mark, which JSON does not allow: write the index as UTF-8 without one, as WriteIndex does")}
	}
	if bytes.HasPrefix(data, []byte("\xFF\xFE")) || bytes.HasPrefix(data, []byte("\xFE\xFF")) {
		return nil, &IndexError{Err: errors.New("is UTF-16 (it starts with a UTF-16 byte order mark, as Windows PowerShell writes files), and an index is UTF-8: " +
			"write it as UTF-8 without a byte order mark, as WriteIndex does")}
	}
	if err := topology.CheckNotEmpty(data, `a JSON object with "schema": "`+IndexSchema+`", "version", "generated" and "packages"`); err != nil {
		return nil, &IndexError{Err: err}
	}
	var in indexJSON
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		if _, ok := errors.AsType[*time.ParseError](err); ok || strings.HasPrefix(err.Error(), "Time.UnmarshalJSON: ") {
			// time's error names no field, and not what to write.
			err = fmt.Errorf(`"generated" and "expires" are RFC 3339 times, such as "2026-11-24T10:00:00Z": %w`, err)
		}
		return nil, &IndexError{Err: topology.JSONError(data, err, &in)}
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, &IndexError{Err: errors.New("data after the index object")}
	}
	// encoding/json keeps the last of two keys in silence: two readers of
	// one signed index, such as a publisher's audit and this package,
	// could otherwise see different files or digests.
	if err := topology.CheckJSONKeys(data); err != nil {
		return nil, &IndexError{Err: err}
	}
	if in.Schema != IndexSchema {
		return nil, &IndexError{Err: fmt.Errorf("schema %s, want %q", topology.Quote(in.Schema), IndexSchema)}
	}
	if in.Version < 1 {
		return nil, &IndexError{Err: fmt.Errorf(`version %d, want 1 or more: give the index a "version" that grows with every index published, such as 1 for the first`, in.Version)}
	}
	idx := &Index{Version: in.Version, Generated: in.Generated.UTC(), Packages: make([]Package, 0, len(in.Packages))}
	if in.Expires != nil {
		idx.Expires = in.Expires.UTC()
	}
	for _, t := range []time.Time{idx.Generated, idx.Expires} {
		if y := t.Year(); y < 1 || y > 9999 { // the zero time is year 1
			return nil, &IndexError{Err: fmt.Errorf("time %s is outside the years 1 to 9999", t.Format(time.RFC3339))}
		}
	}
	seen := make(map[Key]int, len(in.Packages))
	located := make(map[string]int, len(in.Packages)) // location → the first package there
	entry := func(i int) string {
		e, name := in.Packages[i], fmt.Sprintf("package #%d", i+1)
		if tv := strings.TrimSpace(shown(e.Type) + " " + shown(e.Version)); tv != "" {
			name += " (" + tv + ")"
		}
		return name
	}
	for i, e := range in.Packages {
		p, err := e.decode()
		if err != nil {
			return nil, &IndexError{Entry: entry(i), Err: err}
		}
		k := p.Key().canonical() // "18.04" and "18.4.0" are one version
		if j, dup := seen[k]; dup {
			return nil, &IndexError{Entry: entry(i), Err: errors.New(listedTwice(idx.Packages[j].Version, p.Version, fmt.Sprintf("package #%d", j+1)))}
		}
		seen[k] = i
		// One file has one digest and size: of two packages that say
		// otherwise, one could never be installed.
		if j, ok := located[p.Location]; !ok {
			located[p.Location] = i
		} else if q := idx.Packages[j]; q.Digest != p.Digest || q.Size != p.Size {
			return nil, &IndexError{Entry: entry(i), Err: fmt.Errorf("names %s as %s does, with another sha256 or size: a file has one; "+
				"give each package the digest and size of the file as published", shown(RedactURL(p.Location)), entry(j))}
		}
		idx.Packages = append(idx.Packages, p)
	}
	return idx, nil
}

func (e indexEntry) decode() (Package, error) {
	p := Package{Type: e.Type, Size: e.Size}
	if e.Type != "" { // an empty type is Validate's to report
		if err := topology.CheckID("package type", e.Type); err != nil {
			return p, err
		}
	}
	var err error
	if e.Version != "" { // an empty version is Validate's to report
		if p.Version, err = version.Parse(e.Version); err != nil {
			return p, err
		}
	}
	if p.From, err = version.ParseConstraint(e.From); err != nil {
		return p, fmt.Errorf("from: %w", err)
	}
	for _, r := range e.Requires {
		c, err := version.ParseConstraint(r.Constraint)
		if err != nil {
			return p, fmt.Errorf("requires %s: %w", shown(r.Type), err)
		}
		if r.Type != "" {
			if err := topology.CheckID("package type", r.Type); err != nil {
				return p, fmt.Errorf("requires: %w", err)
			}
		}
		p.Requires = append(p.Requires, Requirement{Type: r.Type, Constraint: c})
	}
	switch {
	case e.File == "" && e.URL == "":
		return p, errors.New("names neither a file nor a url")
	case e.File != "" && e.URL != "":
		return p, errors.New("names both a file and a url")
	case e.SHA256 == "":
		return p, errors.New("no sha256")
	case !digestPattern.MatchString("sha256:" + e.SHA256):
		return p, fmt.Errorf("%w: sha256 %s is not 64 lowercase hex digits (the index gives the hex alone, without \"sha256:\")", ErrInvalid, topology.Quote(e.SHA256))
	case e.Size <= 0:
		return p, fmt.Errorf(`size %d, want 1 or more: give the file's length in bytes as "size"`, e.Size)
	case e.File != "":
		if err := checkFileName(e.File); err != nil {
			return p, err
		}
	default:
		if err := checkURL(e.URL); err != nil {
			return p, err
		}
	}
	p.Location = e.File + e.URL
	p.Digest = "sha256:" + e.SHA256
	if err := p.Validate(); err != nil {
		return p, errors.Unwrap(err) // the PackageError's cause; the entry is named by the caller
	}
	return p, nil
}

// Marshal returns the index as indented JSON in the documented schema, with
// packages sorted by type and version. It refuses, with the error ParseIndex
// would give, an index that ParseIndex would refuse. Locations that look like URLs
// ("http://", "https://") are written as "url", others as "file".
func (idx *Index) Marshal() ([]byte, error) {
	out := indexJSON{Schema: IndexSchema, Version: idx.Version, Generated: idx.Generated.UTC(), Packages: []indexEntry{}}
	if !idx.Expires.IsZero() {
		exp := idx.Expires.UTC()
		out.Expires = &exp
	}
	pkgs := slices.Clone(idx.Packages)
	slices.SortFunc(pkgs, Compare)
	for _, p := range pkgs {
		e := indexEntry{Type: p.Type, Version: p.Version.String(), Size: p.Size}
		if !p.From.IsZero() {
			e.From = p.From.String()
		}
		for _, r := range p.Requires {
			e.Requires = append(e.Requires, indexRequirement{Type: r.Type, Constraint: r.Constraint.String()})
		}
		if isURL(p.Location) {
			e.URL = p.Location
		} else {
			e.File = p.Location
		}
		e.SHA256, _ = strings.CutPrefix(p.Digest, "sha256:")
		out.Packages = append(out.Packages, e)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(out); err != nil {
		return nil, &IndexError{Err: err}
	}
	// Publish nothing that a reader would refuse.
	if _, err := ParseIndex(buf.Bytes()); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// indexTooLarge reports an index file, name being its name or URL,
// larger than limit bytes.
func indexTooLarge(name string, limit int64) error {
	return fmt.Errorf("%s is larger than %d bytes: if the repository holds that many packages, raise the limit (WithMaxIndexSize)", name, limit)
}

// byType returns the index's packages of type typ, ascending.
func (idx *Index) byType(typ string) []Package {
	var out []Package
	for _, p := range idx.Packages {
		if p.Type == typ {
			p.Requires = slices.Clone(p.Requires)
			out = append(out, p)
		}
	}
	slices.SortFunc(out, Compare)
	return out
}

// checkFileName reports, as an error matching ErrUnsafePath, whether name
// is not a safe package file name: a local, slash-separated name relative to
// the repository (see io/fs.ValidPath and path/filepath.IsLocal), each of
// whose elements is in the safe set of topology.CheckID. Such a name holds
// no "..", ".", empty element, backslash, "%" escape, space, shell
// metacharacter or control character, and no element starts with "-", so
// it reaches a file system, a URL path or a command line meaning what it
// says. Every index read, and every Dir and HTTP source, checks the file
// names it is given with it.
func checkFileName(name string) error {
	if !fs.ValidPath(name) || name == "." || !filepath.IsLocal(name) {
		return fmt.Errorf("%w: %s is not a local file name; name a file below the repository, such as \"pool/tomcat-10.1.34.tar.gz\"", ErrUnsafePath, topology.Quote(name))
	}
	for elem := range strings.SplitSeq(name, "/") {
		if err := topology.CheckID("file name element", elem); err != nil {
			return fmt.Errorf("%w: %s is not a local file name: %w", ErrUnsafePath, topology.Quote(name), err)
		}
	}
	return nil
}

// checkURL reports whether u, an index entry's "url", is not an absolute
// http(s) URL.
func checkURL(u string) error {
	parsed, err := url.Parse(u)
	if err != nil || !isURL(u) || parsed.Host == "" || parsed.User != nil {
		// As errors show URLs: its password and token, if any, are
		// not for every log that records the error.
		return fmt.Errorf("url %s is not an absolute http(s) URL without credentials", shown(RedactURL(u)))
	}
	return nil
}

// listedTwice says that version again is listed already, as first (in
// where, when given), and what to do about it.
func listedTwice(first, again version.Version, where string) string {
	twice := fmt.Sprintf("version %q is listed twice", again.String())
	if first != again {
		twice = fmt.Sprintf("version %q is listed already, as %q", again.String(), first.String())
	}
	if where != "" {
		twice += ", in " + where
	}
	return twice + ": list each version once"
}

// shown returns s as it can be printed in a message: as it is when it is in
// the safe set of identifiers (or empty), quoted and cut short otherwise
// (see topology.Quote), so that no control character or escape sequence
// reaches a terminal or a log, nor megabytes a message.
func shown(s string) string {
	if s == "" || topology.CheckID("", s) == nil {
		return s
	}
	return topology.Quote(s)
}

func isURL(s string) bool {
	return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://")
}
