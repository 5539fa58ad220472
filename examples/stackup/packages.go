package main

import (
	"context"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/upgrade"
)

// packageCopies gives a worker's commands their step's package, as
// upgrade.WithPackages gives apply's: a private copy, read from the
// repository (which reaches its files through os.Root, so that no package
// name, link or race leads outside it) and checked against the digest and
// size the plan holds, whatever the repository says. Steps of one package
// share one copy. It is safe for concurrent use.
type packageCopies struct{ *pkgsource.Copies }

func newPackageCopies(o pkgsource.Opener) *packageCopies {
	return &packageCopies{pkgsource.NewCopies(o, "")}
}

// file returns the path of the checked copy of p, making it if needed. A
// copy that failed is tried again by the next call; one whose content is
// not what the plan says, or whose name the repository refuses, fails
// permanently.
func (c *packageCopies) file(ctx context.Context, p pkgsource.Package) (string, error) {
	path, err := c.File(ctx, p) // its errors name the package
	if pkgsource.Permanent(err) {
		return "", upgrade.Permanent(err)
	}
	return path, err
}
