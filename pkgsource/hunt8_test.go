package pkgsource_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/pkgsource"
)

// A Cache given no source, as a Chain given a nil entry, says so rather
// than panicking in the caller's planner.
func TestHunt8CacheWithoutSource(t *testing.T) {
	for name, c := range map[string]*pkgsource.Cache{
		"NewCache(nil)": pkgsource.NewCache(nil, time.Minute),
		"zero Cache":    new(pkgsource.Cache),
	} {
		t.Run(name, func(t *testing.T) {
			var ps []pkgsource.Package
			var err error
			require.NotPanics(t, func() { ps, err = c.Packages(context.Background(), "tomcat") })
			assert.Nil(t, ps)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "no source")
			require.NotPanics(t, func() { _, err = c.Open(context.Background(), pkg("tomcat", "10.1.34")) })
			require.Error(t, err)
			assert.Contains(t, err.Error(), "tomcat 10.1.34")
			assert.Contains(t, err.Error(), "no source")
		})
	}
}
