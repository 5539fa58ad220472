package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRequestBodyKeyTwiceNamesBothLines pins that a key given twice is
// refused naming the line of each: the first's is worked out only then.
func TestRequestBodyKeyTwiceNamesBothLines(t *testing.T) {
	body := "{\n\"requests\": [\n{\n\"application\": \"shop\",\n\n\n\"application\": \"billing\"}]}"
	_, err := parseRequestsJSON(strings.NewReader(body))
	require.Error(t, err)
	assert.Contains(t, err.Error(), `line 7: requests[0]: field "application" given twice (first on line 4)`)
}

// BenchmarkRequestBodyKeys checks the keys of a body of 1 MiB or so with
// 80,000 keys (an attacker's with the token): the time must grow with the
// body, not with its square (before lines were counted only for an error,
// 4.7 s a body).
func BenchmarkRequestBodyKeys(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`{"requests": [{"application": "shop", "replaces": "shop_app", "template": {"id": "shop_app", "type": "webapp", "version": "2.0.0", "requirements": [`)
	const keys = 80_000
	for i := range keys / 2 {
		if i > 0 {
			sb.WriteString(",\n")
		}
		fmt.Fprintf(&sb, `{"template": "t%d", "constraint": ">=1"}`, i)
	}
	sb.WriteString("]}}]}")
	body := sb.String()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := parseRequestsJSON(strings.NewReader(body)); err != nil {
			b.Fatal(err)
		}
	}
}
