package pkgsource_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/version"
)

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "index", name))
	require.NoError(t, err)
	return data
}

func TestParseIndexValid(t *testing.T) {
	idx, err := pkgsource.ParseIndex(readTestdata(t, "valid.json"))
	require.NoError(t, err)

	assert.Equal(t, int64(42), idx.Version)
	assert.True(t, idx.Generated.Equal(time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)), "generated %s", idx.Generated)
	assert.True(t, idx.Expires.Equal(time.Date(2026, 12, 24, 10, 0, 0, 0, time.UTC)), "expires %s", idx.Expires)
	require.Len(t, idx.Packages, 2)

	tomcat := idx.Packages[0] // in the file's order
	assert.Equal(t, "tomcat 10.1.34", tomcat.String())
	assert.Equal(t, ">=9.0", tomcat.From.String())
	assert.True(t, tomcat.From.Allows(version.MustParse("9.0.85")))
	assert.False(t, tomcat.From.Allows(version.MustParse("8.5.100")))
	require.Len(t, tomcat.Requires, 2)
	assert.Equal(t, "jdk", tomcat.Requires[0].Type)
	assert.Equal(t, ">=11", tomcat.Requires[0].Constraint.String())
	assert.Equal(t, "ubuntu", tomcat.Requires[1].Type)
	assert.Equal(t, ">=20.04, <26", tomcat.Requires[1].Constraint.String())
	assert.Equal(t, "tomcat/tomcat-10.1.34.tar.gz", tomcat.Location, "a file entry's location is its name")
	assert.Equal(t, pkgsource.Digest([]byte("tomcat")), tomcat.Digest)
	assert.Equal(t, int64(12345678), tomcat.Size)
	assert.NoError(t, tomcat.Validate())

	jdk := idx.Packages[1]
	assert.Equal(t, "jdk 21.0.2", jdk.String())
	assert.True(t, jdk.From.IsZero(), "from left out means any")
	assert.Empty(t, jdk.Requires)
	assert.Equal(t, "https://mirror.example.com/jdk/jdk-21.0.2.tar.gz", jdk.Location, "a url entry's location is its URL")
	assert.Equal(t, pkgsource.Digest([]byte("jdk")), jdk.Digest)
}

func TestParseIndexOptionalFields(t *testing.T) {
	tests := []struct {
		name  string
		file  string
		check func(t *testing.T, idx *pkgsource.Index)
	}{
		{"no packages, no expires", "minimal.json", func(t *testing.T, idx *pkgsource.Index) {
			assert.Equal(t, int64(1), idx.Version)
			assert.True(t, idx.Expires.IsZero(), "no expires means never")
			assert.Empty(t, idx.Packages)
		}},
		{"entry without from and requires", "", func(t *testing.T, idx *pkgsource.Index) {
			require.Len(t, idx.Packages, 2)
			assert.True(t, idx.Packages[1].From.IsZero())
			assert.Nil(t, idx.Packages[1].Requires)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := []byte(indexDoc(jdkEntry(), tomcatEntry()))
			if tt.file != "" {
				data = readTestdata(t, tt.file)
			}
			idx, err := pkgsource.ParseIndex(data)
			require.NoError(t, err)
			tt.check(t, idx)
		})
	}
}

// jdkEntry and tomcatEntry are valid index entries; tests change them.
func jdkEntry() map[string]any {
	return map[string]any{"type": "jdk", "version": "21.0.2", "file": "jdk-21.0.2.tar.gz", "sha256": strings.Repeat("b", 64), "size": 200}
}

func tomcatEntry() map[string]any {
	return map[string]any{"type": "tomcat", "version": "10.1.34", "file": "tomcat-10.1.34.tar.gz", "sha256": strings.Repeat("a", 64), "size": 100}
}

func with(e map[string]any, kv ...any) map[string]any {
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(e, kv[i].(string))
		} else {
			e[kv[i].(string)] = kv[i+1]
		}
	}
	return e
}

// indexDoc returns a valid index document holding entries.
func indexDoc(entries ...map[string]any) string {
	doc := map[string]any{"schema": pkgsource.IndexSchema, "version": 7, "generated": "2026-01-02T03:04:05Z", "packages": entries}
	if entries == nil {
		doc["packages"] = []any{}
	}
	data, err := json.Marshal(doc)
	if err != nil {
		panic(err)
	}
	return string(data)
}

