package topology

import "testing"

// TestValidIDMatchesIDProblem checks the fast path of CheckID against the
// plain one, for every byte in every position that matters.
func TestValidIDMatchesIDProblem(t *testing.T) {
	for c := range 256 {
		for _, id := range []string{string(rune(c)), "a" + string([]byte{byte(c)}), string([]byte{byte(c)}) + "a", "ab" + string([]byte{byte(c)}) + "cd"} {
			if got, want := validIDLength(id, MaxIDLength), idProblem(id, MaxIDLength) == ""; got != want {
				t.Errorf("validID(%q) = %v, idProblem says %v", id, got, want)
			}
		}
		if c < 128 && idByte[c] != (c < 64 && idMaskLo&(1<<c) != 0 || c >= 64 && idMaskHi&(1<<(c-64)) != 0) {
			t.Errorf("byte %#x: masks disagree with idByte", c)
		}
	}
	for _, id := range []string{"", "-a", string(make([]byte, MaxIDLength+1)), "a\u00e9", "x\xff"} {
		if validIDLength(id, MaxIDLength) {
			t.Errorf("validID(%q) = true", id)
		}
	}
	for _, max := range []int{1, 10, MaxIDLength + 1} {
		for n := max - 1; n <= max+1; n++ {
			id := string(make([]byte, n))
			for i := range id {
				id = id[:i] + "a" + id[i+1:]
			}
			if got, want := validIDLength(id, max), idProblem(id, max) == ""; got != want || got != (n >= 1 && n <= max) {
				t.Errorf("%d bytes, at most %d: valid %v, idProblem %q", n, max, got, idProblem(id, max))
			}
		}
	}
}
