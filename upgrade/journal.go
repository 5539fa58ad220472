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
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/stackup/stackup/topology"
)

// Journal records the progress of a run so that a run interrupted by a
// crash can be resumed. See WithJournal.
//
// A Journal belongs to one plan. Its methods are called from one goroutine
// at a time.
type Journal interface {
	// Begin ties the journal to plan id and returns what earlier runs of
	// that plan recorded, oldest first. It returns an error matching
	// ErrPlanMismatch when the journal holds records of another plan; one
	// tied to another plan but holding no record may be taken over, as
	// FileJournal does.
	Begin(ctx context.Context, planID string) ([]Record, error)
	// Append adds r to the journal. It returns only once r is durable:
	// Run starts nothing that depends on r before. Run's cancellation does
	// not cancel ctx: a record says what has happened (a step carried out
	// or undone as the run was cancelled), which a resumed run must know.
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
	// RecordRollingBack is written before a step's Rollback is called: a
	// step whose last record it is may be undone in part, so a resumed
	// run offers it again, in doubt.
	RecordRollingBack RecordKind = "rolling_back"
)

// Record is one line of a journal.
type Record struct {
	Kind RecordKind `json:"kind"`
	Step StepID     `json:"step"`
	Time time.Time  `json:"time"`
}

// More sentinel errors of journals.
var (
	// ErrPlanMismatch reports a journal written for another plan, with
	// records of it (a FileJournal takes over one without).
	ErrPlanMismatch = errors.New("journal belongs to another plan")
	// ErrLocked reports a journal that another live runner holds.
	ErrLocked = errors.New("journal locked")
	// ErrCorruptJournal reports a file that does not start as a journal
	// does, a journal whose header line is damaged or that has a malformed
	// record before its last line, or a record of a kind Run does not know.
	ErrCorruptJournal = errors.New("corrupt journal")
)

