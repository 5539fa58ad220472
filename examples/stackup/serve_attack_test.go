package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"mime"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/upgrade"
)

// The attacks on the server: calls from web pages and from clients
// without the token. Each asserts that the server refused with an error
// naming the problem, that no run was created and that no command ran.

// attack is one hostile request.
type attack struct {
	name    string
	method  string
	path    string // with the query
	body    string
	header  map[string]string // set on the request; "Host" sets its Host
	status  int
	kind    string
	error   string
	headers map[string]string // expected in the answer
}

// send sends a's request with a client that adds nothing, and returns
// the answer's status, headers and decoded JSON body.
func (ts *testServer) send(t *testing.T, a attack) (int, http.Header, map[string]any) {
	t.Helper()
	var body io.Reader
	if a.body != "" {
		body = strings.NewReader(a.body)
	}
	req, err := http.NewRequestWithContext(t.Context(), a.method, ts.url+a.path, body)
	require.NoError(t, err)
	for k, v := range a.header {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Add(k, v)
	}
	client := &http.Client{Timeout: 20 * time.Second}
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	return resp.StatusCode, resp.Header, decodeJSON(t, resp)
}

// runCount is how many runs the server knows.
func (ts *testServer) runCount() int {
	ts.srv.mu.Lock()
	defer ts.srv.mu.Unlock()
	return len(ts.srv.runs)
}

// marker returns an --exec template that creates a marker file, and the
// file.
func marker(t *testing.T) (exec, file string) {
	file = filepath.Join(t.TempDir(), "ran")
	return "touch " + file, file
}

// checkAttacks sends each attack to ts and checks it was refused and
// nothing ran.
func checkAttacks(t *testing.T, ts *testServer, ran string, attacks []attack) {
	t.Helper()
	for _, a := range attacks {
		t.Run(a.name, func(t *testing.T) {
			code, header, answer := ts.send(t, a)
			assert.Equal(t, a.status, code, answer)
			assert.Equal(t, a.kind, answer["kind"])
			assert.Contains(t, answer["error"], a.error)
			for k, v := range a.headers {
				assert.Equal(t, v, header.Get(k), k)
			}
			assert.Zero(t, ts.runCount(), "no run was created")
			assert.NoFileExists(t, ran, "no command ran")
		})
	}
}

func TestServeAttackToken(t *testing.T) {
	exec, ran := marker(t)
	ts := newTestServer(t, exec)
	body := requestBody(t, "testdata/requests.json")
	jsonType := map[string]string{"Content-Type": "application/json"}
	with := func(h map[string]string) map[string]string {
		out := map[string]string{"Content-Type": "application/json"}
		for k, v := range h {
			out[k] = v
		}
		return out
	}
	challenge := map[string]string{"WWW-Authenticate": `Bearer realm="stackup"`}
	invalid := map[string]string{"WWW-Authenticate": `Bearer realm="stackup", error="invalid_token"`}
	var attacks []attack
	for _, path := range []string{"/v1/apply", "/v1/plan"} {
		attacks = append(attacks,
			attack{name: "missing" + path, method: "POST", path: path, body: body, header: jsonType,
				status: 401, kind: "unauthorized", error: "missing bearer token: send the header \"Authorization: Bearer TOKEN\"", headers: challenge},
			attack{name: "wrong" + path, method: "POST", path: path, body: body, header: with(map[string]string{"Authorization": "Bearer not-the-token-0123456789"}),
				status: 401, kind: "unauthorized", error: "wrong bearer token", headers: invalid},
			attack{name: "wrong-same-length" + path, method: "POST", path: path, body: body,
				header: with(map[string]string{"Authorization": "Bearer " + strings.ToUpper(testToken)}),
				status: 401, kind: "unauthorized", error: "wrong bearer token", headers: invalid},
			attack{name: "token-prefix" + path, method: "POST", path: path, body: body,
				header: with(map[string]string{"Authorization": "Bearer " + testToken[:len(testToken)-1]}),
				status: 401, kind: "unauthorized", error: "wrong bearer token", headers: invalid},
			attack{name: "query" + path, method: "POST", path: path + "?token=" + testToken, body: body, header: jsonType,
				status: 401, kind: "unauthorized", error: "missing bearer token (a token in the URL is ignored", headers: challenge},
			attack{name: "query-access-token" + path, method: "POST", path: path + "?access_token=" + testToken, body: body, header: jsonType,
				status: 401, kind: "unauthorized", error: "a token in the URL is ignored", headers: challenge},
			attack{name: "basic" + path, method: "POST", path: path, body: body, header: with(map[string]string{"Authorization": "Basic " + testToken}),
				status: 401, kind: "unauthorized", error: `Authorization scheme "Basic" is not Bearer`, headers: challenge},
			attack{name: "empty-bearer" + path, method: "POST", path: path, body: body, header: with(map[string]string{"Authorization": "Bearer "}),
				status: 401, kind: "unauthorized", error: "missing bearer token", headers: challenge},
		)
	}
	checkAttacks(t, ts, ran, attacks)

	// Two Authorization headers, the right one among them.
	t.Run("two-headers", func(t *testing.T) {
		req, err := http.NewRequestWithContext(t.Context(), "POST", ts.url+"/v1/apply", strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Add("Authorization", "Bearer wrong-wrong-wrong-wrong")
		req.Header.Add("Authorization", "Bearer "+testToken)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		answer := decodeJSON(t, resp)
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		assert.Contains(t, answer["error"], "more than one Authorization header")
		assert.Zero(t, ts.runCount())
		assert.NoFileExists(t, ran)
	})

	// The control: the token lets the same request in.
	code, answer := ts.post(t, "/v1/plan", body)
	assert.Equal(t, http.StatusOK, code, answer)
}

// TestServeAttackRunState reads a run's state without the token: refused,
// and the answer tells nothing of the run.
func TestServeAttackRunState(t *testing.T) {
	ts := newTestServer(t, "true")
	code, answer := ts.post(t, "/v1/apply", requestBody(t, "testdata/requests.json"))
	require.Equal(t, http.StatusAccepted, code, answer)
	id := answer["run"].(string)
	ts.follow(t, answer["events"].(string), "")
	for _, path := range []string{"/v1/runs/" + id, "/v1/runs/" + id + "/events", "/v1/runs/nope", "/v1/nothing-here"} {
		for _, auth := range []string{"", "Bearer wrong-token-0123456789abcdef"} {
			h := map[string]string{}
			if auth != "" {
				h["Authorization"] = auth
			}
			code, _, answer := ts.send(t, attack{method: "GET", path: path, header: h})
			assert.Equal(t, http.StatusUnauthorized, code, path)
			assert.Equal(t, "unauthorized", answer["kind"], path)
			assert.NotContains(t, answer, "state", path)
			assert.NotContains(t, answer["error"], id, path)
		}
	}
	// /healthz needs no token, and says nothing of runs.
	code, _, health := ts.send(t, attack{method: "GET", path: "/healthz"})
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, map[string]any{"status": "ok"}, health)
}

