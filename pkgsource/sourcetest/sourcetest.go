// Package sourcetest checks that a pkgsource.Source keeps the contract
// callers rely on, in the spirit of testing/fstest.TestFS. Run it from the
// tests of any Source implementation:
//
//	if err := sourcetest.Test(ctx, src, expected...); err != nil {
//		t.Fatal(err)
//	}
package sourcetest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/hashicorp/go-multierror"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/version"
)

// Test checks src against the pkgsource.Source contract and reports every
// failure at once, or nil. For each type among expected it checks that
// Packages lists every expected package with the same fields, lists only
// valid packages of that type, each once, returns a slice the caller owns,
// gives the same answer to concurrent callers, and fails on a cancelled
// context; that types are matched exactly (asked for one in other case,
// or cut short, it lists no package of another type); that an unknown
// type gives an empty list and no error, and, when nothing is expected,
// that it fails on a cancelled context. When src
// is also a pkgsource.Opener, it checks that every expected package with a
// digest opens and reads in full without error, and that a package whose
// digest or size is wrong fails with pkgsource.ErrDigestMismatch by the end
// of its content, and that one that declares no digest fails.
func Test(ctx context.Context, src pkgsource.Source, expected ...pkgsource.Package) error {
	var errs *multierror.Error
	fail := func(format string, args ...any) {
		errs = multierror.Append(errs, fmt.Errorf("sourcetest: "+format, args...))
	}
	var types []string
	for _, p := range expected {
		if !slices.Contains(types, p.Type) {
			types = append(types, p.Type)
		}
	}
	for _, typ := range types {
		testType(ctx, src, typ, expected, fail)
	}
	for _, typ := range types {
		testExactType(ctx, src, typ, fail)
	}
	if ps, err := src.Packages(ctx, "sourcetest.no-such-type"); err != nil || len(ps) != 0 {
		fail("unknown type: got %d packages and error %v, want none and nil", len(ps), err)
	}
	if len(types) == 0 { // testType checks it for each type expected
		testCancelled(ctx, src, "sourcetest.no-such-type", fail)
	}
	if o, ok := src.(pkgsource.Opener); ok {
		for _, p := range expected {
			if p.Digest != "" {
				testOpen(ctx, o, p, fail)
			}
		}
	}
	if errs != nil {
		errs.ErrorFormat = topology.JoinErrors
	}
	return errs.ErrorOrNil()
}

func testType(ctx context.Context, src pkgsource.Source, typ string, expected []pkgsource.Package, fail func(string, ...any)) {
	got, err := src.Packages(ctx, typ)
	if err != nil {
		fail("Packages(%q): %v", typ, err)
		return
	}
	seen := map[pkgsource.Key]bool{}
	for _, p := range got {
		if p.Type != typ {
			fail("Packages(%q) lists %s, of another type", typ, p)
		}
		if err := p.Validate(); err != nil {
			fail("Packages(%q) lists an invalid package: %v", typ, err)
		}
		k := pkgsource.Key{Type: p.Type, Version: p.Version.Canonical()} // one entry per version, however written
		if seen[k] {
			fail("Packages(%q) lists %s twice", typ, p)
		}
		seen[k] = true
	}
	for _, want := range expected {
		if want.Type != typ {
			continue
		}
		i := slices.IndexFunc(got, func(p pkgsource.Package) bool { return p.Key().Same(want.Key()) })
		if i < 0 {
			fail("Packages(%q) does not list %s", typ, want)
			continue
		}
		if d := diff(got[i], want); d != "" {
			fail("Packages(%q) lists %s with %s", typ, want, d)
		}
	}

	// The caller owns the result: changing it changes nothing at the
	// source. Every package is changed, as a source may share the
	// requirements of some only (the first often has none).
	if len(got) > 0 {
		before := describe(got)
		for i := range got {
			got[i].Version = version.MustParse("999.999.999")
			if len(got[i].Requires) > 0 { // before the append, which may copy them
				got[i].Requires[0].Type = "sourcetest.changed"
			}
			got[i].Requires = append(got[i].Requires, pkgsource.Requirement{Type: "sourcetest.changed"})
		}
		again, err := src.Packages(ctx, typ)
		if err != nil || describe(again) != before {
			fail("Packages(%q) returned a slice the source shares: a change to it showed in the next call", typ)
			return
		}
		got = again
	}

	// Concurrent callers get the same answer.
	want := describe(got)
	var wg sync.WaitGroup
	answers := make([]string, 8)
	for i := range answers {
		wg.Go(func() {
			ps, err := src.Packages(ctx, typ)
			answers[i] = describe(ps)
			if err != nil {
				answers[i] = "error: " + err.Error()
			}
		})
	}
	wg.Wait()
	for _, a := range answers {
		if a != want {
			fail("Packages(%q) from concurrent callers: got %s, want %s", typ, a, want)
			break
		}
	}

	testCancelled(ctx, src, typ, fail)
}

