package main

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/upgrade"
)

// dirTransport answers an HTTP repository's requests with the files of
// dir, until hung is set: then a request waits for its end (a repository
// that stopped answering).
type dirTransport struct {
	dir  string
	hung atomic.Bool
}

func (dt *dirTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if dt.hung.Load() {
		<-req.Context().Done()
		return nil, req.Context().Err()
	}
	status, data := http.StatusOK, []byte(nil)
	data, err := os.ReadFile(filepath.Join(dt.dir, path.Base(req.URL.Path)))
	if err != nil {
		status, data = http.StatusNotFound, nil
	}
	return &http.Response{StatusCode: status, Header: http.Header{}, Body: io.NopCloser(bytes.NewReader(data)),
		ContentLength: int64(len(data)), Request: req}, nil
}

// TestHunt18PlanAnsweredAfterSlowRepository: a plan posted while the
// HTTP repository had stopped answering got no answer at all, the
// connection closed without a word, rather than the documented 502
// {"kind": "repository"}: the repository's requests time out after a
// minute (and are retried), and by then the server's write timeout,
// counted from the request, had passed. An answer now has the write
// timeout from when it is written, however long it took to make.
func TestHunt18PlanAnsweredAfterSlowRepository(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dt := &dirTransport{dir: "testdata/repo"}
		in := inputFlags{topology: "testdata/shop.yaml", repo: "http://repo.example/", policy: "newest"}
		repo, err := pkgsource.NewHTTP(in.repo, &http.Client{Timeout: repoTimeout, Transport: dt})
		require.NoError(t, err)
		topo, err := in.loadTopology()
		require.NoError(t, err)
		e := &env{topo: topo, repo: repo, in: &in, stamp: in.topologyStamp(), planner: upgrade.NewPlanner(topo, repo)}
		rf := runFlags{exec: "true", concurrency: 1}
		require.NoError(t, rf.check())
		srv, err := newServer(t.Context(), e, &rf, access{token: testToken}, newTestState(t), io.Discard, slog.New(slog.DiscardHandler))
		require.NoError(t, err)
		hs := newHTTPServer(srv.Handler(), slog.New(slog.DiscardHandler), nil)
		ln := newPipeListener()
		served := make(chan error, 1)
		go func() { served <- hs.Serve(ln) }()
		client := &http.Client{Transport: bearer{testToken, &http.Transport{DialContext: ln.dial}}}
		defer func() {
			srv.Close()
			hs.Close()
			<-served
			client.CloseIdleConnections()
		}()
		body := requestBody(t, "testdata/requests.json")

		resp, err := client.Post("http://127.0.0.1/v1/plans", "application/json", strings.NewReader(body))
		require.NoError(t, err)
		answer := decodeJSON(t, resp)
		resp.Body.Close()
		require.Equal(t, http.StatusCreated, resp.StatusCode, "the repository answers: %v", answer)

		dt.hung.Store(true)
		resp, err = client.Post("http://127.0.0.1/v1/plans", "application/json", strings.NewReader(body))
		require.NoError(t, err, "the client gets an answer")
		answer = decodeJSON(t, resp)
		resp.Body.Close()
		assert.Equal(t, http.StatusBadGateway, resp.StatusCode, answer)
		assert.Equal(t, "repository", answer["kind"], answer)
	})
}

// TestHunt18TokenByteOrderMarkNamed: a token file saved with a UTF-8
// byte-order mark (Windows PowerShell's Set-Content -Encoding UTF8 writes
// one) was refused as having "a character other than printable ASCII",
// though the user sees none in it, and without saying what to do. The
// error now names the character, where it is, and for a byte-order mark,
// what to do; never the token.
func TestHunt18TokenByteOrderMarkNamed(t *testing.T) {
	file := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(file, []byte(byteOrderMark+testToken+"\r\n"), 0o600))
	_, err := readToken(file)
	require.Error(t, err)
	assert.Contains(t, err.Error(), file+": the token has a character other than printable ASCII")
	assert.Contains(t, err.Error(), "(U+FEFF at byte 0, a byte-order mark, as some editors write): save the token without one")
	assert.NotContains(t, err.Error(), testToken)

	_, err = checkToken(testToken[:4] + " " + testToken[4:])
	require.Error(t, err)
	assert.Contains(t, err.Error(), "(U+0020 at byte 4): give a token of printable ASCII")
	assert.NotContains(t, err.Error(), testToken[4:])
}