// TestServeAttackCrossSite posts from a web page of another site, which a
// browser lets send text/plain and form bodies without asking: refused,
// even were the token somehow sent with it.
func TestServeAttackCrossSite(t *testing.T) {
	exec, ran := marker(t)
	ts := newTestServer(t, exec)
	body := requestBody(t, "testdata/requests.json")
	auth := "Bearer " + testToken
	checkAttacks(t, ts, ran, []attack{
		{name: "text-plain-origin", method: "POST", path: "/v1/apply", body: body,
			header: map[string]string{"Content-Type": "text/plain", "Origin": "https://evil.example"},
			status: 403, kind: "cross_origin", error: `cross-origin request from "https://evil.example" refused`},
		{name: "json-origin-with-token", method: "POST", path: "/v1/apply", body: body,
			header: map[string]string{"Content-Type": "application/json", "Origin": "https://evil.example", "Authorization": auth},
			status: 403, kind: "cross_origin", error: `cross-origin request from "https://evil.example" refused`},
		{name: "sec-fetch-site", method: "POST", path: "/v1/apply", body: body,
			header: map[string]string{"Content-Type": "text/plain", "Sec-Fetch-Site": "cross-site"},
			status: 403, kind: "cross_origin", error: "Sec-Fetch-Site"},
		{name: "sec-fetch-site-with-token", method: "POST", path: "/v1/apply", body: body,
			header: map[string]string{"Content-Type": "application/json", "Sec-Fetch-Site": "cross-site", "Authorization": auth},
			status: 403, kind: "cross_origin", error: "call the API from a program, not from a web page"},
		{name: "same-site-other-origin", method: "POST", path: "/v1/plan", body: body,
			header: map[string]string{"Content-Type": "application/json", "Sec-Fetch-Site": "same-site", "Authorization": auth},
			status: 403, kind: "cross_origin", error: "Sec-Fetch-Site"},
		{name: "text-plain-with-token", method: "POST", path: "/v1/apply", body: body,
			header: map[string]string{"Content-Type": "text/plain", "Authorization": auth},
			status: 415, kind: "unsupported_media_type", error: `Content-Type "text/plain" is not application/json`},
		{name: "form", method: "POST", path: "/v1/apply", body: "requests=" + url.QueryEscape(body),
			header: map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Authorization": auth},
			status: 415, kind: "unsupported_media_type", error: `Content-Type "application/x-www-form-urlencoded" is not application/json`},
		{name: "multipart", method: "POST", path: "/v1/apply", body: "--x\r\n\r\n" + body + "\r\n--x--\r\n",
			header: map[string]string{"Content-Type": "multipart/form-data; boundary=x", "Authorization": auth},
			status: 415, kind: "unsupported_media_type", error: `Content-Type "multipart/form-data; boundary=x"`},
		{name: "no-content-type", method: "POST", path: "/v1/apply", body: body,
			header: map[string]string{"Authorization": auth},
			status: 415, kind: "unsupported_media_type", error: `Content-Type "" is not application/json`},
		{name: "json-lookalike", method: "POST", path: "/v1/apply", body: body,
			header: map[string]string{"Content-Type": "application/jsonp", "Authorization": auth},
			status: 415, kind: "unsupported_media_type", error: `Content-Type "application/jsonp"`},
	})

	// The controls: the same origin, and JSON with a charset, are let in.
	code, _, answer := ts.send(t, attack{method: "POST", path: "/v1/plan", body: body,
		header: map[string]string{"Content-Type": "application/json; charset=utf-8", "Origin": ts.url, "Sec-Fetch-Site": "same-origin", "Authorization": auth}})
	assert.Equal(t, http.StatusOK, code, answer)
}

