package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestHunt10NegativeDurationNamesFlag gives each duration flag a negative
// value: the error names that flag and its value, not "durations".
func TestHunt10NegativeDurationNamesFlag(t *testing.T) {
	e := newApplyEnv(t)
	for _, flag := range []string{"--retry-backoff", "--step-timeout", "--grace"} {
		r := stackup(t, e.args("--exec", "true", flag, "-2s")...)
		assert.Equal(t, exitUsage, r.code, r.stderr)
		assert.Contains(t, r.stderr, flag+" -2s must not be negative", flag)
		assert.NoFileExists(t, e.ledger)
	}
}
