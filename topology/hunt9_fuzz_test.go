package topology_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/stackup/stackup/topology"
)

// FuzzCheckJSONKeys checks that CheckJSONKeys, which ReadJSON and every
// package index reader run on what they are given, never panics, and that
// a duplicate it reports names, with their places, two keys that
// encoding/json matches to one field (it folds case as strings.EqualFold
// does: "K" and the Kelvin sign are one key).
func FuzzCheckJSONKeys(f *testing.F) {
	for _, seed := range []string{
		`{"a":1,"b":{"c":[{"d":1,"D":2}]}}`, `{"schema":"x","Schema":"y"}`, `{"a":{"a":{"a":1}}}`,
		`{"K":1,"\u212a":2}`, `{"ſ":1,"S":2}`, `[{"a":1},{"a":1}]`, `{"a":1}{"a":1}`, `{"a":`, `{"a" 1}`, ``, `"a"`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		err := topology.CheckJSONKeys(data)
		if dup, ok := errors.AsType[*topology.DuplicateKeyError](err); ok {
			if !strings.EqualFold(dup.Key, dup.First) || dup.At == "" || dup.FirstAt == "" || dup.At == dup.FirstAt {
				t.Fatalf("not a duplicate: %+v", dup)
			}
		}
	})
}
