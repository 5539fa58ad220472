package pkgsource_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/pkgsource"
)

// TestHunt9CacheKeepsNewerAnswer: a planner asks a Cache in front of a
// repository from several goroutines. One call reaches the repository
// before a release is published and gets its answer late; another,
// after, gets the new release and the cache serves it. The late, older
// answer must not then replace the newer one: within the TTL the cache
// would hide a release it has already served, as a replayed index would.
func TestHunt9CacheKeepsNewerAnswer(t *testing.T) {
	old := []pkgsource.Package{pkg("jdk", "17.0.10")}
	fresh := []pkgsource.Package{pkg("jdk", "17.0.10"), pkg("jdk", "21.0.2")}
	entered := make(chan struct{})
	release := make(chan struct{})
	var mu sync.Mutex
	calls := 0
	src := pkgsource.SourceFunc(func(ctx context.Context, typ string) ([]pkgsource.Package, error) {
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		if n == 1 { // read before the release was published; answers late
			close(entered)
			<-release
			return old, nil
		}
		return fresh, nil
	})
	c := pkgsource.NewCache(src, time.Hour)

	slow := make(chan []pkgsource.Package)
	go func() {
		ps, err := c.Packages(context.Background(), "jdk")
		assert.NoError(t, err)
		slow <- ps
	}()
	<-entered
	ps, err := c.Packages(t.Context(), "jdk")
	require.NoError(t, err)
	require.Equal(t, []string{"17.0.10", "21.0.2"}, versionsOf(ps))
	close(release)
	assert.Equal(t, []string{"17.0.10"}, versionsOf(<-slow), "the slow caller gets its own answer")

	ps, err = c.Packages(t.Context(), "jdk")
	require.NoError(t, err)
	assert.Equal(t, []string{"17.0.10", "21.0.2"}, versionsOf(ps), "the cache went back to an answer older than one it served")
}
