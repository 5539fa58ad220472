package main

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/version"
)

// writeRequest writes a request file for shop_app 2.0.0 with one
// requirement and returns its path.
func writeRequest(t *testing.T, template, constraint string) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "requests.yaml")
	body := fmt.Sprintf(`requests:
  - application: shop
    replaces: shop_app
    template:
      id: shop_app
      type: webapp
      version: 2.0.0
      requirements:
        - {template: %s, constraint: "%s"}
`, template, constraint)
	require.NoError(t, os.WriteFile(file, []byte(body), 0o644))
	return file
}

// TestPlanNoPlan covers the other ways planning fails, each exit code 3.
func TestPlanNoPlan(t *testing.T) {
	tests := []struct {
		name, template, constraint string
		flags                      []string
		stderr                     string
	}{
		{"no-package-below", "tomcat_server", "<8.5", []string{"--allow-downgrade"}, "no tomcat package satisfies"},
		{"no-package", "java_runtime", ">=21", nil, `node "java-1" (jdk 8.0.402): no jdk package satisfies`},
		{"missing-node", "postgres_server", ">=15", nil, `no node of template "postgres_server" beneath node "shop-1"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"plan", "--topology", "testdata/shop.yaml", "--repo", "testdata/repo",
				"--requests", writeRequest(t, tt.template, tt.constraint)}, tt.flags...)
			r := stackup(t, args...)
			assert.Equal(t, exitNoPlan, r.code, r.stderr)
			assert.Contains(t, r.stderr, tt.stderr)
			assert.Empty(t, r.stdout)
		})
	}
}

func TestPlanPolicies(t *testing.T) {
	r := stackup(t, "plan", "--topology", "testdata/shop.yaml", "--repo", "testdata/repo", "--requests", "testdata/requests.yaml",
		"--policy", "latest-patch")
	assert.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "platform/tomcat-1@10.1.34", "the latest patch of 10.1")
	assert.Contains(t, r.stdout, "platform/java-1@11.0.25", "the nearest JDK that satisfies")
}

// kubelets writes a repository of kubelet packages and a deployment of
// one web node on a kubelet node at installed, and returns the paths of
// the repository and the topology file, and a function writing a request
// file for a web 2.0.0 that needs constraint of the kubelet.
func kubelets(t *testing.T, installed string, versions ...string) (repo, topo string, request func(constraint string) string) {
	dir := t.TempDir()
	var pkgs []pkgsource.Package
	for _, v := range versions {
		content := []byte("kubelet " + v + "\n")
		name := "kubelet-" + v + ".pkg"
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), content, 0o644))
		pkgs = append(pkgs, pkgsource.Package{Type: "kubelet", Version: version.MustParse(v), Location: name,
			Digest: pkgsource.Digest(content), Size: int64(len(content))})
	}
	require.NoError(t, pkgsource.WriteIndex(dir, &pkgsource.Index{Version: 1, Packages: pkgs}, nil))
	topo = filepath.Join(dir, "cluster.json")
	require.NoError(t, os.WriteFile(topo, []byte(`{"schema": "stackup.topology/v1", "applications": [{"id": "web",
		"templates": [{"id": "web_app", "type": "webapp", "version": "1.0.0"}, {"id": "node", "type": "kubelet", "version": "`+installed+`"}],
		"nodes": [{"id": "node-1", "template": "node"},
		          {"id": "web-1", "template": "web_app", "relationships": [{"relation": "hosted_on", "target": "node-1"}]}]}]}`), 0o644))
	request = func(constraint string) string {
		file := filepath.Join(t.TempDir(), "requests.json")
		require.NoError(t, os.WriteFile(file, []byte(`{"requests": [{"application": "web", "replaces": "web_app",
		"template": {"id": "web_app", "type": "webapp", "version": "2.0.0", "requirements": [{"template": "node", "constraint": "`+constraint+`"}]}}]}`), 0o644))
		return file
	}
	return dir, topo, request
}

// TestPlanMaxMinorStep plans a minor upgrade of two versions, with and
// without a limit of one per hop. The repository lacks the version
// between, so the limit leaves no path.
func TestPlanMaxMinorStep(t *testing.T) {
	repo, topo, request := kubelets(t, "1.25.4", "1.25.4", "1.27.2")
	r := stackup(t, "plan", "--topology", topo, "--repo", repo, "--requests", request(">=1.27"))
	assert.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "upgrade node-1 (node, kubelet) 1.25.4 → 1.27.2")
	r = stackup(t, "plan", "--topology", topo, "--repo", repo, "--requests", request(">=1.27"), "--max-minor-step", "1")
	assert.Equal(t, exitNoPlan, r.code, r.stdout)
	assert.Contains(t, r.stderr, "no upgrade path")
}

func TestPlanDowngrade(t *testing.T) {
	repo, topo, request := kubelets(t, "1.25.4", "1.24.9", "1.25.4")
	r := stackup(t, "plan", "--topology", topo, "--repo", repo, "--requests", request("<1.25"))
	assert.Equal(t, exitNoPlan, r.code, r.stdout)
	assert.Contains(t, r.stderr, "needs a downgrade to one of 1.24.9, and downgrades are not allowed")
	r = stackup(t, "plan", "--topology", topo, "--repo", repo, "--requests", request("<1.25"), "--allow-downgrade")
	assert.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "downgrade node-1 (node, kubelet) 1.25.4 → 1.24.9")
}

// TestKinds checks the exit code and the server's kind of every planning
// error, including those the test data cannot provoke.
func TestKinds(t *testing.T) {
	tests := []struct {
		err  error
		kind string
		code int
	}{
		{&upgrade.ConflictError{}, "conflict", exitNoPlan},
		{&upgrade.NoPathError{}, "no_upgrade_path", exitNoPlan},
		{&upgrade.NoPackageError{}, "no_package", exitNoPlan},
		{&upgrade.DowngradeError{}, "downgrade", exitNoPlan},
		{&upgrade.CycleError{Path: []string{"a", "b", "a"}}, "cycle", exitNoPlan},
		{&upgrade.MissingNodeError{}, "not_found", exitNoPlan},
		{&topology.NotFoundError{Kind: "application", ID: "x"}, "not_found", exitNoPlan},
		{&upgrade.RequestError{}, "invalid_request", exitUsage},
		{fmt.Errorf("upgrade: listing tomcat packages: %w", pkgsource.ErrUntrusted), "repository", exitUsage},
		{&pkgsource.IndexError{Err: errors.New("bad")}, "repository", exitUsage},
		{errors.New("connection reset"), "internal", exitFailed},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.kind, planKind(tt.err), "%T", tt.err)
		assert.Equal(t, tt.code, planExit(tt.err), "%T", tt.err)
	}
}

func TestInputFlags(t *testing.T) {
	base := []string{"plan", "--repo", "testdata/repo", "--requests", "testdata/requests.yaml"}
	tests := []struct {
		args   []string
		stderr string
	}{
		{nil, "give --topology FILE, or --tosca FILE and --instances FILE"},
		{[]string{"--topology", "testdata/shop.yaml", "--tosca", "testdata/tosca/shop.yaml"}, "exclude each other"},
		{[]string{"--tosca", "testdata/tosca/shop.yaml"}, "--tosca needs --instances"},
		{[]string{"--instances", "testdata/tosca/shop-instances.yaml"}, "--instances needs --tosca"},
		{[]string{"--topology", "testdata/shop.yaml", "--policy", "oldest"}, `--policy "oldest"`},
		{[]string{"--topology", "testdata/shop.yaml", "--max-minor-step", "-1"}, "must not be negative"},
		{[]string{"--topology", "testdata/nowhere.yaml"}, "nowhere.yaml"},
		{[]string{"--topology", "testdata/requests.yaml"}, "testdata/requests.yaml"},
		{[]string{"--topology", "testdata/shop.yaml", "--explain", "tomcat-1", "--format", "json"}, "--explain needs --format text"},
		{[]string{"--topology", "testdata/shop.yaml", "--key", "testdata/nowhere.pub"}, "nowhere.pub"},
		{[]string{"--topology", "testdata/shop.yaml", "--key", "testdata/shop.yaml"}, "not the base64 of an ed25519 public key"},
		{[]string{"--topology", "testdata/shop.yaml", "--key", "/dev/zero"}, `public key file "/dev/zero": not a regular file: a character device`},
	}
	for _, tt := range tests {
		r := stackup(t, append(base, tt.args...)...)
		assert.Equal(t, exitUsage, r.code, "%v: %s", tt.args, r.stderr)
		assert.Contains(t, r.stderr, tt.stderr, tt.args)
	}
	r := stackup(t, "plan", "--topology", "testdata/shop.yaml", "--repo", "testdata/repo", "--requests", "testdata/nowhere.yaml")
	assert.Equal(t, exitUsage, r.code)
	assert.Contains(t, r.stderr, "requests: open testdata/nowhere.yaml")
}

func TestRunFlags(t *testing.T) {
	e := newApplyEnv(t)
	tests := []struct {
		args   []string
		stderr string
	}{
		{[]string{"--exec", "true", "--rollback-exec", "true"}, "--rollback-exec needs --rollback"},
		{[]string{"--exec", "true", "--concurrency", "0"}, "--concurrency must be at least 1"},
		{[]string{"--exec", "true", "--canaries", "-1"}, "--canaries must not be negative"},
		{[]string{"--exec", "true", "--retries", "-1"}, "--retries must not be negative"},
		{[]string{"--exec", "true", "--retries", "9223372036854775807"}, "--retries 9223372036854775807: at most 1000"},
		{[]string{"--exec", "true", "--step-timeout", "-1s"}, "--step-timeout -1s must not be negative"},
		{[]string{"--exec", "true", "--max-in-flight", "150%"}, `--max-in-flight "150%"`},
		{[]string{"--exec", "true", "--verify-exec", "{{"}, "--verify-exec: unclosed action"},
	}
	for _, tt := range tests {
		r := stackup(t, e.args(tt.args...)...)
		assert.Equal(t, exitUsage, r.code, "%v: %s", tt.args, r.stderr)
		assert.Contains(t, r.stderr, tt.stderr, tt.args)
	}
}

// TestApplyHTTPRepository reads the repository over HTTP, prefetching and
// verifying the packages, with verify and rollback commands both given.
func TestApplyHTTPRepository(t *testing.T) {
	e := newApplyEnv(t)
	var mu sync.Mutex
	var fetched []string
	files := http.FileServer(http.Dir(e.repo))
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		fetched = append(fetched, r.URL.Path)
		mu.Unlock()
		files.ServeHTTP(w, r)
	}))
	defer hs.Close()
	r := stackup(t, "apply", "--topology", e.topo, "--repo", hs.URL+"/", "--key", e.key, "--requests", "testdata/requests.yaml",
		"--quiet", "--prefetch", "--exec", e.record(),
		"--verify-exec", e.script(`echo "verify $1" >> "$4"`), "--rollback", "--rollback-exec", e.script(`echo "undo $1" >> "$4"`))
	require.Equal(t, exitOK, r.code, r.stderr)
	hs.Close()
	for _, p := range []string{"/index.json", "/index.json.sig", "/jdk-17.0.13.pkg", "/tomcat-9.0.98.pkg", "/tomcat-10.1.34.pkg"} {
		assert.Contains(t, fetched, p)
	}
	ledger := e.readLedger(t)
	assert.Equal(t, len(allSteps), strings.Count(ledger, "verify "), "every step verified")
	assert.NotContains(t, ledger, "undo", "nothing failed, nothing undone")
}

func TestTailBuffer(t *testing.T) {
	var tb tailBuffer
	fmt.Fprint(&tb, "first line\n")
	assert.Equal(t, "first line\n", tb.String())
	fmt.Fprint(&tb, strings.Repeat("x", maxStderr), "\nthe end")
	got := tb.String()
	assert.True(t, strings.HasPrefix(got, "…x"), got[:10])
	assert.True(t, strings.HasSuffix(got, "\nthe end"))
	assert.Len(t, got, len("…")+maxStderr)
}

// TestRepositoryPasswordNotShown gives --repo a URL with a password that
// the server refuses: the error names the repository, password hidden.
func TestRepositoryPasswordNotShown(t *testing.T) {
	hs := httptest.NewServer(http.NotFoundHandler())
	defer hs.Close()
	const secret = "s3cretpw"
	u, err := url.Parse(hs.URL + "/repo/")
	require.NoError(t, err)
	u.User = url.UserPassword("deploy", secret)
	r := stackup(t, "plan", "--topology", "testdata/shop.yaml", "--repo", u.String(), "--requests", "testdata/requests.yaml")
	require.Equal(t, exitUsage, r.code, r.stderr)
	assert.Contains(t, r.stderr, "repository "+strings.Replace(u.String(), secret, "xxxxx", 1)+": ")
	assert.NotContains(t, r.stdout+r.stderr, secret)
}

// TestRepositoryQueryTokenNotShown: a --repo URL may carry a token as a
// query value (?token=...), which the repository sends along with every
// request; stackup's errors show it as the repository's do, "xxxxx", for
// a repository that is down, and for a URL of another scheme.
func TestRepositoryQueryTokenNotShown(t *testing.T) {
	hs := httptest.NewServer(http.NotFoundHandler())
	defer hs.Close()
	const secret = "s3cretpw"
	for _, repo := range []string{hs.URL + "/repo/?token=" + secret, "ftp://example.com/repo/?token=" + secret} {
		r := stackup(t, "plan", "--topology", "testdata/shop.yaml", "--repo", repo, "--requests", "testdata/requests.yaml")
		require.Equal(t, exitUsage, r.code, r.stderr)
		assert.Contains(t, r.stderr, strings.Replace(repo, secret, "xxxxx", 1), "the repository named, its token hidden")
		assert.NotContains(t, r.stdout+r.stderr, secret)
	}
	// A URL that cannot be parsed shows its scheme only.
	r := stackup(t, "plan", "--topology", "testdata/shop.yaml", "--repo", "ftp://deploy:"+secret+"@example.com/%zz/", "--requests", "testdata/requests.yaml")
	require.Equal(t, exitUsage, r.code, r.stderr)
	assert.Contains(t, r.stderr, "--repo ftp://… (not shown: not a valid URL): a repository is a directory or an http(s) URL, not ftp")
	assert.NotContains(t, r.stdout+r.stderr, secret)
}

// TestRepositoryScheme: a --repo URL of another scheme is refused as such
// (exit 2), not looked for as a directory.
func TestRepositoryScheme(t *testing.T) {
	r := stackup(t, "plan", "--topology", "testdata/shop.yaml", "--repo", "ftp://deploy:s3cret@example.com/repo/", "--requests", "testdata/requests.yaml")
	assert.Equal(t, exitUsage, r.code)
	assert.Contains(t, r.stderr, "--repo ftp://deploy:xxxxx@example.com/repo/: a repository is a directory or an http(s) URL, not ftp")
	assert.NotContains(t, r.stderr, "s3cret")
}

// TestRepositoryNamedByFlag: a --repo directory that does not exist was
// reported as "pkgsource: open nodir: no such file or directory", naming
// the path but not the flag; a worker prefixed "--repo:" to the scheme's
// refusal, which names it already ("--repo: --repo ftp://…"), and asked
// the database first. Each names --repo once, and the worker refuses a
// wrong --repo before it connects to the database.
func TestRepositoryNamedByFlag(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nodir")
	r := stackup(t, "plan", "--topology", "testdata/shop.yaml", "--repo", missing, "--requests", "testdata/requests.yaml")
	assert.Equal(t, exitUsage, r.code, r.stderr)
	assert.Contains(t, r.stderr, "--repo: ")
	assert.Contains(t, r.stderr, missing)
	const unreachable = "postgres://stackup@127.0.0.1:1/stackup"
	for _, repo := range []string{missing, "ftp://example.com/repo/"} {
		r := stackup(t, "worker", "--database", unreachable, "--exec", "true", "--repo", repo)
		assert.Equal(t, exitUsage, r.code, r.stderr)
		assert.Equal(t, 1, strings.Count(r.stderr, "--repo"), r.stderr)
		assert.Contains(t, r.stderr, repo)
		assert.NotContains(t, r.stderr, "127.0.0.1:1", "refused before the database is asked")
	}
}
