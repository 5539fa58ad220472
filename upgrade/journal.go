package upgrade

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

// Journal records the progress of a run so that a run interrupted by a
// crash can be resumed. See WithJournal.
//
// A Journal belongs to one plan. Its methods are called from one goroutine
// at a time.
type Journal interface {
	// Begin ties the journal to plan id and returns what earlier runs of
	// that plan recorded, oldest first. It returns an error matching
	// ErrPlanMismatch when the journal was written for another plan.
	Begin(ctx context.Context, planID string) ([]Record, error)
	// Append adds r to the journal. It returns only once r is durable:
	// Run starts nothing that depends on r before.
	Append(ctx context.Context, r Record) error
}

// RecordKind says what a journal record records.
type RecordKind string

// The record kinds.
const (
	RecordStarted    RecordKind = "started"
	RecordSucceeded  RecordKind = "succeeded"
	RecordFailed     RecordKind = "failed"
	RecordRolledBack RecordKind = "rolled_back"
)

// Record is one line of a journal.
type Record struct {
	Kind RecordKind `json:"kind"`
	Step StepID     `json:"step"`
	Time time.Time  `json:"time"`
}

// More sentinel errors of journals.
var (
	// ErrPlanMismatch reports a journal written for another plan.
	ErrPlanMismatch = errors.New("journal belongs to another plan")
	// ErrLocked reports a journal that another live runner holds.
	ErrLocked = errors.New("journal locked")
	// ErrCorruptJournal reports a journal with a malformed record before
	// its last line.
	ErrCorruptJournal = errors.New("corrupt journal")
)

// resume reads the journal and marks the steps that succeeded and the one
// in doubt.
func (r *run) resume(ctx context.Context, index map[StepID]int) error {
	records, err := r.cfg.journal.Begin(ctx, r.plan.ID)
	if err != nil {
		return err
	}
	state := map[StepID]RecordKind{}
	for _, rec := range records {
		if _, ok := index[rec.Step]; !ok {
			return fmt.Errorf("upgrade: %w: record for unknown step %s", ErrPlanMismatch, rec.Step)
		}
		state[rec.Step] = rec.Kind
	}
	for id, kind := range state {
		i := index[id]
		switch kind {
		case RecordSucceeded:
			r.report.Outcomes[i].State = Succeeded
			r.report.Outcomes[i].Resumed = true
			r.order = append(r.order, i)
			r.finished++
		case RecordStarted:
			r.inDoubt[i] = true
		}
	}
	// Keep the completion order of earlier runs for a rollback.
	pos := map[int]int{}
	for k, rec := range records {
		if rec.Kind == RecordSucceeded {
			pos[index[rec.Step]] = k
		}
	}
	slices.SortFunc(r.order, func(a, b int) int { return cmp.Compare(pos[a], pos[b]) })
	return nil
}

func (r *run) record(ctx context.Context, i int, kind RecordKind) error {
	if r.cfg.journal == nil {
		return nil
	}
	if err := r.cfg.journal.Append(ctx, Record{Kind: kind, Step: r.plan.Steps[i].ID, Time: time.Now().UTC()}); err != nil {
		return fmt.Errorf("upgrade: journal: %w", err)
	}
	return nil
}

// FileJournal is a Journal kept in a file: a header line naming the plan,
// then one JSON record per line, each synced to disk before Append
// returns. A torn last line, left by a crash in the middle of a write, is
// ignored and cut off.
//
// A lock file beside the journal (its name and ".lock") stops two runners
// from using one journal at once. It is held with flock(2), so the system
// releases it when its holder's process ends, however it ends; a lock left
// by a dead process is then taken over. The file names its holder. On
// systems without flock(2) (Windows, Solaris, illumos and AIX among
// them), the lock is not enforced.
type FileJournal struct {
	mu       sync.Mutex
	path     string
	f        *os.File
	lock     *os.File
	lockPath string
	closed   bool
}

var _ Journal = (*FileJournal)(nil)

type journalHeader struct {
	Plan string `json:"plan"`
}

// LockError reports a journal that another runner holds. It matches
// ErrLocked.
type LockError struct {
	Path   string
	Holder string // "pid 1234 on host-a since 2026-11-24T10:00:00Z"
}

func (e *LockError) Error() string {
	return fmt.Sprintf("upgrade: %v: %s is held by %s", ErrLocked, e.Path, e.Holder)
}

// Is reports whether target is ErrLocked.
func (e *LockError) Is(target error) bool { return target == ErrLocked }

// OpenFileJournal opens the journal at path, creating it if need be, and
// takes its lock; a live holder gives a *LockError naming it. Close
// releases the lock.
func OpenFileJournal(path string) (*FileJournal, error) {
	lockPath := path + ".lock"
	lock, err := takeLock(lockPath)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		releaseLock(lock, lockPath)
		return nil, fmt.Errorf("upgrade: journal: %w", err)
	}
	return &FileJournal{path: path, f: f, lock: lock, lockPath: lockPath}, nil
}

type lockInfo struct {
	PID   int       `json:"pid"`
	Host  string    `json:"host"`
	Since time.Time `json:"since"`
}

// errLockHeld is what tryLock returns when another holds the lock.
var errLockHeld = errors.New("lock held")

