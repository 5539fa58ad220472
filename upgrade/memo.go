package upgrade

import (
	"sync"
	"sync/atomic"

	"github.com/stackup/stackup/version"
)

// maxRemembered bounds how many constraint checks a Planner remembers
// across plans: about 20 MB of keys at most.
const maxRemembered = 1 << 18

// checkMemo remembers whether constraints allow versions, by their text,
// across the plans of one Planner. The answer to such a question never
// changes, whatever the topology and packages, so remembering it changes
// no result; it spares each plan the cost of asking again, and the
// constraint library allocates an error value for every failed check.
//
// Plans read a snapshot without locking and learn new answers in a map of
// their own (see planning.allows); a finished plan publishes what it
// learned in a new snapshot.
type checkMemo struct {
	known atomic.Pointer[map[checkKey]bool]
	mu    sync.Mutex // serializes publishing
}

type checkKey struct{ constraint, version string }

// lookup returns the remembered answer to whether c allows v.
func (m *checkMemo) lookup(k checkKey) (allowed, ok bool) {
	if known := m.known.Load(); known != nil {
		allowed, ok = (*known)[k]
	}
	return allowed, ok
}

// publish adds learned to what m knows, unless that would make it remember
// more than maxRemembered answers.
func (m *checkMemo) publish(learned map[checkKey]bool) {
	if len(learned) == 0 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var known map[checkKey]bool
	if p := m.known.Load(); p != nil {
		known = *p
	}
	if len(known)+len(learned) > maxRemembered {
		return
	}
	next := make(map[checkKey]bool, len(known)+len(learned))
	for k, v := range known {
		next[k] = v
	}
	for k, v := range learned {
		next[k] = v
	}
	m.known.Store(&next)
}

// allows reports whether c allows v: from what the Planner remembers, or
// this plan has learned, or by asking c.
func (pl *planning) allows(c version.Constraint, v version.Version) bool {
	if c.IsZero() {
		return true
	}
	k := checkKey{constraint: c.String(), version: v.String()}
	if ok, seen := pl.memo.lookup(k); seen {
		return ok
	}
	ok, seen := pl.checks[k]
	if !seen {
		ok = c.Allows(v)
		pl.checks[k] = ok
	}
	return ok
}
