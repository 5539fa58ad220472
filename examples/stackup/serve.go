package main

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"mime"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/upgrade/pgrun"
)

// maxBody is the largest request body the server reads.
const maxBody = 1 << 20

// maxFinishedRuns is how many ended runs the server remembers; the state
// directory keeps them all.
const maxFinishedRuns = 100

// defaultKeepPlans is how many plans that no run names serve keeps by
// default (--keep-plans).
const defaultKeepPlans = 1000

// keepAlive is how often an event stream without events sends a comment,
// so that proxies and clients do not take it for dead.
const keepAlive = 15 * time.Second

// defaultMaxStreams is how many event streams serve keeps open at once.
const defaultMaxStreams = 100

// streamWriteTimeout is the longest a write of an event stream may take:
// a client that reads nothing for so long is let go.
const streamWriteTimeout = time.Minute

// server is the deployment server: it plans requests posted to it, keeps
// plans for review, and runs plans in the background, one run per
// application at a time, each journaled in the state directory. Its runs
// live in a context of its own, which Close cancels.
type server struct {
	// Set by newServer.
	env     *env
	rf      *runFlags
	cmds    scripts
	exec    upgrade.Executor
	log     *slog.Logger
	acc     access
	state   *stateStore
	metrics *metrics
	// keepAlive is the longest an event stream stays silent.
	keepAlive time.Duration
	// maxStreams is how many event streams may be open at once, streams
	// how many are (s.mu guards both).
	maxStreams, streams int
	// keep is how many ended runs the server remembers, keepPlans how many
	// plans that no run names the state directory keeps; named holds the
	// plans that runs name, kept for their resumes (s.mu guards it).
	keep, keepPlans int
	named           map[string]bool
	// learn, if set, is called with the steps that succeeded, in order,
	// so that the inventory learns the nodes' new versions; an error is
	// logged, and fails a run whose steps all succeeded. A run hands them
	// over from a goroutine of its own, those that succeeded meanwhile at
	// once (see recorder). A resumed run calls it first for every step
	// its journal records as succeeded, in the plan's order, so learning
	// must be idempotent.
	learn func(context.Context, []upgrade.Step) error
	// unlearn, if set, is called with the steps rolled back, as learn, so
	// that the inventory learns that their nodes are back at the steps'
	// From. See learnInto.
	unlearn func(context.Context, []upgrade.Step) error
	// admits, if set, checks that the inventory can record a plan, before
	// it runs (see inventory.Admits).
	admits func(*upgrade.Plan) error
	// db, if set (serve --database), keeps the runs: applying a plan
	// submits it there, for workers to run, and the server follows it.
	db *pgrun.Store
	// lockDeployment, if set, takes the deployment's lock (lockRuns),
	// which the server holds while it runs steps, so that no apply runs
	// on the deployment meanwhile, nor a run starts during an apply.
	// lockedRuns counts the runs that hold it, unlockDeployment releases
	// it (s.mu guards both).
	lockDeployment   func() (unlock func(), err error)
	lockedRuns       int
	unlockDeployment func()

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// ended is closed once Close has ended the runs and their followers:
	// an event stream of a database run then ends too.
	ended     chan struct{}
	endedOnce sync.Once

	mu       sync.Mutex
	closed   bool
	runs     map[string]*runState
	finished []string                  // IDs of ended runs in runs, oldest first
	busy     map[topology.AppID]string // application → the run that changes it
	// plans holds the plan of each run that busy names, once known (see
	// runningPlan): a plan to start is checked against them (planClash).
	plans map[string]*upgrade.Plan
	// starting holds the database runs being started (startDatabase),
	// each with a channel closed once its start is over: another apply
	// of the plan waits for it, rather than submit the plan again, and so
	// does an apply of another plan on its applications, which busy
	// holds for it meanwhile, rather than be refused naming a run that
	// may never come to exist.
	starting map[string]chan struct{}

	// testHook, if set (by tests), is called where a test synchronises
	// with the server: "submit" before a plan is submitted to the
	// database, and "wait" before an apply waits for another apply's
	// database run to start (see awaitStart); s.mu is not held.
	testHook func(point string)
}

// newServer returns a server planning with e and running plans as rf
// says, answering the calls acc lets in, keeping plans and runs in
// state; the commands' standard output goes to out, each line starting
// with its step's ID, as runs go side by side. It reads the runs
// state holds: those that were running become interrupted.
// Its runs end when ctx is done; after the first interrupt that ctx
// carries, they start no new step and are cancelled rf.grace later.
func newServer(ctx context.Context, e *env, rf *runFlags, acc access, state *stateStore, out io.Writer, log *slog.Logger) (*server, error) {
	// Every run checks its plan against the topology as it is, as apply
	// does a PLANFILE: a plan applied again, or one the deployment moved
	// away from since, is refused, not run again from where it began.
	rf.staleCheck = true
	if acc.token == "" {
		return nil, errors.New("serve: no token") // a caller's mistake: serve always has one
	}
	cmds, err := rf.scripts()
	if err != nil {
		return nil, err
	}
	s := &server{env: e, rf: rf, cmds: cmds, exec: newExecutorWith(cmds, out, true, rf.stepTimeout), log: log, acc: acc, state: state,
		metrics: newMetrics(), keepAlive: keepAlive, maxStreams: defaultMaxStreams, ended: make(chan struct{}), keep: maxFinishedRuns, keepPlans: defaultKeepPlans, named: map[string]bool{}, runs: map[string]*runState{}, busy: map[topology.AppID]string{}, plans: map[string]*upgrade.Plan{}, starting: map[string]chan struct{}{}}
	if err := s.loadRuns(ctx); err != nil {
		return nil, err
	}
	s.ctx, s.cancel = afterStop(ctx, rf.grace)
	return s, nil
}

// Close refuses applies posted afterwards and waits for the runs in
// progress to end: at once, cancelled, or after an interrupt, as they
// stop gently within the grace period. They end interrupted.
func (s *server) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	select {
	case <-stopOf(s.ctx):
	default:
		s.cancel()
	}
	s.wg.Wait()
	s.cancel()
	s.endedOnce.Do(func() { close(s.ended) })
}

// Handler returns the HTTP API. It answers only requests for the hosts
// s.acc allows; every call but GET /healthz must carry the bearer token,
// and cross-origin browser writes are refused. Every error is JSON,
// unknown routes and wrong methods included, and every answer says
// X-Content-Type-Options: nosniff.
func (s *server) Handler() http.Handler {
	api := http.NewServeMux()
	api.HandleFunc("POST /v1/plan", s.handlePlan)
	api.HandleFunc("POST /v1/apply", s.handleApply)
	api.HandleFunc("POST /v1/plans", s.handlePlans)
	api.HandleFunc("GET /v1/plans/{id}", s.handleGetPlan)
	api.HandleFunc("POST /v1/plans/{id}/apply", s.handleApplyPlan)
	api.HandleFunc("GET /v1/runs", s.handleRuns)
	api.HandleFunc("GET /v1/runs/{id}", s.handleStatus)
	api.HandleFunc("GET /v1/runs/{id}/events", s.handleEvents)
	api.HandleFunc("POST /v1/runs/{id}/cancel", s.handleCancel)
	api.HandleFunc("POST /v1/runs/{id}/resume", s.handleResume)
	api.Handle("GET /metrics", s.metrics.handler())
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.routeDashboard(mux, api)
	mux.Handle("/", s.guard(jsonErrors(api)))
	return noSniff(s.checkHost(jsonErrors(mux)))
}