// TestServeAttackContentTypeEveryPost posts the bodies a web page can post
// without asking (text/plain, forms) to every POST route, the token sent
// along: each is refused before it plans, runs, cancels or resumes
// anything. A POST without a body needs no Content-Type.
func TestServeAttackContentTypeEveryPost(t *testing.T) {
	exec, ran := marker(t)
	ts := newTestServer(t, exec)
	code, created := ts.post(t, "/v1/plans", requestBody(t, "testdata/requests.json"))
	require.Equal(t, http.StatusCreated, code, created)
	planID := created["id"].(string)
	const runID = "AAAAAAAAAAAAAAAAAAAAAAAAAA"
	auth := "Bearer " + testToken
	var attacks []attack
	for _, path := range []string{"/v1/plan", "/v1/apply", "/v1/plans", "/v1/plans/" + planID + "/apply",
		"/v1/runs/" + runID + "/cancel", "/v1/runs/" + runID + "/resume"} {
		for _, bad := range []struct{ contentType, body string }{
			{"text/plain", "{}"}, {"application/x-www-form-urlencoded", "a=1"}, {"multipart/form-data; boundary=x", "--x--\r\n"},
			{"text/plain", ""}, {"", "{}"}, // a type without a body, a body without a type
		} {
			h := map[string]string{"Authorization": auth}
			if bad.contentType != "" {
				h["Content-Type"] = bad.contentType
			}
			attacks = append(attacks, attack{name: path + " " + bad.contentType + " " + bad.body, method: "POST", path: path,
				body: bad.body, header: h, status: http.StatusUnsupportedMediaType, kind: "unsupported_media_type",
				error: fmt.Sprintf("Content-Type %q is not application/json", bad.contentType)})
		}
	}
	checkAttacks(t, ts, ran, attacks)

	// The control: applying the reviewed plan with a bare POST runs it.
	code, _, answer := ts.send(t, attack{method: "POST", path: "/v1/plans/" + planID + "/apply", header: map[string]string{"Authorization": auth}})
	require.Equal(t, http.StatusAccepted, code, answer)
	ts.follow(t, answer["events"].(string), "")
	assert.FileExists(t, ran)
}

// TestServeAttackHost sends requests for other hosts, as a page of a site
// whose name an attacker points at 127.0.0.1 would (DNS rebinding).
func TestServeAttackHost(t *testing.T) {
	exec, ran := marker(t)
	ts := newTestServerWith(t, "testdata/shop.yaml", exec, access{token: testToken, hosts: []string{"deploy.example"}})
	port := ts.url[strings.LastIndex(ts.url, ":")+1:]
	body := requestBody(t, "testdata/requests.json")
	var attacks []attack
	for _, host := range []string{"evil.example:" + port, "evil.example", "EVIL.example:" + port, "127.0.0.1.evil.example:" + port,
		"localhost.evil.example", "deploy.example.evil.example"} {
		for _, path := range []string{"/v1/apply", "/healthz"} {
			method := "POST"
			if path == "/healthz" {
				method = "GET"
			}
			attacks = append(attacks, attack{name: host + path, method: method, path: path, body: body,
				header: map[string]string{"Host": host, "Content-Type": "application/json", "Authorization": "Bearer " + testToken},
				status: http.StatusMisdirectedRequest, kind: "host_not_allowed", error: `host "` + host + `" is not served here`})
		}
	}
	checkAttacks(t, ts, ran, attacks)

	// The loopback names and the allowed one are answered.
	for _, host := range []string{"127.0.0.1:" + port, "localhost:" + port, "LOCALHOST.", "[::1]:" + port, "deploy.example", "Deploy.Example.:" + port} {
		code, _, answer := ts.send(t, attack{method: "POST", path: "/v1/plan", body: body,
			header: map[string]string{"Host": host, "Content-Type": "application/json", "Authorization": "Bearer " + testToken}})
		assert.Equal(t, http.StatusOK, code, "%s: %v", host, answer)
	}
}

