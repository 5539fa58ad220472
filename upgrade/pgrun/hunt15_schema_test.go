package pgrun

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

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
	assert.Contains(t, err.Error(), "SQLSTATE 42501", "the database's own words too")
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

// TestHunt15WorkerOpensAsOwnerMigrates: a worker whose role may only use
// the schema's tables opens a schema at an older version while the
// deployer's role (its owner) is migrating it, as when a release's
// workers start with its deployer: the worker's Open, having read the
// old version, waits for the migration's lock, then finds the schema
// current and opens it. Before, it went on, after the wait, to run
// CREATE SCHEMA IF NOT EXISTS, which PostgreSQL refuses to a role without
// CREATE on the database even for a schema that exists, and the worker
// failed at start ("permission denied for database"), though the schema
// was current by then.
func TestHunt15WorkerOpensAsOwnerMigrates(t *testing.T) {
	s, pool := testStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // a failure bound
	defer cancel()
	old := oldSchema(t, s, 14)
	limited := h15Role(t, old, pool, "_w", `GRANT USAGE ON SCHEMA {s} TO {r};
		GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {s} TO {r};
		GRANT USAGE ON ALL SEQUENCES IN SCHEMA {s} TO {r};
		ALTER DEFAULT PRIVILEGES IN SCHEMA {s} GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {r};
		ALTER DEFAULT PRIVILEGES IN SCHEMA {s} GRANT USAGE ON SEQUENCES TO {r};`)

	// The owner's migration, under way: its transaction holds the lock.
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(context.Background())
	_, err = tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('stackup/pgrun:' || $1))`, old.name)
	require.NoError(t, err)

	opened := make(chan error, 1)
	go func() {
		_, err := Open(ctx, limited, old.name)
		opened <- err
	}()
	for { // until the worker's Open waits for the lock
		var waiting bool
		require.NoError(t, pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks l JOIN pg_stat_activity a USING (pid)
			WHERE l.locktype = 'advisory' AND NOT l.granted AND a.usename = $1)`, old.name+"_w").Scan(&waiting))
		if waiting {
			break
		}
		select {
		case err := <-opened:
			t.Fatalf("Open returned before the migration: %v", err)
		default:
		}
		time.Sleep(time.Millisecond) // polling the server's state, not ordering events
	}
	require.NoError(t, old.migrate(ctx, tx))
	require.NoError(t, tx.Commit(ctx))
	require.NoError(t, <-opened, "the schema was current once the worker had the lock")
}
