package topology_test

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/version"
)

// maxLoadAlloc bounds what reading one hostile file may allocate, in all:
// the files below would take hundreds of megabytes, or gigabytes, to
// expand.
const maxLoadAlloc = 64 << 20

// allocated returns the bytes f allocates (runtime.MemStats.TotalAlloc),
// whatever the garbage collector frees meanwhile. The test calling it must
// not be parallel.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// validValuesBomb returns requirements for reqService whose node_filter
// has a valid_values list of values entries and clauses other clauses:
// multiplied out, values × clauses clauses.
func validValuesBomb(values, clauses int) string {
	var b strings.Builder
	b.WriteString("        - host:\n            node: server\n            node_filter:\n              properties:\n")
	b.WriteString("                - version: { valid_values: [ ")
	for i := range values {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "8.5.%d", i)
	}
	b.WriteString(" ] }\n                - component_version: [ ")
	for i := range clauses {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "{ greater_or_equal: 1.0.%d }", i)
	}
	b.WriteString(" ]\n")
	return b.String()
}

// TestReadTOSCAValidValuesBomb attacks the constraint a node_filter makes:
// each valid_values entry becomes an alternative repeating every other
// clause, so a small file multiplies out to a huge constraint. It is
// refused as soon as the constraint would pass version.MaxLength, without
// building it.
func TestReadTOSCAValidValuesBomb(t *testing.T) {
	const where = "node_templates.app.requirements[0].host.node_filter"
	tests := []struct {
		name            string
		values, clauses int
	}{
		{"many values and many clauses", 2000, 2000},
		{"many values, one clause", 20000, 1},
		{"one value, many clauses", 1, 20000},
		{"just too long", 12, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reqs := validValuesBomb(tt.values, tt.clauses)
			service := fmt.Sprintf(reqService, reqs)
			var m *topology.Memory
			var err error
			n := allocated(func() { m, err = readTOSCA(service, noInstances) })
			assert.Nil(t, m)
			assert.Less(t, n, uint64(maxLoadAlloc), "reading a %d-byte service template allocated %d bytes", len(service), n)
			t.Logf("%d-byte file: %d bytes allocated; %v", len(service), n, err)
			te := checkError(t, err, version.ErrTooLong, "", "too long", fmt.Sprint(version.MaxLength), "fewer valid_values", "in_range")
			assert.ErrorIs(t, err, version.ErrInvalidConstraint)
			assert.Regexp(t, `^line \d+: `+strings.ReplaceAll(strings.ReplaceAll(where, ".", `\.`), "[", `\[`), te.Item)
		})
	}

	// A constraint just within the limit is read.
	t.Run("within the limit", func(t *testing.T) {
		_, m, err := readReqService(t, validValuesBomb(8, 2))
		require.NoError(t, err)
		tm, err := m.Template(t.Context(), "app")
		require.NoError(t, err)
		require.Len(t, tm.Requirements, 1)
		got := tm.Requirements[0].Constraint.String()
		assert.LessOrEqual(t, len(got), version.MaxLength)
		assert.Equal(t, 8, strings.Count(got, "||")+1)
	})
}
