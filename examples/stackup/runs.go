package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
)

// Run states, as the API spells them.
const (
	runRunning     = "running"
	runSucceeded   = "succeeded"
	runFailed      = "failed"
	runCancelled   = "cancelled"   // by POST /v1/runs/ID/cancel
	runInterrupted = "interrupted" // by the server stopping, or dying, during the run
)

// Step states in a run's "steps", besides the outcomes of the upgrade
// package ("succeeded", "failed", "skipped", "rolled_back", "not_started").
const (
	stepPending = "pending"  // not started yet, by a run that goes on
	stepRunning = "running"  // started, not finished
	stepInDoubt = "in_doubt" // started by a run that was interrupted before it finished
)

// stepNotStarted is the state of a step that a run which has ended never
// started, as the upgrade package's report says it (upgrade.NotStarted).
var stepNotStarted = apiName(upgrade.NotStarted)

// settle gives the steps of a run that has ended the states they are left
// in: a step still running was stopped and is in doubt, and one still
// pending never started.
func settle(steps map[upgrade.StepID]string) {
	for id, state := range steps {
		switch state {
		case stepRunning:
			steps[id] = stepInDoubt
		case stepPending:
			steps[id] = stepNotStarted
		}
	}
}

// unsettle gives the steps of a run taken up again (resumed from its
// journal, or retried in the database) the states that the run, going on,
// reports until each one's next event: a step that succeeded is not run
// again, and stays succeeded; one in doubt is offered again in doubt, and
// stays in doubt until it starts; every other one (failed, skipped, rolled
// back, not started) is to run again, and is pending. Both upgrade.Run
// with a journal and pgrun.Store.Retry take a run up so.
func unsettle(steps map[upgrade.StepID]string) {
	for id, state := range steps {
		if state != "succeeded" && state != stepInDoubt {
			steps[id] = stepPending
		}
	}
}

// errCancelled is the cause of a run's context when a client cancels it.
var errCancelled = errors.New("cancelled by POST /v1/runs/ID/cancel")

// timeFormat is the format of the times in events: RFC 3339 with
// milliseconds.
const timeFormat = "2006-01-02T15:04:05.000Z07:00"

// runRecord is a run's status, as GET /v1/runs/ID answers it, as the
// "event: done" carries it, and as the state directory keeps it.
type runRecord struct {
	Run          string                    `json:"run"`
	Plan         string                    `json:"plan"`
	Applications []topology.AppID          `json:"applications"`
	State        string                    `json:"state"`
	Total        int                       `json:"total"`
	Succeeded    int                       `json:"succeeded"`
	Failed       int                       `json:"failed"`
	Skipped      int                       `json:"skipped"`
	RolledBack   int                       `json:"rolled_back"`
	Error        string                    `json:"error,omitempty"`
	Started      time.Time                 `json:"started"`
	Finished     *time.Time                `json:"finished,omitempty"`
	Steps        map[upgrade.StepID]string `json:"steps"`
	// Database says that the run is kept in the database (serve
	// --database), where workers run it.
	Database bool `json:"database,omitempty"`
}

// count sets the counts from the steps.
func (rec *runRecord) count() {
	rec.Succeeded, rec.Failed, rec.Skipped, rec.RolledBack = 0, 0, 0, 0
	for _, state := range rec.Steps {
		switch state {
		case "succeeded":
			rec.Succeeded++
		case "failed":
			rec.Failed++
		case "skipped":
			rec.Skipped++
		case "rolled_back":
			rec.RolledBack++
		}
	}
}

// takeUp makes rec the record of its run taken up again, running.
func (rec *runRecord) takeUp() {
	rec.State, rec.Error, rec.Finished = runRunning, "", nil
	unsettle(rec.Steps)
	rec.count()
}

// clone returns a deep copy of rec.
func (rec *runRecord) clone() runRecord {
	c := *rec
	c.Applications = slices.Clone(rec.Applications)
	c.Steps = maps.Clone(rec.Steps)
	if rec.Finished != nil {
		f := *rec.Finished
		c.Finished = &f
	}
	return c
}

// stepEvent is the data of an "event: step".
type stepEvent struct {
	Kind    string          `json:"kind"`
	Step    upgrade.StepID  `json:"step"`
	Node    topology.NodeID `json:"node"`
	Done    int             `json:"done"`
	Total   int             `json:"total"`
	Time    string          `json:"time"`               // RFC 3339, milliseconds
	InDoubt bool            `json:"in_doubt,omitempty"` // a started step that an interrupted run had started
	Error   string          `json:"error,omitempty"`
}

