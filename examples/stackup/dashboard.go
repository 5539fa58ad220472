package main

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strconv"
)

// web holds the dashboard: the page, its script and its style sheet. They
// hold no data, so they are served without a token; the script asks for
// the token and sends it with every call it makes.
//
//go:embed web
var web embed.FS

// pageCSP is the Content-Security-Policy of the dashboard: scripts,
// styles and calls from this origin only, nothing inline, the plan's
// picture from a blob: URL the script makes, and no framing.
const pageCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob:; connect-src 'self'; " +
	"object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// graphCSP is the Content-Security-Policy of a plan's picture, which
// needs nothing.
const graphCSP = "default-src 'none'; frame-ancestors 'none'"

// securityHeaders sets the headers every dashboard answer carries.
func securityHeaders(h http.Header, csp string) {
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
}

// dashboard is the page and its assets, read from web once.
type dashboard struct {
	page   []byte           // index.html, rendered
	assets map[string]asset // by name under /ui/
}

type asset struct {
	data        []byte
	contentType string
	etag        string
}

// newDashboard renders the page, whose asset URLs carry their hash so that
// a browser never mixes a cached script with a new page.
func newDashboard() (*dashboard, error) {
	d := &dashboard{assets: map[string]asset{}}
	types := map[string]string{".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
	names := map[string]string{}
	for _, name := range []string{"app.js", "style.css"} {
		data, err := fs.ReadFile(web, "web/"+name)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(data)
		tag := hex.EncodeToString(sum[:8])
		d.assets[name] = asset{data: data, contentType: types[path.Ext(name)], etag: `"` + tag + `"`}
		names[name] = "/ui/" + name + "?v=" + tag
	}
	tmpl, err := template.ParseFS(web, "web/index.html")
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := tmpl.Execute(&b, map[string]any{"Program": programName, "Script": names["app.js"], "Style": names["style.css"]}); err != nil {
		return nil, err
	}
	d.page = b.Bytes()
	return d, nil
}

// routeDashboard adds the dashboard to the server's routes: the page and
// its assets on mux, without a token, and the picture of a plan on api,
// behind the token like every call that reads data.
func (s *server) routeDashboard(mux, api *http.ServeMux) {
	api.HandleFunc("GET /v1/plans/{id}/graph.svg", s.handlePlanGraph)
	d, err := newDashboard()
	if err != nil { // a build's mistake, which every dashboard test catches
		s.log.Error("the embedded dashboard is broken", "err", err)
		broken := func(w http.ResponseWriter, r *http.Request) {
			writeError(w, http.StatusInternalServerError, "internal", fmt.Errorf("the embedded dashboard is broken: %w", err))
		}
		mux.HandleFunc("GET /{$}", broken)
		mux.HandleFunc("GET /ui/{name}", broken)
		return
	}
	mux.HandleFunc("GET /{$}", d.servePage)
	mux.HandleFunc("GET /ui/{name}", d.serveAsset)
}

func (d *dashboard) servePage(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	securityHeaders(h, pageCSP)
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("Content-Length", strconv.Itoa(len(d.page)))
	w.Write(d.page)
}

func (d *dashboard) serveAsset(w http.ResponseWriter, r *http.Request) {
	a, ok := d.assets[r.PathValue("name")]
	if !ok {
		writeError(w, http.StatusNotFound, "not_found", fmt.Errorf("no dashboard file %q", truncate(r.PathValue("name"))))
		return
	}
	h := w.Header()
	securityHeaders(h, pageCSP)
	h.Set("Content-Type", a.contentType)
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", a.etag)
	if r.Header.Get("If-None-Match") == a.etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Length", strconv.Itoa(len(a.data)))
	w.Write(a.data)
}

// handlePlanGraph answers with the picture of a stored plan, in SVG.
func (s *server) handlePlanGraph(w http.ResponseWriter, r *http.Request) {
	plan := s.storedPlan(w, r)
	if plan == nil {
		return
	}
	var b bytes.Buffer
	if err := writePlanSVG(&b, plan); err != nil {
		writeError(w, http.StatusInternalServerError, "internal", err)
		return
	}
	h := w.Header()
	securityHeaders(h, graphCSP)
	h.Set("Content-Type", "image/svg+xml")
	h.Set("Cache-Control", "private, max-age=3600") // a plan never changes
	w.Write(b.Bytes())
}

// count returns "1 step", "2 steps".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}
