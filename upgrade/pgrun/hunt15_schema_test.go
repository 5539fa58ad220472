package pgrun

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// h15Role creates a login role for the test, granted what grant says
// ({r} stands for the role, {s} for s's schema), and returns a pool
// connecting as it.
func h15Role(t *testing.T, s *Store, pool *pgxpool.Pool, suffix, grant string) *pgxpool.Pool {
	t.Helper()
	ctx := context.Background()
	role := pgx.Identifier{s.name + suffix}.Sanitize()
	_, err := pool.Exec(ctx, `CREATE ROLE `+role+` LOGIN`)
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = pool.Exec(context.Background(), `DROP OWNED BY `+role+`; DROP ROLE `+role) })
	if grant != "" {
		_, err = pool.Exec(ctx, s.q(strings.ReplaceAll(grant, "{r}", role)))
		require.NoError(t, err)
	}
	cfg, err := pgxpool.ParseConfig(databaseURL)
	require.NoError(t, err)
	cfg.ConnConfig.User = s.name + suffix
	limited, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(limited.Close)
	return limited
}

// TestHunt15OpenRefusedSaysWhy: a worker's role that may only use a
// schema's tables (no CREATE on the database or the schema, as
// TestOpenCurrentSchemaNeedsNoDDL allows) opens a schema that Open would
// have to migrate, or create, or that it may not read: the error says
// which, with the versions, and what to do. Before, each got the
// database's refusal of Open's CREATE SCHEMA IF NOT EXISTS alone,
// "permission denied for database postgres", which named neither the
// schema's version nor the schema, and sent the operator looking for a
// grant on the database that a worker should not need.
func TestHunt15OpenRefusedSaysWhy(t *testing.T) {
	s, pool := testStore(t)
	ctx := context.Background()
	const uses = `GRANT USAGE ON SCHEMA {s} TO {r};
		GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {s} TO {r};
		GRANT USAGE ON ALL SEQUENCES IN SCHEMA {s} TO {r};`

	old := oldSchema(t, s, 14)
	limited := h15Role(t, old, pool, "_w", uses)
	_, err := Open(ctx, limited, old.name)
	require.Error(t, err)
	assert.Contains(t, err.Error(), old.schema)
	assert.Contains(t, err.Error(), "version 14")
	assert.Contains(t, err.Error(), strconv.Itoa(SchemaVersion))
	assert.Contains(t, err.Error(), "role that may")
	assert.Contains(t, err.Error(), "permission denied", "the database's own words too")
	var version int
	require.NoError(t, pool.QueryRow(ctx, old.q(`SELECT version FROM {s}.schema_version`)).Scan(&version))
	assert.Equal(t, 14, version, "unchanged")

	missing := s.name + "_none"
	_, err = Open(ctx, limited, missing)
	require.Error(t, err)
	assert.Contains(t, err.Error(), fmt.Sprintf("%q", missing))
	assert.Contains(t, err.Error(), "does not exist")
	assert.Contains(t, err.Error(), "role that may")

	stranger := h15Role(t, s, pool, "_x", "")
	_, err = Open(ctx, stranger, s.name)
	require.Error(t, err)
	assert.Contains(t, err.Error(), s.schema)
	assert.Contains(t, err.Error(), "permission denied for schema", "the refusal of the read, not of the CREATE")
	assert.Contains(t, err.Error(), "GRANT USAGE")
}
