package topology

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// FuzzCheckKeysValidAgreesWithTokens: for every JSON value, the walk of
// its bytes that CheckJSONKeys takes finds what the walk of
// json.Decoder's tokens finds: no duplicate, or the same one, named the
// same, at the same places. Inputs that are not one JSON value go through
// the tokens anyway.
func FuzzCheckKeysValidAgreesWithTokens(f *testing.F) {
	for _, seed := range []string{
		`{"a":1,"b":{"c":[{"d":1,"D":2}]}}`, `{"schema":"x","Schema":"y"}`, `{"a":{"a":{"a":1}}}`, `{"a":[{"a":1},{"a":2}],"b":"a","a":3}`,
		`{"K":1,"\u212a":2}`, `{"ſ":1,"S":2}`, `{"s":1,"\u017f":2}`, `[{"a":1},{"a":1}]`, `{"a\"b":1,"A\u0022B":2}`, `{"\\":1,"\\\\":2,"\\":3}`,
		`{"k0":0,"k1":1,"k2":2,"k3":3,"k4":4,"k5":5,"k6":6,"k7":7,"k8":8,"k9":9,"k10":10,"k11":11,"k12":12,"k13":13,"k14":14,"k15":15,"k16":16,"k17":17,"K3":3}`,
		`{"k0":0,"k1":1,"k2":2,"k3":3,"k4":4,"k5":5,"k6":6,"k7":7,"k8":8,"k9":9,"k10":10,"k11":11,"k12":12,"k13":13,"k14":14,"k15":15,"K15":16}`,
		"{\"\xff\":1,\"\xfe\":2}", "{\"é\":1,\"É\":2}", ` { "a" : [ "a" , { "a" : "a" } ] , "b" : null } `, `"a"`, `1`, `[]`, `{}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		want := checkKeysByToken(data)
		got := CheckJSONKeys(data)
		if want == nil || got == nil {
			assert.Equal(t, want, got)
			return
		}
		assert.Equal(t, want.Error(), got.Error())
		assert.IsType(t, want, got)
	})
}

// TestCheckJSONKeysNumberBeyondFloat: a number too large for a float64 is
// JSON, and a duplicate after it is found; the walk of tokens stopped at
// it with an error of encoding/json's float64.
func TestCheckJSONKeysNumberBeyondFloat(t *testing.T) {
	assert.NoError(t, CheckJSONKeys([]byte(`{"size":1e400,"n":[2e999]}`)))
	assert.NoError(t, checkKeysByToken([]byte(`{"size":1e400,"n":[2e999]}`)))
	for _, check := range []func([]byte) error{CheckJSONKeys, checkKeysByToken} {
		err := check([]byte(`{"size":1e400,"Size":1}`))
		assert.ErrorContains(t, err, `line 1, column 15: key "Size": duplicate key (also as "size" at line 1, column 2`)
	}
}
