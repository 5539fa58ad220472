package pkgsource_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/pkgsource"
)

// readStore returns the versions recorded in the trust store file at path.
func readStore(t *testing.T, path string) map[string]int64 {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var versions map[string]int64
	require.NoError(t, json.Unmarshal(data, &versions))
	return versions
}

// TestFileTrustStoreMissing attacks rollback protection by deleting the
// store: a store not allowed first use refuses, naming the file, and
// creates nothing.
func TestFileTrustStoreMissing(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "trust.json")
	s := pkgsource.NewFileTrustStore(path)

	check := func(t *testing.T, err error) {
		t.Helper()
		require.ErrorIs(t, err, pkgsource.ErrNoTrustStore)
		assert.ErrorIs(t, err, fs.ErrNotExist)
		var fe *pkgsource.FileError
		require.ErrorAs(t, err, &fe)
		assert.Equal(t, path, fe.Path)
		assert.Equal(t, "trust store", fe.What)
		assert.Contains(t, err.Error(), strconv.Quote(path))
		assert.Contains(t, err.Error(), "AllowFirstUse")
		entries, rerr := os.ReadDir(dir)
		require.NoError(t, rerr)
		assert.Empty(t, entries, "nothing is created")
	}
	_, err := s.Version(ctx, "/repo")
	check(t, err)
	check(t, s.SetVersion(ctx, "/repo", 3))

	t.Run("a signed source trusts nothing", func(t *testing.T) {
		r := newRepo(t, true)
		ps, err := r.openDir(t, pkgsource.WithKeys(r.pub), pkgsource.WithTrustStore(s)).Packages(ctx, "tomcat")
		check(t, err)
		assert.Nil(t, ps)
	})

	t.Run("deleted after first use", func(t *testing.T) {
		r := newRepo(t, true)
		v1 := map[string][]byte{pkgsource.IndexFile: r.files[pkgsource.IndexFile], pkgsource.SignatureFile: r.files[pkgsource.SignatureFile]}
		r.publish(t, 2, true)
		storePath := filepath.Join(t.TempDir(), "trust.json")
		_, err := r.openDir(t, pkgsource.WithKeys(r.pub), pkgsource.WithTrustStore(pkgsource.NewFileTrustStore(storePath, pkgsource.AllowFirstUse()))).Packages(ctx, "tomcat")
		require.NoError(t, err)
		assert.EqualValues(t, map[string]int64{r.dir: 2}, readStore(t, storePath))

		// The attacker deletes the store and replays version 1.
		require.NoError(t, os.Remove(storePath))
		r.write(t, pkgsource.IndexFile, v1[pkgsource.IndexFile])
		r.write(t, pkgsource.SignatureFile, v1[pkgsource.SignatureFile])
		ps, err := r.openDir(t, pkgsource.WithKeys(r.pub), pkgsource.WithTrustStore(pkgsource.NewFileTrustStore(storePath))).Packages(ctx, "tomcat")
		require.ErrorIs(t, err, pkgsource.ErrNoTrustStore)
		assert.Nil(t, ps)
		assert.NoFileExists(t, storePath, "the replayed version is not recorded")
	})

	t.Run("first use", func(t *testing.T) {
		first := pkgsource.NewFileTrustStore(path, pkgsource.AllowFirstUse())
		v, err := first.Version(ctx, "/repo")
		require.NoError(t, err)
		assert.Zero(t, v)
		require.NoError(t, first.SetVersion(ctx, "/repo", 3))
		v, err = s.Version(ctx, "/repo")
		require.NoError(t, err)
		assert.EqualValues(t, 3, v, "once created, the store needs no first use")
		require.NoError(t, s.SetVersion(ctx, "/repo", 4))
		assert.EqualValues(t, map[string]int64{"/repo": 4}, readStore(t, path))
	})
}

// TestFileTrustStoreConcurrentStores has goroutines write distinct
// repositories through distinct stores on one file (each its own lock
// holder) and through one shared store: no update is lost.
func TestFileTrustStoreConcurrentStores(t *testing.T) {
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" {
		t.Skip("stores on one file lock each other only where flock is")
	}
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "trust.json")
	shared := pkgsource.NewFileTrustStore(path, pkgsource.AllowFirstUse())
	const writers, repos = 8, 25
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			own := pkgsource.NewFileTrustStore(path, pkgsource.AllowFirstUse())
			for i := range repos {
				s := own
				if i%2 == 0 {
					s = shared
				}
				assert.NoError(t, s.SetVersion(ctx, fmt.Sprintf("/repo/%d/%d", w, i), int64(i+1)))
				assert.NoError(t, s.SetVersion(ctx, "/repo/shared", int64(w*repos+i+1)))
			}
		})
	}
	wg.Wait()
	want := map[string]int64{"/repo/shared": writers * repos}
	for w := range writers {
		for i := range repos {
			want[fmt.Sprintf("/repo/%d/%d", w, i)] = int64(i + 1)
		}
	}
	assert.Equal(t, want, readStore(t, path))
}

// trustWriterEnv, when set, makes TestTrustStoreWriterProcess a writer
// process for TestFileTrustStoreProcesses: "path writer repos".
const trustWriterEnv = "STACKUP_TEST_TRUST_WRITER"

