package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// chromium returns the path of a Chromium or Chrome binary: $STACKUP_CHROMIUM,
// or the first of the usual names on $PATH. Without one the test skips,
// or fails where STACKUP_REQUIRE_BROWSER=1 (as in CI).
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("STACKUP_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "no browser: install Debian's chromium (apt-get install -y chromium) or set STACKUP_CHROMIUM to a Chromium binary"
	if os.Getenv("STACKUP_REQUIRE_BROWSER") == "1" {
		t.Fatal(msg + "; STACKUP_REQUIRE_BROWSER=1 forbids skipping")
	}
	t.Skip(msg)
	return ""
}

// browser starts a headless Chromium and returns a context for chromedp
// actions in one tab, bounded by a generous failure bound, and the
// problems the page reports on its console (CSP violations, failed loads
// and exceptions).
func browser(t *testing.T) (context.Context, func() []string) {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox, // the sandbox cannot start as root, as in CI containers
		chromedp.DisableGPU,
		chromedp.WindowSize(1360, 900),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Env("TMPDIR="+t.TempDir()), // its org.chromium.Chromium.* files
	)
	actx, cancel := chromedp.NewExecAllocator(t.Context(), opts...)
	t.Cleanup(cancel)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	ctx, cancel = context.WithTimeout(ctx, 3*time.Minute) // a failure bound only
	t.Cleanup(cancel)

	var mu sync.Mutex
	var problems []string
	messages := chromedp.Console(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			if (m.Type == chromedp.ConsoleError || m.IsException()) && !strings.HasSuffix(m.URL, "/favicon.ico") {
				mu.Lock()
				problems = append(problems, m.String()+" ("+m.URL+")")
				mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return ctx, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(problems)
	}
}

// poll waits for a JavaScript expression to be truthy and returns its
// value; the bound is only a failure bound.
func poll[T any](expression string) chromedp.Action[T] {
	return chromedp.Poll[T](expression, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(2*time.Minute))
}

// screenshot saves a screenshot of the page, in PNG, to the file
// $STACKUP_SCREENSHOT with suffix before its extension, if it is set.
func screenshot(t *testing.T, ctx context.Context, suffix string) {
	t.Helper()
	file := os.Getenv("STACKUP_SCREENSHOT")
	if file == "" {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: PNG
	require.NoError(t, err)
	ext := filepath.Ext(file)
	require.NoError(t, os.WriteFile(strings.TrimSuffix(file, ext)+suffix+ext, png, 0o644))
}

// TestDashboardBrowser follows a run in a real browser: it signs in (a
// wrong token first), opens the run while a step blocks on a gate, sees
// that step running, breaks the event stream, releases the gate, and sees
// every step succeed and the plan's picture. With STACKUP_SCREENSHOT=FILE it saves screenshots.
func TestDashboardBrowser(t *testing.T) {
	ctx, problems := browser(t)
	dir := t.TempDir()
	started, gate := filepath.Join(dir, "started"), filepath.Join(dir, "gate")
	blocked := allSteps[2]
	ts := newTestServer(t, gatedExec(blocked, started, gate))
	code, created := ts.post(t, "/v1/plans", requestBody(t, "testdata/requests.json"))
	require.Equal(t, http.StatusCreated, code, created)
	code, answer := ts.post(t, "/v1/plans/"+created["id"].(string)+"/apply", "")
	require.Equal(t, http.StatusAccepted, code, answer)
	run := answer["run"].(string)
	waitFile(t, started)

	row := func(step, state string) chromedp.CSS {
		return chromedp.CSS(fmt.Sprintf(`tr.step-row[data-step=%q][data-state=%q]`, step, state))
	}
	runButton := chromedp.CSS(fmt.Sprintf(`.run-button[data-run=%q]`, run))
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(ts.url+"/"),
		chromedp.WaitVisible(chromedp.CSS(`#token`)),
		chromedp.SendKeys(chromedp.CSS(`#token`), "wrong-token-0123456789"),
		chromedp.Click(chromedp.CSS(`#login-button`)),
	))
	loginError, err := chromedp.Run(ctx, poll[string](`document.getElementById("login-error").textContent`))
	require.NoError(t, err)
	assert.Contains(t, loginError, "The server refused the token")

	require.NoError(t, chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`#token`), testToken),
		chromedp.Click(chromedp.CSS(`#login-button`)),
		chromedp.WaitVisible(runButton),
		chromedp.Click(runButton),
		chromedp.WaitVisible(row(blocked, "running")),
		chromedp.WaitVisible(row(allSteps[0], "succeeded")),
		chromedp.WaitVisible(chromedp.CSS(`#run-state[data-state="running"]`)),
	))
	blockedText, err := chromedp.Run(ctx, chromedp.Text(row(blocked, "running")+" .badge"))
	require.NoError(t, err)
	assert.Equal(t, "running", strings.ToLower(blockedText))
	later, err := chromedp.Run(ctx, chromedp.Text(row(allSteps[7], "pending")+" .badge"))
	require.NoError(t, err)
	assert.Equal(t, "pending", strings.ToLower(later))
	screenshot(t, ctx, "-running")
	// A broken stream: the page reconnects, after the last event it saw.
	ts.hs.CloseClientConnections()
	require.NoError(t, os.WriteFile(gate, nil, 0o600))

	require.NoError(t, chromedp.Do(ctx,
		chromedp.WaitVisible(chromedp.CSS(`#run-state[data-state="succeeded"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#graph-img`)),
		chromedp.WaitVisible(runButton+" .state-succeeded"),
	))
	succeeded, err := chromedp.Run(ctx, poll[int](fmt.Sprintf(
		`document.querySelectorAll('tr.step-row[data-state="succeeded"]').length === %d && %[1]d`, len(allSteps))))
	require.NoError(t, err)
	assert.Equal(t, len(allSteps), succeeded)
	width, err := chromedp.Run(ctx, poll[int](`document.getElementById("graph-img").complete && document.getElementById("graph-img").naturalWidth`))
	require.NoError(t, err)
	assert.Greater(t, width, 500, "the plan's picture is drawn")
	runText, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#run-id`)))
	require.NoError(t, err)
	assert.Equal(t, run, runText)
	planText, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS(`#plan-text`)))
	require.NoError(t, err)
	assert.Contains(t, planText, "platform/java-1@17.0.13")
	screenshot(t, ctx, "")
	// The problems the page reports are the wrong token's 401 and the
	// broken stream, nothing else (such as a CSP violation).
	for _, p := range problems() {
		assert.Regexp(t, `401|ERR_INCOMPLETE_CHUNKED_ENCODING .*/events\)$`, p, "the page reported a problem")
	}
}

