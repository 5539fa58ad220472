package pkgsource

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/hashicorp/go-multierror"

	"github.com/stackup/stackup/topology"
)

// Memory is an in-memory [Source]. It is immutable once made, so it is safe
// for concurrent use.
type Memory struct {
	byType map[string][]Package // each sorted by version
}

var _ Source = (*Memory)(nil)

// NewMemory validates pkgs and returns a Memory holding copies of them.
// Every invalid or duplicate (same type and version) package is reported
// at once, as *PackageError values in a *multierror.Error.
func NewMemory(pkgs ...Package) (*Memory, error) {
	var errs *multierror.Error
	seen := make(map[Key]Key, len(pkgs)) // the first of each, as written
	m := &Memory{byType: make(map[string][]Package)}
	for _, p := range pkgs {
		if err := p.Validate(); err != nil {
			errs = multierror.Append(errs, err)
			continue
		}
		k := p.Key().canonical() // "18.04" and "18.4.0" are one version
		if first, dup := seen[k]; dup {
			errs = multierror.Append(errs, &PackageError{Package: p.Key(), Err: fmt.Errorf("%w: duplicate package: %s", ErrInvalid, listedTwice(first.Version, p.Version, ""))})
			continue
		}
		seen[k] = p.Key()
		p.Requires = slices.Clone(p.Requires)
		m.byType[p.Type] = append(m.byType[p.Type], p)
	}
	if errs != nil {
		errs.ErrorFormat = topology.JoinErrors
	}
	if err := errs.ErrorOrNil(); err != nil {
		return nil, err
	}
	for _, ps := range m.byType {
		slices.SortFunc(ps, Compare)
	}
	return m, nil
}

// Compare orders packages by type, then version, for slices.SortFunc.
// Versions that differ only in build metadata or in how they are written
// ("18.04", "18.4.0") compare equal in semantic order; version.CompareStrict
// orders them, so that the order is total and the same version, however
// written, sits together.
func Compare(a, b Package) int {
	return cmp.Or(cmp.Compare(a.Type, b.Type), a.Version.CompareStrict(b.Version))
}

// Packages implements [Source]. It returns the packages of type typ in
// ascending version order.
func (m *Memory) Packages(ctx context.Context, typ string) ([]Package, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return clonePackages(m.byType[typ]), nil
}