// runState is what the server knows of one run. Its methods are safe for
// concurrent use.
type runState struct {
	saveMu sync.Mutex // held while the record is written: see update
	// epoch tells this server's events of the run from another's (see
	// eventID): a restarted server numbers them from 1 again.
	epoch   string
	mu      sync.Mutex
	rec     runRecord
	events  []stepEvent
	begun   map[upgrade.StepID]time.Time // when each running step started
	cancel  context.CancelCauseFunc      // while the run goes on
	changed chan struct{}                // closed and replaced at every change
	// learnErr is the first error of the inventory learning a step of a
	// database run this server follows (see server.followed), and counted
	// how many of its events the metrics have counted: a run followed
	// again is read again from its first event. Of those, the first
	// superseded are of attempts that ended before the run was taken up
	// again (see server.retryDatabase): read again, they are events of
	// its stream, but the steps' states are the record's (see unsettle).
	learnErr   error
	counted    int
	superseded int
}

func newRunState(rec runRecord) *runState {
	return &runState{epoch: rand.Text()[:8], rec: rec, begun: map[upgrade.StepID]time.Time{}, changed: make(chan struct{})}
}

// eventID returns the ID of the event at index i (from 0), as the
// event stream sends it: the run state's epoch and the event's number.
func (rs *runState) eventID(i int) string { return fmt.Sprintf("%s-%d", rs.epoch, i+1) }

// eventsAfter returns the index of the event that follows the one whose
// ID is last: 0, every event this server has of the run, for an ID it did
// not give (another server's, one from before a restart), so that a
// client sees an event twice rather than misses one.
func (rs *runState) eventsAfter(last string) int {
	epoch, num, ok := strings.Cut(last, "-")
	n, err := strconv.Atoi(num)
	if !ok || epoch != rs.epoch || err != nil || n < 0 {
		return 0
	}
	return n
}

// apiName is a name of the upgrade package as the API spells it:
// "rolled back" is "rolled_back".
func apiName(s fmt.Stringer) string { return strings.ReplaceAll(s.String(), " ", "_") }

// add records an event and returns how long the step took, when ev ends
// one that started in this run.
func (rs *runState) add(ev upgrade.Event) (took time.Duration, ok bool) {
	return rs.addAt(ev, time.Now())
}