// TestHunt18BodySyntaxErrorsPlaced: a request body that is not JSON got
// encoding/json's bare message, "invalid character '}' looking for
// beginning of object key string" or "unexpected EOF", with neither the
// place in the body nor what to do, where a request file's errors give
// both; and a request file posted as it is, in YAML, got "invalid
// character '#'". Each now gives its line and column and what to do.
func TestHunt18BodySyntaxErrorsPlaced(t *testing.T) {
	ts := newTestServer(t, "true")
	for _, tt := range []struct {
		name, body, error string
	}{
		{"trailing-comma", "{\"requests\": [\n  {\"application\": \"shop\",}\n]}",
			`line 2, column 26: invalid character '}' looking for beginning of object key string: JSON allows no "," before "}" or "]": remove the last ","`},
		{"cut-short", "{\"requests\": [\n  {\"application\": \"shop\"",
			"line 2, column 25: unexpected EOF: the JSON ends before every object and list it opens is closed"},
		{"yaml", requestBody(t, "testdata/requests.yaml"),
			"line 1, column 1: invalid character '#' looking for beginning of value: it is YAML, as a request file may be, and the API reads JSON: post the requests as JSON"},
		{"yaml-bare", "requests:\n  - application: shop\n",
			"it is YAML, as a request file may be, and the API reads JSON"},
	} {
		status, answer := ts.post(t, "/v1/plans", tt.body)
		assert.Equal(t, http.StatusBadRequest, status, tt.name)
		assert.Equal(t, "invalid_request", answer["kind"], tt.name)
		assert.Contains(t, answer["error"], tt.error, tt.name)
	}
	assert.NoFileExists(t, ts.ledger, "nothing ran")
}

// TestHunt18ServeRefusesTopologyItCannotEdit: serve, as apply (see
// TestHunt18ApplyRefusesTopologyItCannotEdit), ran every step of a plan
// whose nodes its topology file could not record, and the run ended
// failed with them unrecorded. It refuses the plan now, 400 naming the
// node, before anything runs.
func TestHunt18ServeRefusesTopologyItCannotEdit(t *testing.T) {
	ts := newHunt6LearningServer(t)
	shareJDKVersion(t, ts.topo)
	hunt6Refused(t, ts, requestBody(t, "testdata/requests.json"), `node "java-1": its version is not a plain value; edit it by hand`)
}

// TestHunt18ResumeWithoutItsPlan: resuming a run whose plan is no longer
// in the state directory (removed by hand, as old runs are pruned) was
// answered 500 {"kind": "internal"}, "run X: not in the state directory",
// which says neither what is missing nor what to do. It is 409
// {"kind": "not_resumable"} now, naming the plan and saying to post the
// requests again; nothing runs.
func TestHunt18ResumeWithoutItsPlan(t *testing.T) {
	ts := newTestServer(t, "false")
	code, answer := ts.post(t, "/v1/apply", requestBody(t, "testdata/requests.json"))
	require.Equal(t, http.StatusAccepted, code, answer)
	events := ts.follow(t, answer["events"].(string), "")
	require.Contains(t, events[len(events)-1].data, `"state":"failed"`)
	run, plan := answer["run"].(string), answer["plan"].(string)
	require.NoError(t, os.Remove(filepath.Join(ts.stateDir, "plans", strings.Replace(plan, ":", "-", 1)+".json")))

	code, answer = ts.post(t, "/v1/runs/"+run+"/resume", "")
	assert.Equal(t, http.StatusConflict, code, answer)
	assert.Equal(t, "not_resumable", answer["kind"], answer)
	assert.Contains(t, answer["error"], "run "+run+": its plan "+plan+" is no longer in the state directory: post the requests again for a new plan", answer)
	_, status := ts.get(t, "/v1/runs/"+run)
	assert.Equal(t, "failed", status["state"], "the run is left as it was")
}