// TestServeAttackOversized posts bodies larger than the server reads,
// with and without a length.
func TestServeAttackOversized(t *testing.T) {
	exec, ran := marker(t)
	ts := newTestServer(t, exec)
	valid := requestBody(t, "testdata/requests.json")
	huge := strings.TrimSuffix(strings.TrimSpace(valid), "}") + `, "padding": "` + strings.Repeat("x", maxBody) + `"}`
	code, answer := ts.post(t, "/v1/apply", huge)
	assert.Equal(t, http.StatusRequestEntityTooLarge, code)
	assert.Equal(t, "too_large", answer["kind"])
	assert.Contains(t, answer["error"], "request body larger than 1048576 bytes")

	// Of unknown length, so sent chunked: the server cannot know the
	// length up front.
	req, err := http.NewRequestWithContext(t.Context(), "POST", ts.url+"/v1/apply", io.MultiReader(strings.NewReader(huge), strings.NewReader(huge)))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	resp, err := ts.client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
	assert.Zero(t, ts.runCount())
	assert.NoFileExists(t, ran)
}

// unsetToken clears STACKUP_TOKEN for the test.
func unsetToken(t *testing.T) {
	t.Setenv("STACKUP_TOKEN", "")
	require.NoError(t, os.Unsetenv("STACKUP_TOKEN"))
}

// serveArgs returns "serve", the input flags with an --exec that creates
// the marker file ran, and more.
func serveArgs(t *testing.T, more ...string) (args []string, ran string) {
	e := newApplyEnv(t)
	exec, ran := marker(t)
	return append([]string{"serve", "--topology", e.topo, "--repo", e.repo, "--key", e.key, "--exec", exec,
		"--state-dir", filepath.Join(t.TempDir(), "state")}, more...), ran
}

