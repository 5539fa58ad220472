package upgrade_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/upgrade"
)

// swapSource serves package content that a test can change, as an
// attacker who controls the repository's files can, and counts opens. It
// does not verify: Run must.
type swapSource struct {
	mu      sync.Mutex
	content map[pkgsource.Key][]byte
	opened  map[pkgsource.Key]int
}

func (s *swapSource) Open(_ context.Context, p pkgsource.Package) (io.ReadCloser, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opened[p.Key()]++
	data, ok := s.content[p.Key()]
	if !ok {
		return nil, &pkgsource.PackageError{Package: p.Key(), Err: pkgsource.ErrNotFound}
	}
	return io.NopCloser(bytes.NewReader(data)), nil
}

func (s *swapSource) swap(k pkgsource.Key, data []byte) {
	s.mu.Lock()
	s.content[k] = data
	s.mu.Unlock()
}

// signedPlan returns the shop plan with a digest and size on each package,
// and a source holding the content they describe.
func signedPlan(t *testing.T) (*upgrade.Plan, *swapSource) {
	plan := shopPlan(t, 2)
	src := &swapSource{content: map[pkgsource.Key][]byte{}, opened: map[pkgsource.Key]int{}}
	for i := range plan.Steps {
		if p := plan.Steps[i].Package; p != nil {
			data := []byte("content of " + p.String())
			q := *p
			q.Digest, q.Size = pkgsource.Digest(data), int64(len(data))
			plan.Steps[i].Package = &q
			src.content[q.Key()] = data
		}
	}
	return plan, src
}

// installer is an executor that reads the package file it is given, as an
// installer would, and notes what it read.
type installer struct {
	mu        sync.Mutex
	installed map[upgrade.StepID]string // step → content read
	paths     map[string]bool
	before    func(s upgrade.Step) // called before reading
}

func (in *installer) Execute(ctx context.Context, s upgrade.Step) error {
	path := upgrade.PackageFile(ctx)
	if in.before != nil {
		in.before(s)
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if s.Package == nil {
		if path != "" {
			return io.ErrUnexpectedEOF // an application step has no package
		}
		return nil
	}
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	if info.Mode().Perm() != 0o400 {
		return os.ErrPermission
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	in.installed[s.ID] = string(data)
	in.paths[path] = true
	return nil
}

func newInstaller() *installer {
	return &installer{installed: map[upgrade.StepID]string{}, paths: map[string]bool{}}
}

func TestRunPackagesVerifiedCopies(t *testing.T) {
	plan, src := signedPlan(t)
	dir := t.TempDir()
	in := newInstaller()
	report, err := upgrade.Run(context.Background(), plan, in, upgrade.WithPackages(src, dir), upgrade.WithConcurrency(3))
	require.NoError(t, err)
	assert.Equal(t, len(plan.Steps), report.Count(upgrade.Succeeded))
	for _, s := range plan.Steps {
		if s.Package != nil {
			assert.Equal(t, "content of "+s.Package.String(), in.installed[s.ID], s.ID)
			assert.Equal(t, 1, src.opened[s.Package.Key()], "%s copied once for all its steps", s.Package)
		}
	}
	for path := range in.paths {
		assert.Equal(t, dir, filepath.Dir(filepath.Dir(path)), "copies live in a directory of their own under dir")
		assert.NoFileExists(t, path, "copies are removed when Run returns")
	}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, entries, "the copies' directory is removed")
}

// TestRunPackagesSwappedAfterCheck attacks the window between check and
// use: the repository's content changes after the copy was verified. The
// executor installs what was checked.
func TestRunPackagesSwappedAfterCheck(t *testing.T) {
	plan, src := signedPlan(t)
	in := newInstaller()
	in.before = func(s upgrade.Step) {
		for k := range src.content {
			src.swap(k, []byte("evil"))
		}
	}
	_, err := upgrade.Run(context.Background(), plan, in, upgrade.WithPackages(src, t.TempDir()), upgrade.WithPrefetch(src))
	require.NoError(t, err)
	for _, s := range plan.Steps {
		if s.Package != nil {
			assert.Equal(t, "content of "+s.Package.String(), in.installed[s.ID])
		}
	}
}

// TestRunPackagesTampered: content that does not match its digest never
// reaches the executor; the step fails for good, naming the package.
func TestRunPackagesTampered(t *testing.T) {
	for _, tt := range []struct {
		name   string
		data   []byte
		reason string
	}{
		{"other content", []byte("content of tomcat 10.1.3X"), "sha256 mismatch"},
		{"longer", []byte("content of tomcat 10.1.34 and more"), "more than"},
		{"shorter", []byte("content"), "size mismatch: read"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			plan, src := signedPlan(t)
			var tomcat pkgsource.Key
			for k := range src.content {
				if k.Type == "tomcat" && k.Version.String() == "10.1.34" {
					tomcat = k
				}
			}
			require.NotZero(t, tomcat)
			src.swap(tomcat, tt.data)
			in := newInstaller()
			report, err := upgrade.Run(context.Background(), plan, in, upgrade.WithPackages(src, t.TempDir()),
				upgrade.WithRetry(5, 0, 0))
			require.ErrorIs(t, err, pkgsource.ErrDigestMismatch)
			assert.Contains(t, err.Error(), "package tomcat 10.1.34")
			assert.Contains(t, err.Error(), tt.reason)
			failed := 0
			for i, s := range plan.Steps {
				if s.Package != nil && s.Package.Key() == tomcat {
					assert.NotContains(t, in.installed, s.ID, "the executor never saw it")
					if report.Outcomes[i].State == upgrade.Failed {
						failed++
						assert.Equal(t, 1, report.Outcomes[i].Attempts, "a mismatch is not retried")
					}
				}
			}
			assert.Equal(t, 1, failed, "the first step of the package fails; the run stops")
		})
	}
}

func TestRunPackagesUnsigned(t *testing.T) {
	plan := shopPlan(t, 1) // packages without digests
	src := &swapSource{content: map[pkgsource.Key][]byte{}, opened: map[pkgsource.Key]int{}}
	for _, s := range plan.Steps {
		if s.Package != nil {
			src.content[s.Package.Key()] = []byte("x")
		}
	}
	_, err := upgrade.Run(context.Background(), plan, newInstaller(), upgrade.WithPackages(src, t.TempDir()))
	require.ErrorIs(t, err, pkgsource.ErrDigestMismatch)
	assert.Contains(t, err.Error(), "no sha256 digest")
}

func TestPackageFileWithoutPackages(t *testing.T) {
	assert.Empty(t, upgrade.PackageFile(context.Background()))
	plan := shopPlan(t, 1)
	seen := ""
	_, err := upgrade.Run(context.Background(), plan, upgrade.ExecutorFunc(func(ctx context.Context, s upgrade.Step) error {
		seen += upgrade.PackageFile(ctx)
		return nil
	}))
	require.NoError(t, err)
	assert.Empty(t, seen)
}
