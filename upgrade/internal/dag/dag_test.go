package dag

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestOrder(t *testing.T) {
	tests := []struct {
		name      string
		deps      [][]int
		order     []int
		cycle     []int
		wantCycle bool
	}{
		{name: "empty", deps: nil, order: []int{}},
		{name: "independent in index order", deps: [][]int{{}, {}, {}}, order: []int{0, 1, 2}},
		{name: "dependencies first", deps: [][]int{{2}, {}, {1}}, order: []int{1, 2, 0}},
		{name: "lowest ready index first", deps: [][]int{{3}, {}, {1}, {}}, order: []int{1, 2, 3, 0}},
		{name: "diamond", deps: [][]int{{}, {0}, {0}, {1, 2}}, order: []int{0, 1, 2, 3}},
		{name: "self loop", deps: [][]int{{0}}, cycle: []int{0, 0}, wantCycle: true},
		{name: "two cycle", deps: [][]int{{}, {2}, {1}}, cycle: []int{1, 2, 1}, wantCycle: true},
		{name: "three cycle behind a ready vertex", deps: [][]int{{}, {3, 0}, {1}, {2}}, cycle: []int{1, 2, 3, 1}, wantCycle: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			order, cycle := Order(len(tt.deps), func(i int) []int { return tt.deps[i] })
			if tt.wantCycle {
				assert.Nil(t, order)
				assert.Equal(t, tt.cycle, cycle)
				return
			}
			assert.Nil(t, cycle)
			assert.Equal(t, tt.order, order)
		})
	}
}
