package pkgsource

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"
)

// Chain is several sources read as one: Packages lists every package of a
// type that any of them lists, and where two list the same type and
// version the first source listed wins. Open opens a package through the
// source that won it. A Chain is safe for concurrent use if its sources
// are.
type Chain []Source

var (
	_ Source = Chain(nil)
	_ Opener = Chain(nil)
)

// Packages implements Source. It fails if any source fails, naming the
// source by its place in the chain.
func (c Chain) Packages(ctx context.Context, typ string) ([]Package, error) {
	if err := ctx.Err(); err != nil { // its sources would say so, but it may have none
		return nil, err
	}
	var out []Package
	seen := map[Key]bool{}
	for i, src := range c {
		ps, err := listed(ctx, i, src, typ)
		if err != nil {
			return nil, err
		}
		for _, p := range ps {
			if k := p.Key().canonical(); !seen[k] {
				seen[k] = true
				out = append(out, p)
			}
		}
	}
	slices.SortFunc(out, Compare)
	return out, nil
}

// Open implements Opener: it opens p through the first source that lists
// p's type and version, which must be an Opener, and which verifies the
// content against p as every Opener does.
func (c Chain) Open(ctx context.Context, p Package) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for i, src := range c {
		ps, err := listed(ctx, i, src, p.Type)
		if err != nil {
			return nil, err
		}
		if !slices.ContainsFunc(ps, func(q Package) bool { return q.Key().Same(p.Key()) }) {
			continue
		}
		o, ok := src.(Opener)
		if !ok {
			return nil, &PackageError{Package: p.Key(), Err: fmt.Errorf("%w: chain source #%d holds no content", ErrNotFound, i+1)}
		}
		return o.Open(ctx, p)
	}
	none := fmt.Sprintf("none of the chain's %d sources lists it", len(c))
	if len(c) == 1 {
		none = "the chain's one source does not list it"
	}
	return nil, &PackageError{Package: p.Key(), Err: fmt.Errorf("%w: %s: "+
		"open a package that Packages lists, or add the source that holds it to the chain", ErrNotFound, none)}
}

// listed returns what src, the i-th source of a chain, lists of type typ,
// refusing a nil source rather than panic.
func listed(ctx context.Context, i int, src Source, typ string) ([]Package, error) {
	if src == nil {
		return nil, fmt.Errorf("pkgsource: chain source #%d is nil: give a Source there or leave it out", i+1)
	}
	ps, err := src.Packages(ctx, typ)
	if err != nil {
		return nil, fmt.Errorf("pkgsource: chain source #%d: %w", i+1, err)
	}
	return ps, nil
}

// Cache remembers what a source lists, per type, for a time to live, so
// that planning many requests asks a remote repository once. Errors are not
// remembered. Open passes through to the source. A Cache is safe for
// concurrent use.
type Cache struct {
	src Source
	ttl time.Duration
	now func() time.Time

	mu      sync.Mutex
	entries map[string]cacheEntry
	asked   uint64 // the calls to src so far, numbering them in the order they began
}

type cacheEntry struct {
	pkgs    []Package
	fetched time.Time
	asked   uint64 // the number of the call to src that gave pkgs
}

var (
	_ Source = (*Cache)(nil)
	_ Opener = (*Cache)(nil)
)

// errNilCacheSource reports a Cache made without a source: NewCache(nil,
// ttl), or a zero Cache.
var errNilCacheSource = errors.New("pkgsource: the cache has no source: give NewCache the Source to cache")

// NewCache returns a Cache of src whose entries live for ttl. A Cache of a
// nil src, or a zero Cache, returns an error from every call.
func NewCache(src Source, ttl time.Duration) *Cache {
	return &Cache{src: src, ttl: ttl, now: time.Now, entries: map[string]cacheEntry{}}
}

// Packages implements Source.
func (c *Cache) Packages(ctx context.Context, typ string) ([]Package, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if c.src == nil {
		return nil, errNilCacheSource
	}
	c.mu.Lock()
	e, ok := c.entries[typ]
	if ok && c.now().Sub(e.fetched) < c.ttl {
		c.mu.Unlock()
		return clonePackages(e.pkgs), nil
	}
	c.asked++
	asked := c.asked
	c.mu.Unlock()
	pkgs, err := c.src.Packages(ctx, typ)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	// An answer to a call that began before the one whose answer is kept
	// may be older than it (a slow read of the index before a release was
	// published): kept, it would hide, within the TTL, packages that the
	// cache has already listed.
	if e, ok := c.entries[typ]; !ok || e.asked < asked {
		c.entries[typ] = cacheEntry{pkgs: clonePackages(pkgs), fetched: c.now(), asked: asked}
	}
	c.mu.Unlock()
	return pkgs, nil
}

// Open implements Opener when the cached source does.
func (c *Cache) Open(ctx context.Context, p Package) (io.ReadCloser, error) {
	if c.src == nil {
		return nil, &PackageError{Package: p.Key(), Err: errNilCacheSource}
	}
	o, ok := c.src.(Opener)
	if !ok {
		return nil, &PackageError{Package: p.Key(), Err: fmt.Errorf("%w: the source holds no content", ErrNotFound)}
	}
	return o.Open(ctx, p)
}

func clonePackages(ps []Package) []Package {
	out := slices.Clone(ps)
	for i := range out {
		out[i].Requires = slices.Clone(out[i].Requires)
	}
	return out
}