// TestServeRefusesToStart starts serve with what must not serve: it
// stops before listening, with a usage error naming the flag.
func TestServeRefusesToStart(t *testing.T) {
	unsetToken(t)
	dir := t.TempDir()
	file := func(name, content string) string {
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
		return path
	}
	empty := file("empty", "")
	blank := file("blank", " \n\t\n")
	big := file("big", strings.Repeat("t", maxTokenFile+1))
	short := file("short", "secret\n")
	spaced := file("spaced", "a token with spaces in it\n")
	zeroLink := filepath.Join(dir, "zero-link")
	require.NoError(t, os.Symlink("/dev/zero", zeroLink))
	stateLink := filepath.Join(dir, "state-link")
	require.NoError(t, os.Symlink(t.TempDir(), stateLink))
	stateFile := file("state-file", "")
	certFile, keyFile, _ := selfSigned(t, dir)
	bigPEM := file("big.pem", strings.Repeat("x", maxTLSFile+1))
	tests := []struct {
		name  string
		flags []string
		env   string // STACKUP_TOKEN, if not empty
		error string
	}{
		{"any-address", []string{"--listen", ":0"}, "", `--listen ":0" is not a loopback address: give the token clients must send with --token-file FILE or STACKUP_TOKEN`},
		{"ipv4-unspecified", []string{"--listen", "0.0.0.0:0"}, "", `--listen "0.0.0.0:0" is not a loopback address`},
		{"ipv6-unspecified", []string{"--listen", "[::]:0"}, "", `--listen "[::]:0" is not a loopback address`},
		{"other-address", []string{"--listen", "192.0.2.1:0"}, "", `--listen "192.0.2.1:0" is not a loopback address`},
		{"name", []string{"--listen", "deploy.example:0"}, "", `--listen "deploy.example:0" is not a loopback address`},
		{"no-port", []string{"--listen", "127.0.0.1"}, "", `--listen "127.0.0.1": address 127.0.0.1: missing port in address`},
		{"empty-file", []string{"--token-file", empty}, "", "--token-file: " + empty + ": the token is empty"},
		{"blank-file", []string{"--token-file", blank}, "", "--token-file: " + blank + ": the token is empty"},
		{"big-file", []string{"--token-file", big}, "", "--token-file: " + big + " is larger than 4096 bytes"},
		{"short-token", []string{"--token-file", short}, "", "--token-file: " + short + ": the token has 6 characters, fewer than 16"},
		{"spaced-token", []string{"--token-file", spaced}, "", "--token-file: " + spaced + ": the token has a character other than printable ASCII"},
		{"missing-file", []string{"--token-file", filepath.Join(dir, "nope")}, "", "--token-file: open " + filepath.Join(dir, "nope") + ": no such file"},
		{"directory", []string{"--token-file", dir}, "", "--token-file: open " + dir + ": not a regular file: a directory"},
		{"dev-zero", []string{"--token-file", "/dev/zero"}, "", "--token-file: open /dev/zero: not a regular file: a character device"},
		{"link-to-dev-zero", []string{"--token-file", zeroLink}, "", "--token-file: open " + zeroLink + ": not a regular file: a character device"},
		{"empty-env", nil, " ", "STACKUP_TOKEN: the token is empty"},
		{"short-env", []string{"--listen", "0.0.0.0:0"}, "short", "STACKUP_TOKEN: the token has 5 characters"},
		{"allow-host-port", []string{"--allow-host", "deploy.example:8080"}, "", `--allow-host "deploy.example:8080" is not a host name or IP address`},
		{"allow-host-empty", []string{"--allow-host", ""}, "", `--allow-host "" is not a host name or IP address`},
		{"allow-host-space", []string{"--allow-host", "a b"}, "", `--allow-host "a b" is not a host name or IP address`},
		{"allow-host-ip-port", []string{"--allow-host", "10.0.0.5:80"}, "", `--allow-host "10.0.0.5:80" is not a host name or IP address`},
		{"allow-host-bracketed-port", []string{"--allow-host", "[2001:db8::1]:80"}, "", `--allow-host "[2001:db8::1]:80" is not a host name or IP address`},
		{"allow-host-url", []string{"--allow-host", "http://deploy.example"}, "", `--allow-host "http://deploy.example" is not a host name or IP address`},
		{"tls-half", []string{"--tls-cert", empty}, "", "give --tls-cert and --tls-key together"},
		{"no-state-dir", []string{"--state-dir", ""}, "", "--state-dir is empty: give the DIR"},
		{"keep-no-plans", []string{"--keep-plans", "0"}, "", "--keep-plans must be at least 1"},
		{"state-dir-link", []string{"--state-dir", stateLink}, "", "--state-dir " + stateLink + " is a symbolic link: give the directory it points to"},
		// A trailing slash or dot makes the system follow the link.
		{"state-dir-link-slash", []string{"--state-dir", stateLink + "/"}, "", "--state-dir " + stateLink + "/ is a symbolic link: give the directory it points to"},
		{"state-dir-link-dot", []string{"--state-dir", stateLink + "/."}, "", "--state-dir " + stateLink + "/. is a symbolic link: give the directory it points to"},
		{"state-dir-file", []string{"--state-dir", stateFile}, "", "--state-dir " + stateFile + " is not a directory: give the path of a directory, or of one for the server to create"},
		{"state-dir-no-parent", []string{"--state-dir", filepath.Join(dir, "nope", "state")}, "", "--state-dir " + filepath.Join(dir, "nope", "state") + ": the directory " + filepath.Join(dir, "nope") + " does not exist: create it, or give a path in one that does"},
		{"tls-bad", []string{"--tls-cert", empty, "--tls-key", empty}, "", "--tls-cert " + empty + ", --tls-key " + empty + ": tls: failed to find any PEM data"},
		{"tls-cert-directory", []string{"--tls-cert", dir, "--tls-key", keyFile}, "", "--tls-cert: open " + dir + ": not a regular file: a directory"},
		{"tls-key-directory", []string{"--tls-cert", certFile, "--tls-key", dir}, "", "--tls-key: open " + dir + ": not a regular file: a directory"},
		{"tls-key-dev-zero", []string{"--tls-cert", certFile, "--tls-key", zeroLink}, "", "--tls-key: open " + zeroLink + ": not a regular file: a character device"},
		{"tls-cert-big", []string{"--tls-cert", bigPEM, "--tls-key", keyFile}, "", "--tls-cert: " + bigPEM + " is larger than 1048576 bytes"},
		{"tls-key-big", []string{"--tls-cert", certFile, "--tls-key", bigPEM}, "", "--tls-key: " + bigPEM + " is larger than 1048576 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.env != "" {
				t.Setenv("STACKUP_TOKEN", tt.env)
			}
			args, ran := serveArgs(t, tt.flags...)
			// Cancelled, so that a serve that does start stops at once
			// rather than hang the test.
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			var stdout, stderr strings.Builder
			code := run(ctx, args, &stdout, &stderr)
			r := result{args: args, code: code, stdout: stdout.String(), stderr: stderr.String()}
			assert.Equal(t, exitUsage, r.code, r.stderr)
			assert.Contains(t, r.stderr, tt.error)
			assert.NotContains(t, r.stdout, "listening on")
			assert.NotContains(t, r.stderr, "token: ", "no token made up")
			assert.NoFileExists(t, ran)
		})
	}
}

// startServe runs serve with args, and returns its URL, a channel that
// gets the lines it wrote to stderr up to the one saying how to send a
// made-up token, and a function that stops it and returns its exit code
// and all it wrote to stderr.
func startServe(t *testing.T, args []string) (url string, tokenLines <-chan []string, stop func() (int, string)) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	outR, outW := io.Pipe()
	errR, errW := io.Pipe()
	exit := make(chan int, 1)
	go func() {
		exit <- run(ctx, args, outW, errW)
		outW.Close()
		errW.Close()
	}()
	lines := make(chan []string, 1)
	all := make(chan string, 1)
	go func() {
		var got []string
		sc := bufio.NewScanner(errR)
		for sc.Scan() {
			got = append(got, sc.Text())
			if strings.Contains(sc.Text(), "Bearer") {
				lines <- slices.Clone(got)
			}
		}
		all <- strings.Join(got, "\n")
		io.Copy(io.Discard, errR)
	}()
	line, err := bufio.NewReader(outR).ReadString('\n')
	go io.Copy(io.Discard, outR)
	stop = func() (int, string) {
		cancel()
		select {
		case code := <-exit:
			return code, <-all
		case <-time.After(15 * time.Second): // a failure bound only
			t.Fatal("serve did not shut down")
			return -1, ""
		}
	}
	if err != nil {
		code, stderr := stop()
		t.Fatalf("serve did not start: exit %d, stderr %s", code, stderr)
	}
	url, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
	require.True(t, ok, line)
	return url, lines, stop
}

