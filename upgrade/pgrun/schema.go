package pgrun

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/stackup/stackup/upgrade"
)

// Store keeps runs in one schema of a PostgreSQL database. It is safe for
// concurrent use; any number of Stores, in any number of processes, may
// share a schema.
type Store struct {
	pool     *pgxpool.Pool
	name     string // the schema's name
	schema   string // the schema's name, quoted with pgx.Identifier
	channel  string // the schema's LISTEN/NOTIFY channel; see channelName
	listener *listener
	queries  sync.Map // q's results, by statement
}

// channelName returns the name of the channel on which the workers of
// schema are woken: pgrun_ and a hash of the schema's name, so that it
// holds nothing the schema's name holds (quotes, say) and stays within
// PostgreSQL's 63 bytes whatever the schema's length.
func channelName(schema string) string {
	sum := sha256.Sum256([]byte("stackup/pgrun:" + schema))
	return "pgrun_" + hex.EncodeToString(sum[:16])
}

// ErrInvalidSchema reports a schema name that PostgreSQL cannot hold.
var ErrInvalidSchema = errors.New("pgrun: invalid schema name")

// SchemaVersion is the version of the tables Open creates or migrates to.
const SchemaVersion = 17

// ErrSchemaVersion reports a schema that a newer program has migrated past
// SchemaVersion: this program cannot use it.
var ErrSchemaVersion = errors.New("pgrun: schema newer than this program")

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
		state        text NOT NULL DEFAULT 'running', -- running | rolling_back | finished | cancelled
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
	CREATE INDEX events_run ON {s}.events (plan_id, seq);
	-- A node's lock, held by the step of any run that is running on it
	-- (and, since version 12, for a call abandoned on it: see held_until).
	CREATE TABLE {s}.node_locks (
		node    text PRIMARY KEY,
		plan_id text NOT NULL,
		idx     int NOT NULL,
		FOREIGN KEY (plan_id, idx) REFERENCES {s}.steps ON DELETE CASCADE
	);
	CREATE INDEX node_locks_step ON {s}.node_locks (plan_id, idx);` + functions,
	// Version 2: barriers are rows of steps, with idx at or past the run's
	// total, whose edges join them to the vertices before and after them
	// (version 1 expanded them into step-to-step edges, which these
	// functions still run); pos, upgrade.Run's order among ready steps;
	// err_kinds, the sentinels a step's error matched (see errKinds).
	// The rollback: runs.rollback; steps.completed, the step's place in
	// the order of completion; rb_done, its rollback tried, and rb_err,
	// rb_kinds, the rollback's error. A step being rolled back is in state
	// rolling_back, then rolled_back or, not undone, as it was.
	`ALTER TABLE {s}.steps ADD COLUMN pos int NOT NULL DEFAULT 0, ADD COLUMN err_kinds int NOT NULL DEFAULT 0,
		ADD COLUMN completed int, ADD COLUMN rb_done boolean NOT NULL DEFAULT false, ADD COLUMN rb_err text,
		ADD COLUMN rb_kinds int NOT NULL DEFAULT 0;
	ALTER TABLE {s}.runs ADD COLUMN rollback boolean NOT NULL DEFAULT false;
	DROP FUNCTION IF EXISTS {s}.claim(text, text, bigint);
	DROP INDEX {s}.steps_ready;
	CREATE INDEX steps_ready ON {s}.steps (plan_id, prio DESC, pos, idx) WHERE state = 'ready';
	DROP FUNCTION IF EXISTS {s}.finish(text, int, bigint, int, text, text);` + functions,
	// Version 3: waiting events. steps.wait_plan and wait_idx name the
	// step of another run whose lock on the node the step last waited for
	// (one event per wait); events.wait_plan and wait_step, in an event of
	// kind StepWaiting, that step. claim returns r_wake_us, the time until
	// the run's next lease expires. steps_lease finds that. runs_notify
	// wakes workers (see notify_run).
	`ALTER TABLE {s}.steps ADD COLUMN wait_plan text, ADD COLUMN wait_idx int;
	ALTER TABLE {s}.events ADD COLUMN wait_plan text, ADD COLUMN wait_step text;
	CREATE INDEX steps_lease ON {s}.steps (plan_id, lease_until) WHERE lease_until IS NOT NULL;
	DROP FUNCTION IF EXISTS {s}.claim(text, text, bigint, boolean);` + functions + `
	CREATE TRIGGER runs_notify AFTER INSERT OR UPDATE ON {s}.runs FOR EACH ROW EXECUTE FUNCTION {s}.notify_run();`,
	// Version 4: finish_and_claim; finish makes the steps after a step
	// ready one edge at a time, by their keys, and calls check_finished
	// only when no step runs. runs.starved: a claim found the run's limit
	// reached with a step ready (see finish_and_claim).
	`ALTER TABLE {s}.runs ADD COLUMN starved boolean NOT NULL DEFAULT false;` + functions,
	// Version 5: a rollback takes its node's lock, as a step does (see
	// claim and finish_rollback); claim says 'rollbacker_wanted' to a
	// worker that cannot roll back when the run is rolling back (a worker
	// of version 4 takes it as 'none'); events.err_kinds, the sentinels an
	// event's error matched, as steps.err_kinds.
	`ALTER TABLE {s}.events ADD COLUMN err_kinds int NOT NULL DEFAULT 0;` + functions,
	// Version 6: claim does not roll back a step whose Execute was
	// abandoned (err_kinds matching upgrade.ErrAbandoned): it may still
	// be changing the node.
	functions,
	// Version 7: a step that a rollback leaves in place gets an event of
	// kind upgrade.StepRollbackFailed with the rollback's error, as a step
	// undone gets one of kind upgrade.StepRolledBack (see claim,
	// finish_rollback and Store.Cancel).
	functions,
	// Version 8: steps.finish_token, the lease's token under which finish
	// recorded the step's outcome: a finish sent again under it, the
	// reply to the first lost with its connection, is told 'ok' (see
	// finish). steps.claim_key, the key of the claim that took the step
	// (claim's and finish_and_claim's p_key), and claim_doubt, the
	// r_in_doubt it returned: a claim sent again with its key gets what
	// the first took (see reclaim). claim and finish_and_claim of version
	// 7, without a key, stay for the workers of version 7.
	// runs.retry_key, the key of the last Store.Retry that took the run
	// up, by which a Retry whose COMMIT's reply was lost learns that it did.
	`ALTER TABLE {s}.steps ADD COLUMN finish_token bigint, ADD COLUMN claim_key bigint, ADD COLUMN claim_doubt boolean;
	ALTER TABLE {s}.runs ADD COLUMN retry_key bigint;` + functions,
	// Version 9: claim, failing the steps of a cancelled run's lost
	// workers, skips the steps after them, as finish does.
	functions,
	// Version 10: steps.failed_before, that the step failed in a run
	// that Store.Retry took up, and has not run since. claim's rollback
	// keeps the steps before a step not run since it failed, or since it
	// was cut short (in doubt), as upgrade.Run keeps them for such a step
	// of its journal: it may have changed its node. steps.rb_tried, that
	// the step's Rollback was called (the rollback claimed) and did not
	// undo it: Store.Retry offers such a step in doubt, as upgrade.Run
	// resumed offers a step whose rollback it recorded begun and not
	// ended. reclaim, in a run cancelled since the claim it repeats, hands
	// the step that took back (hand_back, the statements a worker stopping
	// ran; a rollback: its lease expires), and claim calls it before
	// failing the cancelled run's lost steps.
	`ALTER TABLE {s}.steps ADD COLUMN failed_before boolean NOT NULL DEFAULT false,
		ADD COLUMN rb_tried boolean NOT NULL DEFAULT false;` + functions,
	// Version 11: a claim whose ready step's node is held by a step of a
	// cancelled run, its lease expired, fails that step for the cancelled
	// run (its claim's sweep), which frees the node: nobody may be left
	// to claim or Wait on the cancelled run.
	functions,
	// Version 12: a node's lock outlives its step's record while a call
	// of the host's code for the step, abandoned past its grace period,
	// may still be running on the node: node_locks.held_until, the lease
	// of such a lock, which its worker renews until the call has
	// returned, then deletes the lock; token, the step's lease's token as
	// its outcome was recorded, which the worker names the lock by. Held
	// locks stay through Retry and a cancelled run's sweep; a claim
	// deletes one that has lapsed (its worker lost) before it takes the
	// node.
	`ALTER TABLE {s}.node_locks ADD COLUMN held_until timestamptz, ADD COLUMN token bigint;` + functions,
	// Version 13: steps.settled, that the step, offered in doubt, then
	// failed on its own (its Execute, or Verify, returned an error, not
	// cut short): Store.Retry offers it again not in doubt, as
	// upgrade.Run resumed offers a step its journal recorded failed.
	`ALTER TABLE {s}.steps ADD COLUMN settled boolean NOT NULL DEFAULT false;`,
	// Version 14: steps.resumed, that Store.Retry kept the step as it had
	// succeeded in the run taken up: the run since has not executed it,
	// as upgrade.Run resumed reports a step its journal recorded succeeded
	// (Outcome.Resumed, no attempts, not in doubt). A step kept by a
	// Retry of version 13 is not marked.
	`ALTER TABLE {s}.steps ADD COLUMN resumed boolean NOT NULL DEFAULT false;`,
	// Version 15: events.in_doubt is set, as upgrade.Event.InDoubt is,
	// only in an event of kind upgrade.StepStarted: the events of a step
	// in doubt that succeeded, failed, is retried or waits for its node
	// no longer say so. skip_after skips steps in upgrade.Run's order
	// (depth first), not in the order of their indexes. steps.doubt_before,
	// that the step was in doubt in a run that Store.Retry took up, and has
	// not been offered since: claim offers it in doubt, and only then is
	// it in doubt (in_doubt), as upgrade.Run resumed reports a step in
	// doubt once it has offered it. (A step that Retry of version 14 left
	// in doubt stays so.) keep_in_place: a cancel during the rollback
	// leaves the steps not undone yet in place once the rollback under
	// way, if any, has ended, so that their events come after its, as
	// upgrade.Run's do.
	`ALTER TABLE {s}.steps ADD COLUMN doubt_before boolean NOT NULL DEFAULT false;` + functions,
	// Version 16: claim, failing the steps of a cancelled run's lost
	// workers and their rollback, records the sentinels of the cancel
	// (ErrCancelled, context.Canceled) with the error, in the step and its
	// event, as a worker records those of a step the cancel cut short.
	functions,
	// Version 17: hand_back of a step not started deletes the event of
	// kind upgrade.StepStarted that its claim recorded: the step did not
	// start, and its next claim records one again.
	functions,
}

// functions claim and finish steps, each in one statement (one round trip,
// one transaction). {started} and the like stand for upgrade's EventKinds.
const functions = `
	-- notify_run tells the workers listening on the schema's channel
	-- ({chan}), in the transaction that changes run NEW, that a step may
	-- be ready: a run submitted, a step finished (its node and its slot
	-- in the run's concurrency freed, the steps after it ready), the run
	-- cancelled, stopping, rolling back or finished. Not for a claim,
	-- which only takes a slot.
	CREATE OR REPLACE FUNCTION {s}.notify_run() RETURNS trigger LANGUAGE plpgsql AS $pgrun$
	BEGIN
		IF TG_OP = 'INSERT' OR NEW.running < OLD.running OR NEW.state IS DISTINCT FROM OLD.state
				OR NEW.stopping IS DISTINCT FROM OLD.stopping OR NEW.finished_at IS DISTINCT FROM OLD.finished_at THEN
			PERFORM pg_notify({chan}, NEW.plan_id);
		END IF;
		RETURN NULL;
	END $pgrun$;

	-- check_finished marks run p_plan finished when no step runs and none
	-- can start, and reports whether it did.
	CREATE OR REPLACE FUNCTION {s}.check_finished(p_plan text) RETURNS boolean LANGUAGE plpgsql AS $pgrun$
	-- With rollback, a run over with a failed step goes on rolling back
	-- (see claim), and is finished once that is done.
	BEGIN
		UPDATE {s}.runs r SET state = 'rolling_back'
			WHERE plan_id = p_plan AND finished_at IS NULL AND running = 0 AND state = 'running' AND rollback
				AND (stopping OR NOT EXISTS (SELECT 1 FROM {s}.steps WHERE plan_id = p_plan AND state = 'ready'))
				AND EXISTS (SELECT 1 FROM {s}.steps WHERE plan_id = p_plan AND state = 'failed' AND idx < r.total);
		IF FOUND THEN
			RETURN false;
		END IF;
		UPDATE {s}.runs SET finished_at = clock_timestamp(),
				state = CASE WHEN state = 'running' THEN 'finished' ELSE state END
			WHERE plan_id = p_plan AND finished_at IS NULL AND running = 0 AND state <> 'rolling_back'
				AND (stopping OR state = 'cancelled'
					OR NOT EXISTS (SELECT 1 FROM {s}.steps WHERE plan_id = p_plan AND state = 'ready'));
		RETURN FOUND;
	END $pgrun$;

	-- next_expiry returns the microseconds until the first lease of run
	-- p_plan expires, or NULL when no step is leased.
	CREATE OR REPLACE FUNCTION {s}.next_expiry(p_plan text) RETURNS bigint LANGUAGE sql STABLE AS $pgrun$
		SELECT (extract(epoch FROM min(lease_until) - clock_timestamp()) * 1000000)::bigint
			FROM {s}.steps WHERE plan_id = p_plan AND lease_until IS NOT NULL
	$pgrun$;

	-- claim takes, for worker p_worker, the step of run p_plan with the
	-- oldest expired lease, in doubt, or else the first ready step if the
	-- run's concurrency limit allows. r_status is 'claimed', 'rollback',
	-- 'none', 'rollbacker_wanted' (none: the run is rolling back, and
	-- p_rollbacker is false), 'finished' or 'unknown'; with 'none', r_wake_us is the time until
	-- the run's first lease expires. A ready step whose node a step of
	-- another run holds gets a waiting event, once for each holder.
	-- p_key tags the step claimed; with p_resent, the claim was sent with
	-- it before, its reply lost, and takes what that one took, if the
	-- worker still holds it (see reclaim).
	CREATE OR REPLACE FUNCTION {s}.claim(p_plan text, p_worker text, p_lease_us bigint, p_rollbacker boolean,
		p_key bigint, p_resent boolean)
	RETURNS TABLE (r_status text, r_idx int, r_token bigint, r_attempts int, r_in_doubt boolean, r_wake_us bigint)
	LANGUAGE plpgsql AS $pgrun$
	DECLARE
		run record;
		got record;
		cand record;
		holder record;
		claimed boolean;
		n int;
		m int;
		k int;
		lost_idx int[];
		blocker text;
	BEGIN
		SELECT state, stopping, running, concurrency, done, total, finished_at IS NOT NULL AS over INTO run
			FROM {s}.runs WHERE plan_id = p_plan FOR UPDATE;
		IF NOT FOUND THEN
			r_status := 'unknown'; RETURN NEXT; RETURN;
		END IF;
		IF run.over THEN
			r_status := 'finished'; RETURN NEXT; RETURN;
		END IF;
		IF p_resent THEN
			RETURN QUERY SELECT * FROM {s}.reclaim(p_plan, p_worker, p_lease_us, p_key);
			IF FOUND THEN
				RETURN;
			END IF;
		END IF;
		IF run.state = 'cancelled' THEN
			-- Nobody will finish the steps of lost workers: fail them.
			WITH lost AS (
				UPDATE {s}.steps SET state = 'failed', in_doubt = true, worker = NULL, lease_until = NULL,
					err = 'run cancelled; its worker was lost, so the step is in doubt', err_kinds = {cancelledStepKinds}
				WHERE plan_id = p_plan AND state = 'running' AND lease_until < clock_timestamp()
				RETURNING idx, attempts),
			failed AS (
				INSERT INTO {s}.events (plan_id, kind, idx, attempt, err, err_kinds, in_doubt, done, total, worker)
				SELECT p_plan, {failed}, idx, attempts, 'run cancelled; its worker was lost', {cancelledStepKinds}, false,
					run.done + row_number() OVER (ORDER BY idx), run.total, p_worker FROM lost)
			SELECT coalesce(array_agg(idx), '{}') INTO lost_idx FROM lost;
			n := cardinality(lost_idx);
			k := {s}.skip_after(p_plan, lost_idx, run.done + n, run.total, p_worker);
			WITH lost AS (
				UPDATE {s}.steps SET state = CASE WHEN err IS NULL THEN 'succeeded' ELSE 'failed' END, rb_done = true,
					rb_err = 'run cancelled; its worker was lost during the rollback', rb_kinds = {cancelledRollbackKinds},
					worker = NULL, lease_until = NULL
				WHERE plan_id = p_plan AND state = 'rolling_back' AND lease_until < clock_timestamp() RETURNING idx),
			kept AS (
				INSERT INTO {s}.events (plan_id, kind, idx, attempt, err, err_kinds, in_doubt, done, total, worker)
				SELECT p_plan, {rollbackfailed}, idx, 0, 'run cancelled; its worker was lost during the rollback',
					{cancelledRollbackKinds}, false,
					run.done + n + k, run.total, p_worker FROM lost)
			SELECT count(*) INTO m FROM lost;
			DELETE FROM {s}.node_locks l USING {s}.steps st
				WHERE l.plan_id = p_plan AND st.plan_id = p_plan AND st.idx = l.idx AND st.state NOT IN ('running', 'rolling_back')
					AND l.held_until IS NULL; -- a lock held for an abandoned call stays till it ends, or lapses
			UPDATE {s}.runs SET running = running - n - m, done = done + n + k WHERE plan_id = p_plan;
			IF m > 0 THEN -- a lost rollback, and after its event the steps not undone
				PERFORM {s}.keep_in_place(p_plan);
			END IF;
			r_status := CASE WHEN {s}.check_finished(p_plan) THEN 'finished' ELSE 'none' END;
			r_wake_us := {s}.next_expiry(p_plan); -- a lost worker's step to fail
			RETURN NEXT; RETURN;
		END IF;
		IF run.state = 'rolling_back' THEN
			IF NOT p_rollbacker THEN -- 'none' for this worker, which may say so (see worker.claimed)
				r_status := 'rollbacker_wanted'; r_wake_us := {s}.next_expiry(p_plan); RETURN NEXT; RETURN;
			END IF;
			-- A rollback whose worker was lost: offered again, in doubt.
			UPDATE {s}.steps SET token = token + 1, worker = p_worker, in_doubt = true,
					lease_until = clock_timestamp() + p_lease_us * interval '1 microsecond', claim_key = p_key, claim_doubt = true
				WHERE plan_id = p_plan AND idx = (SELECT idx FROM {s}.steps WHERE plan_id = p_plan AND state = 'rolling_back'
					AND lease_until < clock_timestamp() LIMIT 1 FOR UPDATE SKIP LOCKED)
				RETURNING idx, token, attempts INTO got;
			IF FOUND THEN
				r_status := 'rollback'; r_idx := got.idx; r_token := got.token; r_attempts := got.attempts; r_in_doubt := true;
				RETURN NEXT; RETURN;
			END IF;
			IF run.running > 0 THEN -- one at a time, last completed first
				r_status := 'none'; r_wake_us := {s}.next_expiry(p_plan); RETURN NEXT; RETURN;
			END IF;
			LOOP
				SELECT idx, node, state, err_kinds INTO cand FROM {s}.steps WHERE plan_id = p_plan AND idx < run.total
					AND state IN ('succeeded', 'failed') AND NOT rb_done ORDER BY completed DESC LIMIT 1;
				IF NOT FOUND THEN
					UPDATE {s}.runs SET state = 'finished', finished_at = clock_timestamp() WHERE plan_id = p_plan;
					r_status := 'finished'; RETURN NEXT; RETURN;
				END IF;
				-- A step after it, through barriers, still in place keeps it;
				-- so does one not run since it failed, or was cut short.
				WITH RECURSIVE later(idx) AS (
						SELECT e.after FROM {s}.edges e WHERE e.plan_id = p_plan AND e.before = cand.idx
						UNION SELECT e.after FROM {s}.edges e JOIN later l ON e.before = l.idx
							WHERE e.plan_id = p_plan AND l.idx >= run.total)
					SELECT 'step ' || st.step_id || CASE WHEN st.state IN ('waiting', 'ready')
							THEN ' after it failed, or was cut short, in an earlier run, and may have changed its node'
							ELSE ' after it is still in place' END
						INTO blocker FROM later l JOIN {s}.steps st ON st.plan_id = p_plan AND st.idx = l.idx
					WHERE l.idx < run.total AND (st.state IN ('succeeded', 'failed', 'rolling_back')
						OR st.state IN ('waiting', 'ready') AND (st.failed_before OR st.in_doubt OR st.doubt_before)) ORDER BY l.idx LIMIT 1;
				IF NOT FOUND AND cand.state = 'failed' AND cand.err_kinds & {abandoned} <> 0 THEN
					-- Its Execute may still be changing the node: undoing it
					-- now would race it, and the steps before it stay for
					-- it, as upgrade.Run leaves them.
					UPDATE {s}.steps SET rb_done = true, rb_kinds = {abandoned},
							rb_err = {abandonedErr} || ': its Execute may still be running, so it is not undone'
						WHERE plan_id = p_plan AND idx = cand.idx;
					INSERT INTO {s}.events (plan_id, kind, idx, attempt, err, err_kinds, in_doubt, done, total, worker)
						VALUES (p_plan, {rollbackfailed}, cand.idx, 0, {abandonedErr} || ': its Execute may still be running, so it is not undone',
							{abandoned}, false, run.done, run.total, p_worker);
				ELSIF NOT FOUND THEN
					-- Undoing a step changes its node: the rollback takes
					-- the node's lock as a step does, and waits while a
					-- step of another run holds it, or an abandoned call
					-- may still run on it (a held lock, unless lapsed).
					DELETE FROM {s}.node_locks WHERE node = cand.node AND held_until < clock_timestamp();
					INSERT INTO {s}.node_locks (node, plan_id, idx) VALUES (cand.node, p_plan, cand.idx) ON CONFLICT DO NOTHING;
					IF NOT FOUND THEN
						r_status := 'none'; r_wake_us := {s}.next_expiry(p_plan); RETURN NEXT; RETURN;
					END IF;
					UPDATE {s}.steps SET state = 'rolling_back', token = token + 1, worker = p_worker, rb_tried = true,
							lease_until = clock_timestamp() + p_lease_us * interval '1 microsecond', claim_key = p_key, claim_doubt = false
						WHERE plan_id = p_plan AND idx = cand.idx RETURNING idx, token, attempts INTO got;
					UPDATE {s}.runs SET running = running + 1 WHERE plan_id = p_plan;
					r_status := 'rollback'; r_idx := got.idx; r_token := got.token; r_attempts := got.attempts; r_in_doubt := false;
					RETURN NEXT; RETURN;
				ELSE
					UPDATE {s}.steps SET rb_done = true, rb_err = blocker, rb_kinds = 0
						WHERE plan_id = p_plan AND idx = cand.idx;
					INSERT INTO {s}.events (plan_id, kind, idx, attempt, err, in_doubt, done, total, worker)
						VALUES (p_plan, {rollbackfailed}, cand.idx, 0, blocker, false, run.done, run.total, p_worker);
				END IF;
			END LOOP;
		END IF;
		UPDATE {s}.steps SET token = token + 1, worker = p_worker, in_doubt = true, attempts = attempts + 1,
				lease_until = clock_timestamp() + p_lease_us * interval '1 microsecond', claim_key = p_key, claim_doubt = true
			WHERE plan_id = p_plan AND idx = (SELECT idx FROM {s}.steps WHERE plan_id = p_plan AND state = 'running'
				AND lease_until < clock_timestamp() ORDER BY lease_until LIMIT 1 FOR UPDATE SKIP LOCKED)
			RETURNING idx, token, attempts, in_doubt INTO got;
		IF NOT FOUND THEN
			IF run.state <> 'running' OR run.stopping OR run.running >= run.concurrency THEN
				IF run.state = 'running' AND NOT run.stopping
						AND EXISTS (SELECT 1 FROM {s}.steps WHERE plan_id = p_plan AND state = 'ready') THEN
					-- Kept out by the limit: the next finish_and_claim
					-- leaves its slot to the workers waiting (see there).
					UPDATE {s}.runs SET starved = true WHERE plan_id = p_plan AND NOT starved;
				END IF;
				r_status := 'none'; r_wake_us := {s}.next_expiry(p_plan); RETURN NEXT; RETURN;
			END IF;
			-- The first ready step whose node no step of any run holds. The
			-- run's row lock keeps other claims of the run out.
			claimed := false;
			FOR cand IN SELECT st.idx, st.node, st.attempts, st.wait_plan, st.wait_idx
					FROM {s}.steps st WHERE st.plan_id = p_plan AND st.state = 'ready'
					ORDER BY st.prio DESC, st.pos, st.idx LOOP
				SELECT l.plan_id, l.idx, h.step_id, h.lease_until < clock_timestamp() AS expired, l.held_until < clock_timestamp() AS lapsed
					INTO holder FROM {s}.node_locks l
					JOIN {s}.steps h ON h.plan_id = l.plan_id AND h.idx = l.idx WHERE l.node = cand.node;
				IF FOUND AND holder.lapsed THEN
					-- Held for a call abandoned on the node, by a worker
					-- lost before the call returned: free once its lease
					-- has lapsed, as a lost worker's step is taken over.
					DELETE FROM {s}.node_locks WHERE node = cand.node AND held_until < clock_timestamp();
					SELECT l.plan_id, l.idx, h.step_id INTO holder FROM {s}.node_locks l
						JOIN {s}.steps h ON h.plan_id = l.plan_id AND h.idx = l.idx WHERE l.node = cand.node;
				ELSIF FOUND AND holder.plan_id <> p_plan AND holder.expired THEN
					-- Held by a cancelled run's lost worker, its step is
					-- failed as that run's claim would, which frees the
					-- node. The run's row is locked first, so that a Retry
					-- cannot set it running meanwhile: its claim would then
					-- take a step. Only a cancelled run's row is locked so,
					-- and its claim locks no other: no two claims wait on
					-- each other.
					PERFORM 1 FROM {s}.runs WHERE plan_id = holder.plan_id AND state = 'cancelled' AND finished_at IS NULL
						FOR UPDATE;
					IF FOUND THEN
						PERFORM {s}.claim(holder.plan_id, 'pgrun:sweep', 0, false);
					END IF;
					SELECT l.plan_id, l.idx, h.step_id INTO holder FROM {s}.node_locks l
						JOIN {s}.steps h ON h.plan_id = l.plan_id AND h.idx = l.idx WHERE l.node = cand.node;
				END IF;
				IF NOT FOUND THEN
					-- Another run's claim may have taken the node since: then
					-- this inserts nothing, having waited for it to commit.
					INSERT INTO {s}.node_locks (node, plan_id, idx) VALUES (cand.node, p_plan, cand.idx) ON CONFLICT DO NOTHING;
					IF FOUND THEN
						UPDATE {s}.steps SET state = 'running', token = token + 1, worker = p_worker, attempts = attempts + 1,
								lease_until = clock_timestamp() + p_lease_us * interval '1 microsecond', in_doubt = in_doubt OR doubt_before,
								wait_plan = NULL, wait_idx = NULL, claim_key = p_key, claim_doubt = in_doubt OR doubt_before
							WHERE plan_id = p_plan AND idx = cand.idx
							RETURNING idx, token, attempts, in_doubt INTO got;
						claimed := true;
						EXIT;
					END IF;
				ELSIF holder.plan_id <> p_plan
						AND (cand.wait_plan IS DISTINCT FROM holder.plan_id OR cand.wait_idx IS DISTINCT FROM holder.idx) THEN
					UPDATE {s}.steps SET wait_plan = holder.plan_id, wait_idx = holder.idx
						WHERE plan_id = p_plan AND idx = cand.idx;
					INSERT INTO {s}.events (plan_id, kind, idx, attempt, err, in_doubt, done, total, worker, wait_plan, wait_step)
						VALUES (p_plan, {waiting}, cand.idx, cand.attempts + 1, NULL, false, run.done, run.total, p_worker,
							holder.plan_id, holder.step_id);
				END IF;
			END LOOP;
			IF NOT claimed THEN
				r_status := 'none'; r_wake_us := {s}.next_expiry(p_plan); RETURN NEXT; RETURN;
			END IF;
			UPDATE {s}.runs SET running = running + 1 WHERE plan_id = p_plan;
		END IF;
		INSERT INTO {s}.events (plan_id, kind, idx, attempt, err, in_doubt, done, total, worker)
			VALUES (p_plan, {started}, got.idx, got.attempts, NULL, got.in_doubt, run.done, run.total, p_worker);
		r_status := 'claimed'; r_idx := got.idx; r_token := got.token; r_attempts := got.attempts; r_in_doubt := got.in_doubt;
		RETURN NEXT;
	END $pgrun$;

	-- skip_after skips the steps of run p_plan waiting or ready after
	-- the vertices p_from, which failed, with an event each numbered on
	-- from p_done steps done, and returns their number. Barriers are
	-- skipped silently: they are not steps. The steps after each vertex
	-- of p_from, in turn, are skipped in upgrade.Run's order: depth first,
	-- each vertex's next ones in the order of their indexes, walked with
	-- a stack of its own rather than by recursion, as upgrade.Run does.
	CREATE OR REPLACE FUNCTION {s}.skip_after(p_plan text, p_from int[], p_done int, p_total int, p_worker text)
	RETURNS int LANGUAGE plpgsql AS $pgrun$
	DECLARE
		n int := 0;
		f int;
		v int;
		a int;
		stack int[] := '{}';
		top int := 0;
	BEGIN
		FOREACH f IN ARRAY p_from LOOP
			v := f;
			LOOP
				-- The vertices after v, the first on top.
				FOR a IN SELECT e.after FROM {s}.edges e WHERE e.plan_id = p_plan AND e.before = v ORDER BY e.after DESC LOOP
					top := top + 1;
					stack[top] := a;
				END LOOP;
				LOOP -- the next vertex on the stack not finished yet, skipped
					IF top = 0 THEN
						v := NULL;
						EXIT;
					END IF;
					v := stack[top];
					top := top - 1;
					UPDATE {s}.steps SET state = 'skipped' WHERE plan_id = p_plan AND idx = v AND state IN ('waiting', 'ready');
					EXIT WHEN FOUND;
				END LOOP;
				EXIT WHEN v IS NULL;
				IF v < p_total THEN
					n := n + 1;
					INSERT INTO {s}.events (plan_id, kind, idx, attempt, err, in_doubt, done, total, worker)
						VALUES (p_plan, {skipped}, v, 0, NULL, false, p_done + n, p_total, p_worker);
				END IF;
			END LOOP;
		END LOOP;
		RETURN n;
	END $pgrun$;

	-- finish records the outcome of step p_idx of run p_plan, held with
	-- token p_token, succeeded when p_err is NULL, with its consequences:
	-- the steps after it made ready, or skipped; the run stopping
	-- (FailFast) or finished. It returns 'lost', changing nothing, when
	-- the lease was taken over, and 'ok' otherwise; 'ok' too, changing
	-- nothing, when it recorded the outcome under p_token before: sent
	-- again, its reply lost, it finds its own record.
	CREATE OR REPLACE FUNCTION {s}.finish(p_plan text, p_idx int, p_token bigint, p_attempts int, p_err text, p_kinds int, p_worker text)
	RETURNS text LANGUAGE plpgsql AS $pgrun$
	DECLARE
		run record;
		d int;
		n int;
		v int;
		a int;
		dst record;
		released int[];
	BEGIN
		SELECT done, total INTO run FROM {s}.runs WHERE plan_id = p_plan FOR UPDATE;
		UPDATE {s}.steps SET state = CASE WHEN p_err IS NULL THEN 'succeeded' ELSE 'failed' END,
				attempts = p_attempts, err = p_err, err_kinds = p_kinds, worker = NULL, lease_until = NULL,
				completed = run.done + 1, finish_token = p_token
			WHERE plan_id = p_plan AND idx = p_idx AND token = p_token AND state = 'running';
		IF NOT FOUND THEN
			PERFORM FROM {s}.steps WHERE plan_id = p_plan AND idx = p_idx AND finish_token = p_token;
			RETURN CASE WHEN FOUND THEN 'ok' ELSE 'lost' END;
		END IF;
		DELETE FROM {s}.node_locks WHERE plan_id = p_plan AND idx = p_idx;
		d := run.done + 1;
		IF p_err IS NULL THEN
			INSERT INTO {s}.events (plan_id, kind, idx, attempt, err, in_doubt, done, total, worker)
				VALUES (p_plan, {succeeded}, p_idx, p_attempts, NULL, false, d, run.total, p_worker);
			-- The vertices after it: a step left with nothing to wait
			-- for is ready; a barrier (idx >= total) passes, and in turn
			-- releases the vertices after it.
			-- One edge at a time, each statement looking rows up by
			-- their keys, so that the plans do not depend on the tables'
			-- statistics, which a new schema lacks: planned on them, a
			-- join, or even idx = ANY (...), read all the run's steps at
			-- each finish.
			released := ARRAY[p_idx];
			WHILE cardinality(released) > 0 LOOP
				v := released[1];
				released := released[2:];
				FOR a IN SELECT e.after FROM {s}.edges e WHERE e.plan_id = p_plan AND e.before = v LOOP
					UPDATE {s}.steps s SET waiting = s.waiting - 1,
							state = CASE WHEN s.waiting = 1 AND s.state = 'waiting'
								THEN CASE WHEN s.idx >= run.total THEN 'succeeded' ELSE 'ready' END ELSE s.state END
						WHERE s.plan_id = p_plan AND s.idx = a
						RETURNING s.idx, s.waiting, s.state INTO dst;
					IF dst.idx >= run.total AND dst.waiting = 0 AND dst.state = 'succeeded' THEN
						released := released || dst.idx; -- a barrier passed
					END IF;
				END LOOP;
			END LOOP;
		ELSE
			INSERT INTO {s}.events (plan_id, kind, idx, attempt, err, err_kinds, in_doubt, done, total, worker)
				VALUES (p_plan, {failed}, p_idx, p_attempts, p_err, p_kinds, false, d, run.total, p_worker);
			d := d + {s}.skip_after(p_plan, ARRAY[p_idx], d, run.total, p_worker);
		END IF;
		UPDATE {s}.runs SET running = running - 1, done = d,
				stopping = stopping OR (p_err IS NOT NULL AND policy = {failfast})
			WHERE plan_id = p_plan RETURNING running INTO n;
		IF n = 0 THEN -- else check_finished changes nothing
			PERFORM {s}.check_finished(p_plan);
		END IF;
		RETURN 'ok';
	END $pgrun$;

	-- finish_and_claim is finish, then claim, in one transaction (one
	-- round trip): a worker records the end of a step and takes the
	-- next for the same slot. r_finish is finish's result. p_key and
	-- p_resent are claim's: sent again, its reply lost, it takes the step
	-- the first took (finish answering 'ok' again).
	CREATE OR REPLACE FUNCTION {s}.finish_and_claim(p_plan text, p_idx int, p_token bigint, p_attempts int, p_err text,
		p_kinds int, p_worker text, p_lease_us bigint, p_rollbacker boolean, p_key bigint, p_resent boolean)
	RETURNS TABLE (r_finish text, r_status text, r_idx int, r_token bigint, r_attempts int, r_in_doubt boolean, r_wake_us bigint)
	LANGUAGE plpgsql AS $pgrun$
	BEGIN
		r_finish := {s}.finish(p_plan, p_idx, p_token, p_attempts, p_err, p_kinds, p_worker);
		IF p_resent THEN -- before the slot goes to a starved worker: the first may have taken a step
			SELECT c.r_status, c.r_idx, c.r_token, c.r_attempts, c.r_in_doubt, c.r_wake_us
				INTO r_status, r_idx, r_token, r_attempts, r_in_doubt, r_wake_us
				FROM {s}.reclaim(p_plan, p_worker, p_lease_us, p_key) c;
			IF FOUND THEN
				RETURN NEXT; RETURN;
			END IF;
		END IF;
		-- A worker kept out by the run's limit while this one ran its
		-- step gets the slot freed: this one claims nothing now, so that
		-- workers chaining steps cannot starve the others.
		UPDATE {s}.runs SET starved = false WHERE plan_id = p_plan AND starved;
		IF FOUND THEN
			r_status := 'none'; RETURN NEXT; RETURN;
		END IF;
		SELECT c.r_status, c.r_idx, c.r_token, c.r_attempts, c.r_in_doubt, c.r_wake_us
			INTO r_status, r_idx, r_token, r_attempts, r_in_doubt, r_wake_us
			FROM {s}.claim(p_plan, p_worker, p_lease_us, p_rollbacker, p_key, false) c;
		RETURN NEXT;
	END $pgrun$;

	-- reclaim returns, its lease renewed, the step that a claim of run
	-- p_plan by worker p_worker, tagged p_key, took, if the worker still
	-- holds it, as that claim returned it: a claim sent again, the reply
	-- to the first lost with its connection, gets that step rather than
	-- another, which would leave the first leased to nobody, to be taken
	-- over in doubt once the lease expires though it never started. It
	-- returns no row when the first took nothing (or never committed), its
	-- lease was taken over since, or the run is cancelled or over. In a
	-- run cancelled since, the step taken, which the worker will not
	-- start, is handed back as the worker hands back a step it claimed as
	-- it stops, and a rollback's lease expires, for the claim of the
	-- cancelled run to leave its step in place: neither is left leased to
	-- nobody, to be failed in doubt once the lease expires.
	CREATE OR REPLACE FUNCTION {s}.reclaim(p_plan text, p_worker text, p_lease_us bigint, p_key bigint)
	RETURNS TABLE (r_status text, r_idx int, r_token bigint, r_attempts int, r_in_doubt boolean, r_wake_us bigint)
	LANGUAGE plpgsql AS $pgrun$
	DECLARE
		got record;
	BEGIN
		PERFORM FROM {s}.runs WHERE plan_id = p_plan AND state = 'cancelled' AND finished_at IS NULL;
		IF FOUND THEN
			SELECT idx, token INTO got FROM {s}.steps
				WHERE plan_id = p_plan AND claim_key = p_key AND worker = p_worker AND state = 'running';
			IF FOUND THEN -- a claim of the cancelled run finishes it
				PERFORM {s}.hand_back(p_plan, got.idx, got.token, false);
			END IF;
			UPDATE {s}.steps SET lease_until = clock_timestamp() - interval '1 second', rb_tried = claim_doubt -- taken over, tried before
				WHERE plan_id = p_plan AND claim_key = p_key AND worker = p_worker AND state = 'rolling_back';
			RETURN;
		END IF;
		RETURN QUERY UPDATE {s}.steps st SET lease_until = clock_timestamp() + p_lease_us * interval '1 microsecond'
			FROM {s}.runs r
			WHERE st.plan_id = p_plan AND st.claim_key = p_key AND st.worker = p_worker AND st.state IN ('running', 'rolling_back')
				AND r.plan_id = p_plan AND r.state <> 'cancelled' AND r.finished_at IS NULL
			RETURNING CASE WHEN st.state = 'running' THEN 'claimed' ELSE 'rollback' END, st.idx, st.token, st.attempts,
				st.claim_doubt, NULL::bigint;
	END $pgrun$;

	-- hand_back makes step p_idx of run p_plan, held with token p_token,
	-- ready again as its worker stops, its node and slot freed: in doubt
	-- if p_started, and otherwise as it was before the claim, the attempt
	-- not counted and the claim's event of its start deleted, as
	-- upgrade.Run reports no start of a step it did not start. It returns
	-- false, changing nothing, once the token has moved on.
	CREATE OR REPLACE FUNCTION {s}.hand_back(p_plan text, p_idx int, p_token bigint, p_started boolean)
	RETURNS boolean LANGUAGE plpgsql AS $pgrun$
	BEGIN
		UPDATE {s}.steps SET state = 'ready', worker = NULL, lease_until = NULL, token = token + 1,
				in_doubt = in_doubt OR p_started, attempts = attempts - CASE WHEN p_started THEN 0 ELSE 1 END
			WHERE plan_id = p_plan AND idx = p_idx AND token = p_token AND state = 'running';
		IF NOT FOUND THEN
			RETURN false;
		END IF;
		DELETE FROM {s}.node_locks WHERE plan_id = p_plan AND idx = p_idx;
		IF NOT p_started THEN
			DELETE FROM {s}.events WHERE seq = (SELECT max(seq) FROM {s}.events
				WHERE plan_id = p_plan AND idx = p_idx AND kind = {started});
		END IF;
		UPDATE {s}.runs SET running = running - 1 WHERE plan_id = p_plan;
		RETURN true;
	END $pgrun$;

	-- claim and finish_and_claim of version 7, for its workers: with no
	-- key, a claim sent again takes another step.
	CREATE OR REPLACE FUNCTION {s}.claim(p_plan text, p_worker text, p_lease_us bigint, p_rollbacker boolean)
	RETURNS TABLE (r_status text, r_idx int, r_token bigint, r_attempts int, r_in_doubt boolean, r_wake_us bigint)
	LANGUAGE plpgsql AS $pgrun$
	BEGIN
		RETURN QUERY SELECT * FROM {s}.claim(p_plan, p_worker, p_lease_us, p_rollbacker, NULL, false);
	END $pgrun$;
	CREATE OR REPLACE FUNCTION {s}.finish_and_claim(p_plan text, p_idx int, p_token bigint, p_attempts int, p_err text,
		p_kinds int, p_worker text, p_lease_us bigint, p_rollbacker boolean)
	RETURNS TABLE (r_finish text, r_status text, r_idx int, r_token bigint, r_attempts int, r_in_doubt boolean, r_wake_us bigint)
	LANGUAGE plpgsql AS $pgrun$
	BEGIN
		RETURN QUERY SELECT * FROM {s}.finish_and_claim(p_plan, p_idx, p_token, p_attempts, p_err, p_kinds, p_worker, p_lease_us,
			p_rollbacker, NULL, false);
	END $pgrun$;

	-- keep_in_place leaves in place the steps of run p_plan, a rollback
	-- of which is cancelled, that are not undone yet, as upgrade.Run
	-- leaves them when it calls their Rollback with a done context: each
	-- with the cancel's error ({cancelledRollback}) and an event, last
	-- completed first. While a rollback of the run is under way it does
	-- nothing: the rollback's end (finish_rollback, or the sweep of a
	-- cancelled run's lost worker) calls it, so that, as upgrade.Run's,
	-- the event of the rollback cut short comes before theirs.
	CREATE OR REPLACE FUNCTION {s}.keep_in_place(p_plan text) RETURNS void LANGUAGE plpgsql AS $pgrun$
	BEGIN
		PERFORM FROM {s}.steps WHERE plan_id = p_plan AND state = 'rolling_back';
		IF FOUND THEN
			RETURN;
		END IF;
		WITH kept AS (UPDATE {s}.steps SET rb_done = true, rb_err = {cancelledRollback}, rb_kinds = {cancelledRollbackKinds}
				WHERE plan_id = p_plan AND idx < (SELECT total FROM {s}.runs WHERE plan_id = p_plan)
					AND state IN ('succeeded', 'failed') AND NOT rb_done RETURNING idx, completed)
		INSERT INTO {s}.events (plan_id, kind, idx, attempt, err, err_kinds, in_doubt, done, total)
		SELECT p_plan, {rollbackfailed}, k.idx, 0, {cancelledRollback}, {cancelledRollbackKinds}, false, r.done, r.total
			FROM kept k JOIN {s}.runs r ON r.plan_id = p_plan ORDER BY k.completed DESC;
	END $pgrun$;

	-- finish_rollback records the rollback of step p_idx of run p_plan,
	-- held with token p_token: undone when p_err is NULL, else still in
	-- place with the rollback's error. It returns 'lost', changing
	-- nothing, when the lease was taken over, and 'ok' otherwise.
	CREATE OR REPLACE FUNCTION {s}.finish_rollback(p_plan text, p_idx int, p_token bigint, p_err text, p_kinds int, p_worker text)
	RETURNS text LANGUAGE plpgsql AS $pgrun$
	DECLARE
		run record;
	BEGIN
		SELECT done, total, state INTO run FROM {s}.runs WHERE plan_id = p_plan FOR UPDATE;
		UPDATE {s}.steps SET state = CASE WHEN p_err IS NOT NULL THEN CASE WHEN err IS NULL THEN 'succeeded' ELSE 'failed' END
					ELSE 'rolled_back' END,
				rb_done = true, rb_err = p_err, rb_kinds = p_kinds, worker = NULL, lease_until = NULL
			WHERE plan_id = p_plan AND idx = p_idx AND token = p_token AND state = 'rolling_back';
		IF NOT FOUND THEN
			RETURN 'lost';
		END IF;
		DELETE FROM {s}.node_locks WHERE plan_id = p_plan AND idx = p_idx;
		IF p_err IS NULL THEN
			INSERT INTO {s}.events (plan_id, kind, idx, attempt, err, in_doubt, done, total, worker)
				VALUES (p_plan, {rolledback}, p_idx, 0, NULL, false, run.done, run.total, p_worker);
		ELSE
			INSERT INTO {s}.events (plan_id, kind, idx, attempt, err, err_kinds, in_doubt, done, total, worker)
				VALUES (p_plan, {rollbackfailed}, p_idx, 0, p_err, p_kinds, false, run.done, run.total, p_worker);
		END IF;
		IF run.state = 'cancelled' THEN
			PERFORM {s}.keep_in_place(p_plan);
		END IF;
		UPDATE {s}.runs SET running = running - 1 WHERE plan_id = p_plan;
		PERFORM {s}.check_finished(p_plan);
		RETURN 'ok';
	END $pgrun$;`

// Open returns a Store keeping its tables in schema, creating the schema
// and its tables, or migrating them to SchemaVersion, as needed. It is
// idempotent and safe to call from several processes at once: the
// migration runs under a transaction-scoped advisory lock, in a
// transaction that the server ends if it is left idle for DefaultLease
// (its process frozen), so that it holds the schema no longer. A schema
// already at SchemaVersion is opened with a read alone: a worker's role
// needs only to use the schema's tables, not to create anything. Open
// touches nothing outside schema (but for the advisory lock). A schema
// that a newer program has migrated past SchemaVersion is refused,
// unchanged, with an error matching ErrSchemaVersion. A role that may not
// create or migrate a schema that needs it, or may not read the schema,
// gets an error that says which, and what to do. The pool stays the
// caller's: close it after the last use of the Store.
func Open(ctx context.Context, pool *pgxpool.Pool, schema string) (*Store, error) {
	if err := checkSchemaName(schema); err != nil {
		return nil, err
	}
	s := &Store{pool: pool, name: schema, schema: pgx.Identifier{schema}.Sanitize(), channel: channelName(schema), listener: &listener{}}
	// A schema at this version, or a newer one, needs no lock and no DDL,
	// which a worker's role may have no right to.
	var current int
	readErr := pool.QueryRow(ctx, s.q(`SELECT version FROM {s}.schema_version`)).Scan(&current)
	switch {
	case readErr == nil && current == SchemaVersion:
		return s, nil
	case readErr == nil && current > SchemaVersion:
		return nil, fmt.Errorf("pgrun: opening schema %s: %w", s.schema, newerSchema(current))
	}
	if err := s.inTx(ctx, DefaultLease, func(tx pgx.Tx) error { return s.migrate(ctx, tx) }); err != nil {
		return nil, fmt.Errorf("pgrun: opening schema %s: %w", s.schema, s.refused(readErr, current, err))
	}
	return s, nil
}

// refused returns the error of Open whose migration failed with err,
// having read the schema's version, current (readErr nil), or failed to
// (readErr): when the role was refused, it says what Open needed the
// right for, and what to do, rather than the refusal of CREATE SCHEMA
// alone, which names the database.
func (s *Store) refused(readErr error, current int, err error) error {
	if !isSQLState(err, insufficientPrivilege) {
		return err
	}
	switch {
	case readErr == nil:
		return fmt.Errorf("it is at version %d, this program's is %d, and this role may not migrate it: %w; open it once with a role that may (its owner), then the workers may open it with this one", current, SchemaVersion, err)
	case isSQLState(readErr, insufficientPrivilege):
		return fmt.Errorf("this role may not read it: %w; GRANT USAGE ON SCHEMA %s, and SELECT, INSERT, UPDATE, DELETE ON ALL TABLES and USAGE ON ALL SEQUENCES IN SCHEMA %[2]s, to this role", readErr, s.schema)
	case isSQLState(readErr, undefinedTable):
		return fmt.Errorf("it does not exist, or holds no schema_version table, and this role may not create it: %w; open it once with a role that may (CREATE on the database), then the workers may open it with this one", err)
	}
	return err
}

// SQLSTATEs that Open tells apart.
const (
	insufficientPrivilege = "42501"
	undefinedTable        = "42P01"
)

// isSQLState reports whether err is PostgreSQL's error of SQLSTATE code.
func isSQLState(err error, code string) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == code
}

// checkSchemaName refuses, with an error matching ErrInvalidSchema, a
// schema name that PostgreSQL cannot hold, or reserves (pg_…), or that
// would end the quoting of the schema's function bodies.
func checkSchemaName(schema string) error {
	if schema == "" || len(schema) > 63 || strings.ContainsRune(schema, 0) {
		return fmt.Errorf("%w %q: give 1 to 63 bytes with no NUL", ErrInvalidSchema, schema)
	}
	if strings.Contains(schema, "$pgrun$") { // it quotes the functions' bodies
		return fmt.Errorf("%w %q: it holds $pgrun$", ErrInvalidSchema, schema)
	}
	if strings.HasPrefix(schema, "pg_") { // CREATE SCHEMA refuses it, even one that exists
		return fmt.Errorf("%w %q: PostgreSQL reserves the prefix pg_ for its system schemas: give a name without it", ErrInvalidSchema, schema)
	}
	return nil
}

// migrate creates s's schema and tables, or migrates them to
// SchemaVersion, in tx under the schema's advisory lock, so that
// processes opening the schema at once migrate it only once.
func (s *Store) migrate(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('stackup/pgrun:' || $1))`, s.name); err != nil {
		return err
	}
	// Another process may have created or migrated the schema while this
	// one waited for the lock: then there is nothing to create, which a
	// role that may only use the schema's tables may not do (PostgreSQL
	// refuses it CREATE SCHEMA IF NOT EXISTS even for a schema that
	// exists).
	var exists bool
	if err := tx.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, s.schema+".schema_version").Scan(&exists); err != nil {
		return err
	}
	if !exists {
		if _, err := tx.Exec(ctx, s.q(`CREATE SCHEMA IF NOT EXISTS {s};
				CREATE TABLE IF NOT EXISTS {s}.schema_version (version int NOT NULL)`)); err != nil {
			return err
		}
	}
	var version int
	err := tx.QueryRow(ctx, s.q(`SELECT version FROM {s}.schema_version`)).Scan(&version)
	if errors.Is(err, pgx.ErrNoRows) {
		_, err = tx.Exec(ctx, s.q(`INSERT INTO {s}.schema_version VALUES (0)`))
	}
	if err != nil {
		return err
	}
	switch {
	case version > SchemaVersion:
		return newerSchema(version)
	case version == SchemaVersion:
		return nil
	}
	for v := version; v < SchemaVersion; v++ {
		if _, err := tx.Exec(ctx, s.replace(migrations[v])); err != nil {
			return fmt.Errorf("migrating to version %d: %w", v+1, err)
		}
	}
	_, err = tx.Exec(ctx, s.q(`UPDATE {s}.schema_version SET version = $1`), SchemaVersion)
	return err
}