// noSniff has every answer of h say X-Content-Type-Options: nosniff, so
// that a browser takes an answer for what its Content-Type says, never
// for a page or a script: an error that quotes a client's text stays
// text.
func noSniff(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		h.ServeHTTP(w, r)
	})
}

// jsonErrors answers in JSON the requests mux has no route for: 404
// {"kind": "not_found"}, or 405 {"kind": "method_not_allowed"} with the
// Allow header, where mux would answer in plain text.
func jsonErrors(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := mux.Handler(r)
		if pattern != "" {
			mux.ServeHTTP(w, r) // which sets the path's values, as h would not
			return
		}
		probe := &headerProbe{header: http.Header{}}
		h.ServeHTTP(probe, r) // the mux's own answer, to learn 404 or 405
		if probe.status == http.StatusMethodNotAllowed {
			allow := probe.header.Get("Allow")
			w.Header().Set("Allow", allow)
			writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", fmt.Errorf(
				"method %s is not allowed on %s: use %s", truncate(r.Method), shownPath(r), allow))
			return
		}
		writeError(w, http.StatusNotFound, "not_found", fmt.Errorf("no route %s %s: see the API in stackup's documentation", truncate(r.Method), shownPath(r)))
	})
}

// headerProbe is a ResponseWriter that keeps the status and headers and
// drops the body.
type headerProbe struct {
	header http.Header
	status int
}

func (p *headerProbe) Header() http.Header { return p.header }
func (p *headerProbe) WriteHeader(status int) {
	if p.status == 0 {
		p.status = status
	}
}
func (p *headerProbe) Write(b []byte) (int, error) {
	p.WriteHeader(http.StatusOK)
	return len(b), nil
}

// access says who may call the server.
type access struct {
	token string   // the bearer token every API call carries
	hosts []string // the host names answered besides the loopback ones, lower case
}

// loopbackHost reports whether host, a name or an IP address without a
// port, is this machine's loopback.
func loopbackHost(host string) bool {
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// requestHost returns the host of a Host header, without the port,
// brackets or final dot, in lower case.
func requestHost(hostport string) string {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	return strings.ToLower(strings.TrimSuffix(host, "."))
}

// checkHost answers 421 to a request whose Host header names a host
// other than the loopback and those allowed: a page of another site
// whose name an attacker has pointed at this machine (DNS rebinding)
// gets nothing.
func (s *server) checkHost(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := requestHost(r.Host)
		if host == "" || !(loopbackHost(host) || slices.Contains(s.acc.hosts, host)) {
			s.refused(r, "host_not_allowed")
			writeError(w, http.StatusMisdirectedRequest, "host_not_allowed", fmt.Errorf(
				"host %q is not served here: call localhost, 127.0.0.1, [::1] or a name given to serve with --allow-host", truncate(r.Host)))
			return
		}
		h.ServeHTTP(w, r)
	})
}

// refused logs a call refused for reason kind.
func (s *server) refused(r *http.Request, kind string) {
	s.log.Warn("call refused", "kind", kind, "remote", r.RemoteAddr, "method", r.Method, "path", truncate(r.URL.Path),
		"host", truncate(r.Host), "origin", truncate(r.Header.Get("Origin")))
}

// shownPath is r's path, decoded, as an error message shows it: its
// start, with a line break, a terminal escape or what is not UTF-8
// escaped, so that a client printing the message neither forges a line
// nor drives its terminal.
func shownPath(r *http.Request) string { return topology.Printable(truncate(r.URL.Path)) }

// truncate shortens s, from a client, for an error message.
func truncate(s string) string {
	const limit = 100
	if len(s) > limit {
		return s[:limit] + "…"
	}
	return s
}

// guard refuses cross-origin browser writes with 403, and calls without
// the bearer token with 401, before h sees them.
func (s *server) guard(h http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	want := sha256.Sum256([]byte(s.acc.token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := cop.Check(r); err != nil {
			s.refused(r, "cross_origin")
			writeError(w, http.StatusForbidden, "cross_origin", fmt.Errorf(
				"cross-origin request from %q refused (%v): call the API from a program, not from a web page", truncate(r.Header.Get("Origin")), err))
			return
		}
		token, problem := bearerToken(r)
		if problem == "" {
			got := sha256.Sum256([]byte(token))
			if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
				problem = "wrong bearer token"
			}
		}
		if problem != "" {
			challenge := `Bearer realm="stackup"`
			if token != "" {
				challenge += `, error="invalid_token"`
			}
			w.Header().Set("WWW-Authenticate", challenge)
			s.refused(r, "unauthorized")
			if q := r.URL.Query(); q.Has("token") || q.Has("access_token") {
				problem += " (a token in the URL is ignored: URLs end up in logs)"
			}
			writeError(w, http.StatusUnauthorized, "unauthorized", fmt.Errorf(
				"%s: send the header \"Authorization: Bearer TOKEN\" with the token serve was given (--token-file or STACKUP_TOKEN) or printed", problem))
			return
		}
		// Every POST carries JSON, or nothing: not the text/plain and form
		// bodies that web pages can post.
		if ct, has := r.Header["Content-Type"]; r.Method == http.MethodPost && (has || r.ContentLength != 0) && !isJSON(strings.Join(ct, ", ")) {
			writeError(w, http.StatusUnsupportedMediaType, "unsupported_media_type", fmt.Errorf(
				"Content-Type %q is not application/json in UTF-8: post JSON with \"Content-Type: application/json\"", truncate(strings.Join(ct, ", "))))
			return
		}
		h.ServeHTTP(w, r)
	})
}

// bearerToken returns the token of r's Authorization header, or what is
// wrong with the header.
func bearerToken(r *http.Request) (token, problem string) {
	values := r.Header.Values("Authorization")
	switch {
	case len(values) == 0:
		return "", "missing bearer token"
	case len(values) > 1:
		return "", "more than one Authorization header"
	}
	scheme, token, _ := strings.Cut(values[0], " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", fmt.Sprintf("Authorization scheme %q is not Bearer", truncate(scheme))
	}
	if token = strings.TrimSpace(token); token == "" {
		return "", "missing bearer token"
	}
	return token, ""
}

// apiError is the body of every error answer.
type apiError struct {
	Error string `json:"error"`
	Kind  string `json:"kind"`
	Run   string `json:"run,omitempty"` // for "busy": the run in the way
}

// answerTimeout is the longest the server takes to write an answer: the
// HTTP server's write timeout, which counts from the request, and, for an
// answer that took long to make, from when it is written (see inTime).
const answerTimeout = 60 * time.Second

// inTime gives the answer about to be written to w answerTimeout from
// now: a plan whose repository was slow to answer (its requests time out
// after repoTimeout, and are retried) would otherwise reach the write
// timeout before its answer, and the client would get none, the
// connection closed without a word. A client that does not read the
// answer is still let go once it is written.
func inTime(w http.ResponseWriter) {
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(answerTimeout))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		status, data = http.StatusInternalServerError, []byte(`{"error": "encoding the answer failed", "kind": "internal"}`)
	}
	inTime(w)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(data, '\n'))
}

func writeError(w http.ResponseWriter, status int, kind string, err error) {
	writeJSON(w, status, apiError{Error: err.Error(), Kind: kind})
}

// failure is an error with the answer it calls for.
type failure struct {
	status int
	body   apiError
}

func fail(status int, kind string, err error) *failure {
	return &failure{status, apiError{Error: err.Error(), Kind: kind}}
}

func (f *failure) Error() string { return f.body.Error }

// writeFailure answers with err: its own answer if a *failure, else 500.
func writeFailure(w http.ResponseWriter, err error) {
	if f, ok := errors.AsType[*failure](err); ok {
		writeJSON(w, f.status, f.body)
		return
	}
	writeError(w, http.StatusInternalServerError, "internal", err)
}