func TestParseIndexEntryErrors(t *testing.T) {
	const second = "package #2 (tomcat 10.1.34)"
	tests := []struct {
		name    string
		entry   map[string]any // the second entry, after a valid jdk
		third   map[string]any // optional
		wantAt  string         // the entry named
		wantMsg string
		wantIs  error // an error the cause matches besides ErrInvalidIndex
	}{
		{"bad version", with(tomcatEntry(), "version", "ten"), nil, "package #2 (tomcat ten)", `"ten"`, version.ErrInvalidVersion},
		{"zero version", with(tomcatEntry(), "version", "0.0.0"), nil, "package #2 (tomcat 0.0.0)", "no version", pkgsource.ErrInvalid},
		{"no type", with(tomcatEntry(), "type", nil), nil, "package #2 (10.1.34)", "no type", pkgsource.ErrInvalid},
		{"bad from", with(tomcatEntry(), "from", ">>=9"), nil, second, "from:", version.ErrInvalidConstraint},
		{"bad requires constraint", with(tomcatEntry(), "requires", []any{map[string]any{"type": "jdk", "constraint": "eleven"}}), nil, second, "requires jdk:", version.ErrInvalidConstraint},
		{"requirement without type", with(tomcatEntry(), "requires", []any{map[string]any{"constraint": ">=11"}}), nil, second, "requirement #1 names no type", pkgsource.ErrInvalid},
		{"neither file nor url", with(tomcatEntry(), "file", nil), nil, second, "names neither a file nor a url", nil},
		{"both file and url", with(tomcatEntry(), "url", "https://example.com/t.tgz"), nil, second, "names both a file and a url", nil},
		{"missing sha256", with(tomcatEntry(), "sha256", nil), nil, second, "no sha256", nil},
		{"uppercase sha256", with(tomcatEntry(), "sha256", strings.Repeat("A", 64)), nil, second, "is not 64 lowercase hex digits", pkgsource.ErrInvalid},
		{"short sha256", with(tomcatEntry(), "sha256", strings.Repeat("a", 63)), nil, second, "is not 64 lowercase hex digits", pkgsource.ErrInvalid},
		{"sha256 with prefix", with(tomcatEntry(), "sha256", "sha256:"+strings.Repeat("a", 64)), nil, second, `is not 64 lowercase hex digits (the index gives the hex alone, without "sha256:")`, pkgsource.ErrInvalid},
		{"missing size", with(tomcatEntry(), "size", nil), nil, second, "size 0, want 1 or more", nil},
		{"size 0", with(tomcatEntry(), "size", 0), nil, second, "size 0, want 1 or more", nil},
		{"negative size", with(tomcatEntry(), "size", -5), nil, second, "size -5, want 1 or more", nil},
		{"duplicate", tomcatEntry(), tomcatEntry(), "package #3 (tomcat 10.1.34)", "is listed twice, in package #2: list each version once", nil},
		{"duplicate spelled differently", tomcatEntry(), with(tomcatEntry(), "version", "v10.1.34", "file", "other.tgz"), "package #3 (tomcat v10.1.34)", `is listed already, as "10.1.34", in package #2: list each version once`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			entries := []map[string]any{jdkEntry(), tt.entry}
			if tt.third != nil {
				entries = append(entries, tt.third)
			}
			idx, err := pkgsource.ParseIndex([]byte(indexDoc(entries...)))
			require.Error(t, err)
			assert.Nil(t, idx)
			require.ErrorIs(t, err, pkgsource.ErrInvalidIndex)
			var ie *pkgsource.IndexError
			require.ErrorAs(t, err, &ie)
			assert.Equal(t, tt.wantAt, ie.Entry)
			assert.Contains(t, err.Error(), tt.wantAt)
			assert.Contains(t, err.Error(), tt.wantMsg)
			if tt.wantIs != nil {
				assert.ErrorIs(t, err, tt.wantIs)
			}
			var pe *pkgsource.PackageError
			assert.False(t, errors.As(err, &pe), "the entry, not a PackageError, names the package")
		})
	}
}