// TestServeMadeUpTokenOnlyWhenListening: a token serve makes up is
// printed once it listens, not when it cannot (here the port is taken).
func TestServeMadeUpTokenOnlyWhenListening(t *testing.T) {
	unsetToken(t)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()
	args, ran := serveArgs(t, "--listen", taken.Addr().String())
	r := stackup(t, args...)
	assert.Equal(t, exitFailed, r.code, "busy, not a usage error (TestHunt15ListenAddressInUseExitsOne)")
	assert.Contains(t, r.stderr, "--listen: ")
	assert.NotContains(t, r.stderr, "token")
	assert.Empty(t, r.stdout)
	assert.NoFileExists(t, ran)
}

// TestServeGeneratedToken starts serve on loopback without a token: it
// makes one up, prints it once on stderr, and asks for it.
func TestServeGeneratedToken(t *testing.T) {
	unsetToken(t)
	args, ran := serveArgs(t, "--listen", "127.0.0.1:0")
	url, tokenLines, stop := startServe(t, args)
	lines := <-tokenLines
	require.Len(t, lines, 2, "%q", lines)
	token, ok := strings.CutPrefix(lines[0], "stackup serve: token: ")
	require.True(t, ok, lines[0])
	assert.Len(t, token, 43, "32 bytes in unpadded base64url")
	assert.Contains(t, lines[1], `"Authorization: Bearer `+token+`"`)

	post := func(token string) int {
		req, err := http.NewRequestWithContext(t.Context(), "POST", url+"/v1/plan", strings.NewReader(requestBody(t, "testdata/requests.json")))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		client := &http.Client{Timeout: 20 * time.Second}
		defer client.CloseIdleConnections()
		resp, err := client.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var answer map[string]any
		assert.NoError(t, json.NewDecoder(resp.Body).Decode(&answer))
		return resp.StatusCode
	}
	assert.Equal(t, http.StatusUnauthorized, post(""))
	assert.Equal(t, http.StatusUnauthorized, post(strings.Repeat("A", 43)))
	assert.Equal(t, http.StatusOK, post(token))
	code, stderr := stop()
	assert.Equal(t, exitOK, code)
	assert.Equal(t, 1, strings.Count(stderr, token+"\n"), "the token is printed once: %s", stderr)
	assert.NoFileExists(t, ran)

	// Another start makes up another token.
	_, tokenLines, stop = startServe(t, args)
	again := <-tokenLines
	code, _ = stop()
	assert.Equal(t, exitOK, code)
	assert.NotEqual(t, lines[0], again[0])
}

// TestServeEnvToken starts serve with STACKUP_TOKEN: it prints no token,
// and asks for the one given.
func TestServeEnvToken(t *testing.T) {
	t.Setenv("STACKUP_TOKEN", "  "+testToken+"\n")
	args, _ := serveArgs(t, "--listen", "127.0.0.1:0")
	url, _, stop := startServe(t, args)
	client := &http.Client{Timeout: 20 * time.Second, Transport: bearer{testToken, http.DefaultTransport}}
	defer client.CloseIdleConnections()
	resp, err := client.Get(url + "/v1/runs/nope")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, "the token let the call in")
	code, stderr := stop()
	assert.Equal(t, exitOK, code)
	assert.NotContains(t, stderr, testToken, "a token given is not printed")
}

// pipeListener is a listener whose connections are in-memory pipes, so
// that a server and its clients can run in a synctest bubble.
type pipeListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 80} }

