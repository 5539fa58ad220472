package topology

import "testing"

// TestValidIDMatchesIDProblem checks the fast path of CheckID against the
// plain one, for every byte in every position that matters.
func TestValidIDMatchesIDProblem(t *testing.T) {
	for c := range 256 {
		for _, id := range []string{string(rune(c)), "a" + string([]byte{byte(c)}), string([]byte{byte(c)}) + "a", "ab" + string([]byte{byte(c)}) + "cd"} {
			if got, want := validID(id), idProblem(id) == ""; got != want {
				t.Errorf("validID(%q) = %v, idProblem says %v", id, got, want)
			}
		}
		if c < 128 && idByte[c] != (c < 64 && idMaskLo&(1<<c) != 0 || c >= 64 && idMaskHi&(1<<(c-64)) != 0) {
			t.Errorf("byte %#x: masks disagree with idByte", c)
		}
	}
	for _, id := range []string{"", "-a", string(make([]byte, MaxIDLength+1)), "a\u00e9", "x\xff"} {
		if validID(id) {
			t.Errorf("validID(%q) = true", id)
		}
	}
}