func TestParseIndexDocumentErrors(t *testing.T) {
	valid := indexDoc(jdkEntry())
	tests := []struct {
		name    string
		data    string
		wantMsg string
	}{
		{"empty", "", `empty file: it holds nothing but white space; it must hold a JSON object with "schema": "stackup.index/v1"`},
		{"malformed JSON", valid[:len(valid)/2], "unexpected EOF"},
		{"not an object", `[1, 2]`, "a list where an object belongs"},
		{"packages not a list", strings.Replace(valid, `"packages":[`, `"packages":{"x":[`, 1) + "}", `field "packages": an object where a list belongs`},
		{"unknown field", strings.Replace(valid, `{"generated"`, `{"signature":"x","generated"`, 1), `unknown field "signature"`},
		{"unknown entry field", strings.Replace(valid, `"file":`, `"md5":"00","file":`, 1), `unknown field "md5"`},
		{"wrong schema", strings.Replace(valid, pkgsource.IndexSchema, "stackup.index/v2", 1), `schema "stackup.index/v2", want "stackup.index/v1"`},
		{"no schema", strings.Replace(valid, `"schema":"stackup.index/v1",`, "", 1), `schema "", want "stackup.index/v1"`},
		{"version 0", strings.Replace(valid, `"version":7`, `"version":0`, 1), "version 0, want 1 or more"},
		{"negative version", strings.Replace(valid, `"version":7`, `"version":-3`, 1), "version -3, want 1 or more"},
		{"no version", strings.Replace(valid, `,"version":7`, "", 1), "version 0, want 1 or more"},
		{"fractional version", strings.Replace(valid, `"version":7`, `"version":7.5`, 1), `field "version": a number 7.5 where a whole number belongs`},
		{"fractional version on line 2", strings.Replace(valid, `"version":7`, "\n"+`"version":7.5`, 1), `line 2, column 13: field "version": a number 7.5 where a whole number belongs`},
		{"syntax error on line 3", strings.Replace(valid, `"version":7`, "\n\n"+`"version":7,,`, 1), `line 3, column 13: invalid character ',' looking for beginning of object key string`},
		{"second object after", valid + "\n" + valid, "data after the index object"},
		{"garbage after", valid + " trailing", "data after the index object"},
		{"bad generated time", strings.Replace(valid, `"2026-01-02T03:04:05Z"`, `"yesterday"`, 1), "yesterday"},
		// encoding/json keeps the last of two keys, matched whatever their
		// case: a reader that keeps the first, or matches case, would see
		// another digest, file or version in the same signed bytes.
		{"version twice", strings.Replace(valid, `"version":7`, `"version":9,"version":7`, 1), `key "version": duplicate key (also at line 1, column`},
		{"sha256 twice in other cases", strings.Replace(valid, `"sha256":`, `"SHA256":"`+strings.Repeat("c", 64)+`","sha256":`, 1), `key "sha256": duplicate key (also as "SHA256" at line 1`},
		{"sha256 twice, one with a long s", strings.Replace(valid, `"sha256":`, `"ſha256":"`+strings.Repeat("c", 64)+`","sha256":`, 1), `key "sha256": duplicate key (also as "ſha256" at line 1`},
		{"file twice on another line", strings.Replace(valid, `"file":`, `"file":"evil.tgz",`+"\n"+`"file":`, 1), `line 2, column 1: key "file": duplicate key (also at line 1`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			idx, err := pkgsource.ParseIndex([]byte(tt.data))
			require.Error(t, err)
			assert.Nil(t, idx)
			require.ErrorIs(t, err, pkgsource.ErrInvalidIndex)
			var ie *pkgsource.IndexError
			require.ErrorAs(t, err, &ie)
			assert.Empty(t, ie.Entry, "the index as a whole is at fault")
			assert.Contains(t, err.Error(), tt.wantMsg)
			assert.True(t, strings.HasPrefix(err.Error(), "pkgsource: invalid index: "), err.Error())
		})
	}
}

func TestParseIndexTrailingWhitespace(t *testing.T) {
	_, err := pkgsource.ParseIndex([]byte(indexDoc(jdkEntry()) + "\n \t\r\n"))
	assert.NoError(t, err)
}