// newerSchema is the error of a schema at version, newer than this
// program's.
func newerSchema(version int) error {
	return fmt.Errorf("%w: it is at version %d, this program's is %d: upgrade the program", ErrSchemaVersion, version, SchemaVersion)
}

// inTx calls f in a transaction of s's pool that the server ends, rolled
// back, once the client has left it idle, with no statement under way,
// longer than idle: a worker frozen in the middle of one (its process
// stopped, its container paused, its network cut without the server
// learning of it), which would otherwise hold its run's row lock, and
// stall every worker of the run, until it came back or TCP gave up
// (hours), frees the run once it has lost its lease; a process frozen in
// the middle of a migration frees the schema's tables. One round trip, as
// BEGIN alone.
func (s *Store) inTx(ctx context.Context, idle time.Duration, f func(pgx.Tx) error) error {
	return s.beginTx(ctx, "BEGIN", idle, f)
}

// readTx is inTx for a transaction that reads one snapshot of the
// schema, and writes nothing: even a read, frozen, holds the tables'
// locks that a migration's ALTER TABLE waits for, and every worker of
// the schema behind it.
func (s *Store) readTx(ctx context.Context, idle time.Duration, f func(pgx.Tx) error) error {
	return s.beginTx(ctx, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", idle, f)
}

// beginTx is inTx with begin as its BEGIN statement.
func (s *Store) beginTx(ctx context.Context, begin string, idle time.Duration, f func(pgx.Tx) error) error {
	begin += fmt.Sprintf("; SET LOCAL idle_in_transaction_session_timeout = %d", max(idle.Milliseconds(), 1))
	return pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{BeginQuery: begin}, f)
}

