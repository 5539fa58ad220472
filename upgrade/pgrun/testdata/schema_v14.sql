-- Version 14 of pgrun's schema (its migrations 1 to 14 as released, the functions once, as version 14 left them), for the migration test.
CREATE TABLE {s}.runs (
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
	CREATE INDEX node_locks_step ON {s}.node_locks (plan_id, idx);
ALTER TABLE {s}.steps ADD COLUMN pos int NOT NULL DEFAULT 0, ADD COLUMN err_kinds int NOT NULL DEFAULT 0,
		ADD COLUMN completed int, ADD COLUMN rb_done boolean NOT NULL DEFAULT false, ADD COLUMN rb_err text,
		ADD COLUMN rb_kinds int NOT NULL DEFAULT 0;
	ALTER TABLE {s}.runs ADD COLUMN rollback boolean NOT NULL DEFAULT false;
	DROP FUNCTION IF EXISTS {s}.claim(text, text, bigint);
	DROP INDEX {s}.steps_ready;
	CREATE INDEX steps_ready ON {s}.steps (plan_id, prio DESC, pos, idx) WHERE state = 'ready';
	DROP FUNCTION IF EXISTS {s}.finish(text, int, bigint, int, text, text);
ALTER TABLE {s}.steps ADD COLUMN wait_plan text, ADD COLUMN wait_idx int;
	ALTER TABLE {s}.events ADD COLUMN wait_plan text, ADD COLUMN wait_step text;
	CREATE INDEX steps_lease ON {s}.steps (plan_id, lease_until) WHERE lease_until IS NOT NULL;
	DROP FUNCTION IF EXISTS {s}.claim(text, text, bigint, boolean);
ALTER TABLE {s}.runs ADD COLUMN starved boolean NOT NULL DEFAULT false;
ALTER TABLE {s}.events ADD COLUMN err_kinds int NOT NULL DEFAULT 0;
ALTER TABLE {s}.steps ADD COLUMN finish_token bigint, ADD COLUMN claim_key bigint, ADD COLUMN claim_doubt boolean;
	ALTER TABLE {s}.runs ADD COLUMN retry_key bigint;
ALTER TABLE {s}.steps ADD COLUMN failed_before boolean NOT NULL DEFAULT false,
		ADD COLUMN rb_tried boolean NOT NULL DEFAULT false;
ALTER TABLE {s}.node_locks ADD COLUMN held_until timestamptz, ADD COLUMN token bigint;
ALTER TABLE {s}.steps ADD COLUMN settled boolean NOT NULL DEFAULT false;
ALTER TABLE {s}.steps ADD COLUMN resumed boolean NOT NULL DEFAULT false;

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
					err = 'run cancelled; its worker was lost, so the step is in doubt'
				WHERE plan_id = p_plan AND state = 'running' AND lease_until < clock_timestamp()
				RETURNING idx, attempts),
			failed AS (
				INSERT INTO {s}.events (plan_id, kind, idx, attempt, err, in_doubt, done, total, worker)
				SELECT p_plan, {failed}, idx, attempts, 'run cancelled; its worker was lost', true,
					run.done + row_number() OVER (ORDER BY idx), run.total, p_worker FROM lost)
			SELECT coalesce(array_agg(idx), '{}') INTO lost_idx FROM lost;
			n := cardinality(lost_idx);
			k := {s}.skip_after(p_plan, lost_idx, run.done + n, run.total, p_worker);
			WITH lost AS (
				UPDATE {s}.steps SET state = CASE WHEN err IS NULL THEN 'succeeded' ELSE 'failed' END, rb_done = true,
					rb_err = 'run cancelled; its worker was lost during the rollback', worker = NULL, lease_until = NULL
				WHERE plan_id = p_plan AND state = 'rolling_back' AND lease_until < clock_timestamp() RETURNING idx),
			kept AS (
				INSERT INTO {s}.events (plan_id, kind, idx, attempt, err, in_doubt, done, total, worker)
				SELECT p_plan, {rollbackfailed}, idx, 0, 'run cancelled; its worker was lost during the rollback', false,
					run.done + n + k, run.total, p_worker FROM lost)
			SELECT count(*) INTO m FROM lost;
			DELETE FROM {s}.node_locks l USING {s}.steps st
				WHERE l.plan_id = p_plan AND st.plan_id = p_plan AND st.idx = l.idx AND st.state NOT IN ('running', 'rolling_back')
					AND l.held_until IS NULL; -- a lock held for an abandoned call stays till it ends, or lapses
			UPDATE {s}.runs SET running = running - n - m, done = done + n + k WHERE plan_id = p_plan;
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
						OR st.state IN ('waiting', 'ready') AND (st.failed_before OR st.in_doubt)) ORDER BY l.idx LIMIT 1;
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
			FOR cand IN SELECT st.idx, st.node, st.attempts, st.in_doubt, st.wait_plan, st.wait_idx
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
								lease_until = clock_timestamp() + p_lease_us * interval '1 microsecond',
								wait_plan = NULL, wait_idx = NULL, claim_key = p_key, claim_doubt = in_doubt
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
						VALUES (p_plan, {waiting}, cand.idx, cand.attempts + 1, NULL, cand.in_doubt, run.done, run.total, p_worker,
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
	-- skipped silently: they are not steps.
	CREATE OR REPLACE FUNCTION {s}.skip_after(p_plan text, p_from int[], p_done int, p_total int, p_worker text)
	RETURNS int LANGUAGE plpgsql AS $pgrun$
	DECLARE
		n int;
	BEGIN
		WITH RECURSIVE later(idx) AS (
				SELECT e.after FROM {s}.edges e WHERE e.plan_id = p_plan AND e.before = ANY (p_from)
				UNION SELECT e.after FROM {s}.edges e JOIN later l ON e.before = l.idx WHERE e.plan_id = p_plan),
			skipped AS (
				UPDATE {s}.steps SET state = 'skipped' WHERE plan_id = p_plan AND state IN ('waiting', 'ready')
					AND idx IN (SELECT idx FROM later) RETURNING idx)
		INSERT INTO {s}.events (plan_id, kind, idx, attempt, err, in_doubt, done, total, worker)
			SELECT p_plan, {skipped}, idx, 0, NULL, false, p_done + row_number() OVER (ORDER BY idx), p_total, p_worker
			FROM skipped WHERE idx < p_total;
		GET DIAGNOSTICS n = ROW_COUNT;
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
		doubt boolean;
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
			WHERE plan_id = p_plan AND idx = p_idx AND token = p_token AND state = 'running'
			RETURNING in_doubt INTO doubt;
		IF NOT FOUND THEN
			PERFORM FROM {s}.steps WHERE plan_id = p_plan AND idx = p_idx AND finish_token = p_token;
			RETURN CASE WHEN FOUND THEN 'ok' ELSE 'lost' END;
		END IF;
		DELETE FROM {s}.node_locks WHERE plan_id = p_plan AND idx = p_idx;
		d := run.done + 1;
		IF p_err IS NULL THEN
			INSERT INTO {s}.events (plan_id, kind, idx, attempt, err, in_doubt, done, total, worker)
				VALUES (p_plan, {succeeded}, p_idx, p_attempts, NULL, doubt, d, run.total, p_worker);
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
				VALUES (p_plan, {failed}, p_idx, p_attempts, p_err, p_kinds, doubt, d, run.total, p_worker);
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
	-- not counted. It returns false, changing nothing, once the token has
	-- moved on.
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

	-- finish_rollback records the rollback of step p_idx of run p_plan,
	-- held with token p_token: undone when p_err is NULL, else still in
	-- place with the rollback's error. It returns 'lost', changing
	-- nothing, when the lease was taken over, and 'ok' otherwise.
	CREATE OR REPLACE FUNCTION {s}.finish_rollback(p_plan text, p_idx int, p_token bigint, p_err text, p_kinds int, p_worker text)
	RETURNS text LANGUAGE plpgsql AS $pgrun$
	DECLARE
		run record;
	BEGIN
		SELECT done, total INTO run FROM {s}.runs WHERE plan_id = p_plan FOR UPDATE;
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
		UPDATE {s}.runs SET running = running - 1 WHERE plan_id = p_plan;
		PERFORM {s}.check_finished(p_plan);
		RETURN 'ok';
	END $pgrun$;
	CREATE TRIGGER runs_notify AFTER INSERT OR UPDATE ON {s}.runs FOR EACH ROW EXECUTE FUNCTION {s}.notify_run();
