package main

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/stackup/stackup/upgrade"
)

// stateStore is serve's state directory: the plans posted for review
// and the runs, each a record and a journal. Every file is reached
// through an os.Root, and a name comes from an ID only once the ID is
// checked (planFile, runFile), so that no ID a client sends can name a
// file elsewhere.
//
// Layout:
//
//	plans/sha256-HEX.json   a reviewed plan (schema stackup.plan/v3)
//	runs/ID.json            a run's record (runRecord)
//	runs/ID.journal         its journal (upgrade.FileJournal)
//	lock                    flocked by the server that has the directory open
type stateStore struct {
	dir  string // the directory, as given
	root *os.Root
	lock *os.File // flocked while the store is open: one server per directory
}

// errNoEntry reports a plan or run the state directory does not hold.
var errNoEntry = errors.New("not in the state directory")

// openStateDir opens the state directory dir, creating it (0700) if it
// does not exist. It refuses a symbolic link or anything but a directory,
// and, marked for exit code 1, a directory another server holds.
func openStateDir(dir string) (*stateStore, error) {
	if dir == "" {
		return nil, errors.New("--state-dir: give the directory that keeps plans and runs, such as --state-dir /var/lib/stackup")
	}
	// Cleaned, as "link/" or "link/." would have Lstat follow a link.
	clean := filepath.Clean(dir)
	fi, err := os.Lstat(clean)
	if errors.Is(err, fs.ErrNotExist) {
		if err = os.Mkdir(clean, 0o700); err == nil {
			fi, err = os.Lstat(clean)
		} else if errors.Is(err, fs.ErrNotExist) { // serve makes the last directory only
			return nil, fmt.Errorf("--state-dir %s: the directory %s does not exist: create it, or give a path in one that does", dir, filepath.Dir(dir))
		}
	}
	if err != nil {
		return nil, fmt.Errorf("--state-dir: %w", err)
	}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		return nil, fmt.Errorf("--state-dir %s is a symbolic link: give the directory it points to", dir)
	case !fi.IsDir():
		return nil, fmt.Errorf("--state-dir %s is not a directory: give the path of a directory, or of one for the server to create", dir)
	}
	if err := checkPrivate(dir, fi); err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(clean)
	if err != nil {
		return nil, fmt.Errorf("--state-dir: %w", err)
	}
	for _, sub := range []string{"plans", "runs"} { // all checked before anything is made
		if fi, err := root.Lstat(sub); err == nil && fi.IsDir() {
			if err := checkPrivate(filepath.Join(dir, sub), fi); err != nil {
				root.Close()
				return nil, err
			}
		}
	}
	for _, sub := range []string{"plans", "runs"} {
		if err := root.Mkdir(sub, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			root.Close()
			return nil, fmt.Errorf("--state-dir: %w", err)
		}
		if fi, err := root.Lstat(sub); err != nil || !fi.IsDir() {
			root.Close()
			return nil, fmt.Errorf("--state-dir: %s is not a directory", filepath.Join(dir, sub))
		}
	}
	// Two servers on one directory would each prune the other's plans and
	// take up each other's runs: the second is refused.
	lock, err := openRegular(root, "lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		root.Close()
		return nil, fmt.Errorf("--state-dir: %w", err)
	}
	held, err := tryLockFile(lock)
	if err == nil && held { // busy, not invalid: exit 1, as apply on a deployment another apply holds
		err = failedErr(fmt.Errorf("--state-dir %s is in use by another stackup serve: give each server its own state directory", dir))
	}
	if err != nil {
		lock.Close()
		root.Close()
		return nil, err
	}
	return &stateStore{dir: dir, root: root, lock: lock}, nil
}