// dial connects to the listener.
func (l *pipeListener) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	client, server := net.Pipe()
	select {
	case l.conns <- server:
		return client, nil
	case <-l.done:
		return nil, net.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// bubbleServer is a server as serve configures it, on a pipe listener in
// a synctest bubble, whose steps wait for gate to close. Cleanup stops it.
func bubbleServer(t *testing.T, gate <-chan struct{}, ran *atomic.Int32) (*http.Server, *pipeListener, *http.Client) {
	e := newApplyEnv(t)
	in := inputFlags{topology: "testdata/shop.yaml", repo: e.repo, keys: stringList{e.key}, policy: "newest"}
	env, err := in.load(t.Context())
	require.NoError(t, err)
	rf := runFlags{exec: "true", concurrency: 1}
	require.NoError(t, rf.check())
	srv, err := newServer(t.Context(), env, &rf, access{token: testToken}, newTestState(t), io.Discard, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	srv.exec = upgrade.ExecutorFunc(func(ctx context.Context, s upgrade.Step) error {
		ran.Add(1)
		select {
		case <-gate:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	hs := newHTTPServer(srv.Handler(), slog.New(slog.DiscardHandler), nil)
	ln := newPipeListener()
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	client := &http.Client{Transport: bearer{testToken, &http.Transport{DialContext: ln.dial}}}
	t.Cleanup(func() {
		srv.Close()
		hs.Close()
		<-served
		client.CloseIdleConnections()
		env.Close()
	})
	return hs, ln, client
}

// TestServeStreamOutlivesTimeouts follows a run that takes longer than
// the server's read and write timeouts: the stream goes on to the end.
func TestServeStreamOutlivesTimeouts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		gate := make(chan struct{})
		var ran atomic.Int32
		hs, _, client := bubbleServer(t, gate, &ran)
		resp, err := client.Post("http://127.0.0.1/v1/apply", "application/json", strings.NewReader(requestBody(t, "testdata/requests.json")))
		require.NoError(t, err)
		answer := decodeJSON(t, resp)
		resp.Body.Close()
		require.Equal(t, http.StatusAccepted, resp.StatusCode, answer)

		ts := &testServer{url: "http://127.0.0.1", client: client}
		got := make(chan []sse, 1)
		go func() {
			events, err := ts.events(context.Background(), answer["events"].(string), "")
			assert.NoError(t, err)
			got <- events
		}()
		time.Sleep(hs.ReadTimeout + hs.WriteTimeout + time.Minute) // the fake clock
		synctest.Wait()
		select {
		case events := <-got:
			t.Fatalf("the stream ended while the run went on: %v", events)
		default:
		}
		close(gate)
		events := <-got
		require.NotEmpty(t, events)
		assert.Contains(t, events[len(events)-1].data, `"state":"succeeded"`)
		assert.Equal(t, int32(len(allSteps)), ran.Load())
	})
}

// TestServeSlowHeaders sends a request's headers too slowly (slowloris):
// the server hangs up after its ReadHeaderTimeout, and nothing runs.
func TestServeSlowHeaders(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var ran atomic.Int32
		hs, ln, _ := bubbleServer(t, nil, &ran)
		conn, err := ln.dial(t.Context(), "", "")
		require.NoError(t, err)
		defer conn.Close()
		_, err = io.WriteString(conn, "POST /v1/apply HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "+testToken+"\r\n")
		require.NoError(t, err)
		closed := make(chan error, 1)
		go func() {
			_, err := io.ReadAll(conn)
			closed <- err
		}()
		time.Sleep(hs.ReadHeaderTimeout - time.Second)
		synctest.Wait()
		select {
		case <-closed:
			t.Fatal("the server hung up before its header timeout")
		default:
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		select {
		case err := <-closed:
			assert.NoError(t, err, "the server closed the connection")
		default:
			t.Fatal("the server still waits for the headers")
		}
		assert.Zero(t, ran.Load())
	})
}

// selfSigned writes a self-signed certificate for 127.0.0.1 and its key,
// PEM, to dir, and returns their files and a pool trusting it.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "stackup test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600))
	return certFile, keyFile, pool
}

// TestServeTLS serves HTTPS with --tls-cert and --tls-key; the token is
// still asked for.
func TestServeTLS(t *testing.T) {
	unsetToken(t)
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	tokenFile := filepath.Join(dir, "token")
	require.NoError(t, os.WriteFile(tokenFile, []byte(testToken), 0o600))
	args, ran := serveArgs(t, "--listen", "127.0.0.1:0", "--tls-cert", certFile, "--tls-key", keyFile, "--token-file", tokenFile)
	url, _, stop := startServe(t, args)
	require.True(t, strings.HasPrefix(url, "https://127.0.0.1:"), url)

	transport := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	defer transport.CloseIdleConnections()
	post := func(client *http.Client) (*http.Response, error) {
		return client.Post(url+"/v1/plan", "application/json", strings.NewReader(requestBody(t, "testdata/requests.json")))
	}
	resp, err := post(&http.Client{Timeout: 20 * time.Second, Transport: bearer{testToken, transport}})
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	require.NotNil(t, resp.TLS)

	resp, err = post(&http.Client{Timeout: 20 * time.Second, Transport: transport})
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "TLS does not replace the token")

	_, err = post(&http.Client{Timeout: 20 * time.Second, Transport: bearer{testToken, &http.Transport{}}})
	assert.ErrorContains(t, err, "certificate", "a client that does not trust the certificate gets nothing")
	code, stderr := stop()
	assert.Equal(t, exitOK, code, stderr)
	assert.NoFileExists(t, ran)
}