// plan reads the requests in r's body and plans them. On failure it
// answers the client and returns nil.
func (s *server) plan(w http.ResponseWriter, r *http.Request) *upgrade.Plan {
	reqs, err := parseRequestsJSON(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			writeError(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Errorf("request body larger than %d bytes", maxBody))
			return nil
		}
		writeError(w, http.StatusBadRequest, "invalid_request", err)
		return nil
	}
	if err := s.env.refresh(); err != nil {
		writeError(w, http.StatusInternalServerError, "internal", err)
		return nil
	}
	_, planner := s.env.current()
	plan, err := planner.PlanAll(r.Context(), reqs...)
	if err != nil {
		kind := planKind(err)
		status := map[string]int{"invalid_request": http.StatusBadRequest, "repository": http.StatusBadGateway,
			"internal": http.StatusInternalServerError}[kind]
		if status == 0 {
			status = http.StatusUnprocessableEntity
		}
		writeError(w, status, kind, err)
		return nil
	}
	return plan
}

// isJSON reports whether a Content-Type header says JSON in UTF-8: with
// no charset, or charset=utf-8. Every body is read as UTF-8, JSON's only
// encoding (RFC 8259), so a body said to be in another is refused rather
// than misread.
func isJSON(contentType string) bool {
	mt, params, err := mime.ParseMediaType(contentType)
	charset, has := params["charset"]
	return err == nil && mt == "application/json" && (!has || strings.EqualFold(charset, "utf-8"))
}

func (s *server) handlePlan(w http.ResponseWriter, r *http.Request) {
	plan := s.plan(w, r)
	if plan == nil {
		return
	}
	var b bytes.Buffer
	if err := plan.WriteJSON(&b); err != nil {
		writeError(w, http.StatusInternalServerError, "internal", err)
		return
	}
	inTime(w)
	w.Header().Set("Content-Type", "application/json")
	w.Write(b.Bytes())
}

// planAnswer is the body of an answer about a reviewed plan.
type planAnswer struct {
	ID   string          `json:"id"`
	Text string          `json:"text"`
	Plan json.RawMessage `json:"plan"`
}

// answerPlan answers with plan, in status.
func answerPlan(w http.ResponseWriter, status int, plan *upgrade.Plan) {
	var text, data bytes.Buffer
	err := plan.WriteText(&text)
	if err == nil {
		err = plan.WriteJSON(&data)
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal", err)
		return
	}
	w.Header().Set("Location", "/v1/plans/"+plan.ID)
	writeJSON(w, status, planAnswer{ID: plan.ID, Text: text.String(), Plan: data.Bytes()})
}

// runnable returns plan as it runs, rolled out as the run flags say, with
// every command rendered for every step. On failure it answers the
// client and returns nil.
func (s *server) runnable(w http.ResponseWriter, plan *upgrade.Plan) *upgrade.Plan {
	plan, err := s.rf.roll(plan)
	if err == nil {
		err = s.cmds.check(plan)
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal", err)
		return nil
	}
	return plan
}

// handlePlans plans the requests posted and keeps the plan, as it would
// run, for review: POST /v1/plans/ID/apply runs it.
func (s *server) handlePlans(w http.ResponseWriter, r *http.Request) {
	plan := s.plan(w, r)
	if plan == nil {
		return
	}
	if plan = s.runnable(w, plan); plan == nil {
		return
	}
	s.mu.Lock() // no run starts, naming a plan, while the oldest are removed
	_, err := s.state.savePlan(plan)
	if err == nil {
		if err := s.state.prunePlans(s.keepPlans, s.named); err != nil {
			s.log.Warn("removing the oldest plans that no run names failed", "err", err)
		}
	}
	s.mu.Unlock()
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal", err)
		return
	}
	s.log.Info("plan stored", "plan", plan.ID, "steps", len(plan.Steps))
	answerPlan(w, http.StatusCreated, plan)
}

// storedPlan returns the plan stored under the ID in r's path. On
// failure it answers the client and returns nil.
func (s *server) storedPlan(w http.ResponseWriter, r *http.Request) *upgrade.Plan {
	id := r.PathValue("id")
	plan, err := s.state.loadPlan(id)
	switch {
	case err == nil:
		return plan
	case errors.Is(err, errNoEntry):
		writeError(w, http.StatusNotFound, "not_found", fmt.Errorf("no plan %q: post the requests to /v1/plans to make one", truncate(id)))
	case isIDError(err):
		writeError(w, http.StatusNotFound, "not_found", err)
	default:
		writeError(w, http.StatusInternalServerError, "internal", err)
	}
	return nil
}

func isIDError(err error) bool {
	_, plan := errors.AsType[*planIDError](err)
	_, run := errors.AsType[*runIDError](err)
	return plan || run
}

func (s *server) handleGetPlan(w http.ResponseWriter, r *http.Request) {
	if plan := s.storedPlan(w, r); plan != nil {
		answerPlan(w, http.StatusOK, plan)
	}
}

// noFields reads the body of a call that takes no fields: none, or an
// empty JSON object. Anything else, which the call would ignore, is
// answered 400 (413 when too large), and noFields returns false.
func noFields(w http.ResponseWriter, r *http.Request) bool {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		writeError(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Errorf("request body larger than %d bytes", maxBody))
		return false
	}
	if err == nil && len(bytes.TrimSpace(data)) == 0 {
		return true
	}
	if err == nil {
		if err = emptyObject(data); err == nil {
			return true
		}
	}
	writeError(w, http.StatusBadRequest, "invalid_request", fmt.Errorf("%s %s takes no fields: send no body, or {} (%s)",
		r.Method, shownPath(r), strings.TrimPrefix(err.Error(), "json: ")))
	return false
}

// emptyObject checks that data is one JSON object without fields. It
// quotes only the start of a long field name.
func emptyObject(data []byte) error {
	raw, err := decodeOneJSON(bytes.NewReader(data))
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok != json.Delim('{') {
		return fmt.Errorf("want an empty object, got %s", tokenKind(tok))
	}
	if tok, err = dec.Token(); err != nil {
		return err
	}
	if key, ok := tok.(string); ok {
		return fmt.Errorf("unknown field %s", topology.Quote(key))
	}
	return nil // '}'
}

// handleApplyPlan runs the stored plan named in the path, exactly.
func (s *server) handleApplyPlan(w http.ResponseWriter, r *http.Request) {
	if !noFields(w, r) {
		return
	}
	plan := s.storedPlan(w, r)
	if plan == nil {
		return
	}
	if err := s.cmds.check(plan); err != nil {
		writeError(w, http.StatusInternalServerError, "internal", err)
		return
	}
	if !s.admitted(w, plan) {
		return
	}
	a, err := s.start(r.Context(), plan, nil)
	answerStarted(w, a, err)
}

// applyAnswer is the body of a 202 answer to an apply or a resume.
type applyAnswer struct {
	Run    string `json:"run"`
	Plan   string `json:"plan"`
	Events string `json:"events"`
}

// handleApply plans and runs in one call.
func (s *server) handleApply(w http.ResponseWriter, r *http.Request) {
	plan := s.plan(w, r)
	if plan == nil {
		return
	}
	if plan = s.runnable(w, plan); plan == nil || !s.admitted(w, plan) {
		return
	}
	a, err := s.start(r.Context(), plan, nil)
	answerStarted(w, a, err)
}

// planApps returns the applications plan changes: those requested, and
// those whose platform nodes it upgrades.
func planApps(plan *upgrade.Plan) []topology.AppID {
	var apps []topology.AppID
	for _, req := range plan.Requests {
		apps = append(apps, req.Application)
	}
	for _, st := range plan.Steps {
		apps = append(apps, st.App)
	}
	slices.Sort(apps)
	return slices.Compact(apps)
}

