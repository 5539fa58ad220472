package upgrade_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine outlives them: Run
// promises that none it starts outlives the call.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