// FuzzServeGuard sends requests with any Host, Authorization, Origin,
// Sec-Fetch-Site and Content-Type: the server lets in (plans) only those
// with the token, for an allowed host, with a JSON body, and answers every
// other with JSON and one of its refusals.
func FuzzServeGuard(f *testing.F) {
	in := inputFlags{topology: "testdata/shop.yaml", repo: "testdata/repo", policy: "newest"}
	env, err := in.load(context.Background())
	require.NoError(f, err)
	defer env.Close()
	rf := runFlags{exec: "true", concurrency: 1}
	require.NoError(f, rf.check())
	srv, err := newServer(f.Context(), env, &rf, access{token: testToken, hosts: []string{"deploy.example"}}, newTestState(f), io.Discard, slog.New(slog.DiscardHandler))
	require.NoError(f, err)
	defer srv.Close()
	h := srv.Handler()
	body, err := os.ReadFile("testdata/requests.json")
	require.NoError(f, err)

	ok := "Bearer " + testToken
	f.Add("127.0.0.1:8080", ok, "", "", "application/json")
	f.Add("LocalHost.", "bearer  "+testToken+" ", "http://localhost", "same-origin", "application/json; charset=utf-8")
	f.Add("[::1]:1", ok, "", "none", "application/json")
	f.Add("deploy.example:443", ok, "", "", "application/json")
	f.Add("evil.example:8080", ok, "", "", "application/json")
	f.Add("127.0.0.1", "Bearer "+testToken+"x", "", "", "application/json")
	f.Add("127.0.0.1", ok, "https://evil.example", "", "application/json")
	f.Add("127.0.0.1", ok, "", "cross-site", "application/json")
	f.Add("127.0.0.1", ok, "", "", "text/plain")
	f.Add("127.0.0.2", ok, "null", "same-site", "application/x-www-form-urlencoded")
	f.Fuzz(func(t *testing.T, host, auth, origin, site, contentType string) {
		req := httptest.NewRequest("POST", "/v1/plan", bytes.NewReader(body))
		req.Host = host
		for k, v := range map[string]string{"Authorization": auth, "Origin": origin, "Sec-Fetch-Site": site, "Content-Type": contentType} {
			if v != "" {
				req.Header.Set(k, v)
			}
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		var answer map[string]any
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &answer), "not JSON: %q", w.Body.String())
		if w.Code != http.StatusOK {
			assert.Contains(t, []int{http.StatusMisdirectedRequest, http.StatusForbidden, http.StatusUnauthorized, http.StatusUnsupportedMediaType},
				w.Code, "%v", answer)
		}
		// Each condition, checked apart from the server's code.
		scheme, token, _ := strings.Cut(auth, " ")
		authOK := strings.EqualFold(scheme, "bearer") && strings.TrimSpace(token) == testToken
		mt, _, _ := mime.ParseMediaType(contentType)
		jsonOK := mt == "application/json"
		name := host
		if h, _, err := net.SplitHostPort(host); err == nil {
			name = h
		}
		name = strings.ToLower(strings.TrimSuffix(strings.TrimSuffix(strings.TrimPrefix(name, "["), "]"), "."))
		ip := net.ParseIP(name)
		hostOK := name == "localhost" || name == "deploy.example" || ip != nil && ip.IsLoopback()
		siteOK := site != "cross-site" && site != "same-site"
		if w.Code == http.StatusOK {
			assert.True(t, authOK, "authorization %q let in", auth)
			assert.True(t, jsonOK, "Content-Type %q let in", contentType)
			assert.True(t, hostOK, "host %q let in", host)
			assert.True(t, siteOK, "Sec-Fetch-Site %q let in", site)
		} else if origin == "" && (site == "" || site == "same-origin" || site == "none") {
			assert.False(t, authOK && jsonOK && hostOK, "refused: %v", answer)
		}
		srv.mu.Lock()
		defer srv.mu.Unlock()
		assert.Empty(t, srv.runs)
	})
}

func TestServeAllowHost(t *testing.T) {
	for _, tt := range []struct{ name, want string }{
		{"deploy.example", "deploy.example"},
		{"Deploy.Example.", "deploy.example"},
		{"10.0.0.5", "10.0.0.5"},
		{"2001:db8::1", "2001:db8::1"},
		{"[2001:DB8::1]", "2001:db8::1"},
	} {
		got, err := allowedHost(tt.name)
		assert.NoError(t, err, tt.name)
		assert.Equal(t, tt.want, got, tt.name)
	}
}

// syncBuffer is a buffer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestServeLogsRefusals checks that refused calls are logged, without
// the token they carried.
func TestServeLogsRefusals(t *testing.T) {
	var log syncBuffer
	ts := newTestServerLog(t, "testdata/shop.yaml", "true", access{token: testToken}, slog.New(slog.NewTextHandler(&log, nil)))
	sent := "Bearer almost-" + testToken
	for _, h := range []map[string]string{
		{"Authorization": sent},
		{"Host": "evil.example", "Authorization": sent},
		{"Origin": "https://evil.example", "Authorization": sent, "Content-Type": "text/plain"},
	} {
		ts.send(t, attack{method: "POST", path: "/v1/apply", body: "{}", header: h})
	}
	got := log.String()
	assert.Contains(t, got, `msg="call refused" kind=unauthorized`)
	assert.Contains(t, got, `msg="call refused" kind=host_not_allowed`)
	assert.Contains(t, got, `msg="call refused" kind=cross_origin`)
	assert.Contains(t, got, `origin=https://evil.example`)
	assert.NotContains(t, got, testToken)
}