// checkPrivate refuses dir, a directory of the state (fi describes it),
// when another user of the host could put files in it, and so plant plans
// and runs that serve would list, resume and run: when others can write in
// it, or when it belongs to another user but root (one made in /tmp ahead
// of serve, whose owner can rename what serve keeps in it away).
func checkPrivate(dir string, fi os.FileInfo) error {
	if perm := fi.Mode().Perm(); runtime.GOOS != "windows" && perm&0o002 != 0 {
		return fmt.Errorf("--state-dir: %s: other users can write in it (mode %04o), and plant plans and runs: chmod o-w %s", dir, perm, dir)
	}
	if uid, ok := fileOwner(fi); ok && uid != 0 && uid != os.Geteuid() {
		return fmt.Errorf("--state-dir: %s: it belongs to user %d, who can replace what serve keeps in it: give a directory of your own", dir, uid)
	}
	return nil
}

// Close releases and closes the directory.
func (st *stateStore) Close() error { return errors.Join(st.lock.Close(), st.root.Close()) }

var (
	planIDPattern = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
	runIDPattern  = regexp.MustCompile(`^[A-Z2-7]{26}$`) // rand.Text
)

// planIDError reports a plan ID that is not one.
type planIDError struct{ ID string }

func (e *planIDError) Error() string {
	return fmt.Sprintf("plan ID %q is not a plan ID: one is \"sha256:\" and 64 lower-case hex digits, as POST /v1/plans answers", truncate(e.ID))
}

// runIDError reports a run ID that is not one.
type runIDError struct{ ID string }

func (e *runIDError) Error() string {
	return fmt.Sprintf("run ID %q is not a run ID: one is 26 characters A-Z and 2-7, as an apply answers", truncate(e.ID))
}

// planFile returns the name of the file of plan id, or a *planIDError.
func planFile(id string) (string, error) {
	if !planIDPattern.MatchString(id) {
		return "", &planIDError{id}
	}
	return "plans/sha256-" + strings.TrimPrefix(id, "sha256:") + ".json", nil
}

// runFile returns the name of run id's file with extension ext, or a
// *runIDError.
func runFile(id, ext string) (string, error) {
	if !runIDPattern.MatchString(id) {
		return "", &runIDError{id}
	}
	return "runs/" + id + ext, nil
}

// writeFile writes data to name atomically (see writeAtomicIn: a
// temporary file of a random name, synced, renamed over name), readable by
// the owner only.
func (st *stateStore) writeFile(name string, data []byte) error {
	if err := writeAtomicIn(st.root, name, name, data, 0o600); err != nil {
		return fmt.Errorf("state directory %s: %w", st.dir, err)
	}
	return nil
}

// maxRecord is the size of the largest run record read.
const maxRecord = 16 << 20

