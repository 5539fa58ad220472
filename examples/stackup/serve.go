package main

import (
	"bytes"
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
	"mime"
	"net"
	"net/http"
	"os"
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
	acc  access

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
// says, answering the calls acc lets in; the commands' standard output
// goes to out.
// Its runs end when ctx is done; after the first interrupt that ctx
// carries, they start no new step and are cancelled rf.grace later.
func newServer(ctx context.Context, e *env, rf *runFlags, acc access, out io.Writer, log *slog.Logger) (*server, error) {
	if acc.token == "" {
		return nil, errors.New("serve: no token") // a caller's mistake: serve always has one
	}
	cmds, err := rf.scripts()
	if err != nil {
		return nil, err
	}
	ctx, cancel := afterStop(ctx, rf.grace)
	return &server{env: e, rf: rf, cmds: cmds, exec: newExecutor(cmds, out), log: log, acc: acc,
		ctx: ctx, cancel: cancel, runs: map[string]*runState{}, busy: map[topology.AppID]string{}}, nil
}

// Close refuses applies posted afterwards and waits for the runs in
// progress to end: at once, cancelled, or after an interrupt, as they
// stop gently within the grace period.
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
}

// Handler returns the HTTP API. It answers only requests for the hosts
// s.acc allows; every call but GET /healthz must carry the bearer token,
// and cross-origin browser writes are refused.
func (s *server) Handler() http.Handler {
	api := http.NewServeMux()
	api.HandleFunc("POST /v1/plan", s.handlePlan)
	api.HandleFunc("POST /v1/apply", s.handleApply)
	api.HandleFunc("GET /v1/runs/{id}", s.handleStatus)
	api.HandleFunc("GET /v1/runs/{id}/events", s.handleEvents)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.Handle("/", s.guard(api))
	return s.checkHost(mux)
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
	if ct := r.Header.Get("Content-Type"); !isJSON(ct) {
		writeError(w, http.StatusUnsupportedMediaType, "unsupported_media_type", fmt.Errorf(
			"Content-Type %q is not application/json: post the requests as JSON with \"Content-Type: application/json\"", truncate(ct)))
		return nil
	}
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

// isJSON reports whether a Content-Type header says JSON.
func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "application/json"
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
	opts := append(s.rf.options(s.ctx, s.env), upgrade.WithEvents(rs.add))
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
events). Every call carries the header "Authorization: Bearer TOKEN", the
token read from --token-file or STACKUP_TOKEN; on a loopback --listen
address without either, serve makes one up and prints it on standard
error. See the package documentation for the API.`

// serveFlags are serve's own flags.
type serveFlags struct {
	listen          string
	tokenFile       string
	allowHosts      stringList
	tlsCert, tlsKey string
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := newRunCommand("serve", serveSynopsis, false)
	var sf serveFlags
	c.fs.StringVar(&sf.listen, "listen", "127.0.0.1:8080", "listen on `ADDR`; other than a loopback address, only with a token given")
	c.fs.StringVar(&sf.tokenFile, "token-file", "", "the bearer token clients send is in `FILE` (else STACKUP_TOKEN)")
	c.fs.Var(&sf.allowHosts, "allow-host", "answer requests for host `NAME` too, besides localhost and loopback addresses (repeatable)")
	c.fs.StringVar(&sf.tlsCert, "tls-cert", "", "serve HTTPS with the certificate chain in `FILE` (PEM, with --tls-key)")
	c.fs.StringVar(&sf.tlsKey, "tls-key", "", "the private key of --tls-cert in `FILE` (PEM)")
	if code, ok := c.parse(args, stdout, stderr); !ok {
		return code
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
		cert, err := tls.LoadX509KeyPair(sf.tlsCert, sf.tlsKey)
		if err != nil {
			return report(stderr, "serve", inputErr(fmt.Errorf("--tls-cert, --tls-key: %w", err)))
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	if generated {
		fmt.Fprintf(stderr, "%s serve: token: %s\n", programName, acc.token)
		fmt.Fprintf(stderr, "%s serve: send it with every call as the header \"Authorization: Bearer %s\"; give --token-file FILE or STACKUP_TOKEN to choose it\n",
			programName, acc.token)
	}
	if err := serve(ctx, &c.in, &c.rf, sf.listen, acc, tlsConfig, stdout, stderr); err != nil {
		return report(stderr, "serve", err)
	}
	return exitOK
}

// maxTokenFile is the size of the largest token file read.
const maxTokenFile = 4 << 10

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
// bytes, whose content, trimmed, is the token.
func readToken(file string) (string, error) {
	f, err := topology.OpenRegular(file) // a FIFO would block, /dev/zero never end
	if err != nil {
		return "", err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxTokenFile+1))
	if err != nil {
		return "", err
	}
	if len(data) > maxTokenFile {
		return "", fmt.Errorf("%s is larger than %d bytes: a token file holds only the token", file, maxTokenFile)
	}
	token, err := checkToken(string(data))
	if err != nil {
		return "", fmt.Errorf("%s: %w", file, err)
	}
	return token, nil
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
	for _, r := range token {
		if r < '!' || r > '~' {
			return "", errors.New("the token has a character other than printable ASCII without spaces, which an Authorization header cannot carry")
		}
	}
	return token, nil
}

// newHTTPServer returns the HTTP server serving h: it bounds the time a
// client takes to send a request and the time an answer takes, but not
// an event stream, which lifts the write timeout (and which the read
// timeout, over once the request is read, does not cut).
func newHTTPServer(h http.Handler, log *slog.Logger, tlsConfig *tls.Config) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		TLSConfig:         tlsConfig,
	}
}

// serve runs the server until ctx is done, then shuts it down: runs in
// progress are cancelled, and the HTTP server waits for its requests.
// With tlsConfig, it serves HTTPS.
func serve(ctx context.Context, in *inputFlags, rf *runFlags, addr string, acc access, tlsConfig *tls.Config, stdout, stderr io.Writer) error {
	runCtx := ctx
	ctx, cancel := afterStop(ctx, 0) // loading and listening end at the first interrupt
	defer cancel()
	e, err := in.load(ctx)
	if err != nil {
		return err
	}
	defer e.Close()
	log := slog.New(slog.NewTextHandler(stderr, nil))
	srv, err := newServer(runCtx, e, rf, acc, stderr, log)
	if err != nil {
		return err
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return usageErr("--listen: %w", err)
	}
	hs := newHTTPServer(srv.Handler(), log, tlsConfig)
	scheme := "http"
	if tlsConfig != nil {
		scheme = "https"
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