func TestParseIndexTooLarge(t *testing.T) {
	// A valid index padded with whitespace to one byte over the limit: the
	// size alone refuses it.
	valid := []byte(indexDoc(jdkEntry()))
	data := make([]byte, pkgsource.MaxIndexSize+1)
	copy(data, valid)
	for i := len(valid); i < len(data); i++ {
		data[i] = ' '
	}
	_, err := pkgsource.ParseIndex(data)
	require.ErrorIs(t, err, pkgsource.ErrInvalidIndex)
	var ie *pkgsource.IndexError
	require.ErrorAs(t, err, &ie)
	assert.Contains(t, err.Error(), "larger than 33554432 bytes")

	// At the limit exactly it is read.
	idx, err := pkgsource.ParseIndex(data[:pkgsource.MaxIndexSize])
	require.NoError(t, err)
	assert.Len(t, idx.Packages, 1)
}

func TestIndexErrorMessage(t *testing.T) {
	cause := errors.New("boom")
	whole := &pkgsource.IndexError{Err: cause}
	assert.Equal(t, "pkgsource: invalid index: boom", whole.Error())
	entry := &pkgsource.IndexError{Entry: "package #2 (tomcat 10.1.34)", Err: cause}
	assert.Equal(t, "pkgsource: invalid index: package #2 (tomcat 10.1.34): boom", entry.Error())
	assert.ErrorIs(t, entry, pkgsource.ErrInvalidIndex)
	assert.ErrorIs(t, entry, cause)
}

func TestIndexMarshalRoundTrip(t *testing.T) {
	tomcat, _ := repoPackage("tomcat", "10.1.34", ">=9.0, <10.1.34", req("jdk", ">=11"), req("ubuntu", ">=20.04"))
	old, _ := repoPackage("tomcat", "9.0.98", "")
	jdk, _ := repoPackage("jdk", "21.0.2", "")
	jdk.Location = "https://mirror.example.com/jdk-21.0.2.tar.gz"
	plain, _ := repoPackage("jdk", "17.0.10", "")
	plain.Location = "http://mirror.example.com/jdk-17.0.10.tar.gz"

	tests := []struct {
		name string
		idx  pkgsource.Index
	}{
		{"packages and expiry", pkgsource.Index{
			Version:   3,
			Generated: time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("CET", 3600)),
			Expires:   time.Date(2026, 2, 2, 3, 4, 5, 0, time.UTC),
			Packages:  []pkgsource.Package{tomcat, jdk, old, plain},
		}},
		{"no expiry", pkgsource.Index{Version: 1, Generated: fixedGenerated, Packages: []pkgsource.Package{old}}},
		{"no packages", pkgsource.Index{Version: 99, Generated: fixedGenerated}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := tt.idx.Marshal()
			require.NoError(t, err)
			got, err := pkgsource.ParseIndex(data)
			require.NoError(t, err, "%s", data)

			assert.Equal(t, tt.idx.Version, got.Version)
			assert.True(t, tt.idx.Generated.Equal(got.Generated))
			assert.True(t, tt.idx.Expires.Equal(got.Expires))
			assert.Equal(t, tt.idx.Expires.IsZero(), !bytes.Contains(data, []byte(`"expires"`)), "expires is left out when zero")

			// Marshal sorts by type, then version.
			want := sortedCopy(tt.idx.Packages)
			require.Len(t, got.Packages, len(want))
			for i, p := range got.Packages {
				assertSamePackage(t, want[i], p)
			}
		})
	}
}

