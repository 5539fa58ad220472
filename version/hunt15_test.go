package version_test

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/stackup/stackup/version"
)

// TestHunt15BuildNumbersOrderAsNumbers: versions that differ only in
// build metadata, which k3s and RKE2 number (v1.28.2+k3s9, then +k3s10),
// were ordered by their text, so that +k3s9 came after +k3s10 and the
// planner's newest was the older build. Numbers in the metadata now
// compare as numbers; the order is still total.
func TestHunt15BuildNumbersOrderAsNumbers(t *testing.T) {
	vs := []version.Version{version.MustParse("v1.28.2+k3s10"), version.MustParse("v1.28.2+k3s9"), version.MustParse("v1.28.2+k3s1"),
		version.MustParse("v1.28.2+rke2r2"), version.MustParse("v1.28.2+k3s09"), version.MustParse("v1.28.2+k3s10.1")}
	slices.SortFunc(vs, version.Version.CompareStrict)
	var got []string
	for _, v := range vs {
		got = append(got, v.String())
	}
	assert.Equal(t, []string{"v1.28.2+k3s1", "v1.28.2+k3s09", "v1.28.2+k3s9", "v1.28.2+k3s10", "v1.28.2+k3s10.1", "v1.28.2+rke2r2"}, got)
}