// answerStarted answers 202 for a run started, or the error.
func answerStarted(w http.ResponseWriter, a applyAnswer, err error) {
	if err != nil {
		writeFailure(w, err)
		return
	}
	w.Header().Set("Location", "/v1/runs/"+a.Run)
	writeJSON(w, http.StatusAccepted, a)
}

// start starts running plan in the background: a new run, or, with old,
// the resumption of run old from its journal. Its errors are
// *failure values.
func (s *server) start(ctx context.Context, plan *upgrade.Plan, old *runState) (applyAnswer, error) {
	apps := planApps(plan)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return applyAnswer{}, fail(http.StatusServiceUnavailable, "shutting_down", errors.New("the server is shutting down"))
	}
	for _, app := range apps {
		other, ok := s.busy[app]
		if !ok || (s.db != nil && other == databaseRunID(plan.ID)) {
			continue
		}
		if wait, ok := s.starting[other]; ok {
			// Another plan's database run is starting on app, and may
			// never come to exist (its start may fail, and free app):
			// wait for the start, so that a refusal names a run that
			// exists, and a start that failed refuses nothing.
			s.mu.Unlock()
			if err := s.awaitStart(ctx, wait, fmt.Sprintf("a run was starting on application %q", app)); err != nil {
				return applyAnswer{}, err
			}
			return s.start(ctx, plan, old)
		}
		s.mu.Unlock()
		f := fail(http.StatusConflict, "busy", fmt.Errorf("application %q is being upgraded by run %s; one apply per application at a time", app, other))
		f.body.Run = other
		return applyAnswer{}, f
	}
	if err := s.clashes(ctx, plan); err != nil {
		s.mu.Unlock()
		return applyAnswer{}, err
	}
	if s.db != nil && old != nil {
		s.mu.Unlock()
		return applyAnswer{}, fail(http.StatusConflict, "not_resumable", fmt.Errorf(
			"run %s ran in a server without --database: resume it with such a server (its journal is in the state directory)", old.status().Run))
	}
	if wait, ok := s.starting[databaseRunID(plan.ID)]; s.db != nil && ok {
		// Another apply of the plan is starting its run, which is ours
		// too: once it is over, the run is known (or its start failed,
		// and this one tries again).
		s.mu.Unlock()
		if err := s.awaitStart(ctx, wait, fmt.Sprintf("another apply of plan %s was starting its run", plan.ID)); err != nil {
			return applyAnswer{}, err
		}
		return s.start(ctx, plan, old)
	}
	// The plan is stored for a resume (again, if a prune removed it since
	// it was read), and kept from now on; a start refused from here on
	// leaves no trace of it (forget), or refused applies would keep plans
	// past --keep-plans.
	forget, err := s.keepPlan(plan)
	if err != nil {
		s.mu.Unlock()
		return applyAnswer{}, fail(http.StatusInternalServerError, "internal", err)
	}
	if s.db != nil {
		return s.startDatabase(ctx, plan, apps, forget) // which unlocks s.mu
	}
	if err := s.holdDeployment(); err != nil {
		forget()
		s.mu.Unlock()
		if errors.Is(err, errApplying) {
			return applyAnswer{}, fail(http.StatusConflict, "busy", fmt.Errorf("the deployment is locked: %w", err))
		}
		return applyAnswer{}, fail(http.StatusInternalServerError, "internal", err)
	}
	s.wg.Add(1) // before the run's goroutine starts; undone if it does not
	rs, err := s.prepare(plan, apps, old)
	if err != nil {
		s.releaseDeployment()
		forget()
		s.wg.Done()
		s.mu.Unlock()
		if _, ok := errors.AsType[*upgrade.LockError](err); ok {
			return applyAnswer{}, fail(http.StatusConflict, "busy", err)
		}
		if f, ok := errors.AsType[*failure](err); ok {
			return applyAnswer{}, f
		}
		return applyAnswer{}, fail(http.StatusInternalServerError, "internal", err)
	}
	for _, app := range apps {
		s.busy[app] = rs.rec.Run
	}
	s.plans[rs.rec.Run] = plan
	s.mu.Unlock()

	id := rs.status().Run
	s.log.Info("run started", "run", id, "plan", plan.ID, "applications", apps, "steps", len(plan.Steps), "resumed", old != nil)
	return applyAnswer{Run: id, Plan: plan.ID, Events: "/v1/runs/" + id + "/events"}, nil
}

// clashes refuses, with 409 {"kind": "busy"} naming the other run, plan
// when a run in progress would break what it relies on, or it what the run
// relies on (see planClash). s.mu is held.
func (s *server) clashes(ctx context.Context, plan *upgrade.Plan) error {
	topo, _ := s.env.current()
	own := databaseRunID(plan.ID) // with --database, a run of plan is plan's own
	for _, run := range slices.Sorted(maps.Keys(s.running())) {
		other := s.runningPlan(run)
		if other == nil || (s.db != nil && run == own) {
			continue
		}
		why, err := planClash(ctx, topo, plan, other)
		if err != nil {
			return fail(http.StatusInternalServerError, "internal", err)
		}
		if why != "" {
			f := fail(http.StatusConflict, "busy", fmt.Errorf(
				"plan %s and run %s cannot run side by side: %s; wait for run %s to end, then post the requests again", plan.ID, run, why, run))
			f.body.Run = run
			return f
		}
	}
	return nil
}

// running returns the runs that busy names. s.mu is held.
func (s *server) running() map[string]bool {
	runs := map[string]bool{}
	for _, run := range s.busy {
		runs[run] = true
	}
	return runs
}

// runningPlan returns the plan of run, which busy names: the one it
// started with, or else the one the state directory keeps under the ID
// its record names (a database run followed again after a restart); nil
// when neither is known. s.mu is held.
func (s *server) runningPlan(run string) *upgrade.Plan {
	if plan := s.plans[run]; plan != nil {
		return plan
	}
	rs := s.runs[run]
	if rs == nil {
		return nil
	}
	plan, err := s.state.loadPlan(rs.status().Plan)
	if err != nil {
		s.log.Warn("the plan of a run in progress was not read: plans to start are not checked against it", "run", run, "err", err)
		return nil
	}
	s.plans[run] = plan
	return plan
}

// awaitStart waits for the database run start that closes wait to be
// over, or for ctx to end: then it returns a *failure saying that the
// call ended while what was happening. s.mu is not held.
func (s *server) awaitStart(ctx context.Context, wait <-chan struct{}, what string) error {
	s.hook("wait")
	select {
	case <-wait:
		return nil
	case <-ctx.Done():
		return fail(http.StatusServiceUnavailable, "cancelled", fmt.Errorf("the call ended while %s: %w", what, ctx.Err()))
	}
}

// hook calls s.testHook, if set, at point.
func (s *server) hook(point string) {
	if s.testHook != nil {
		s.testHook(point)
	}
}

// holdDeployment takes the deployment's lock for a run about to start,
// unless a run of this server holds it already. s.mu is held.
func (s *server) holdDeployment() error {
	if s.lockDeployment == nil {
		return nil
	}
	if s.lockedRuns == 0 {
		unlock, err := s.lockDeployment()
		if err != nil {
			return err
		}
		s.unlockDeployment = unlock
	}
	s.lockedRuns++
	return nil
}

// releaseDeployment undoes a holdDeployment: the last run to end
// releases the lock. s.mu is held.
func (s *server) releaseDeployment() {
	if s.lockDeployment == nil {
		return
	}
	if s.lockedRuns--; s.lockedRuns == 0 {
		s.unlockDeployment()
		s.unlockDeployment = nil
	}
}