func TestIndexMarshalLayout(t *testing.T) {
	file, _ := repoPackage("tomcat", "10.1.34", ">=9.0")
	url, _ := repoPackage("jdk", "21.0.2", "")
	url.Location = "https://mirror.example.com/jdk-21.0.2.tar.gz"
	idx := &pkgsource.Index{Version: 5, Generated: fixedGenerated, Packages: []pkgsource.Package{file, url}}
	data, err := idx.Marshal()
	require.NoError(t, err)

	var doc struct {
		Schema   string           `json:"schema"`
		Packages []map[string]any `json:"packages"`
	}
	require.NoError(t, json.Unmarshal(data, &doc))
	assert.Equal(t, pkgsource.IndexSchema, doc.Schema)
	require.Len(t, doc.Packages, 2)
	assert.Equal(t, "jdk", doc.Packages[0]["type"], "sorted by type")
	assert.Equal(t, url.Location, doc.Packages[0]["url"])
	assert.NotContains(t, doc.Packages[0], "file")
	assert.NotContains(t, doc.Packages[0], "from", "a zero From is left out")
	assert.Equal(t, file.Location, doc.Packages[1]["file"])
	assert.NotContains(t, doc.Packages[1], "url")
	assert.Equal(t, ">=9.0", doc.Packages[1]["from"])
	assert.Equal(t, strings.TrimPrefix(file.Digest, "sha256:"), doc.Packages[1]["sha256"], "the sha256 field has no prefix")
	assert.NotContains(t, string(data), `\u003e`, "no HTML escaping")
	assert.Equal(t, []pkgsource.Package{file, url}, idx.Packages, "Marshal leaves the index alone")
}

func sortedCopy(ps []pkgsource.Package) []pkgsource.Package {
	out := append([]pkgsource.Package(nil), ps...)
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && less(out[j], out[j-1]); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

func less(a, b pkgsource.Package) bool {
	if a.Type != b.Type {
		return a.Type < b.Type
	}
	if c := a.Version.Compare(b.Version); c != 0 {
		return c < 0
	}
	return a.Version.String() < b.Version.String()
}

// assertSamePackage compares every field of two packages by their text.
func assertSamePackage(t *testing.T, want, got pkgsource.Package) {
	t.Helper()
	assert.Equal(t, want.String(), got.String())
	assert.Equal(t, want.From.String(), got.From.String(), "from of %s", want)
	assert.Equal(t, requiresText(want), requiresText(got), "requires of %s", want)
	assert.Equal(t, want.Location, got.Location, "location of %s", want)
	assert.Equal(t, want.Digest, got.Digest, "digest of %s", want)
	assert.Equal(t, want.Size, got.Size, "size of %s", want)
}

func requiresText(p pkgsource.Package) []string {
	var out []string
	for _, r := range p.Requires {
		out = append(out, r.Type+" "+r.Constraint.String())
	}
	return out
}

func TestParseIndexRefusesYearsItCannotWriteBack(t *testing.T) {
	for _, ts := range []string{"0000-01-01T00:00:00+01:00", "9999-12-31T23:00:00-05:00"} {
		_, err := pkgsource.ParseIndex([]byte(`{"schema":"stackup.index/v1","version":1,"generated":"` + ts + `","packages":[]}`))
		require.ErrorIs(t, err, pkgsource.ErrInvalidIndex, ts)
		assert.Contains(t, err.Error(), "outside the years 1 to 9999")
	}
}

func TestMarshalRefusesAnIndexReadersWouldRefuse(t *testing.T) {
	for name, idx := range map[string]*pkgsource.Index{
		"version 0":    {Version: 0},
		"no location":  {Version: 1, Packages: []pkgsource.Package{{Type: "tomcat", Version: version.MustParse("1.0.0"), Digest: pkgsource.Digest([]byte("x")), Size: 1}}},
		"no digest":    {Version: 1, Packages: []pkgsource.Package{{Type: "tomcat", Version: version.MustParse("1.0.0"), Location: "a", Size: 1}}},
		"listed twice": {Version: 1, Packages: []pkgsource.Package{validPackage(), validPackage()}},
	} {
		_, err := idx.Marshal()
		assert.ErrorIs(t, err, pkgsource.ErrInvalidIndex, name)
		assert.Error(t, pkgsource.WriteIndex(t.TempDir(), idx, nil), name)
	}
}

// hostileNames are file names an attacker who writes an index could give a
// package, hoping a shell, a file system or a URL takes them for more.
var hostileNames = []string{
	"x;touch pwned;#", "../../etc/passwd", "%2e%2e/x", "a%2fb", "a\nb", "-rf", "pool/-rf",
	"/etc/passwd", "a//b", "./a", "a/.", "..", "a\\b", "a b", "$(touch pwned)", "`touch pwned`",
	"a\x00b", "\x1b[31mred", "café.tar.gz", "a|b",
}

func TestIndexRefusesHostileNames(t *testing.T) {
	type hostile struct {
		name    string
		entry   map[string]any
		wantAt  string // the entry named
		wantMsg string // the offending item, as the message shows it
	}
	var tests []hostile
	for _, name := range hostileNames {
		tests = append(tests, hostile{"file " + name, with(tomcatEntry(), "file", name), "package #2 (tomcat 10.1.34)", strconv.Quote(name)})
	}
	for _, typ := range []string{"x;touch pwned;#", "a\nb", "-rf", "%2e%2e", "tom cat", "jdk\u00a0"} {
		tests = append(tests,
			hostile{"type " + typ, with(tomcatEntry(), "type", typ), "package #2 (" + strconv.Quote(typ) + " 10.1.34)", `package type ` + strconv.Quote(typ)},
			hostile{"required type " + typ, with(tomcatEntry(), "requires", []any{map[string]any{"type": typ, "constraint": ">=11"}}), "package #2 (tomcat 10.1.34)", `package type ` + strconv.Quote(typ)})
	}
	for _, u := range []string{"javascript:alert(1)", "ftp://example.com/t.tgz", "https://user:pw@example.com/t.tgz", "https:///t.tgz", "file:///etc/passwd"} {
		tests = append(tests, hostile{"url " + u, with(tomcatEntry(), "file", nil, "url", u), "package #2 (tomcat 10.1.34)", pkgsource.RedactURL(u)})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			idx, err := pkgsource.ParseIndex([]byte(indexDoc(jdkEntry(), tt.entry)))
			require.Error(t, err)
			assert.Nil(t, idx, "the whole index is refused")
			require.ErrorIs(t, err, pkgsource.ErrInvalidIndex)
			var ie *pkgsource.IndexError
			require.ErrorAs(t, err, &ie)
			assert.Equal(t, tt.wantAt, ie.Entry)
			assert.Contains(t, err.Error(), tt.wantMsg)
			assert.NotContains(t, err.Error(), "\n", "no control character reaches the message")
			assert.NotContains(t, err.Error(), "\x1b")
		})
	}
}