// readFile reads name, a regular file of at most limit bytes: a symbolic
// link or a named pipe planted there is refused (see openRegular), at
// once.
func (st *stateStore) readFile(name string, limit int64) ([]byte, error) {
	f, err := openRegular(st.root, name, os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errNoEntry
	}
	if err != nil {
		return nil, fmt.Errorf("state directory %s: %w", st.dir, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err == nil && int64(len(data)) > limit {
		err = fmt.Errorf("%s in the state directory is larger than %d bytes", name, limit)
	}
	return data, err
}

// savePlan stores plan under its ID, unless already there, when it
// only makes the file's time now: prunePlans removes the plans stored
// longest ago, and one posted again is as new as its last post. created
// says whether it wrote the plan's file.
func (st *stateStore) savePlan(plan *upgrade.Plan) (created bool, err error) {
	name, err := planFile(plan.ID)
	if err != nil {
		return false, err
	}
	if info, err := st.root.Lstat(name); err == nil { // plans with one ID are the same
		if !info.Mode().IsRegular() { // which loadPlan would refuse: the plan would be lost
			return false, fmt.Errorf("state directory %s: %s is not a regular file (%s): remove it", st.dir, name, fileKind(info.Mode()))
		}
		now := time.Now()
		if err := st.root.Chtimes(name, now, now); err != nil {
			return false, fmt.Errorf("state directory %s: %w", st.dir, err)
		}
		return false, nil
	}
	var b bytes.Buffer
	if err := plan.WriteJSON(&b); err != nil {
		return false, err
	}
	if err := st.writeFile(name, b.Bytes()); err != nil {
		return false, err
	}
	return true, nil
}

// removePlan removes the plan stored under id, if there is one.
func (st *stateStore) removePlan(id string) error {
	name, err := planFile(id)
	if err != nil {
		return err
	}
	if err := st.root.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("state directory %s: %w", st.dir, err)
	}
	return nil
}

// prunePlans removes the oldest plans, by the time they were stored, of
// those that runs do not name (named, by plan ID), until at most keep of
// them are left: plans posted for review and never applied would
// otherwise pile up for ever. Only files named as plans are touched.
func (st *stateStore) prunePlans(keep int, named map[string]bool) error {
	d, err := st.root.Open("plans")
	if err != nil {
		return err
	}
	entries, err := d.ReadDir(-1)
	d.Close()
	if err != nil {
		return err
	}
	type stored struct {
		name string
		at   time.Time
	}
	var plans []stored
	for _, e := range entries {
		id := "sha256:" + strings.TrimSuffix(strings.TrimPrefix(e.Name(), "sha256-"), ".json")
		name, err := planFile(id)
		if err != nil || name != "plans/"+e.Name() || named[id] || !e.Type().IsRegular() {
			continue // not a plan's file, or one a run names
		}
		if info, err := e.Info(); err == nil {
			plans = append(plans, stored{name, info.ModTime()})
		}
	}
	if len(plans) <= keep {
		return nil
	}
	slices.SortFunc(plans, func(a, b stored) int { return cmp.Or(a.at.Compare(b.at), cmp.Compare(a.name, b.name)) })
	for _, p := range plans[:len(plans)-keep] {
		if err := st.root.Remove(p.name); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// loadPlan reads the plan stored under id. It returns errNoEntry for a
// plan not stored, and a *planIDError for an id that is not a plan ID.
func (st *stateStore) loadPlan(id string) (*upgrade.Plan, error) {
	name, err := planFile(id)
	if err != nil {
		return nil, err
	}
	data, err := st.readFile(name, upgrade.MaxPlanSize)
	if err != nil {
		return nil, err
	}
	plan, err := upgrade.ReadJSON(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("stored plan %s: %w", id, err)
	}
	if plan.ID != id {
		return nil, fmt.Errorf("stored plan %s holds plan %s: the state directory was changed by hand", id, plan.ID)
	}
	return plan, nil
}

// openJournal opens run id's journal (upgrade.OpenFileJournalIn), in the
// root: a symbolic link or a named pipe planted under its name is
// refused.
func (st *stateStore) openJournal(id string) (*upgrade.FileJournal, error) {
	name, err := runFile(id, ".journal")
	if err != nil {
		return nil, err
	}
	return upgrade.OpenFileJournalIn(st.root, name)
}

// saveRun writes rec.
func (st *stateStore) saveRun(rec *runRecord) error {
	name, err := runFile(rec.Run, ".json")
	if err != nil {
		return err
	}
	data, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	return st.writeFile(name, append(data, '\n'))
}

// loadRun reads the record of run id.
func (st *stateStore) loadRun(id string) (*runRecord, error) {
	name, err := runFile(id, ".json")
	if err != nil {
		return nil, err
	}
	data, err := st.readFile(name, maxRecord)
	if err != nil {
		return nil, err
	}
	var rec runRecord
	if err := json.Unmarshal(data, &rec); err != nil {
		return nil, fmt.Errorf("run record %s: %w", name, err)
	}
	if rec.Run != id {
		return nil, fmt.Errorf("run record %s names run %q", name, truncate(rec.Run))
	}
	return &rec, nil
}

// runIDs lists the runs the directory holds records of.
func (st *stateStore) runIDs() ([]string, error) {
	f, err := st.root.Open("runs")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, n := range names {
		if id, ok := strings.CutSuffix(n, ".json"); ok && runIDPattern.MatchString(id) {
			ids = append(ids, id)
		}
	}
	return ids, nil
}