// keepPlan stores plan, unless it is stored already, and keeps it from
// pruning: a run is to name it. It returns forget, which undoes just
// what it did: it removes the plan's file if keepPlan wrote it, and keeps
// the plan from pruning no longer if it did not already. s.mu is held,
// by forget's caller too.
func (s *server) keepPlan(plan *upgrade.Plan) (forget func(), err error) {
	wasNamed := s.named[plan.ID]
	created, err := s.state.savePlan(plan)
	if err != nil {
		return nil, err
	}
	s.named[plan.ID] = true
	return func() {
		if !wasNamed {
			delete(s.named, plan.ID)
		}
		if created {
			if err := s.state.removePlan(plan.ID); err != nil {
				s.log.Warn("the plan of a start refused was not removed", "plan", plan.ID, "err", err)
			}
		}
	}, nil
}

// prepare opens the journal of a new run, or of old, marks the run
// running, and starts it. s.mu is held.
func (s *server) prepare(plan *upgrade.Plan, apps []topology.AppID, old *runState) (*runState, error) {
	if err := s.env.refresh(); err != nil { // for the stale check
		return nil, err
	}
	id := rand.Text()
	if old != nil {
		id = old.status().Run
	} else if err := s.checkStale(plan); err != nil { // a resumed run's is its journal's (see upgrade.WithStaleCheck)
		return nil, err
	}
	j, err := s.state.openJournal(id)
	if err != nil {
		return nil, err
	}
	if old != nil {
		// A resumed run is checked against what its journal says is done,
		// as its run will be: refused now, it is left as it was. A journal
		// that cannot be read is the run's to report.
		if records, err := j.Begin(s.ctx, plan.ID); err == nil {
			if err := s.checkStale(plan, upgrade.WithJournal(doneJournal(records))); err != nil {
				j.Close()
				return nil, err
			}
		}
	}
	rs := old
	if rs == nil {
		rec := runRecord{Run: id, Plan: plan.ID, Applications: apps, Total: len(plan.Steps),
			Started: time.Now().UTC(), Steps: map[upgrade.StepID]string{}}
		for _, st := range plan.Steps {
			rec.Steps[st.ID] = stepPending
		}
		rs = newRunState(rec)
	}
	// The record says the run is running once saved, and only then does
	// rs: a resume whose record cannot be saved leaves old as it was,
	// ended, not running with nothing running it (which no cancel could
	// end, and no resume take up again).
	ctx, cancel := context.WithCancelCause(s.ctx)
	if err := rs.update(s.state, (*runRecord).takeUp, cancel, false); err != nil {
		cancel(nil)
		j.Close()
		return nil, err
	}
	s.runs[id] = rs
	if i := slices.Index(s.finished, id); i >= 0 {
		s.finished = slices.Delete(s.finished, i, i+1)
	}
	s.metrics.running.Inc()
	go s.execute(ctx, rs, plan, j, old != nil)
	return rs, nil
}

// checkStale refuses with 409 {"kind": "stale"} a plan that the topology,
// as last refreshed, has moved away from, before anything is submitted or
// run.
func (s *server) checkStale(plan *upgrade.Plan, opts ...upgrade.RunOption) error {
	topo, _ := s.env.current()
	if err := preflight(s.ctx, plan, append(opts, upgrade.WithStaleCheck(topo))...); err != nil {
		return fail(http.StatusConflict, "stale", fmt.Errorf("%w: nothing was run; post the requests again for a new plan", err))
	}
	return nil
}

// execute runs plan for rs in ctx, journaled in j, which it closes.
func (s *server) execute(ctx context.Context, rs *runState, plan *upgrade.Plan, j *upgrade.FileJournal, resumed bool) {
	defer s.wg.Done()
	id := rs.status().Run
	var learnErr error // the first step the inventory did not learn
	if resumed && s.learn != nil {
		// The steps an earlier attempt did, learned again in the plan's
		// order: a crash may have come between a step and its learning.
		records, err := j.Begin(ctx, plan.ID)
		if err != nil {
			s.log.Error("journal not read", "run", id, "err", err) // Run will say
		}
		done := journalSteps(records)
		for _, st := range plan.Steps {
			if done[st.ID] != string(upgrade.RecordSucceeded) {
				continue
			}
			// Not cancelled with the run: the step is done, and the
			// inventory must know it.
			if err := s.learn(context.WithoutCancel(ctx), []upgrade.Step{st}); err != nil {
				s.log.Error("the inventory did not learn a step's result", "run", id, "step", st.ID, "err", err)
				learnErr = cmp.Or(learnErr, err)
			}
		}
	}
	var rec *recorder // the run's steps, learnt in the background
	if s.learn != nil {
		rec = newRecorder(s.learn, s.unlearn)
	}
	events := func(ev upgrade.Event) {
		took, ok := rs.add(ev)
		s.metrics.step(apiName(ev.Kind), took, ok)
		if rec != nil {
			rec.event(ev)
		}
	}
	opts := append(s.rf.options(s.ctx, s.env), upgrade.WithJournal(j), upgrade.WithEvents(events))
	rep, err := upgrade.Run(ctx, plan, s.exec, opts...)
	if rec != nil {
		for _, lerr := range rec.Wait() {
			s.log.Error("the inventory did not learn a step's result", "run", id, "err", lerr)
			learnErr = cmp.Or(learnErr, lerr)
		}
	}
	if err == nil && learnErr != nil {
		err = unlearnedError(learnErr, id)
	}
	state := runSucceeded
	switch {
	case err == nil:
	case errors.Is(context.Cause(ctx), errCancelled):
		state = runCancelled
		if errors.Is(err, context.Canceled) { // Run says only that its context ended
			err = fmt.Errorf("run %s %w; resume it with POST /v1/runs/%s/resume", id, errCancelled, id)
		}
	case s.ctx.Err() != nil || stopped(s.ctx):
		state = runInterrupted
		err = fmt.Errorf("%w; resume it with POST /v1/runs/%s/resume", err, id)
	default:
		state = runFailed
	}
	var inDoubt []upgrade.StepID
	if err != nil {
		// A step stopped while it ran stays started in the journal: a
		// resumed run offers it again, in doubt.
		records, jerr := j.Begin(context.WithoutCancel(ctx), plan.ID)
		if jerr != nil {
			s.log.Error("journal not read back", "run", id, "err", jerr)
		}
		for step, st := range journalSteps(records) {
			if st == stepInDoubt {
				inDoubt = append(inDoubt, step)
			}
		}
	}
	if cerr := j.Close(); cerr != nil {
		s.log.Error("journal not closed", "run", id, "err", cerr)
	}
	s.metrics.runs.WithLabelValues(state).Inc()
	s.end(rs, rep, state, err, inDoubt)
	s.log.Info("run ended", "run", id, "state", state, "err", err)
}

// learnInto has inv learn each step's result, as apply's does: the new
// version of a step that succeeded, the old one of a step rolled back;
// the plans and runs to come read the topology it wrote (see
// env.refresh).
func (s *server) learnInto(inv *inventory) {
	record := func(f func(*inventory, context.Context, []upgrade.Step) error) func(context.Context, []upgrade.Step) error {
		return func(ctx context.Context, steps []upgrade.Step) error {
			defer s.env.changed() // even when some were not recorded
			return f(inv, ctx, steps)
		}
	}
	s.learn, s.unlearn = record((*inventory).LearnAll), record((*inventory).UnlearnAll)
	s.admits = inv.Admits
}

