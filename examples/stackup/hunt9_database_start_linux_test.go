package main

import (
	"net/http"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/upgrade/pgrun"
)

// TestHunt9DatabaseFailedStartFreesApplication: while a plan's database
// run is being started (serve --database), another plan on the same
// application waits for that start; when the start fails (the database
// went away during the submission), the application is free again and the
// other plan's run starts. Before, the other plan was refused 409 busy
// naming the run being started, which never came to exist (404).
func TestHunt9DatabaseFailedStartFreesApplication(t *testing.T) {
	db := testDatabase(t)
	schema := testSchema()
	e := newApplyEnv(t)
	ts := newDatabaseServer(t, e, db, schema)
	id := ts.reviewed(t)
	run := databaseRunID(id)

	// A store whose pool is closed: the submission through it fails, as
	// when the database goes away.
	pool, err := pgxpool.New(t.Context(), db)
	require.NoError(t, err)
	broken, err := pgrun.Open(t.Context(), pool, schema)
	require.NoError(t, err)
	pool.Close()
	good := ts.srv.db

	submitting, release, waiting := make(chan struct{}), make(chan struct{}), make(chan struct{}, 1)
	submits := 0 // in the handlers' goroutines, one after the other
	ts.srv.testHook = func(point string) {
		switch point {
		case "submit":
			if submits++; submits == 1 {
				ts.srv.db = broken // before the other apply starts: it reads s.db
				close(submitting)
				<-release
			} else {
				ts.srv.db = good // after the first start ended (see start)
			}
		case "wait":
			waiting <- struct{}{}
		}
	}
	first := postAsync(ts, "/v1/plans/"+id+"/apply", "")
	<-submitting
	other := postAsync(ts, "/v1/apply", hunt6Request("shop_app_v3", hunt6Host))
	select {
	case <-waiting: // the other plan waits for the start
	case r := <-other:
		close(release)
		<-first
		if code, _ := ts.get(t, "/v1/runs/"+run); code == http.StatusNotFound {
			t.Fatalf("the other plan was answered %d %v while the run was starting, naming run %s, which never came to exist", r.code, r.answer, run)
		}
		t.Fatalf("the other plan was answered %d %v while the run was starting", r.code, r.answer)
	}
	close(release)

	r := <-first
	require.NoError(t, r.err)
	assert.Equal(t, http.StatusBadGateway, r.code, r.answer)
	code, status := ts.get(t, "/v1/runs/"+run)
	assert.Equal(t, http.StatusNotFound, code, "the start failed: no run %v", status)

	r = <-other
	require.NoError(t, r.err)
	require.Equal(t, http.StatusAccepted, r.code, "shop is free once the start failed: %v", r.answer)
	code, status = ts.get(t, "/v1/runs/"+r.answer["run"].(string))
	assert.Equal(t, http.StatusOK, code, status)
}