// resume reads the journal and marks the steps that succeeded and the one
// in doubt.
func (r *run) resume(ctx context.Context) error {
	records, err := r.cfg.journal.Begin(ctx, r.plan.ID)
	if err != nil || len(records) == 0 {
		return err
	}
	index := make(map[StepID]int, len(r.plan.Steps))
	for i, s := range r.plan.Steps {
		index[s.ID] = i
	}
	state, err := lastRecords(records, index)
	if err != nil {
		return err
	}
	for id, kind := range state {
		i := index[id]
		switch kind {
		case RecordSucceeded:
			r.report.Outcomes[i].State = Succeeded
			r.report.Outcomes[i].Resumed = true
			r.order = append(r.order, i)
			r.finished++
		case RecordStarted, RecordRollingBack:
			r.inDoubt[i] = true
		case RecordFailed:
			if r.failed == nil {
				r.failed = map[int]bool{}
			}
			r.failed[i] = true
		case RecordRolledBack:
			if r.undone == nil {
				r.undone = map[int]bool{}
			}
			r.undone[i] = true
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

// lastRecords returns the kind of each step's last record, refusing a
// record of a step that index, the plan's steps by ID, does not hold, or
// of a kind Run does not know.
func lastRecords(records []Record, index map[StepID]int) (map[StepID]RecordKind, error) {
	state := map[StepID]RecordKind{}
	for _, rec := range records {
		if _, ok := index[rec.Step]; !ok {
			return nil, fmt.Errorf("upgrade: %w: record for unknown step %s: resume the plan it was written for with it, or give this plan a journal of its own (a new file)",
				ErrPlanMismatch, textID(rec.Step))
		}
		switch rec.Kind {
		case RecordStarted, RecordSucceeded, RecordFailed, RecordRollingBack, RecordRolledBack:
		default:
			// Taken for nothing, it would hide what came before it: a
			// step started would no longer be in doubt.
			return nil, fmt.Errorf("upgrade: %w: record of unknown kind %s for step %s: resume with the program that wrote it, or %s", ErrCorruptJournal,
				topology.Quote(string(rec.Kind)), textID(rec.Step), startOver)
		}
		state[rec.Step] = rec.Kind
	}
	return state, nil
}

// startOver says how to go on from a journal that cannot be read, and
// what it costs.
const startOver = "move the journal aside to start over (the steps it records as done would then run again)"

// record appends a record of kind for step i to the journal, if any, with
// ctx's values but not its cancellation (see Journal's Append).
func (r *run) record(ctx context.Context, i int, kind RecordKind) error {
	if r.cfg.journal == nil {
		return nil
	}
	rec := Record{Kind: kind, Step: r.plan.Steps[i].ID, Time: time.Now().UTC()}
	err := r.cfg.journal.Append(context.WithoutCancel(ctx), rec)
	if err == nil {
		return nil
	}
	if je, ours := errors.AsType[*journalError](err); ours && je.rec != nil {
		return err // it names the journal and the step
	}
	return fmt.Errorf("upgrade: journal: %s: %w", recording(rec), err)
}

// FileJournal is a Journal kept in a file: a header line naming the plan,
// then one JSON record per line, each synced to disk before Append
// returns. A torn last line, left by a crash in the middle of a write, is
// ignored and cut off.
//
// The journal file itself is locked with flock(2), so that two runners
// cannot use one journal at once, whatever path, symbolic link or hard
// link each reaches it by; the system releases the lock when its holder's
// process ends, however it ends. A note beside the journal (its name and
// ".lock") names the holder, for the [LockError] of a runner that finds
// the journal locked; it is only a note, never followed when it is a
// symbolic link and never written when it has other links. On systems
// without flock(2) (Windows, Solaris, illumos and AIX among them), the
// lock is not enforced.
//
// A failed write is cut back to the last whole record, so that the
// journal stays readable; a failed sync leaves the journal refusing
// further records until it is opened again, since what reached the disk
// is then unknown.
type FileJournal struct {
	mu   sync.Mutex
	path string
	f    *os.File
	// good is the length of the journal's whole, written records.
	good int64
	// broken, once set, is returned by every later Append.
	broken error
	// note is the holder note written at open, nil when none could be, and
	// notePlace where it is.
	note      os.FileInfo
	notePlace journalPlace
	closed    bool
	// running says that a Run, or a host call it abandoned, has the
	// journal (see claim), and holder what, for the LockError of another
	// Run; closeLater that Close came meanwhile, and left the file open,
	// locked, for unclaim to close.
	running    bool
	holder     string
	closeLater bool
	// begun says that the last Begin succeeded: Append writes only then,
	// after the journal's records, never over its header.
	begun bool
}

// claim takes j for one Run, refusing a second Run at once: the flock
// keeps other FileJournals off the file, and this keeps two Runs off one
// FileJournal, which would each run every step. The hold gives it back
// once the Run, and every host call it abandoned, have ended.
func (j *FileJournal) claim() (*hold, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.running {
		return nil, &LockError{Path: j.path, Holder: j.holder}
	}
	j.running, j.holder = true, "another Run of this process"
	h := &hold{j: j}
	h.n.Store(1)
	return h, nil
}

// unclaim gives j back, and closes it if Close came meanwhile.
func (j *FileJournal) unclaim() {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.running = false
	if j.closeLater {
		j.closeLater = false
		j.closeFile() // Close has returned: no one to tell
	}
}

// A hold keeps a FileJournal claimed for one Run (see claim) until the
// Run and every host call it abandoned have ended: such a call may still
// change its step's node (see WithGracePeriod), and another Run with the
// journal meanwhile would offer the step again, in doubt, while it runs.
// It counts the Run and those calls. A nil hold, a Run's without a
// FileJournal, holds nothing.
type hold struct {
	n atomic.Int64
	j *FileJournal
}

// add counts a host call that the run is abandoning.
func (h *hold) add() {
	if h != nil {
		h.n.Add(1)
	}
}

// done counts the end of the Run, or of a call it abandoned, and gives
// the journal back after the last.
func (h *hold) done() {
	if h != nil && h.n.Add(-1) == 0 {
		h.j.unclaim()
	}
}

// ran counts the end of the Run, whose abandoned calls that have not
// returned hold the journal on.
func (h *hold) ran() {
	if h == nil {
		return
	}
	h.j.mu.Lock()
	h.j.holder = "a call of the host's code that a Run of this process abandoned, which has not returned yet"
	h.j.mu.Unlock()
	h.done()
}

var _ Journal = (*FileJournal)(nil)

type journalHeader struct {
	Plan string `json:"plan"`
}

// headerStart is how every journal begins.
const headerStart = `{"plan":"`

// LockError reports a journal that another runner holds. It matches
// ErrLocked.
type LockError struct {
	Path   string // the journal
	Holder string // "pid 1234 on host-a since 2026-11-24T10:00:00Z"
}

func (e *LockError) Error() string {
	return fmt.Sprintf("upgrade: %v: %s is held by %s: wait for that run to end, or end it, and run again", ErrLocked, e.Path, e.Holder)
}

// Is reports whether target is ErrLocked.
func (e *LockError) Is(target error) bool { return target == ErrLocked }

// journalError is an error of a FileJournal: it names the file, and the
// step whose record it could not keep, if any, and says "upgrade:
// journal" once, however Run wraps it.
type journalError struct {
	path string
	err  error
	rec  *Record // the record Append could not keep, or nil
}

func (e *journalError) Error() string {
	if e.rec != nil {
		return fmt.Sprintf("upgrade: journal %s: %s: %v", e.path, recording(*e.rec), e.err)
	}
	return fmt.Sprintf("upgrade: journal %s: %v", e.path, e.err)
}

func (e *journalError) Unwrap() error { return e.err }

// recording says which record a journal could not keep: "recording step
// a as started", the step's ID as the runner's other errors give it (see
// textID).
func recording(r Record) string {
	return fmt.Sprintf("recording step %s as %s", textID(r.Step), textID(r.Kind))
}

// OpenFileJournal opens the journal at path, creating it if need be, and
// takes its lock; a live holder gives a *LockError naming it. A new
// journal is created without following a symbolic link; an existing one
// must be a regular file. Close releases the lock. A program that removes
// a journal does so before Close, while it holds the lock: a journal
// removed then is never the one another runner holds.
func OpenFileJournal(path string) (*FileJournal, error) {
	return openFileJournal(journalPlace{name: path})
}

// OpenFileJournalIn is OpenFileJournal for the journal name in root,
// for a program that keeps journals in a directory others may write to
// (a server's state directory): the journal is opened, or created, inside
// root only, and never through a symbolic link: a link, a named pipe or
// anything else but a regular file planted under name is refused, as is a
// name that leaves root. Its holder note, beside it, is kept as
// OpenFileJournal keeps it.
func OpenFileJournalIn(root *os.Root, name string) (*FileJournal, error) {
	return openFileJournal(journalPlace{root: root, name: name})
}

// journalPlace is where a journal is: a path (root nil), or a name in
// root.
type journalPlace struct {
	root *os.Root
	name string
}

// path is the journal's path, which messages name and its holder note is
// beside.
func (p journalPlace) path() string {
	if p.root == nil {
		return p.name
	}
	return filepath.Join(p.root.Name(), filepath.FromSlash(p.name))
}

// open opens the journal's file with flag. In a root, which follows a
// symbolic link that stays inside it, the name must not be one, nor
// anything else but a regular file: see also stat.
func (p journalPlace) open(flag int, perm os.FileMode) (*os.File, error) {
	if p.root == nil {
		return os.OpenFile(p.name, flag, perm)
	}
	if info, err := p.root.Lstat(p.name); err == nil && !info.Mode().IsRegular() {
		return nil, fmt.Errorf("not a regular file (%s)", info.Mode().Type())
	}
	return p.root.OpenFile(p.name, flag, perm)
}

// stat describes the file at the journal's place now: the one a path
// leads to, or, in a root, the name itself, so that a file opened
// through a link swapped in meanwhile is not the one at the place.
func (p journalPlace) stat() (os.FileInfo, error) {
	if p.root == nil {
		return os.Stat(p.name)
	}
	return p.root.Lstat(p.name)
}

// lstat describes the file at the place itself, not following a link.
func (p journalPlace) lstat() (os.FileInfo, error) {
	if p.root == nil {
		return os.Lstat(p.name)
	}
	return p.root.Lstat(p.name)
}

// note is the place of the journal's holder note, beside it: in its root,
// if it has one, which a planted link cannot lead out of.
func (p journalPlace) note() journalPlace {
	return journalPlace{root: p.root, name: p.name + ".lock"}
}

func (p journalPlace) remove() error {
	if p.root == nil {
		return os.Remove(p.name)
	}
	return p.root.Remove(p.name)
}

// syncDir syncs the directory that holds the journal, so that a new
// name in it outlives a power loss. Windows cannot sync a directory.
func (p journalPlace) syncDir() error {
	if runtime.GOOS == "windows" {
		return nil
	}
	open := os.Open
	if p.root != nil {
		open = p.root.Open
	}
	d, err := open(filepath.Dir(filepath.FromSlash(p.name)))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// openFileJournal is OpenFileJournal for the journal at p.
func openFileJournal(p journalPlace) (*FileJournal, error) {
	path := p.path()
	for range 10 {
		f, err := openJournalFile(p)
		if err != nil {
			return nil, &journalError{path: path, err: err}
		}
		if err := tryLock(f); err != nil {
			f.Close()
			if errors.Is(err, errLockHeld) {
				return nil, &LockError{Path: path, Holder: describeHolder(readNote(p.note()))}
			}
			return nil, &journalError{path: path, err: fmt.Errorf("lock: %w", err)}
		}
		// A runner that held the file may have removed it between the
		// open and the lock: a lock on it would keep no one off the path.
		if atPlace(f, p) {
			return &FileJournal{path: path, f: f, notePlace: p.note(), note: writeNote(p.note())}, nil
		}
		f.Close()
	}
	return nil, &LockError{Path: path, Holder: "another runner, which removed or replaced the journal each time it was locked"}
}

// atPlace reports whether f is the file at p.
func atPlace(f *os.File, p journalPlace) bool {
	held, err := f.Stat()
	if err != nil {
		return false
	}
	now, err := p.stat()
	return err == nil && os.SameFile(held, now)
}

// openJournalFile opens the regular file at p for reading and writing,
// or creates it, refusing to create it through a symbolic link.
func openJournalFile(p journalPlace) (*os.File, error) {
	for range 3 {
		f, err := p.open(os.O_RDWR, 0)
		if errors.Is(err, os.ErrNotExist) {
			// O_EXCL fails on any existing name, a dangling link among them.
			f, err = p.open(os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600) // errors in it may hold what commands printed
			if errors.Is(err, os.ErrExist) {
				continue // created since, or a dangling link: look again
			}
			if err == nil {
				// The new name must outlive a power loss as the records
				// do, or a resumed run would find no journal at all.
				if err = p.syncDir(); err != nil {
					f.Close()
					p.remove()
					return nil, fmt.Errorf("making the new journal durable: %w", err)
				}
			}
		}
		if err != nil {
			return nil, err
		}
		info, err := f.Stat()
		if err == nil && !info.Mode().IsRegular() {
			err = fmt.Errorf("not a regular file (%s)", info.Mode().Type())
		}
		if err != nil {
			f.Close()
			return nil, err
		}
		return f, nil
	}
	return nil, errors.New("a dangling symbolic link, or a file appearing and disappearing: give the path of a journal or of a new file")
}

type lockInfo struct {
	PID   int       `json:"pid"`
	Host  string    `json:"host"`
	Since time.Time `json:"since"`
}

// errLockHeld is what tryLock returns when another holds the lock.
var errLockHeld = errors.New("lock held")

// maxNote bounds what is read of a holder note.
const maxNote = 4 << 10

// writeNote writes who holds the journal into the note at path, and
// returns what it wrote to, or nil when it wrote nothing: it does not
// follow a symbolic link and does not write into a file with other links.
func writeNote(p journalPlace) os.FileInfo {
	f, err := openNote(p, true)
	if err != nil {
		return nil
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil || !info.Mode().IsRegular() || linkCount(info) != 1 {
		return nil
	}
	host, _ := os.Hostname()
	me, _ := json.Marshal(lockInfo{PID: os.Getpid(), Host: host, Since: time.Now().UTC()})
	if f.Truncate(0) != nil {
		return nil
	}
	if _, err := f.WriteAt(append(me, '\n'), 0); err != nil {
		return nil
	}
	return info
}

// readNote returns the start of the holder note at path, or nothing.
func readNote(p journalPlace) []byte {
	f, err := openNote(p, false)
	if err != nil {
		return nil
	}
	defer f.Close()
	data, _ := io.ReadAll(io.LimitReader(f, maxNote))
	return data
}

func describeHolder(data []byte) string {
	var holder lockInfo
	if json.Unmarshal(data, &holder) == nil && holder.PID != 0 {
		// Anyone who may write beside the journal may have written the
		// note: a host that is not a plain name is quoted.
		return fmt.Sprintf("pid %d on %s since %s", holder.PID, textID(holder.Host), holder.Since.Format(time.RFC3339))
	}
	if s := strings.TrimSpace(string(data)); s != "" {
		return strconv.Quote(s)
	}
	return "another runner"
}

// Begin implements Journal. On a new journal it writes the header; on an
// existing one it checks the header's plan ID, reads the records and cuts
// off a torn last line; it starts afresh on a torn header, NULs alone
// among them. A journal of another plan that records no step (its run
// ended before the first, refused as a stale plan, say) is taken over:
// its header is rewritten for planID. One that records a step is refused
// with an error matching ErrPlanMismatch, unchanged. Any other file that
// does not start as a journal does is refused, unchanged, with an error
// matching ErrCorruptJournal; a plan without an ID, or with one that is
// not UTF-8, is refused with one matching ErrInvalidPlan, as its journal
// could not be resumed.
func (j *FileJournal) Begin(_ context.Context, planID string) ([]Record, error) {
	if err := checkJournalPlanID(planID); err != nil {
		return nil, err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return nil, &journalError{path: j.path, err: errJournalClosed}
	}
	j.begun = false
	data, err := j.readAll()
	if err != nil {
		return nil, err
	}
	if err := j.checkStart(data); err != nil {
		return nil, err
	}
	if len(data) == 0 || bytes.IndexByte(data, '\n') < 0 {
		// New, or only a torn header: start afresh.
		if err := j.start(planID); err != nil {
			return nil, err
		}
		j.begun = true
		return nil, nil
	}
	lines := bytes.SplitAfter(data, []byte("\n"))
	if err := j.checkHeader(lines[0], planID); err != nil {
		if !errors.Is(err, ErrPlanMismatch) || !j.recordsNothing(lines[1:]) {
			return nil, err
		}
		// Another plan's, but no step of it was recorded, let alone
		// started: nothing is lost by taking it over. Emptied durably
		// first, so that a crash while the header is rewritten leaves it
		// empty or torn (read back as a new journal) or whole, never the
		// new header's start over the old one's end.
		if err := j.takeOver(planID); err != nil {
			return nil, err
		}
		j.begun = true
		return nil, nil
	}
	records, size, err := j.readRecords(lines[1:])
	if err != nil {
		return nil, err
	}
	if err := j.cut(int64(len(lines[0]) + size)); err != nil {
		return nil, &journalError{path: j.path, err: err}
	}
	j.begun = true
	return records, nil
}

// checkJournalPlanID refuses a plan ID that a file journal cannot keep
// by, as its journal could not be resumed.
func checkJournalPlanID(planID string) error {
	if planID == "" { // the header names the plan: one without an ID could never be resumed
		return fmt.Errorf("upgrade: %w: the plan has no ID, which a file journal is kept by: set Plan.ID to Plan.ComputeID()", ErrInvalidPlan)
	}
	if !utf8.ValidString(planID) { // JSON would keep another ID, and the journal would never be resumed
		return fmt.Errorf("upgrade: %w: the plan ID %s is not UTF-8, which a file journal cannot keep: set Plan.ID to Plan.ComputeID()", ErrInvalidPlan, topology.Quote(planID))
	}
	return nil
}

// checkStart refuses data, the whole file, when it does not start as a
// journal does, whole or torn.
func (j *FileJournal) checkStart(data []byte) error {
	// NULs alone are what some file systems (XFS, ext4 with
	// data=writeback) leave of a new journal's header after a power loss:
	// torn, as a header cut short is.
	zeroed := len(bytes.Trim(data, "\x00")) == 0
	if !zeroed && !bytes.HasPrefix(data, []byte(headerStart)) && !bytes.HasPrefix([]byte(headerStart), data) {
		return fmt.Errorf("upgrade: %w: %s is not a journal (it does not start with a journal header); give the path of a journal or of a new file", ErrCorruptJournal, j.path)
	}
	return nil
}

// readAll reads the whole file, from its start.
func (j *FileJournal) readAll() ([]byte, error) {
	if _, err := j.f.Seek(0, io.SeekStart); err != nil {
		return nil, &journalError{path: j.path, err: err}
	}
	data, err := io.ReadAll(j.f)
	if err != nil {
		return nil, &journalError{path: j.path, err: err}
	}
	return data, nil
}

// checkHeader refuses a header line that is not a journal header or that
// names another plan than planID.
func (j *FileJournal) checkHeader(line []byte, planID string) error {
	var header journalHeader
	if err := json.Unmarshal(line, &header); err != nil || header.Plan == "" {
		return fmt.Errorf("upgrade: %w: %s: bad header line, so the plan it was written for is unknown; give the path of a journal or of a new file", ErrCorruptJournal, j.path)
	}
	if header.Plan != planID {
		return fmt.Errorf("upgrade: %w: %s was written for plan %s, not %s: resume that plan with it, or give this plan a journal of its own (a new file)",
			ErrPlanMismatch, j.path, textID(header.Plan), textID(planID))
	}
	return nil
}

// recordsNothing reports whether lines, those after the header, hold no
// record known to be durable: none, or a torn last line alone.
func (j *FileJournal) recordsNothing(lines [][]byte) bool {
	records, _, err := j.readRecords(lines)
	return err == nil && len(records) == 0
}

// readRecords decodes the lines after the header up to the first one not
// known to be durable (a torn or unterminated last line) and returns the
// records with the number of bytes they take; a bad line before the last
// is refused.
func (j *FileJournal) readRecords(lines [][]byte) ([]Record, int, error) {
	var records []Record
	size := 0
	last := len(lines) - 1
	if last > 0 && len(lines[last]) == 0 {
		last-- // the file ends with a line break
	}
	for n, line := range lines {
		var rec Record
		complete := bytes.HasSuffix(line, []byte("\n"))
		if err := json.Unmarshal(line, &rec); err != nil || rec.Step == "" || rec.Kind == "" {
			if n >= last {
				// A torn last line: cut short, or, its line break written
				// and synced before the page holding its start (zeros
				// then a line break), not a record. It was never acted on.
				break
			}
			return nil, 0, fmt.Errorf("upgrade: %w: %s line %d is not a record, and records follow it: %s", ErrCorruptJournal, j.path, n+2, startOver)
		}
		if !complete {
			break // whole JSON but no newline: not known to be durable
		}
		records = append(records, rec)
		size += len(line)
	}
	return records, size, nil
}

// cut truncates the journal to its first n bytes and sets the offset
// there.
func (j *FileJournal) cut(n int64) error {
	if err := j.f.Truncate(n); err != nil {
		return err
	}
	if _, err := j.f.Seek(n, io.SeekStart); err != nil {
		return err
	}
	j.good = n
	return nil
}

// takeOver empties the file, durably, and writes the header for planID.
func (j *FileJournal) takeOver(planID string) error {
	if err := j.cut(0); err != nil {
		return &journalError{path: j.path, err: err}
	}
	if err := j.f.Sync(); err != nil {
		return &journalError{path: j.path, err: fmt.Errorf("taking over the journal of another plan, which recorded nothing: %w", err)}
	}
	return j.start(planID)
}

// start empties the file and writes the header.
func (j *FileJournal) start(planID string) error {
	if err := j.cut(0); err != nil {
		return &journalError{path: j.path, err: err}
	}
	header, _ := json.Marshal(journalHeader{Plan: planID})
	return j.write(append(header, '\n'))
}

// Append implements Journal: it writes r as one line and syncs the file.
// It refuses a record whose step ID is not UTF-8, which JSON cannot
// keep, and to write before a Begin that succeeded, which would write
// over the journal's header and records, or into a journal Begin refused.
//
// Its errors name the journal and the record's step.
func (j *FileJournal) Append(_ context.Context, r Record) error {
	if err := j.append(r); err != nil {
		var je *journalError
		if !errors.As(err, &je) {
			je = &journalError{path: j.path, err: err}
		}
		named := *je
		named.rec = &r
		return &named
	}
	return nil
}

// append is Append, its errors not naming the record.
func (j *FileJournal) append(r Record) error {
	if !utf8.ValidString(string(r.Step)) || !utf8.ValidString(string(r.Kind)) {
		// JSON would keep another ID, or kind: the record would not be
		// read back as written.
		return errors.New("the record is not UTF-8, which the journal cannot keep")
	}
	line, err := json.Marshal(r)
	if err != nil {
		return err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return errJournalClosed
	}
	if !j.begun {
		return errors.New("Append before a Begin that succeeded: the journal is tied to no plan, and the record would go over what it holds")
	}
	return j.write(append(line, '\n'))
}

// write appends line and syncs the file. A failed write is cut back to the
// last whole record; a failed sync, or a failed cut, makes the journal
// refuse every later line.
func (j *FileJournal) write(line []byte) error {
	if j.broken != nil {
		return j.broken
	}
	if _, err := j.f.Write(line); err != nil {
		if cerr := j.cut(j.good); cerr != nil {
			j.broken = &journalError{path: j.path, err: fmt.Errorf("a write failed (%v) and cutting back to the last whole record failed too (%v): open the journal again to resume", err, cerr)}
			return j.broken
		}
		return &journalError{path: j.path, err: fmt.Errorf("the record was not written, and the journal is cut back to its last whole record: %w", err)}
	}
	if err := j.f.Sync(); err != nil {
		j.broken = &journalError{path: j.path, err: fmt.Errorf("sync failed, so what reached the disk is unknown; it takes no more records until opened again: %w", err)}
		return j.broken
	}
	j.good += int64(len(line))
	return nil
}

// errJournalClosed is what Begin and Append return once Close was
// called: the file is closed, and its lock, which kept other runners off
// it, is gone.
var errJournalClosed = fmt.Errorf("the journal is closed (%w): open it again with OpenFileJournal to run a plan with it, as Close gave up its lock", os.ErrClosed)

// Close closes the file, which releases the lock, and removes the holder
// note it wrote. Closing again does nothing; Begin and Append then fail,
// with an error matching os.ErrClosed. While a Run has the journal, or a
// call of the host's code that a Run abandoned has not returned (see
// WithGracePeriod), Close leaves the file open and locked until it ends,
// so that no other runner resumes the plan while the call may still
// change its node.
func (j *FileJournal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return nil
	}
	j.closed = true
	if j.running {
		j.closeLater = true
		return nil
	}
	return j.closeFile()
}

// closeFile removes the holder note and closes the file. Called with mu
// held.
func (j *FileJournal) closeFile() error {
	if j.note != nil {
		// Remove the note while holding the lock, and only if it is ours.
		if now, err := j.notePlace.lstat(); err == nil && os.SameFile(now, j.note) {
			j.notePlace.remove()
		}
	}
	if err := j.f.Close(); err != nil {
		return &journalError{path: j.path, err: err}
	}
	return nil
}
