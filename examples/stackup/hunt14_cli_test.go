package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestHunt14InterruptedWhileReadingRepository: a SIGINT while plan (or
// apply) waits for the repository's index is an interrupt, exit 1, not
// an invalid input: it exited 2 ("usage, or an input that cannot be read
// or is invalid"), saying the repository failed, "interrupted", so that
// a script took the repository for broken.
func TestHunt14InterruptedWhileReadingRepository(t *testing.T) {
	asked := make(chan struct{}, 1)
	repo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case asked <- struct{}{}:
		default:
		}
		<-r.Context().Done() // a repository that does not answer
	}))
	t.Cleanup(repo.Close)
	args := []string{"plan", "--topology", "testdata/shop.yaml", "--repo", repo.URL, "--requests", "testdata/requests.yaml"}
	stop := make(chan struct{})
	var stdout, stderr bytes.Buffer
	code := make(chan int, 1)
	go func() { code <- run(withStop(t.Context(), stop), args, &stdout, &stderr) }()
	<-asked
	close(stop)
	got := <-code
	assert.Equal(t, exitFailed, got, "an interrupt, not an invalid input: %s", stderr.String())
	assert.Contains(t, stderr.String(), "interrupted")
	require.Empty(t, stdout.String())
}