// TestDashboardBrowserHostile shows a run whose record, in the state
// directory, is full of markup and script: the page shows it all as text,
// runs none of it, and makes no element of it.
func TestDashboardBrowserHostile(t *testing.T) {
	ctx, _ := browser(t)
	stateDir := filepath.Join(t.TempDir(), "state")
	state, err := openStateDir(stateDir)
	require.NoError(t, err)
	run := rand.Text()
	rec := runRecord{Run: run, Plan: `sha256:<img src=x onerror="window.pwned=1">`, State: `failed" onmouseover="window.pwned=4`,
		Applications: []topology.AppID{`<script>window.pwned=2</script>`}, Error: `<img src=x onerror="window.pwned=3"><b>bold</b>`,
		Started: time.Now().UTC(), Steps: map[upgrade.StepID]string{`<i>step</i>`: `<u>x</u>`}}
	require.NoError(t, state.saveRun(&rec))
	require.NoError(t, state.Close())
	ts := startTestServer(t, newApplyEnv(t), stateDir, t.Context(), 0, "testdata/shop.yaml", "true", access{token: testToken}, slog.New(slog.DiscardHandler))

	runButton := chromedp.CSS(fmt.Sprintf(`.run-button[data-run=%q]`, run))
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(ts.url+"/"),
		chromedp.WaitVisible(chromedp.CSS(`#token`)),
		chromedp.SendKeys(chromedp.CSS(`#token`), testToken),
		chromedp.Click(chromedp.CSS(`#login-button`)),
		chromedp.WaitVisible(runButton),
		chromedp.Click(runButton),
		chromedp.WaitVisible(chromedp.CSS(`tr.step-row`)),
	))
	errorText, err := chromedp.Run(ctx, poll[string](`document.getElementById("run-error").textContent.includes("plan cannot be read") && document.getElementById("run-error").textContent`))
	require.NoError(t, err)
	assert.Contains(t, errorText, `<img src=x onerror="window.pwned=3"><b>bold</b>`)
	for sel, want := range map[string]string{
		`#run-apps`:                   `<script>window.pwned=2</script>`,
		`#run-plan`:                   `sha256:<img src=x onerror="window.pwned=1">`,
		`tr.step-row code`:            `<i>step</i>`,
		`tr.step-row .badge`:          `<u>x</u>`,
		string(runButton) + " .badge": `failed" onmouseover="window.pwned=4`,
	} {
		got, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS(sel)))
		require.NoError(t, err, sel)
		assert.Equal(t, want, got, "%s shows the text as it is", sel)
	}
	made, err := chromedp.Run(ctx, chromedp.Evaluate[string](`[window.pwned === undefined ? "" : "pwned " + window.pwned,
		document.querySelectorAll("main img, main b, main i, main u, main script, body > script:not([src])").length].join(" ")`))
	require.NoError(t, err)
	assert.Equal(t, " 0", made, "no script ran and no element came from the data")
	class, err := chromedp.Run(ctx, chromedp.AttributeValue(runButton+" .badge", "class"))
	require.NoError(t, err)
	assert.Equal(t, "badge state-unknown", class.Value, "a state that is not a word is no class")

	// A run that is not one, named in the page's address.
	require.NoError(t, chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`location.hash = "#run=" + encodeURIComponent("../<b>x</b>")`)))
	notice, err := chromedp.Run(ctx, poll[string](`document.getElementById("notice").textContent`))
	require.NoError(t, err)
	assert.Equal(t, `A call to the server failed: no run "../<b>x</b>"`, notice)
	made, err = chromedp.Run(ctx, chromedp.Evaluate[string](`String(document.querySelectorAll("main b").length)`))
	require.NoError(t, err)
	assert.Equal(t, "0", made)
}