// admitted reports whether the inventory can record plan, and answers 400
// when it cannot.
func (s *server) admitted(w http.ResponseWriter, plan *upgrade.Plan) bool {
	if s.admits == nil {
		return true
	}
	if err := s.admits(plan); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request", err)
		return false
	}
	return true
}

// unlearnedError is the error of run id whose steps all succeeded but
// whose inventory did not learn them all, learnErr the first failure: as
// apply fails then, since the next plan would not converge but plan the
// steps done again. A resume learns them again.
func unlearnedError(learnErr error, id string) error {
	return fmt.Errorf("every step succeeded, but the inventory does not say so: %w; once the topology file can be written, resume the run with POST /v1/runs/%s/resume, which records them", learnErr, id)
}

// end ends run rs and saves its record. It frees the run's applications,
// and forgets old runs (unless rs was interrupted), before the run says it
// has ended: a client that sees the end can apply again at once.
func (s *server) end(rs *runState, rep *upgrade.Report, state string, err error, inDoubt []upgrade.StepID) {
	st := rs.status()
	s.metrics.running.Dec()
	s.mu.Lock()
	for _, app := range st.Applications {
		if s.busy[app] == st.Run {
			delete(s.busy, app)
		}
	}
	delete(s.plans, st.Run)
	if !st.Database { // its steps ran here: see start
		s.releaseDeployment()
	}
	if state != runInterrupted {
		s.remember(st.Run)
	}
	s.mu.Unlock()
	if serr := rs.end(s.state, rep, state, err, inDoubt); serr != nil {
		s.log.Error("run record not saved", "run", st.Run, "err", serr)
	}
}

// stopped reports whether ctx carries an interrupt that has come.
func stopped(ctx context.Context) bool { return isClosed(stopOf(ctx)) }

// lookup returns the run named in r's path: one the server remembers, or
// else one the state directory holds. On failure it answers the client
// and returns nil.
func (s *server) lookup(w http.ResponseWriter, r *http.Request) *runState {
	id := r.PathValue("id")
	s.mu.Lock()
	rs := s.runs[id]
	s.mu.Unlock()
	if rs != nil {
		return rs
	}
	rec, err := s.state.loadRun(id)
	switch {
	case err == nil:
		return newRunState(*rec)
	case errors.Is(err, errNoEntry), isIDError(err):
		writeError(w, http.StatusNotFound, "not_found", fmt.Errorf("no run %q", truncate(id)))
	default:
		writeError(w, http.StatusInternalServerError, "internal", err)
	}
	return nil
}

func (s *server) handleStatus(w http.ResponseWriter, r *http.Request) {
	if rs := s.lookup(w, r); rs != nil {
		writeJSON(w, http.StatusOK, rs.status())
	}
}

func (s *server) handleRuns(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string][]runRecord{"runs": s.listRuns()})
}

// handleCancel cancels a run in progress: its running steps are stopped
// (their commands get SIGTERM) and it ends "cancelled".
func (s *server) handleCancel(w http.ResponseWriter, r *http.Request) {
	if !noFields(w, r) {
		return
	}
	rs := s.lookup(w, r)
	if rs == nil {
		return
	}
	rs.mu.Lock()
	cancel, id, state, database := rs.cancel, rs.rec.Run, rs.rec.State, rs.rec.Database
	rs.mu.Unlock()
	if cancel == nil {
		writeError(w, http.StatusConflict, "not_running", fmt.Errorf("run %s is not running: it is %s", id, state))
		return
	}
	if database {
		if s.db == nil {
			writeError(w, http.StatusConflict, "not_running", fmt.Errorf("run %s is kept in a database, which this server was not given: serve with --database", id))
			return
		}
		if err := s.cancelDatabase(r.Context(), rs); err != nil {
			writeFailure(w, err)
			return
		}
	} else {
		cancel(errCancelled)
	}
	s.log.Info("run cancelled", "run", id, "remote", r.RemoteAddr)
	writeJSON(w, http.StatusAccepted, applyAnswer{Run: id, Plan: rs.status().Plan, Events: "/v1/runs/" + id + "/events"})
}

// handleResume resumes a run that did not succeed, from its journal:
// steps done are not run again, and a step in doubt is offered again.
func (s *server) handleResume(w http.ResponseWriter, r *http.Request) {
	if !noFields(w, r) {
		return
	}
	if rs := s.lookup(w, r); rs != nil {
		a, err := s.resume(r.Context(), rs)
		answerStarted(w, a, err)
	}
}

// resume resumes run rs. Its errors are *failure values.
func (s *server) resume(ctx context.Context, rs *runState) (applyAnswer, error) {
	st := rs.status()
	if st.Database && st.State != runFailed && st.State != runCancelled {
		return applyAnswer{}, fail(http.StatusConflict, "not_resumable", fmt.Errorf(
			"run %s is kept in the database, where its workers go on with it whatever happens to this server: nothing to resume (serve with --database follows it)", st.Run))
	}
	switch st.State {
	case runInterrupted, runFailed, runCancelled:
	case runRunning:
		return applyAnswer{}, fail(http.StatusConflict, "not_resumable", fmt.Errorf("run %s is running: follow it at /v1/runs/%s/events", st.Run, st.Run))
	default:
		return applyAnswer{}, fail(http.StatusConflict, "not_resumable", fmt.Errorf("run %s has %s: nothing to resume", st.Run, st.State))
	}
	plan, err := s.state.loadPlan(st.Plan)
	if errors.Is(err, errNoEntry) { // removed by hand
		return applyAnswer{}, fail(http.StatusConflict, "not_resumable", fmt.Errorf(
			"run %s: its plan %s is no longer in the state directory: post the requests again for a new plan", st.Run, st.Plan))
	}
	if err == nil {
		err = s.cmds.check(plan)
	}
	if err != nil {
		return applyAnswer{}, fail(http.StatusInternalServerError, "internal", fmt.Errorf("run %s: %w", st.Run, err))
	}
	if st.Database {
		return s.start(ctx, plan, nil) // taken up again in the database (see retryDatabase)
	}
	return s.start(ctx, plan, rs)
}

// resumeInterrupted resumes every interrupted run (serve --resume).
func (s *server) resumeInterrupted() {
	s.mu.Lock()
	var runs []*runState
	for _, rs := range s.runs {
		if rs.status().State == runInterrupted {
			runs = append(runs, rs)
		}
	}
	s.mu.Unlock()
	for _, rs := range runs {
		if st := rs.status(); st.Database {
			continue // its workers go on with it
		}
		if _, err := s.resume(s.ctx, rs); err != nil {
			s.log.Error("interrupted run not resumed", "run", rs.status().Run, "err", err)
		}
	}
}