// testExactType checks that the source matches typ exactly: asked for
// it in other letter case (as a database of case-insensitive collation
// matches) or cut short (as a prefix match does), it lists no package of
// another type than the one asked for.
func testExactType(ctx context.Context, src pkgsource.Source, typ string, fail func(string, ...any)) {
	var others []string
	for _, other := range []string{strings.ToUpper(typ), strings.ToLower(typ), typ[:len(typ)-1]} {
		if other != typ && other != "" && !slices.Contains(others, other) {
			others = append(others, other)
		}
	}
	for _, other := range others {
		ps, err := src.Packages(ctx, other)
		if err != nil {
			fail("Packages(%q): %v", other, err)
			continue
		}
		if i := slices.IndexFunc(ps, func(p pkgsource.Package) bool { return p.Type != other }); i >= 0 {
			fail("Packages(%q) lists %s, of another type: match types exactly", other, ps[i])
		}
	}
}

// testCancelled checks that Packages(typ) fails on a cancelled context.
func testCancelled(ctx context.Context, src pkgsource.Source, typ string, fail func(string, ...any)) {
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := src.Packages(cancelled, typ); !errors.Is(err, context.Canceled) {
		fail("Packages(%q) with a cancelled context: got %v, want context.Canceled", typ, err)
	}
}

func testOpen(ctx context.Context, o pkgsource.Opener, p pkgsource.Package, fail func(string, ...any)) {
	if err := readAll(ctx, o, p); err != nil {
		fail("Open(%s): %v", p, err)
		return
	}
	tampered := p
	last := len(p.Digest) - 1
	flip := "0"
	if p.Digest[last] == '0' {
		flip = "1"
	}
	tampered.Digest = p.Digest[:last] + flip
	if err := readAll(ctx, o, tampered); !errors.Is(err, pkgsource.ErrDigestMismatch) {
		fail("Open(%s) with a wrong digest: got %v, want pkgsource.ErrDigestMismatch", p, err)
	}
	// Content that no digest vouches for cannot be verified (see
	// pkgsource.NewVerifier): an Opener must not hand it out as if it were.
	unverifiable := p
	unverifiable.Digest = ""
	if err := readAll(ctx, o, unverifiable); err == nil {
		fail("Open(%s) without a digest read the content unverified, want an error (pkgsource.ErrDigestMismatch, as pkgsource.NewVerifier gives)", p)
	}
	if p.Size > 1 {
		short := p
		short.Size--
		if err := readAll(ctx, o, short); !errors.Is(err, pkgsource.ErrDigestMismatch) {
			fail("Open(%s) with a wrong size: got %v, want pkgsource.ErrDigestMismatch", p, err)
		}
	}
}

func readAll(ctx context.Context, o pkgsource.Opener, p pkgsource.Package) error {
	rc, err := o.Open(ctx, p)
	if err != nil {
		return err
	}
	if rc == nil {
		return &pkgsource.PackageError{Package: p.Key(), Err: pkgsource.ErrNoContent}
	}
	_, err = io.Copy(io.Discard, rc)
	return errors.Join(err, rc.Close())
}

// diff names the fields in which got differs from want.
func diff(got, want pkgsource.Package) string {
	var d []string
	if got.Version.String() != want.Version.String() {
		d = append(d, fmt.Sprintf("version %s, want %s", got.Version, want.Version))
	}
	if got.From.String() != want.From.String() {
		d = append(d, fmt.Sprintf("from %q, want %q", got.From, want.From))
	}
	if requires(got) != requires(want) {
		d = append(d, fmt.Sprintf("requires %s, want %s", requires(got), requires(want)))
	}
	if got.Location != want.Location {
		d = append(d, fmt.Sprintf("location %q, want %q", got.Location, want.Location))
	}
	if got.Digest != want.Digest {
		d = append(d, fmt.Sprintf("digest %q, want %q", got.Digest, want.Digest))
	}
	if got.Size != want.Size {
		d = append(d, fmt.Sprintf("size %d, want %d", got.Size, want.Size))
	}
	return strings.Join(d, ", ")
}

// requires describes p's requirements, sorted: their order means nothing
// (the planner sorts them), and a source may keep them in a map.
func requires(p pkgsource.Package) string {
	s := make([]string, len(p.Requires))
	for i, r := range p.Requires {
		s[i] = r.Type + " " + r.Constraint.String()
	}
	slices.Sort(s)
	return "[" + strings.Join(s, "; ") + "]"
}

func describe(ps []pkgsource.Package) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String() + " " + p.Digest + " " + requires(p)
	}
	slices.Sort(s)
	return strings.Join(s, ", ")
}
