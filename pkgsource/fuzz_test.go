package pkgsource_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/topology"
)

// FuzzParseIndex checks that ParseIndex never panics and that what it
// accepts survives Marshal and a second ParseIndex unchanged.
func FuzzParseIndex(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "index", "*.json"))
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	valid := indexDoc(jdkEntry(), with(tomcatEntry(), "from", ">=9.0, <10.1.34", "requires", []any{map[string]any{"type": "jdk", "constraint": ">=11"}}))
	for _, seed := range []string{
		valid,
		indexDoc(),
		indexDoc(with(jdkEntry(), "file", nil, "url", "https://mirror.example.com/jdk.tar.gz")),
		indexDoc(with(jdkEntry(), "version", "v21.0.2+build.7"), with(jdkEntry(), "version", "21.0.2-rc.1")),
		indexDoc(with(tomcatEntry(), "requires", []any{map[string]any{"type": "jdk", "constraint": ""}})),
		strings.Replace(valid, `"generated":"2026-01-02T03:04:05Z"`, `"generated":"2026-01-02T03:04:05.123456789+05:30","expires":"2027-01-01T00:00:00Z"`, 1),
		// Regression: accepted, but its UTC year (-1) cannot be marshalled.
		strings.Replace(valid, `"2026-01-02T03:04:05Z"`, `"0000-01-01T00:00:00+01:00"`, 1),
		// Broken ones.
		"", " \n\t",
		"{}",
		"null",
		valid[:len(valid)-7],
		valid + "{}",
		indexDoc(jdkEntry(), jdkEntry()),
		indexDoc(with(jdkEntry(), "sha256", strings.Repeat("A", 64))),
		indexDoc(with(jdkEntry(), "size", -1)),
		indexDoc(with(jdkEntry(), "url", "https://x/y")),
		strings.Replace(valid, `"version":7`, `"version":0`, 1),
		strings.Replace(valid, pkgsource.IndexSchema, "stackup.index/v0", 1),
		strings.Replace(valid, `"file":`, `"extra":1,"file":`, 1),
	} {
		f.Add([]byte(seed))
	}
	// Hostile names, each refused; the fuzzer mutates them towards ones
	// that might not be.
	for _, name := range hostileNames {
		f.Add([]byte(indexDoc(with(jdkEntry(), "file", name))))
		f.Add([]byte(indexDoc(with(jdkEntry(), "type", name))))
		f.Add([]byte(indexDoc(with(jdkEntry(), "file", nil, "url", "https://example.com/"+name))))
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		idx, err := pkgsource.ParseIndex(data)
		if err != nil {
			if idx != nil {
				t.Fatalf("ParseIndex returned an index and an error: %v", err)
			}
			var ie *pkgsource.IndexError
			if !errors.As(err, &ie) {
				t.Fatalf("ParseIndex error is not an *IndexError: %v", err)
			}
			return
		}
		out, err := idx.Marshal()
		if err != nil {
			t.Fatalf("Marshal of an accepted index: %v", err)
		}
		again, err := pkgsource.ParseIndex(out)
		if err != nil {
			t.Fatalf("ParseIndex of the marshalled index: %v\n%s", err, out)
		}
		if again.Version != idx.Version || !again.Generated.Equal(idx.Generated) || !again.Expires.Equal(idx.Expires) {
			t.Fatalf("header changed: %d %s %s, want %d %s %s", again.Version, again.Generated, again.Expires, idx.Version, idx.Generated, idx.Expires)
		}
		want := sortedCopy(idx.Packages)
		if len(again.Packages) != len(want) {
			t.Fatalf("%d packages after the round trip, want %d", len(again.Packages), len(want))
		}
		for _, p := range idx.Packages {
			if err := topology.CheckID("package type", p.Type); err != nil {
				t.Fatalf("accepted a package type outside the safe set: %v", err)
			}
			if !strings.HasPrefix(p.Location, "https://") && !strings.HasPrefix(p.Location, "http://") {
				if !filepath.IsLocal(p.Location) || strings.ContainsAny(p.Location, "%\\ ;$`\n") || slices.Contains(strings.Split(p.Location, "/"), "..") {
					t.Fatalf("accepted an unsafe file name %q", p.Location)
				}
			}
		}
		for i, p := range again.Packages {
			w := want[i]
			if p.String() != w.String() || p.Digest != w.Digest || p.Location != w.Location || p.Size != w.Size ||
				p.From.String() != w.From.String() || strings.Join(requiresText(p), ";") != strings.Join(requiresText(w), ";") {
				t.Fatalf("package #%d after the round trip: %+v, want %+v", i+1, p, w)
			}
		}
		// Marshal is stable.
		if out2, err := again.Marshal(); err != nil || !bytes.Equal(out, out2) {
			t.Fatalf("Marshal not stable (%v):\n%s\n%s", err, out, out2)
		}
	})
}
