package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
)

// maxBody is the largest request body the server reads.
const maxBody = 1 << 20

// maxFinishedRuns is how many ended runs the server remembers.
const maxFinishedRuns = 100

// server is the deployment server: it plans requests posted to it and
// runs plans in the background, one run per application at a time. Its
// runs live in a context of its own, which Close cancels.
type server struct {
	env  *env
	rf   *runFlags
	cmds scripts
	exec upgrade.Executor
	log  *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	closed   bool
	runs     map[string]*runState
	finished []string                  // IDs of ended runs, oldest first
	busy     map[topology.AppID]string // application → the run that changes it
}

// newServer returns a server planning with e and running plans as rf
// says; the commands' standard output goes to out.
func newServer(e *env, rf *runFlags, out io.Writer, log *slog.Logger) (*server, error) {
	cmds, err := rf.scripts()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &server{env: e, rf: rf, cmds: cmds, exec: newExecutor(cmds, out), log: log,
		ctx: ctx, cancel: cancel, runs: map[string]*runState{}, busy: map[topology.AppID]string{}}, nil
}

// Close cancels the runs in progress and waits for them to end. Applies
// posted afterwards are refused.
func (s *server) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
}

// Handler returns the HTTP API.
func (s *server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/plan", s.handlePlan)
	mux.HandleFunc("POST /v1/apply", s.handleApply)
	mux.HandleFunc("GET /v1/runs/{id}", s.handleStatus)
	mux.HandleFunc("GET /v1/runs/{id}/events", s.handleEvents)
	return mux
}

