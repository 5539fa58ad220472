package pgrun

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestHunt14ReservedSchemaName: Open refuses a schema name that PostgreSQL
// reserves (the prefix pg_, for its system schemas) as it refuses any
// name PostgreSQL cannot hold, with an error matching ErrInvalidSchema
// that says why, and touches nothing. Before, it sent the name to the
// database, whose refusal ("unacceptable schema name", SQLSTATE 42939)
// it returned as a failure of the database, not ErrInvalidSchema, which
// callers tell bad input by (the example program's --schema among them).
func TestHunt14ReservedSchemaName(t *testing.T) {
	if skipReason != "" {
		t.Skip(skipReason)
	}
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, databaseURL)
	require.NoError(t, err)
	defer pool.Close()
	for _, name := range []string{"pg_stackup", "pg_catalog", "pg_toast", "pg_temp"} {
		_, err := Open(ctx, pool, name)
		require.ErrorIs(t, err, ErrInvalidSchema, name)
		assert.Contains(t, err.Error(), "pg_", name)
		var tables int
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE tablename = 'schema_version' AND schemaname LIKE 'pg\_%'`).Scan(&tables))
		assert.Zero(t, tables, name)
	}
	var n int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM pg_namespace WHERE nspname = 'pg_stackup'`).Scan(&n))
	assert.Zero(t, n)
}