// quoteLiteral quotes v as an SQL string literal (standard_conforming_strings
// on, as since PostgreSQL 9.1).
func quoteLiteral(v string) string { return "'" + strings.ReplaceAll(v, "'", "''") + "'" }

// q puts the quoted schema name in place of {s} in a statement, and
// upgrade's event kinds and failure policy in place of their names. It
// keeps the result, for the next call: give it only the package's own
// statements, never text that holds a caller's input.
func (s *Store) q(sql string) string {
	if v, ok := s.queries.Load(sql); ok {
		return v.(string)
	}
	v, _ := s.queries.LoadOrStore(sql, s.replace(sql))
	return v.(string)
}

// replace is q, uncached. (The statements are the package's: a few dozen.)
func (s *Store) replace(sql string) string {
	return strings.NewReplacer("{s}", s.schema, "{chan}", quoteLiteral(s.channel),
		"{started}", strconv.Itoa(int(upgrade.StepStarted)), "{succeeded}", strconv.Itoa(int(upgrade.StepSucceeded)),
		"{failed}", strconv.Itoa(int(upgrade.StepFailed)), "{skipped}", strconv.Itoa(int(upgrade.StepSkipped)),
		"{rolledback}", strconv.Itoa(int(upgrade.StepRolledBack)), "{waiting}", strconv.Itoa(int(upgrade.StepWaiting)),
		"{rollbackfailed}", strconv.Itoa(int(upgrade.StepRollbackFailed)),
		"{failfast}", strconv.Itoa(int(upgrade.FailFast)),
		"{abandoned}", strconv.Itoa(errKinds(upgrade.ErrAbandoned)), "{abandonedErr}", quoteLiteral(upgrade.ErrAbandoned.Error()),
		"{cancelledRollbackKinds}", strconv.Itoa(errKinds(errRollbackCancelled)),
		"{cancelledStepKinds}", strconv.Itoa(errKinds(errStepCancelled)),
		"{cancelledRollback}", quoteLiteral(errRollbackCancelled.Error())).Replace(sql)
}