// apiError is the body of every error answer.
type apiError struct {
	Error string `json:"error"`
	Kind  string `json:"kind"`
	Run   string `json:"run,omitempty"` // for "busy": the run in the way
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		status, data = http.StatusInternalServerError, []byte(`{"error": "encoding the answer failed", "kind": "internal"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(data, '\n'))
}

func writeError(w http.ResponseWriter, status int, kind string, err error) {
	writeJSON(w, status, apiError{Error: err.Error(), Kind: kind})
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
	plan, err := s.env.planner.PlanAll(r.Context(), reqs...)
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
	w.Header().Set("Content-Type", "application/json")
	w.Write(b.Bytes())
}

// applyAnswer is the body of a 202 answer to an apply.
type applyAnswer struct {
	Run    string `json:"run"`
	Plan   string `json:"plan"`
	Events string `json:"events"`
}

func (s *server) handleApply(w http.ResponseWriter, r *http.Request) {
	plan := s.plan(w, r)
	if plan == nil {
		return
	}
	plan, err := s.rf.roll(plan)
	if err == nil {
		err = s.cmds.check(plan)
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal", err)
		return
	}
	// The applications the plan changes: those requested, and those whose
	// platform nodes it upgrades.
	var apps []topology.AppID
	for _, req := range plan.Requests {
		apps = append(apps, req.Application)
	}
	for _, st := range plan.Steps {
		apps = append(apps, st.App)
	}
	slices.Sort(apps)
	apps = slices.Compact(apps)

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		writeError(w, http.StatusServiceUnavailable, "shutting_down", errors.New("the server is shutting down"))
		return
	}
	for _, app := range apps {
		if other, ok := s.busy[app]; ok {
			s.mu.Unlock()
			writeJSON(w, http.StatusConflict, apiError{Kind: "busy", Run: other,
				Error: fmt.Sprintf("application %q is being upgraded by run %s; one apply per application at a time", app, other)})
			return
		}
	}
	rs := &runState{id: rand.Text(), plan: plan.ID, apps: apps, total: len(plan.Steps),
		steps: map[upgrade.StepID]string{}, state: "running", changed: make(chan struct{})}
	s.runs[rs.id] = rs
	for _, app := range apps {
		s.busy[app] = rs.id
	}
	s.wg.Add(1)
	s.mu.Unlock()

	s.log.Info("run started", "run", rs.id, "plan", plan.ID, "applications", apps, "steps", len(plan.Steps))
	go s.execute(rs, plan)
	events := "/v1/runs/" + rs.id + "/events"
	w.Header().Set("Location", "/v1/runs/"+rs.id)
	writeJSON(w, http.StatusAccepted, applyAnswer{Run: rs.id, Plan: plan.ID, Events: events})
}

// execute runs plan for rs in the server's context.
func (s *server) execute(rs *runState, plan *upgrade.Plan) {
	defer s.wg.Done()
	opts := append(s.rf.options(s.env), upgrade.WithEvents(rs.add))
	rep, err := upgrade.Run(s.ctx, plan, s.exec, opts...)
	rs.end(rep, err)
	s.log.Info("run ended", "run", rs.id, "state", rs.status().State, "err", err)

	s.mu.Lock()
	defer s.mu.Unlock()
	for _, app := range rs.apps {
		if s.busy[app] == rs.id {
			delete(s.busy, app)
		}
	}
	s.finished = append(s.finished, rs.id)
	for len(s.finished) > maxFinishedRuns {
		delete(s.runs, s.finished[0])
		s.finished = s.finished[1:]
	}
}

func (s *server) lookup(w http.ResponseWriter, r *http.Request) *runState {
	s.mu.Lock()
	rs := s.runs[r.PathValue("id")]
	s.mu.Unlock()
	if rs == nil {
		writeError(w, http.StatusNotFound, "not_found", fmt.Errorf("no run %q", r.PathValue("id")))
	}
	return rs
}

func (s *server) handleStatus(w http.ResponseWriter, r *http.Request) {
	if rs := s.lookup(w, r); rs != nil {
		writeJSON(w, http.StatusOK, rs.status())
	}
}

// handleEvents streams the run's events as server-sent events: those so
// far (after Last-Event-ID, if given), then live ones, then "done".
func (s *server) handleEvents(w http.ResponseWriter, r *http.Request) {
	rs := s.lookup(w, r)
	if rs == nil {
		return
	}
	next := 0
	if last := r.Header.Get("Last-Event-ID"); last != "" {
		n, err := strconv.Atoi(last)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, "invalid_request", fmt.Errorf("Last-Event-ID %q is not an event ID", last))
			return
		}
		next = n
	}
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{}) // a stream outlives the server's write timeout
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	for {
		events, status, changed := rs.since(next)
		for _, ev := range events {
			next++
			data, _ := json.Marshal(ev)
			fmt.Fprintf(w, "id: %d\nevent: step\ndata: %s\n\n", next, data)
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
		select {
		case <-changed:
		case <-r.Context().Done():
			return
		}
	}
}

// runState is what the server knows of one run. Its methods are safe for
// concurrent use.
type runState struct {
	id, plan string
	apps     []topology.AppID
	total    int

	mu      sync.Mutex
	events  []stepEvent
	steps   map[upgrade.StepID]string // the last event kind of each step
	state   string
	err     string
	changed chan struct{} // closed and replaced at every change
}

// stepEvent is the data of an "event: step".
type stepEvent struct {
	Kind  string          `json:"kind"`
	Step  upgrade.StepID  `json:"step"`
	Node  topology.NodeID `json:"node"`
	Done  int             `json:"done"`
	Total int             `json:"total"`
	Error string          `json:"error,omitempty"`
}

// runStatus is the status of a run, and the data of the "event: done".
type runStatus struct {
	Run          string           `json:"run"`
	Plan         string           `json:"plan"`
	Applications []topology.AppID `json:"applications"`
	State        string           `json:"state"` // running, succeeded or failed
	Total        int              `json:"total"`
	Succeeded    int              `json:"succeeded"`
	Failed       int              `json:"failed"`
	Skipped      int              `json:"skipped"`
	RolledBack   int              `json:"rolled_back"`
	Error        string           `json:"error,omitempty"`
}

// apiName is a name of the upgrade package as the API spells it:
// "rolled back" is "rolled_back".
func apiName(s fmt.Stringer) string { return strings.ReplaceAll(s.String(), " ", "_") }

// add records an event; it is the run's WithEvents hook.
func (rs *runState) add(ev upgrade.Event) {
	se := stepEvent{Kind: apiName(ev.Kind), Step: ev.Step.ID, Node: ev.Step.Node, Done: ev.Done, Total: ev.Total}
	if ev.Err != nil {
		se.Error = ev.Err.Error()
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.events = append(rs.events, se)
	rs.steps[ev.Step.ID] = se.Kind
	rs.notify()
}

// end records the end of the run.
func (rs *runState) end(rep *upgrade.Report, err error) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rep != nil {
		for _, o := range rep.Outcomes {
			rs.steps[o.Step] = apiName(o.State)
		}
	}
	rs.state = "succeeded"
	if err != nil {
		rs.state, rs.err = "failed", err.Error()
	}
	rs.notify()
}

func (rs *runState) notify() {
	close(rs.changed)
	rs.changed = make(chan struct{})
}

// since returns the events from index next on, the status if the run has
// ended, and a channel closed at the next change.
func (rs *runState) since(next int) ([]stepEvent, *runStatus, <-chan struct{}) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	var events []stepEvent
	if next < len(rs.events) {
		events = slices.Clone(rs.events[next:])
	}
	var status *runStatus
	if rs.state != "running" {
		st := rs.statusLocked()
		status = &st
	}
	return events, status, rs.changed
}

func (rs *runState) status() runStatus {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.statusLocked()
}

func (rs *runState) statusLocked() runStatus {
	st := runStatus{Run: rs.id, Plan: rs.plan, Applications: rs.apps, State: rs.state, Total: rs.total, Error: rs.err}
	for _, kind := range rs.steps {
		switch kind {
		case "succeeded":
			st.Succeeded++
		case "failed":
			st.Failed++
		case "skipped":
			st.Skipped++
		case "rolled_back":
			st.RolledBack++
		}
	}
	return st
}

const serveSynopsis = `stackup serve (--topology FILE | --tosca FILE --instances FILE) --repo DIR|URL --exec COMMAND [flags]

Runs a deployment server. Clients post upgrade requests to /v1/plan to get
the plan, or to /v1/apply to have it run with the --exec command per step,
and follow the run at /v1/runs/ID and /v1/runs/ID/events (server-sent
events). See the package documentation for the API.`

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := newRunCommand("serve", serveSynopsis, false)
	listen := c.fs.String("listen", "127.0.0.1:8080", "listen on `ADDR`")
	if code, ok := c.parse(args, stdout, stderr); !ok {
		return code
	}
	if err := serve(ctx, &c.in, &c.rf, *listen, stdout, stderr); err != nil {
		return report(stderr, "serve", err)
	}
	return exitOK
}

// serve runs the server until ctx is done, then shuts it down: runs in
// progress are cancelled, and the HTTP server waits for its requests.
func serve(ctx context.Context, in *inputFlags, rf *runFlags, addr string, stdout, stderr io.Writer) error {
	e, err := in.load(ctx)
	if err != nil {
		return err
	}
	defer e.Close()
	log := slog.New(slog.NewTextHandler(stderr, nil))
	srv, err := newServer(e, rf, stderr, log)
	if err != nil {
		return err
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return usageErr("--listen: %w", err)
	}
	hs := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second, // event streams lift it
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	fmt.Fprintf(stdout, "listening on http://%s\n", ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return failedErr(err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	srv.Close() // ends the runs, and so their event streams
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutdownCtx); err != nil {
		hs.Close()
		return failedErr(fmt.Errorf("shutdown: %w", err))
	}
	<-errc
	return nil
}
