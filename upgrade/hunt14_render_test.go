package upgrade_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/upgrade"
)

// TestHunt14DOTKeepsDistinctIDsApart checks that two steps whose IDs
// differ only in that one holds a control character where the other holds
// its Go escape (a newline, and a backslash then "n") are two nodes of
// the DOT graph, not one: Graphviz merges statements that name one node,
// and would draw an edge of the one as an edge of the other.
func TestHunt14DOTKeepsDistinctIDsApart(t *testing.T) {
	p := &upgrade.Plan{ID: "hand", Steps: []upgrade.Step{
		{ID: "a\nb", Kind: upgrade.Application, Node: "n1", From: v("1.0.0"), To: v("2.0.0")},
		{ID: `a\nb`, Kind: upgrade.Application, Node: "n2", From: v("1.0.0"), To: v("2.0.0")},
		{ID: "c", Kind: upgrade.Application, Node: "n3", From: v("1.0.0"), To: v("2.0.0"), After: []upgrade.StepID{"a\nb"}},
	}}
	var b strings.Builder
	require.NoError(t, p.WriteDOT(&b))
	nodes := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^  ("(?:[^"\\]|\\.)*") \[label=`).FindAllStringSubmatch(b.String(), -1) {
		nodes[m[1]] = true
	}
	assert.Len(t, nodes, 3, "one DOT node per step:\n%s", b.String())
	assert.Equal(t, 1, strings.Count(b.String(), " -> "), b.String())
}
