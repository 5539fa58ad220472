package upgrade

import (
	"context"

	"github.com/stackup/stackup/pkgsource"
)

// WithPackages makes Run hand each platform step's package to the
// executor as a verified private copy. Before a platform step's first
// attempt, Run reads the step's package through o, checks its digest and
// size itself (pkgsource.NewVerifier, whatever o does), and writes it to a
// file of its own, in a directory it creates under dir (the default
// directory for temporary files when dir is ""), readable by this user
// only. The executor finds the file's path with PackageFile and installs
// exactly what was checked: a package changed at its source afterwards
// does not reach it. A package that cannot be read or does not verify
// fails the step; a digest or size mismatch, or a name or file no source
// may read, is permanent, not retried.
//
// Steps of the same package share one copy; with WithPrefetch, the
// copies are made before the first step. Reading a package is host code
// as Execute is: an Opener that ignores its context is abandoned after
// the grace period (WithGracePeriod); a panic in it reaches the caller
// (see Run). Run removes the directory when it returns.
func WithPackages(o pkgsource.Opener, dir string) RunOption {
	return func(c *runConfig) { c.packages, c.packageDir = o, dir }
}

type packageFileKey struct{}

// PackageFile returns the path of the verified private copy of the
// package of the platform step executed, verified or rolled back with
// ctx (see WithPackages), or "" when there is none. The file is the
// executor's to read, not to change; it exists until Run returns.
func PackageFile(ctx context.Context) string {
	path, _ := ctx.Value(packageFileKey{}).(string)
	return path
}

// packageStore makes and keeps the verified private copies of packages.
// It is safe for concurrent use.
type packageStore struct{ *pkgsource.Copies }

func newPackageStore(o pkgsource.Opener, parent string) *packageStore {
	return &packageStore{pkgsource.NewCopies(o, parent)}
}

// file returns the path of the verified copy of p, making it if needed.
// A failed copy is tried again by the next call, but for one that cannot
// succeed (see pkgsource.Permanent), which fails the step for good.
func (s *packageStore) file(ctx context.Context, p pkgsource.Package) (string, error) {
	path, err := s.File(ctx, p)
	if pkgsource.Permanent(err) { // pkgsource's errors name the package
		return "", Permanent(err)
	}
	return path, err
}