// TestTrustStoreWriterProcess is not a test: it is the writer process
// TestFileTrustStoreProcesses starts. It waits for its standard input to
// close, so that all writers start at once, then records its repositories.
func TestTrustStoreWriterProcess(t *testing.T) {
	spec := os.Getenv(trustWriterEnv)
	if spec == "" {
		t.Skip("a helper process of TestFileTrustStoreProcesses")
	}
	var path string
	var writer, repos int
	_, err := fmt.Sscanf(spec, "%s %d %d", &path, &writer, &repos)
	require.NoError(t, err)
	_, _ = os.Stdin.Read(make([]byte, 1)) // the start signal: EOF
	ctx := context.Background()
	s := pkgsource.NewFileTrustStore(path)
	for i := range repos {
		require.NoError(t, s.SetVersion(ctx, fmt.Sprintf("/repo/%d/%d", writer, i), int64(i+1)))
		require.NoError(t, s.SetVersion(ctx, "/repo/shared", int64(writer*repos+i+1)))
	}
}

// TestFileTrustStoreProcesses runs writer processes at once on one store,
// each recording its own repositories and a shared one: every entry is
// kept (without an inter-process lock, about half were lost).
func TestFileTrustStoreProcesses(t *testing.T) {
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" {
		t.Skip("a FileTrustStore locks between processes only where flock is")
	}
	if testing.Short() {
		t.Skip("starts processes")
	}
	exe, err := os.Executable()
	require.NoError(t, err)
	dir := t.TempDir()
	path := filepath.Join(dir, "trust.json")
	require.NoError(t, os.WriteFile(path, []byte("{}"), 0o600)) // the writers need no first use
	const writers, repos = 4, 40
	type proc struct {
		cmd   *exec.Cmd
		start func() error
		out   strings.Builder
	}
	procs := make([]*proc, writers)
	for w := range procs {
		p := &proc{cmd: exec.Command(exe, "-test.run=^TestTrustStoreWriterProcess$", "-test.count=1")}
		p.cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %d %d", trustWriterEnv, path, w, repos))
		p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
		stdin, err := p.cmd.StdinPipe()
		require.NoError(t, err)
		p.start = stdin.Close
		require.NoError(t, p.cmd.Start())
		procs[w] = p
	}
	for _, p := range procs {
		require.NoError(t, p.start())
	}
	for w, p := range procs {
		require.NoError(t, p.cmd.Wait(), "writer %d: %s", w, p.out.String())
		require.Contains(t, p.out.String(), "PASS", "writer %d ran", w)
	}
	want := map[string]int64{"/repo/shared": writers * repos}
	for w := range writers {
		for i := range repos {
			want[fmt.Sprintf("/repo/%d/%d", w, i)] = int64(i + 1)
		}
	}
	got := readStore(t, path)
	assert.Len(t, got, writers*repos+1)
	assert.Equal(t, want, got)
}

// TestFileTrustStoreHostileLock plants what is not a lock file at the lock
// path: SetVersion refuses it without following a link, waiting, or
// changing the store, and names the lock file.
func TestFileTrustStoreHostileLock(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		make func(t *testing.T, lock, target string)
		msg  string
	}{
		{"symbolic link to a new file", func(t *testing.T, lock, target string) {
			if err := os.Symlink(target, lock); err != nil {
				t.Skip("no symbolic links:", err)
			}
		}, "not a regular file"},
		{"symbolic link to an existing file", func(t *testing.T, lock, target string) {
			require.NoError(t, os.WriteFile(target, []byte("precious"), 0o644))
			if err := os.Symlink(target, lock); err != nil {
				t.Skip("no symbolic links:", err)
			}
		}, "not a regular file"},
		{"directory", func(t *testing.T, lock, _ string) { require.NoError(t, os.Mkdir(lock, 0o755)) }, "not a regular file"},
		{"FIFO", func(t *testing.T, lock, _ string) { mkfifo(t, lock) }, "remove it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "trust.json")
			require.NoError(t, os.WriteFile(path, []byte(`{"/repo": 2}`), 0o600))
			lock := path + ".lock"
			target := filepath.Join(t.TempDir(), "elsewhere")
			tt.make(t, lock, target)
			before, _ := os.ReadFile(target)
			_, statErr := os.Lstat(target)
			existed := statErr == nil
			s := pkgsource.NewFileTrustStore(path)
			var err error
			returnsSoon(t, func() { releaseFIFO(lock) }, func() { err = s.SetVersion(ctx, "/repo", 5) })
			require.Error(t, err)
			var fe *pkgsource.FileError
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, lock, fe.Path)
			assert.Equal(t, "trust store lock", fe.What)
			assert.Contains(t, err.Error(), strconv.Quote(lock))
			assert.Contains(t, err.Error(), tt.msg)
			assert.Contains(t, err.Error(), "remove it", "the error says what to do")
			assert.Equal(t, map[string]int64{"/repo": 2}, readStore(t, path), "the store is unchanged")
			after, _ := os.ReadFile(target)
			_, statErr = os.Lstat(target)
			assert.Equal(t, existed, statErr == nil, "the link's target is not created")
			assert.Equal(t, before, after, "the link's target is not written")
			entries, err := os.ReadDir(dir)
			require.NoError(t, err)
			assert.Len(t, entries, 2, "no temporary file is left behind")
		})
	}
}
