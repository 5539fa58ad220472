// The stackup dashboard. It holds no data of its own: every call sends
// the bearer token, kept in this tab's sessionStorage, and every text from
// the server goes into the page with textContent, never as HTML.
"use strict";

(function () {
  const tokenKey = "stackup.token";
  const $ = (id) => document.getElementById(id);

  let current = null; // the run shown: {id, abort, rows, lastEvent}
  let runsTimer = null;

  function token() {
    return sessionStorage.getItem(tokenKey) || "";
  }

  // Unauthorized is thrown when the server refuses the token.
  class Unauthorized extends Error {}

  // api calls the server with the token and returns the response; it
  // throws Unauthorized on 401 and an Error with the server's message on
  // another failure.
  async function api(path, options) {
    const opts = Object.assign({}, options || {});
    opts.headers = Object.assign({}, opts.headers || {}, { Authorization: "Bearer " + token() });
    opts.cache = "no-store";
    opts.credentials = "omit";
    const resp = await fetch(path, opts);
    if (resp.status === 401) {
      throw new Unauthorized("the server refused the token");
    }
    if (!resp.ok) {
      let message = resp.status + " " + resp.statusText;
      try {
        const body = await resp.json();
        if (body && typeof body.error === "string") message = body.error;
      } catch (e) { /* not JSON */ }
      throw new Error(message);
    }
    return resp;
  }

  async function apiJSON(path) {
    return (await api(path)).json();
  }

  function failed(err) {
    if (err instanceof Unauthorized) {
      signOut("The server refused the token: enter it again.");
      return;
    }
    if (err && err.name === "AbortError") return;
    $("notice").textContent = "A call to the server failed: " + String(err && err.message ? err.message : err);
  }

  // --- sign in and out ---

  function signOut(message) {
    sessionStorage.removeItem(tokenKey);
    stopRun();
    if (runsTimer) clearInterval(runsTimer);
    runsTimer = null;
    $("app").hidden = true;
    $("signout").hidden = true;
    $("live").hidden = true;
    $("login").hidden = false;
    $("login-error").textContent = message || "";
    $("notice").textContent = "";
    $("token").value = "";
    $("token").focus();
  }

  async function signIn() {
    $("login").hidden = true;
    $("app").hidden = false;
    $("signout").hidden = false;
    try {
      await loadRuns();
    } catch (err) {
      failed(err);
      return;
    }
    if (runsTimer) clearInterval(runsTimer);
    runsTimer = setInterval(() => {
      if (!document.hidden) loadRuns().catch(failed);
    }, 5000);
    const id = runFromHash();
    if (id) openRun(id);
  }

  // --- helpers ---

  function el(tag, className, text) {
    const e = document.createElement(tag);
    if (className) e.className = className;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  // stateClass is the CSS class of a state; a state from the server is
  // used only if it is a plain word.
  function stateClass(state) {
    return /^[a-z_]{1,32}$/.test(state) ? "state-" + state : "state-unknown";
  }

  function badge(node, state) {
    node.className = "badge " + stateClass(state);
    node.textContent = String(state).replace(/_/g, " ");
    node.dataset.state = String(state);
  }

  function when(t) {
    if (!t) return "—";
    const d = new Date(t);
    if (isNaN(d)) return String(t);
    return d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
  }

  function shortID(id) {
    id = String(id);
    return id.length > 14 ? id.slice(0, 12) + "…" : id;
  }

  function runFromHash() {
    const m = /^#run=(.+)$/.exec(location.hash);
    if (!m) return "";
    try {
      return decodeURIComponent(m[1]);
    } catch (e) {
      return "";
    }
  }

  // --- the list of runs ---

  async function loadRuns() {
    const data = await apiJSON("/v1/runs");
    $("notice").textContent = "";
    const list = $("runs");
    const runs = Array.isArray(data.runs) ? data.runs : [];
    $("runs-empty").hidden = runs.length > 0;
    list.replaceChildren();
    for (const r of runs) {
      const li = el("li", "run-item");
      const button = el("button", "run-button");
      button.type = "button";
      button.dataset.run = String(r.run);
      if (current && current.id === r.run) button.classList.add("selected");
      const top = el("div", "run-top");
      top.append(el("code", "run-short", shortID(r.run)));
      const b = el("span");
      badge(b, r.state);
      top.append(b);
      const apps = el("div", "run-apps", (r.applications || []).join(", ") || "—");
      const meta = el("div", "run-meta", when(r.started) + " · " + (r.succeeded || 0) + "/" + (r.total || 0) + " steps");
      button.append(top, apps, meta);
      button.addEventListener("click", () => {
        if (runFromHash() === r.run) openRun(r.run);
        else location.hash = "#run=" + encodeURIComponent(r.run);
      });
      li.append(button);
      list.append(li);
    }
  }

  // --- one run ---

  function stopRun() {
    if (current && current.abort) current.abort.abort();
    if (current && current.graphURL) URL.revokeObjectURL(current.graphURL);
    current = null;
    $("live").hidden = true;
  }

  function showStatus(st) {
    $("run-id").textContent = String(st.run);
    badge($("run-state"), st.state);
    $("run-plan").textContent = String(st.plan);
    $("run-apps").textContent = (st.applications || []).join(", ") || "—";
    $("run-started").textContent = when(st.started);
    $("run-finished").textContent = st.finished ? when(st.finished) : "—";
    const total = st.total || 0;
    const done = (st.succeeded || 0) + (st.failed || 0) + (st.skipped || 0) + (st.rolled_back || 0);
    $("run-progress").max = Math.max(total, 1);
    $("run-progress").value = done;
    const parts = [(st.succeeded || 0) + " of " + total + " succeeded"];
    if (st.failed) parts.push(st.failed + " failed");
    if (st.skipped) parts.push(st.skipped + " skipped");
    if (st.rolled_back) parts.push(st.rolled_back + " rolled back");
    $("run-counts").textContent = parts.join(", ");
    const problems = [];
    if (st.error) problems.push(String(st.error));
    if (current && current.planError) problems.push(current.planError);
    $("run-error").textContent = problems.join("\n");
    if (current && st.steps) {
      for (const [step, state] of Object.entries(st.steps)) setStep(step, state, null);
    }
  }

  function setStep(step, state, time) {
    const row = current && current.rows.get(step);
    if (!row) return;
    badge(row.state, state);
    row.tr.dataset.state = String(state);
    if (time) row.updated.textContent = new Date(time).toLocaleTimeString();
  }

  function showSteps(plan, status) {
    const body = $("steps");
    body.replaceChildren();
    current.rows = new Map();
    for (const s of plan.steps || []) {
      const tr = el("tr", "step-row");
      tr.dataset.step = String(s.id);
      const idCell = el("td");
      idCell.append(el("code", "", s.id));
      const kind = el("td");
      if (s.kind) kind.append(el("span", "kind kind-" + (s.kind === "platform" ? "platform" : "application"), s.kind));
      const change = el("td", "change", s.node ? s.node + ": " + s.from + " → " + s.to : "");
      const stateCell = el("td");
      const state = el("span");
      stateCell.append(state);
      const updated = el("td", "muted", "");
      tr.append(idCell, kind, change, stateCell, updated);
      body.append(tr);
      current.rows.set(String(s.id), { tr: tr, state: state, updated: updated });
      badge(state, (status.steps && status.steps[s.id]) || "pending");
    }
  }

  async function showGraph(planID, run) {
    const box = $("graph");
    try {
      const resp = await api("/v1/plans/" + encodeURIComponent(planID) + "/graph.svg", { signal: run.abort.signal });
      const blob = await resp.blob();
      if (current !== run) return;
      const svg = new Blob([blob], { type: "image/svg+xml" });
      run.graphURL = URL.createObjectURL(svg);
      const img = el("img", "graph-img");
      img.id = "graph-img";
      img.alt = "The plan's steps as a graph, a column per level";
      img.addEventListener("load", () => {
        // Scaled to fit when that keeps it readable; else scrolled.
        img.classList.toggle("fit", img.naturalWidth <= 2 * box.clientWidth);
      });
      img.src = run.graphURL;
      box.replaceChildren(img);
    } catch (err) {
      if (current === run) box.replaceChildren(el("p", "error", "No picture: " + (err && err.message ? err.message : err)));
      if (err instanceof Unauthorized) failed(err);
    }
  }

  async function openRun(id) {
    stopRun();
    const run = { id: id, abort: new AbortController(), rows: new Map(), lastEvent: "" };
    current = run;
    for (const b of document.querySelectorAll(".run-button")) {
      b.classList.toggle("selected", b.dataset.run === id);
    }
    $("run-none").hidden = true;
    $("run-body").hidden = false;
    $("run-error").textContent = "";
    $("steps").replaceChildren();
    $("plan-text").textContent = "";
    $("graph").replaceChildren(el("p", "muted", "Loading…"));
    let status;
    try {
      status = await apiJSON("/v1/runs/" + encodeURIComponent(id));
    } catch (err) {
      if (current === run) failed(err);
      return;
    }
    if (current !== run) return;
    let plan = null, planError = null;
    try {
      plan = await apiJSON("/v1/plans/" + encodeURIComponent(status.plan));
    } catch (err) {
      if (err instanceof Unauthorized) return failed(err);
      planError = err;
    }
    if (current !== run) return;
    if (plan) {
      showSteps(plan.plan || {}, status);
      $("plan-text").textContent = String(plan.text || "");
      showGraph(status.plan, run);
    } else {
      // Without its plan, the steps the run names, without their changes.
      const steps = Object.keys(status.steps || {}).sort().map((s) => ({ id: s, kind: "", node: "", from: "", to: "" }));
      showSteps({ steps: steps }, status);
      $("graph").replaceChildren(el("p", "muted", "No picture without the plan."));
    }
    if (planError) run.planError = "The run's plan cannot be read: " + planError.message;
    showStatus(status);
    follow(run);
  }

  // follow reads the run's event stream with fetch, since EventSource
  // cannot send the token, and updates the steps as events come; after a
  // broken stream it reconnects with Last-Event-ID.
  async function follow(run) {
    $("live").hidden = false;
    for (let attempt = 0; current === run; attempt++) {
      try {
        const headers = { Accept: "text/event-stream" };
        if (run.lastEvent) headers["Last-Event-ID"] = run.lastEvent;
        const resp = await api("/v1/runs/" + encodeURIComponent(run.id) + "/events", { headers: headers, signal: run.abort.signal });
        const reader = resp.body.getReader();
        const decoder = new TextDecoder();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
          let end;
          while ((end = buffer.indexOf("\n\n")) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            if (handleEvent(run, block)) {
              if (current === run) $("live").hidden = true;
              return;
            }
          }
        }
      } catch (err) {
        if (err instanceof Unauthorized) {
          failed(err);
          return;
        }
        if (err && err.name === "AbortError") return;
      }
      // The stream broke before "done": wait a little and reconnect.
      await new Promise((resolve) => setTimeout(resolve, Math.min(1000 * (attempt + 1), 10000)));
    }
  }

  // handleEvent handles one server-sent event and reports whether it ends the
  // stream.
  function handleEvent(run, block) {
    let name = "message", data = "", id = "";
    for (const line of block.split("\n")) {
      if (line === "" || line.startsWith(":")) continue;
      const i = line.indexOf(":");
      const field = i < 0 ? line : line.slice(0, i);
      let value = i < 0 ? "" : line.slice(i + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "event") name = value;
      else if (field === "data") data += (data ? "\n" : "") + value;
      else if (field === "id") id = value;
    }
    if (current !== run || data === "") return false;
    if (id) run.lastEvent = id;
    let payload;
    try {
      payload = JSON.parse(data);
    } catch (e) {
      return false;
    }
    if (name === "step") {
      const state = { started: "running", retrying: "running" }[payload.kind] || payload.kind;
      setStep(String(payload.step), state, payload.time);
      const total = payload.total || 0;
      $("run-progress").max = Math.max(total, 1);
      $("run-progress").value = payload.done || 0;
      return false;
    }
    if (name === "done") {
      showStatus(payload);
      loadRuns().catch(failed);
      return true;
    }
    return false;
  }

  // --- start ---

  document.addEventListener("DOMContentLoaded", () => {
    $("login-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const t = $("token").value.trim();
      if (!t) return;
      sessionStorage.setItem(tokenKey, t);
      $("token").value = "";
      signIn();
    });
    $("signout").addEventListener("click", () => signOut(""));
    $("refresh").addEventListener("click", () => loadRuns().catch(failed));
    window.addEventListener("hashchange", () => {
      const id = runFromHash();
      if (id && token()) openRun(id);
    });
    if (token()) signIn();
    else signOut("");
  });
})();
