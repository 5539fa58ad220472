package pgrun

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Store keeps runs in one schema of a PostgreSQL database. It is safe for
// concurrent use; any number of Stores, in any number of processes, may
// share a schema.
type Store struct {
	pool   *pgxpool.Pool
	name   string // the schema's name
	schema string // the schema's name, quoted with pgx.Identifier
}

// ErrInvalidSchema reports a schema name that PostgreSQL cannot hold.
var ErrInvalidSchema = errors.New("pgrun: invalid schema name")

// SchemaVersion is the version of the tables Open creates or migrates to.
const SchemaVersion = 1

// migrations[k] takes the schema from version k to k+1. {s} stands for
// the quoted schema name.
var migrations = []string{
	`CREATE TABLE {s}.runs (
		plan_id      text PRIMARY KEY,
		digest       bytea NOT NULL,
		plan         bytea NOT NULL,
		concurrency  int NOT NULL,
		policy       smallint NOT NULL,
		attempts     int NOT NULL,
		backoff_us   bigint NOT NULL,
		max_backoff_us bigint NOT NULL,
		timeout_us   bigint NOT NULL,
		state        text NOT NULL DEFAULT 'running', -- running | finished | cancelled
		stopping     boolean NOT NULL DEFAULT false,  -- FailFast after a failure: start nothing new
		running      int NOT NULL DEFAULT 0,          -- steps claimed and not finished
		done         int NOT NULL DEFAULT 0,          -- steps succeeded, failed or skipped
		total        int NOT NULL,
		created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
		finished_at  timestamptz
	);
	CREATE TABLE {s}.steps (
		plan_id     text NOT NULL REFERENCES {s}.runs ON DELETE CASCADE,
		idx         int NOT NULL,
		step_id     text NOT NULL,
		node        text NOT NULL,
		prio        int NOT NULL,       -- the longest chain of steps after it
		waiting     int NOT NULL,       -- prerequisites not yet succeeded
		state       text NOT NULL,      -- waiting | ready | running | succeeded | failed | skipped
		attempts    int NOT NULL DEFAULT 0,
		token       bigint NOT NULL DEFAULT 0, -- the lease's fencing token, raised on each claim
		worker      text,
		lease_until timestamptz,
		in_doubt    boolean NOT NULL DEFAULT false,
		err         text,
		PRIMARY KEY (plan_id, idx)
	);
	CREATE INDEX steps_ready ON {s}.steps (plan_id, prio DESC, idx) WHERE state = 'ready';
	CREATE INDEX steps_leased ON {s}.steps (plan_id, lease_until) WHERE state = 'running';
	CREATE TABLE {s}.edges (
		plan_id text NOT NULL REFERENCES {s}.runs ON DELETE CASCADE,
		before  int NOT NULL,
		after   int NOT NULL,
		PRIMARY KEY (plan_id, before, after)
	);
	CREATE TABLE {s}.events (
		seq      bigserial PRIMARY KEY,
		plan_id  text NOT NULL REFERENCES {s}.runs ON DELETE CASCADE,
		kind     smallint NOT NULL,
		idx      int NOT NULL,
		attempt  int NOT NULL,
		err      text,
		in_doubt boolean NOT NULL,
		done     int NOT NULL,
		total    int NOT NULL,
		worker   text,
		at       timestamptz NOT NULL DEFAULT clock_timestamp()
	);
	CREATE INDEX events_run ON {s}.events (plan_id, seq);`,
}

// Open returns a Store keeping its tables in schema, creating the schema
// and its tables, or migrating them to SchemaVersion, as needed. It is
// idempotent and safe to call from several processes at once: the
// migration runs under a transaction-scoped advisory lock. Open touches
// nothing outside schema (but for the advisory lock). The pool stays the
// caller's: close it after the last use of the Store.
func Open(ctx context.Context, pool *pgxpool.Pool, schema string) (*Store, error) {
	if schema == "" || len(schema) > 63 || strings.ContainsRune(schema, 0) {
		return nil, fmt.Errorf("%w %q: give 1 to 63 bytes with no NUL", ErrInvalidSchema, schema)
	}
	s := &Store{pool: pool, name: schema, schema: pgx.Identifier{schema}.Sanitize()}
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('stackup/pgrun:' || $1))`, schema); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, s.q(`CREATE SCHEMA IF NOT EXISTS {s};
			CREATE TABLE IF NOT EXISTS {s}.schema_version (version int NOT NULL)`)); err != nil {
			return err
		}
		var version int
		err := tx.QueryRow(ctx, s.q(`SELECT version FROM {s}.schema_version`)).Scan(&version)
		if errors.Is(err, pgx.ErrNoRows) {
			_, err = tx.Exec(ctx, s.q(`INSERT INTO {s}.schema_version VALUES (0)`))
		}
		if err != nil {
			return err
		}
		if version > SchemaVersion {
			return fmt.Errorf("pgrun: schema %s is at version %d, newer than this program's %d: upgrade the program", schema, version, SchemaVersion)
		}
		for v := version; v < SchemaVersion; v++ {
			if _, err := tx.Exec(ctx, s.q(migrations[v])); err != nil {
				return fmt.Errorf("migrating to version %d: %w", v+1, err)
			}
		}
		_, err = tx.Exec(ctx, s.q(`UPDATE {s}.schema_version SET version = $1`), SchemaVersion)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("pgrun: opening schema %s: %w", s.schema, err)
	}
	return s, nil
}

// q puts the quoted schema name in place of {s} in a statement.
func (s *Store) q(sql string) string { return strings.ReplaceAll(sql, "{s}", s.schema) }