// handleEvents streams the run's events as server-sent events: those so
// far (after Last-Event-ID, if given), then live ones, then "done", with
// a keep-alive comment after every s.keepAlive without an event.
func (s *server) handleEvents(w http.ResponseWriter, r *http.Request) {
	rs := s.lookup(w, r)
	if rs == nil {
		return
	}
	if r.Method == http.MethodHead {
		// The headers a stream would have, and no stream: a HEAD would
		// otherwise hold one of the server's streams, writing to nobody.
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-cache")
		w.WriteHeader(http.StatusOK)
		return
	}
	s.mu.Lock()
	full := s.streams >= s.maxStreams
	if !full {
		s.streams++
	}
	s.mu.Unlock()
	if full {
		w.Header().Set("Retry-After", "10")
		writeError(w, http.StatusServiceUnavailable, "too_many_streams", fmt.Errorf(
			"%d event streams are open already, as many as this server keeps: follow the run at /v1/runs/%s meanwhile, or try again later", s.maxStreams, rs.status().Run))
		return
	}
	defer func() {
		s.mu.Lock()
		s.streams--
		s.mu.Unlock()
	}()
	next := rs.eventsAfter(r.Header.Get("Last-Event-ID"))
	rc := http.NewResponseController(w)
	// A stream outlives the server's write timeout, but each write has
	// streamWriteTimeout: a client that stops reading is let go.
	writing := func() { _ = rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout)) }
	writing()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	keepAlive := time.NewTicker(s.keepAlive)
	defer keepAlive.Stop()
	for {
		events, status, changed := rs.since(next)
		writing()
		for _, ev := range events {
			data, _ := json.Marshal(ev)
			fmt.Fprintf(w, "id: %s\nevent: step\ndata: %s\n\n", rs.eventID(next), data)
			next++
		}
		if status != nil {
			data, _ := json.Marshal(status)
			fmt.Fprintf(w, "event: done\ndata: %s\n\n", data)
			_ = rc.Flush()
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
		keepAlive.Reset(s.keepAlive)
		for waiting := true; waiting; {
			select {
			case <-changed:
				waiting = false
			case <-keepAlive.C:
				writing()
				fmt.Fprint(w, ": keep-alive\n\n")
				if err := rc.Flush(); err != nil {
					return
				}
			case <-r.Context().Done():
				return
			case <-s.ended: // the server has stopped, and so has its follower
				return
			}
		}
	}
}

const serveSynopsis = `stackup serve (--topology FILE | --tosca FILE --instances FILE) --repo DIR|URL (--exec COMMAND | --database URL) --state-dir DIR [flags]

Runs a deployment server. Clients post upgrade requests to /v1/plans to get
a plan to review, then POST /v1/plans/ID/apply to have exactly that plan
run with the --exec command per step, and follow the run at /v1/runs/ID
and /v1/runs/ID/events (server-sent events). Plans, runs and their
journals live in --state-dir: a restarted server lists past runs, and
those it was running are interrupted, to resume with
POST /v1/runs/ID/resume (or at start with --resume). Every call carries
the header "Authorization: Bearer TOKEN", the token read from --token-file
or STACKUP_TOKEN; on a loopback --listen address without either, serve
makes one up and prints it on standard error. With --database URL (or
STACKUP_DATABASE_URL), applying a plan submits it to that PostgreSQL
database instead, where 'stackup worker' processes on any hosts run it
(give them --exec; serve takes none), and the server follows the run
there. See the package documentation for the API.`

