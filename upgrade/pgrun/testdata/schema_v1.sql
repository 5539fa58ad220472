-- Version 1 of pgrun's schema, as first released, for the migration test.
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
	CREATE INDEX events_run ON {s}.events (plan_id, seq);
	-- A node's lock, held by the step of any run that is running on it.
	CREATE TABLE {s}.node_locks (
		node    text PRIMARY KEY,
		plan_id text NOT NULL,
		idx     int NOT NULL,
		FOREIGN KEY (plan_id, idx) REFERENCES {s}.steps ON DELETE CASCADE
	);
	CREATE INDEX node_locks_step ON {s}.node_locks (plan_id, idx);
	-- check_finished marks run p_plan finished when no step runs and none
	-- can start, and reports whether it did.
	CREATE FUNCTION {s}.check_finished(p_plan text) RETURNS boolean LANGUAGE plpgsql AS $pgrun$
	BEGIN
		UPDATE {s}.runs SET finished_at = clock_timestamp(),
				state = CASE WHEN state = 'running' THEN 'finished' ELSE state END
			WHERE plan_id = p_plan AND finished_at IS NULL AND running = 0
				AND (stopping OR state = 'cancelled'
					OR NOT EXISTS (SELECT 1 FROM {s}.steps WHERE plan_id = p_plan AND state = 'ready'));
		RETURN FOUND;
	END $pgrun$;

	-- claim takes, for worker p_worker, the step of run p_plan with the
	-- oldest expired lease, in doubt, or else the first ready step if the
	-- run's concurrency limit allows. r_status is 'claimed', 'none',
	-- 'finished' or 'unknown'.
	CREATE FUNCTION {s}.claim(p_plan text, p_worker text, p_lease_us bigint)
	RETURNS TABLE (r_status text, r_idx int, r_token bigint, r_attempts int, r_in_doubt boolean)
	LANGUAGE plpgsql AS $pgrun$
	DECLARE
		run record;
		got record;
		cand record;
		claimed boolean;
		n int;
	BEGIN
		SELECT state, stopping, running, concurrency, done, total, finished_at IS NOT NULL AS over INTO run
			FROM {s}.runs WHERE plan_id = p_plan FOR UPDATE;
		IF NOT FOUND THEN
			r_status := 'unknown'; RETURN NEXT; RETURN;
		END IF;
		IF run.over THEN
			r_status := 'finished'; RETURN NEXT; RETURN;
		END IF;
		IF run.state = 'cancelled' THEN
			-- Nobody will finish the steps of lost workers: fail them.
			WITH lost AS (
				UPDATE {s}.steps SET state = 'failed', in_doubt = true, worker = NULL, lease_until = NULL,
					err = 'run cancelled; its worker was lost, so the step is in doubt'
				WHERE plan_id = p_plan AND state = 'running' AND lease_until < clock_timestamp()
				RETURNING idx, attempts)
			INSERT INTO {s}.events (plan_id, kind, idx, attempt, err, in_doubt, done, total, worker)
				SELECT p_plan, {failed}, idx, attempts, 'run cancelled; its worker was lost', true,
					run.done + row_number() OVER (ORDER BY idx), run.total, p_worker FROM lost;
			GET DIAGNOSTICS n = ROW_COUNT;
			DELETE FROM {s}.node_locks l USING {s}.steps st
				WHERE l.plan_id = p_plan AND st.plan_id = p_plan AND st.idx = l.idx AND st.state <> 'running';
			UPDATE {s}.runs SET running = running - n, done = done + n WHERE plan_id = p_plan;
			r_status := CASE WHEN {s}.check_finished(p_plan) THEN 'finished' ELSE 'none' END;
			RETURN NEXT; RETURN;
		END IF;
		UPDATE {s}.steps SET token = token + 1, worker = p_worker, in_doubt = true, attempts = attempts + 1,
				lease_until = clock_timestamp() + p_lease_us * interval '1 microsecond'
			WHERE plan_id = p_plan AND idx = (SELECT idx FROM {s}.steps WHERE plan_id = p_plan AND state = 'running'
				AND lease_until < clock_timestamp() ORDER BY lease_until LIMIT 1 FOR UPDATE SKIP LOCKED)
			RETURNING idx, token, attempts, in_doubt INTO got;
		IF NOT FOUND THEN
			IF run.state <> 'running' OR run.stopping OR run.running >= run.concurrency THEN
				r_status := 'none'; RETURN NEXT; RETURN;
			END IF;
			-- The first ready step whose node no step of any run holds.
			claimed := false;
			FOR cand IN SELECT st.idx, st.node FROM {s}.steps st WHERE st.plan_id = p_plan AND st.state = 'ready'
					AND NOT EXISTS (SELECT 1 FROM {s}.node_locks l WHERE l.node = st.node)
					ORDER BY st.prio DESC, st.idx LIMIT 16 LOOP -- the run's row lock keeps other claims out
				-- Another run's claim may have taken the node since: then
				-- this inserts nothing, having waited for it to commit.
				INSERT INTO {s}.node_locks (node, plan_id, idx) VALUES (cand.node, p_plan, cand.idx) ON CONFLICT DO NOTHING;
				IF FOUND THEN
					UPDATE {s}.steps SET state = 'running', token = token + 1, worker = p_worker, attempts = attempts + 1,
							lease_until = clock_timestamp() + p_lease_us * interval '1 microsecond'
						WHERE plan_id = p_plan AND idx = cand.idx
						RETURNING idx, token, attempts, in_doubt INTO got;
					claimed := true;
					EXIT;
				END IF;
			END LOOP;
			IF NOT claimed THEN
				r_status := 'none'; RETURN NEXT; RETURN;
			END IF;
			UPDATE {s}.runs SET running = running + 1 WHERE plan_id = p_plan;
		END IF;
		INSERT INTO {s}.events (plan_id, kind, idx, attempt, err, in_doubt, done, total, worker)
			VALUES (p_plan, {started}, got.idx, got.attempts, NULL, got.in_doubt, run.done, run.total, p_worker);
		r_status := 'claimed'; r_idx := got.idx; r_token := got.token; r_attempts := got.attempts; r_in_doubt := got.in_doubt;
		RETURN NEXT;
	END $pgrun$;

	-- finish records the outcome of step p_idx of run p_plan, held with
	-- token p_token, succeeded when p_err is NULL, with its consequences:
	-- the steps after it made ready, or skipped; the run stopping
	-- (FailFast) or finished. It returns 'lost', changing nothing, when
	-- the lease was taken over, and 'ok' otherwise.
	CREATE FUNCTION {s}.finish(p_plan text, p_idx int, p_token bigint, p_attempts int, p_err text, p_worker text)
	RETURNS text LANGUAGE plpgsql AS $pgrun$
	DECLARE
		run record;
		doubt boolean;
		d int;
		n int;
	BEGIN
		SELECT done, total INTO run FROM {s}.runs WHERE plan_id = p_plan FOR UPDATE;
		UPDATE {s}.steps SET state = CASE WHEN p_err IS NULL THEN 'succeeded' ELSE 'failed' END,
				attempts = p_attempts, err = p_err, worker = NULL, lease_until = NULL
			WHERE plan_id = p_plan AND idx = p_idx AND token = p_token AND state = 'running'
			RETURNING in_doubt INTO doubt;
		IF NOT FOUND THEN
			RETURN 'lost';
		END IF;
		DELETE FROM {s}.node_locks WHERE plan_id = p_plan AND idx = p_idx;
		d := run.done + 1;
		IF p_err IS NULL THEN
			INSERT INTO {s}.events (plan_id, kind, idx, attempt, err, in_doubt, done, total, worker)
				VALUES (p_plan, {succeeded}, p_idx, p_attempts, NULL, doubt, d, run.total, p_worker);
			UPDATE {s}.steps s SET waiting = s.waiting - 1,
					state = CASE WHEN s.waiting = 1 AND s.state = 'waiting' THEN 'ready' ELSE s.state END
				FROM {s}.edges e WHERE e.plan_id = p_plan AND e.before = p_idx AND s.plan_id = p_plan AND s.idx = e.after;
		ELSE
			INSERT INTO {s}.events (plan_id, kind, idx, attempt, err, in_doubt, done, total, worker)
				VALUES (p_plan, {failed}, p_idx, p_attempts, p_err, doubt, d, run.total, p_worker);
			WITH RECURSIVE later(idx) AS (
					SELECT e.after FROM {s}.edges e WHERE e.plan_id = p_plan AND e.before = p_idx
					UNION SELECT e.after FROM {s}.edges e JOIN later l ON e.before = l.idx WHERE e.plan_id = p_plan),
				skipped AS (
					UPDATE {s}.steps SET state = 'skipped' WHERE plan_id = p_plan AND state IN ('waiting', 'ready')
						AND idx IN (SELECT idx FROM later) RETURNING idx)
			INSERT INTO {s}.events (plan_id, kind, idx, attempt, err, in_doubt, done, total, worker)
				SELECT p_plan, {skipped}, idx, 0, NULL, false, d + row_number() OVER (ORDER BY idx), run.total, p_worker
				FROM skipped;
			GET DIAGNOSTICS n = ROW_COUNT;
			d := d + n;
		END IF;
		UPDATE {s}.runs SET running = running - 1, done = d,
				stopping = stopping OR (p_err IS NOT NULL AND policy = {failfast})
			WHERE plan_id = p_plan;
		PERFORM {s}.check_finished(p_plan);
		RETURN 'ok';
	END $pgrun$;