// takeLock opens and locks the lock file and writes who holds it. The file
// can be removed by a holder releasing it between our open and our lock:
// then it is a stale inode, and we start again.
func takeLock(path string) (*os.File, error) {
	for range 10 {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return nil, fmt.Errorf("upgrade: journal lock: %w", err)
		}
		if err := tryLock(f); err != nil {
			data, _ := io.ReadAll(io.LimitReader(f, 4<<10))
			f.Close()
			if errors.Is(err, errLockHeld) {
				return nil, &LockError{Path: path, Holder: describeHolder(data)}
			}
			return nil, fmt.Errorf("upgrade: journal lock: %w", err)
		}
		held, err1 := f.Stat()
		now, err2 := os.Stat(path)
		if err1 != nil || err2 != nil || !os.SameFile(held, now) {
			f.Close() // locked a file that is no longer the lock file
			continue
		}
		host, _ := os.Hostname()
		me, _ := json.Marshal(lockInfo{PID: os.Getpid(), Host: host, Since: time.Now().UTC()})
		err = f.Truncate(0)
		if err == nil {
			_, err = f.WriteAt(append(me, '\n'), 0)
		}
		if err == nil {
			err = f.Sync()
		}
		if err != nil {
			releaseLock(f, path)
			return nil, fmt.Errorf("upgrade: journal lock: %w", err)
		}
		return f, nil
	}
	return nil, &LockError{Path: path, Holder: "runners taking and releasing it faster than it can be taken"}
}

func describeHolder(data []byte) string {
	var holder lockInfo
	if json.Unmarshal(data, &holder) == nil && holder.PID != 0 {
		return fmt.Sprintf("pid %d on %s since %s", holder.PID, holder.Host, holder.Since.Format(time.RFC3339))
	}
	if s := strings.TrimSpace(string(data)); s != "" {
		return s
	}
	return "a runner that has not yet written its name"
}

// releaseLock removes the lock file while still holding it, then lets it
// go, so that no one can lock a file that is about to disappear.
func releaseLock(f *os.File, path string) error {
	err := os.Remove(path)
	if errors.Is(err, os.ErrNotExist) {
		err = nil
	}
	return errors.Join(err, f.Close())
}

// Begin implements Journal. On a new journal it writes the header; on an
// existing one it checks the header's plan ID, reads the records and cuts
// off a torn last line.
func (j *FileJournal) Begin(_ context.Context, planID string) ([]Record, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if _, err := j.f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(j.f)
	if err != nil {
		return nil, fmt.Errorf("upgrade: journal: %w", err)
	}
	if len(data) == 0 || bytes.IndexByte(data, '\n') < 0 {
		// New, or only a torn header: start afresh.
		return nil, j.start(planID)
	}
	lines := bytes.SplitAfter(data, []byte("\n"))
	var header journalHeader
	if err := json.Unmarshal(lines[0], &header); err != nil || header.Plan == "" {
		return nil, fmt.Errorf("upgrade: %w: %s: bad header line", ErrCorruptJournal, j.path)
	}
	if header.Plan != planID {
		return nil, fmt.Errorf("upgrade: %w: %s was written for plan %s, not %s", ErrPlanMismatch, j.path, header.Plan, planID)
	}
	var records []Record
	good := len(lines[0])
	for n, line := range lines[1:] {
		var rec Record
		complete := bytes.HasSuffix(line, []byte("\n"))
		if err := json.Unmarshal(line, &rec); err != nil || rec.Step == "" || rec.Kind == "" {
			if !complete && n == len(lines)-2 {
				break // a torn last line
			}
			return nil, fmt.Errorf("upgrade: %w: %s line %d", ErrCorruptJournal, j.path, n+2)
		}
		if !complete {
			break // whole JSON but no newline: not known to be durable
		}
		records = append(records, rec)
		good += len(line)
	}
	if good < len(data) {
		if err := j.f.Truncate(int64(good)); err != nil {
			return nil, fmt.Errorf("upgrade: journal: %w", err)
		}
	}
	if _, err := j.f.Seek(int64(good), io.SeekStart); err != nil {
		return nil, fmt.Errorf("upgrade: journal: %w", err)
	}
	return records, nil
}

// start empties the file and writes the header.
func (j *FileJournal) start(planID string) error {
	if err := j.f.Truncate(0); err != nil {
		return fmt.Errorf("upgrade: journal: %w", err)
	}
	if _, err := j.f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("upgrade: journal: %w", err)
	}
	header, _ := json.Marshal(journalHeader{Plan: planID})
	return j.write(append(header, '\n'))
}

// Append implements Journal: it writes r as one line and syncs the file.
func (j *FileJournal) Append(_ context.Context, r Record) error {
	line, err := json.Marshal(r)
	if err != nil {
		return err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.write(append(line, '\n'))
}

func (j *FileJournal) write(line []byte) error {
	if _, err := j.f.Write(line); err != nil {
		return fmt.Errorf("upgrade: journal: %w", err)
	}
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("upgrade: journal: %w", err)
	}
	return nil
}

// Close closes the file and releases the lock. Closing again does
// nothing.
func (j *FileJournal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return nil
	}
	j.closed = true
	return errors.Join(j.f.Close(), releaseLock(j.lock, j.lockPath))
}