// addAt is add for an event that happened at now.
func (rs *runState) addAt(ev upgrade.Event, now time.Time) (took time.Duration, ok bool) {
	se := stepEvent{Kind: apiName(ev.Kind), Step: ev.Step.ID, Node: ev.Step.Node, Done: ev.Done, Total: ev.Total,
		Time: now.UTC().Format(timeFormat), InDoubt: ev.InDoubt}
	if ev.Err != nil {
		se.Error = ev.Err.Error()
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.events = append(rs.events, se)
	if len(rs.events) <= rs.superseded {
		rs.notify()
		return 0, false
	}
	switch ev.Kind {
	case upgrade.StepStarted:
		rs.rec.Steps[ev.Step.ID] = stepRunning
		rs.begun[ev.Step.ID] = now
	case upgrade.StepRetrying:
		rs.rec.Steps[ev.Step.ID] = stepRunning
	case upgrade.StepWaiting: // for another run's step on its node: still pending
	case upgrade.StepRollbackFailed: // left in place: as it was
	case upgrade.StepSucceeded, upgrade.StepFailed:
		rs.rec.Steps[ev.Step.ID] = se.Kind
		if start, found := rs.begun[ev.Step.ID]; found {
			took, ok = now.Sub(start), true
			delete(rs.begun, ev.Step.ID)
		}
	default:
		rs.rec.Steps[ev.Step.ID] = se.Kind
	}
	rs.rec.count()
	rs.notify()
	return took, ok
}

// end records the end of the run, in state with error err and the steps
// inDoubt that its journal leaves started.
func (rs *runState) end(st *stateStore, rep *upgrade.Report, state string, err error, inDoubt []upgrade.StepID) error {
	// The ended record is saved before the run says it has ended, as a
	// resume saves its record before it says it runs: a client that sees
	// the end (the last event, the status), or a server restarted after a
	// crash then, finds the run ended in --state-dir too, not running (a
	// restart took it for interrupted, and --resume ran its last step
	// again, in doubt). A record that cannot be saved is reported, and
	// the run ends all the same: nothing of it is running.
	return rs.update(st, func(rec *runRecord) {
		if rep != nil {
			for _, o := range rep.Outcomes {
				rec.Steps[o.Step] = apiName(o.State)
			}
		}
		for _, id := range inDoubt {
			rec.Steps[id] = stepInDoubt
		}
		settle(rec.Steps)
		rec.State, rec.Error = state, ""
		if err != nil {
			rec.Error = err.Error()
		}
		now := time.Now().UTC()
		rec.Finished = &now
		rec.count()
	}, nil, true)
}

// update saves to st the record that change makes of the run's as it is
// now, then makes it the run's, with cancel (the run's while it runs, nil
// once it has ended), and tells whoever follows the run; but a record
// that could not be saved is the run's only if evenUnsaved, and else the
// run is left as it was. It returns the save's error. Updates and saves
// are serialised, each writing the latest record, so that one begun
// earlier (the end of a run) never replaces a newer record (its resume)
// on disk.
func (rs *runState) update(st *stateStore, change func(*runRecord), cancel context.CancelCauseFunc, evenUnsaved bool) error {
	rs.saveMu.Lock()
	defer rs.saveMu.Unlock()
	rec := rs.status()
	change(&rec)
	err := st.saveRun(&rec)
	if err != nil && !evenUnsaved {
		return err
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.rec, rs.cancel = rec, cancel
	rs.notify()
	return err
}

// save writes the run's record as it is now to st, serialised with its
// updates (see update).
func (rs *runState) save(st *stateStore) error {
	rs.saveMu.Lock()
	defer rs.saveMu.Unlock()
	rec := rs.status()
	return st.saveRun(&rec)
}

func (rs *runState) notify() {
	close(rs.changed)
	rs.changed = make(chan struct{})
}

// since returns the events from index next on, the status if the run has
// ended, and a channel closed at the next change.
func (rs *runState) since(next int) ([]stepEvent, *runRecord, <-chan struct{}) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	var events []stepEvent
	if next < len(rs.events) {
		events = slices.Clone(rs.events[next:])
	}
	var status *runRecord
	if rs.rec.State != runRunning {
		st := rs.rec.clone()
		status = &st
	}
	return events, status, rs.changed
}

func (rs *runState) status() runRecord {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.rec.clone()
}

// journalSteps returns the state of each step that a journal's records
// give: the last record of each step, and "in_doubt" for a step started
// and never finished.
func journalSteps(records []upgrade.Record) map[upgrade.StepID]string {
	steps := map[upgrade.StepID]string{}
	for _, r := range records {
		switch r.Kind {
		case upgrade.RecordStarted, upgrade.RecordRollingBack:
			steps[r.Step] = stepInDoubt
		default:
			steps[r.Step] = string(r.Kind)
		}
	}
	return steps
}

// interrupted turns the record of a run that was running when the server
// stopped into an interrupted one, with the step states its journal
// holds.
func (s *server) interrupted(ctx context.Context, rec *runRecord) {
	rec.State = runInterrupted
	rec.Error = "the server stopped during the run: resume it with POST /v1/runs/" + rec.Run + "/resume"
	j, err := s.state.openJournal(rec.Run)
	if err == nil {
		var records []upgrade.Record
		records, err = j.Begin(ctx, rec.Plan)
		j.Close()
		for id, state := range journalSteps(records) {
			if _, ok := rec.Steps[id]; ok {
				rec.Steps[id] = state
			}
		}
	}
	if err != nil {
		rec.Error += " (its journal: " + err.Error() + ")"
	}
	settle(rec.Steps)
	rec.count()
}

// loadRuns reads the runs of the state directory: the newest
// maxFinishedRuns ended ones and every interrupted one. Runs that were
// running become interrupted.
func (s *server) loadRuns(ctx context.Context) error {
	ids, err := s.state.runIDs()
	if err != nil {
		return fmt.Errorf("state directory %s: %w", s.state.dir, err)
	}
	var recs []*runRecord
	for _, id := range ids {
		rec, err := s.state.loadRun(id)
		if err != nil {
			s.log.Warn("run record skipped", "run", id, "err", err)
			continue
		}
		s.named[rec.Plan] = true
		if rec.Steps == nil {
			rec.Steps = map[upgrade.StepID]string{}
		}
		if rec.State == runRunning && rec.Database {
			// Its workers go on with it: serve --database follows it again.
			rec.State = runInterrupted
			rec.Error = "the server stopped while following this run, which its workers go on with: serve with --database follows it again"
		} else if rec.State == runRunning {
			s.interrupted(ctx, rec)
			if err := s.state.saveRun(rec); err != nil {
				return err
			}
			s.log.Info("run interrupted by the server's stop", "run", rec.Run, "plan", rec.Plan)
		}
		recs = append(recs, rec)
	}
	slices.SortFunc(recs, func(a, b *runRecord) int {
		return cmp.Or(a.Started.Compare(b.Started), strings.Compare(a.Run, b.Run))
	})
	for _, rec := range recs {
		s.runs[rec.Run] = newRunState(*rec)
		if rec.State != runInterrupted {
			s.remember(rec.Run)
		}
	}
	return nil
}

// remember notes that run id has ended, forgetting the oldest ended runs
// beyond s.keep (their records stay in the state directory).
// Interrupted runs are never forgotten. s.mu is held.
func (s *server) remember(id string) {
	s.finished = append(s.finished, id)
	for len(s.finished) > s.keep {
		delete(s.runs, s.finished[0])
		s.finished = s.finished[1:]
	}
}

// listRuns returns the status of the runs the server remembers, newest
// first.
func (s *server) listRuns() []runRecord {
	s.mu.Lock()
	states := slices.Collect(maps.Values(s.runs))
	s.mu.Unlock()
	list := make([]runRecord, 0, len(states))
	for _, rs := range states {
		list = append(list, rs.status())
	}
	slices.SortFunc(list, func(a, b runRecord) int {
		return cmp.Or(b.Started.Compare(a.Started), strings.Compare(b.Run, a.Run))
	})
	return list
}
