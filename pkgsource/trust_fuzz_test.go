package pkgsource_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stackup/stackup/pkgsource"
)

// FuzzFileTrustStore checks the parser of the trust store file, which a
// signed source reads before it trusts an index: it never panics; a file
// it refuses gets a *FileError naming it, and SetVersion then changes
// nothing; a file it reads gives each repository's version, which
// SetVersion never lowers and writes back as a file it reads again.
func FuzzFileTrustStore(f *testing.F) {
	for _, seed := range []string{
		`{}`, `{"repo":3}`, `{"repo":3,"other":9}`, `null`, `[]`, `{"repo":-1}`, `{"repo":1e3}`, `{"repo":"3"}`,
		`{"repo":9223372036854775807}`, `{"repo":9223372036854775808}`, `{"repo":1,"repo":2}`, "\ufeff{}", ``, `{`,
	} {
		f.Add([]byte(seed), int64(5))
	}
	dir := f.TempDir()
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, data []byte, v int64) {
		path := filepath.Join(dir, "trust.json")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		store := pkgsource.NewFileTrustStore(path)
		before, err := store.Version(ctx, "repo")
		if err != nil {
			var fe *pkgsource.FileError
			if !errors.As(err, &fe) || fe.Path != path {
				t.Fatalf("error is not a *FileError naming %s: %v", path, err)
			}
			if store.SetVersion(ctx, "repo", v) == nil {
				t.Fatalf("SetVersion took a store Version refused: %v", err)
			}
			if after, rerr := os.ReadFile(path); rerr != nil || string(after) != string(data) {
				t.Fatalf("a refused store was changed: %q, then %q", data, after)
			}
			return
		}
		var versions map[string]int64
		if err := json.Unmarshal(data, &versions); err != nil || versions["repo"] != before {
			t.Fatalf("read %d from %q (%v)", before, data, err)
		}
		if err := store.SetVersion(ctx, "repo", v); err != nil {
			t.Fatal(err)
		}
		after, err := store.Version(ctx, "repo")
		if err != nil {
			t.Fatalf("a store SetVersion wrote does not read back: %v", err)
		}
		if want := max(before, v); after != want {
			t.Fatalf("version %d, then SetVersion(%d): %d, want %d", before, v, after, want)
		}
	})
}