// serveFlags are serve's own flags.
type serveFlags struct {
	listen          string
	tokenFile       string
	allowHosts      stringList
	tlsCert, tlsKey string
	stateDir        string
	resume          bool
	keepPlans       int
	madeUpToken     bool // no token was given: serve made one up, to print once listening
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := newRunCommand("serve", serveSynopsis, false)
	c.rf.db = &dbFlags{}
	c.rf.db.register(c.fs)
	var sf serveFlags
	c.fs.StringVar(&sf.listen, "listen", "127.0.0.1:8080", "listen on `ADDR`; other than a loopback address, only with a token given")
	c.fs.StringVar(&sf.tokenFile, "token-file", "", "the bearer token clients send is in `FILE` (else STACKUP_TOKEN)")
	c.fs.Var(&sf.allowHosts, "allow-host", "answer requests for host `NAME` too, besides localhost and loopback addresses (repeatable)")
	c.fs.StringVar(&sf.tlsCert, "tls-cert", "", "serve HTTPS with the certificate chain in `FILE` (PEM, with --tls-key)")
	c.fs.StringVar(&sf.tlsKey, "tls-key", "", "the private key of --tls-cert in `FILE` (PEM)")
	c.fs.StringVar(&sf.stateDir, "state-dir", "", "keep plans, runs and their journals in `DIR`, created 0700 if missing (required)")
	c.fs.BoolVar(&sf.resume, "resume", false, "at start, resume the runs that a stop or crash interrupted")
	c.fs.IntVar(&sf.keepPlans, "keep-plans", defaultKeepPlans, "keep at most `N` plans that no run names in --state-dir, removing the oldest")
	if code, ok := c.parse(args, stdout, stderr); !ok {
		return code
	}
	if sf.stateDir == "" {
		return checkFlags(c.fs, c.synopsis, errors.New("give --state-dir DIR, the directory that keeps plans and runs"), stderr)
	}
	if sf.keepPlans < 1 {
		return checkFlags(c.fs, c.synopsis, errors.New("--keep-plans must be at least 1"), stderr)
	}
	envToken, envSet := os.LookupEnv("STACKUP_TOKEN")
	acc, generated, err := sf.access(envToken, envSet)
	if err != nil {
		return checkFlags(c.fs, c.synopsis, err, stderr)
	}
	var tlsConfig *tls.Config
	if sf.tlsCert != "" || sf.tlsKey != "" {
		if sf.tlsCert == "" || sf.tlsKey == "" {
			return checkFlags(c.fs, c.synopsis, errors.New("give --tls-cert and --tls-key together"), stderr)
		}
		cert, err := loadKeyPair(sf.tlsCert, sf.tlsKey)
		if err != nil {
			return report(stderr, "serve", inputErr(err))
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	state, err := openStateDir(sf.stateDir)
	if _, marked := errors.AsType[*exitError](err); err != nil && !marked {
		err = inputErr(err)
	}
	if err != nil {
		return report(stderr, "serve", err)
	}
	defer state.Close()
	sf.madeUpToken = generated
	if err := serve(ctx, &c.in, &c.rf, &sf, state, acc, tlsConfig, stdout, stderr); err != nil {
		return report(stderr, "serve", err)
	}
	return exitOK
}

// maxTokenFile is the size of the largest token file read.
const maxTokenFile = 4 << 10

// maxTLSFile is the size of the largest --tls-cert or --tls-key file read.
const maxTLSFile = 1 << 20

// minToken is the length of the shortest token accepted.
const minToken = 16

// access checks the flags and returns who may call the server: the token
// from --token-file, or else envToken if envSet, or else (only on a
// loopback address) a new random one, with generated true.
func (sf *serveFlags) access(envToken string, envSet bool) (acc access, generated bool, err error) {
	host, _, err := net.SplitHostPort(sf.listen)
	if err != nil {
		return access{}, false, fmt.Errorf("--listen %q: %w", sf.listen, err)
	}
	for _, name := range sf.allowHosts {
		h, err := allowedHost(name)
		if err != nil {
			return access{}, false, err
		}
		acc.hosts = append(acc.hosts, h)
	}
	if ip := net.ParseIP(host); host != "" && (ip == nil || !ip.IsUnspecified()) {
		acc.hosts = append(acc.hosts, requestHost(host))
	}
	switch {
	case sf.tokenFile != "":
		acc.token, err = readToken(sf.tokenFile)
		if err != nil {
			return access{}, false, fmt.Errorf("--token-file: %w", err)
		}
	case envSet:
		if acc.token, err = checkToken(envToken); err != nil {
			return access{}, false, fmt.Errorf("STACKUP_TOKEN: %w", err)
		}
	case !loopbackHost(host):
		return access{}, false, fmt.Errorf("--listen %q is not a loopback address: give the token clients must send with --token-file FILE or STACKUP_TOKEN "+
			"(serve makes one up only on loopback), or listen on 127.0.0.1", sf.listen)
	default:
		acc.token, generated = base64.RawURLEncoding.EncodeToString(randomBytes(32)), true
	}
	return acc, generated, nil
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand)
	return b
}

// allowedHost checks an --allow-host name and returns it in lower case.
func allowedHost(name string) (string, error) {
	h := requestHost(name)
	ok := h != "" && len(h) <= 253
	if _, _, err := net.SplitHostPort(name); err == nil {
		ok = false // a port
	} else if net.ParseIP(h) == nil {
		for _, r := range h {
			ok = ok && (r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '.')
		}
		ok = ok && h == strings.ToLower(strings.TrimSuffix(name, "."))
	}
	if !ok {
		return "", fmt.Errorf("--allow-host %q is not a host name or IP address (give a name such as deploy.example.com, without a port)", name)
	}
	return h, nil
}

// readToken reads a token file: a regular file of at most maxTokenFile
// bytes that other users cannot read or write (see readPrivate), whose
// content, trimmed, is the token.
func readToken(file string) (string, error) {
	data, err := readPrivate(file, maxTokenFile) // a token file holds only the token
	if err != nil {
		return "", err
	}
	token, err := checkToken(string(data))
	if err != nil {
		return "", fmt.Errorf("%s: %w", file, err)
	}
	return token, nil
}

// readPrivate reads file, a secret: a regular file of at most limit
// bytes that other users of the host can neither read (and so call the
// server with the token, or pose as it with the key) nor write (and so
// choose the token): one they can is refused, as ssh refuses such a key.
func readPrivate(file string, limit int64) ([]byte, error) {
	f, err := topology.OpenRegular(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// The mode of the file opened, not of a path looked at before.
	if info, err := f.Stat(); err != nil {
		return nil, err
	} else if perm := info.Mode().Perm(); runtime.GOOS != "windows" && perm&0o007 != 0 {
		return nil, fmt.Errorf("%s: other users can read or write it (mode %04o): chmod 600 %s", file, perm, file)
	}
	return readAtMost(f, file, limit)
}

// loadKeyPair reads the --tls-cert and --tls-key files, each a regular
// file of at most maxTLSFile bytes, the key one that other users cannot
// read or write (see readPrivate), and parses them. Its errors name the
// flag and the file.
func loadKeyPair(certFile, keyFile string) (tls.Certificate, error) {
	certPEM, err := readTLSFile("--tls-cert", certFile)
	if err != nil {
		return tls.Certificate{}, err
	}
	keyPEM, err := readPrivate(keyFile, maxTLSFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("--tls-key: %w", err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("--tls-cert %s, --tls-key %s: %w", certFile, keyFile, err)
	}
	return cert, nil
}

// readTLSFile reads file, given as flag: a regular file of at most
// maxTLSFile bytes.
func readTLSFile(flag, file string) ([]byte, error) {
	data, err := readSmallFile(file, maxTLSFile)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	return data, nil
}

// checkToken trims a token and checks that clients can send it.
func checkToken(token string) (string, error) {
	token = strings.TrimSpace(token)
	if token == "" {
		return "", errors.New("the token is empty")
	}
	if len(token) < minToken {
		return "", fmt.Errorf("the token has %d characters, fewer than %d: use a long random one, such as 32 random bytes in base64", len(token), minToken)
	}
	for i, r := range token {
		if r < '!' || r > '~' {
			// Named by its code and place, not shown: the rest of it is
			// the token.
			what := "): give a token of printable ASCII, such as 32 random bytes in base64"
			if i == 0 && r == '\ufeff' {
				what = ", a byte-order mark, as some editors write): save the token without one"
			}
			return "", fmt.Errorf("the token has a character other than printable ASCII without spaces, which an Authorization header cannot carry (%U at byte %d%s", r, i, what)
		}
	}
	return token, nil
}

// newHTTPServer returns the HTTP server serving h: it bounds the time a
// client takes to send a request and the time an answer takes (from the
// request, or from when a late answer is written: see inTime), but not
// an event stream, which bounds each of its writes instead
// (streamWriteTimeout), and which the read timeout, over once the request
// is read, does not cut.
func newHTTPServer(h http.Handler, log *slog.Logger, tlsConfig *tls.Config) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      answerTimeout,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		TLSConfig:         tlsConfig,
	}
}

// serve runs the server until ctx is done, then shuts it down: runs in
// progress are cancelled, and the HTTP server waits for its requests.
// With tlsConfig, it serves HTTPS.
func serve(ctx context.Context, in *inputFlags, rf *runFlags, sf *serveFlags, state *stateStore, acc access, tlsConfig *tls.Config, stdout, stderr io.Writer) error {
	runCtx := ctx
	ctx, cancel := afterStop(ctx, 0) // loading and listening end at the first interrupt
	defer cancel()
	e, err := in.load(ctx)
	if err != nil {
		return err
	}
	defer e.Close()
	inv := newInventory(in)
	if err := inv.Ready(); err != nil {
		return inputErr(err)
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	var store *pgrun.Store
	if rf.db != nil && rf.db.on() {
		var pool interface{ Close() }
		if store, pool, err = rf.db.open(ctx); err != nil {
			return err
		}
		defer pool.Close() // after srv.Close, which ends the followers
	}
	srv, err := newServer(runCtx, e, rf, acc, state, stderr, log)
	if err != nil {
		return err
	}
	defer srv.Close()
	srv.keepPlans = sf.keepPlans
	// The inventory learns each step's version, and the plans and runs to
	// come read the topology it wrote (see env.refresh).
	srv.learnInto(inv)
	if store == nil { // the steps run here: one at a time with apply's
		srv.lockDeployment = func() (func(), error) { return lockRuns(in) }
	}
	ln, err := net.Listen("tcp", sf.listen)
	if errors.Is(err, syscall.EADDRINUSE) { // busy, as a held state directory is: not a mistake in the flags
		return failedErr(fmt.Errorf("--listen: %w: another process listens there (an earlier serve still stopping?); stop it, or give another address", err))
	}
	if err != nil {
		return usageErr("--listen: %w", err)
	}
	if sf.madeUpToken {
		// A name such as "localhost." is resolved by the system: what
		// counts is the address bound, and the token is shown only for a
		// loopback one.
		if addr, ok := ln.Addr().(*net.TCPAddr); !ok || !addr.IP.IsLoopback() {
			ln.Close()
			return usageErr("--listen %q bound %s, not a loopback address: give the token clients must send with --token-file FILE or STACKUP_TOKEN, or listen on 127.0.0.1", sf.listen, ln.Addr())
		}
		fmt.Fprintf(stderr, "%s serve: token: %s\n", programName, acc.token)
		fmt.Fprintf(stderr, "%s serve: send it with every call as the header \"Authorization: Bearer %s\"; give --token-file FILE or STACKUP_TOKEN to choose it\n",
			programName, acc.token)
	}
	hs := newHTTPServer(srv.Handler(), log, tlsConfig)
	scheme := "http"
	if tlsConfig != nil {
		scheme = "https"
	}
	if store != nil {
		srv.db = store
		srv.followDatabaseRuns()
	}
	if sf.resume { // before clients can call, who then find the runs going
		srv.resumeInterrupted()
	}
	fmt.Fprintf(stdout, "listening on %s://%s\n", scheme, ln.Addr())
	errc := make(chan error, 1)
	go func() {
		if tlsConfig != nil {
			errc <- hs.ServeTLS(ln, "", "")
		} else {
			errc <- hs.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return failedErr(err)
	case <-ctx.Done():
	}
	// No new connection from now on, while the runs have their grace:
	// those open (an event stream) are served until Shutdown.
	ln.Close()
	<-errc // Serve's error: the listener is closed
	log.Info("shutting down")
	srv.Close() // ends the runs, and so their event streams
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutdownCtx); err != nil {
		hs.Close()
		return failedErr(fmt.Errorf("shutdown: %w", err))
	}
	return nil
}