func TestIndexFileNamesAccepted(t *testing.T) {
	for _, name := range []string{"tomcat-10.1.34.tar.gz", "pool/t/tomcat_10.1.34+b1.deb", "a/b/c@2:x.pkg", "...", "a/..b"} {
		t.Run(name, func(t *testing.T) {
			idx, err := pkgsource.ParseIndex([]byte(indexDoc(with(tomcatEntry(), "file", name))))
			require.NoError(t, err)
			assert.Equal(t, name, idx.Packages[0].Location)
		})
	}
}

// TestDirRefusesHostileIndex serves a signed index that names a hostile
// file: the source refuses it, opens nothing, runs nothing, and keeps
// trusting the version it trusted before.
func TestDirRefusesHostileIndex(t *testing.T) {
	for _, name := range hostileNames {
		t.Run(name, func(t *testing.T) {
			r := newRepo(t, true)
			store := pkgsource.NewFileTrustStore(filepath.Join(t.TempDir(), "trust.json"), pkgsource.AllowFirstUse())
			d := r.openDir(t, pkgsource.WithKeys(r.pub), pkgsource.WithTrustStore(store))
			ctx := context.Background()
			_, err := d.Packages(ctx, "tomcat")
			require.NoError(t, err)

			data := []byte(strings.Replace(indexDoc(jdkEntry(), with(tomcatEntry(), "file", name)), `"version":7`, `"version":9`, 1))
			r.write(t, pkgsource.IndexFile, data)
			r.write(t, pkgsource.SignatureFile, pkgsource.SignIndex(r.priv, data))

			ps, err := d.Packages(ctx, "tomcat")
			require.ErrorIs(t, err, pkgsource.ErrInvalidIndex)
			assert.Nil(t, ps)
			assert.Contains(t, err.Error(), "package #2 (tomcat 10.1.34)")
			assert.Contains(t, err.Error(), strconv.Quote(name))
			v, err := store.Version(ctx, r.dir)
			require.NoError(t, err)
			assert.EqualValues(t, 1, v, "the trust store is unchanged")
			assert.NoFileExists(t, filepath.Join(r.dir, "pwned"))
			assert.NoFileExists(t, "pwned")
		})
	}
}
