package upgrade

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade/internal/dag"
	"github.com/stackup/stackup/version"
)

// Schema is the value of the "schema" field of a plan in JSON. It changes
// only when the JSON changes incompatibly.
//
// The JSON form of a plan is an object with these fields, each as the Go
// field of the same name documents:
//
//	schema     "stackup.plan/v3"
//	id         Plan.ID
//	requests   [{application, replaces, template}]
//	steps      [{id, kind ("platform" | "application"), app, node, template, type,
//	            from, to, package?, request?, after?, reason}]
//	barriers   [{id, after, reason?}]
//	satisfied  [{node, template, version, demand}]
//	warnings   [string]
//	decisions  [{node, demands, candidates | candidates_of}]
//
// Versions and constraints are strings; optional fields are left out when
// empty. An application step's "request" is the index of its request in
// "requests" (0 when left out), whose template it deploys. Templates are
// {id, type, version, requirements: [{name, template, constraint,
// relation}]}; packages are {type, version, from, requires: [{type,
// constraint}], location, digest, size}; demands are {constraint, app,
// template, version, node, package}. A decision whose candidates are
// those of an earlier decision names its node in "candidates_of" instead:
// nodes decided alike are many. Schema v1 copied each application step's
// template into it as "new_template"; v2 held each node's demands and
// candidates on its last step; ReadJSON refuses both: plan again.
const Schema = "stackup.plan/v3"

// MaxPlanSize is the largest plan ReadJSON accepts, in bytes.
const MaxPlanSize = 256 << 20

// A plan is written with demands of type Demand, and read with demands of
// type demandJSON.
type planJSON[D any] struct {
	Schema string `json:"schema"`
	*Plan
	Decisions []decisionJSON[D] `json:"decisions,omitempty"` // in place of Plan's
}

// decisionJSON is a Decision in JSON.
type decisionJSON[D any] struct {
	Node         topology.NodeID `json:"node"`
	Demands      []D             `json:"demands"`
	Candidates   []Candidate     `json:"candidates,omitempty"`
	CandidatesOf topology.NodeID `json:"candidates_of,omitempty"`
}

// demandJSON is a Demand as read, its constraint as text, which
// decisionsOf parses: a fleet's plan repeats a few constraints in a
// hundred thousand demands, and parsing each took 40% of reading it.
type demandJSON struct {
	Demand
	Constraint string `json:"constraint"` // in place of Demand's
}

// decisionsJSON returns the decisions in JSON, each list of candidates
// written once.
func decisionsJSON(ds []Decision) []decisionJSON[Demand] {
	out := make([]decisionJSON[Demand], len(ds))
	// Each list written, by where it starts and its length (a list may
	// be the start of another), and the node it is written at.
	type list struct {
		first *Candidate
		n     int
	}
	written := map[list]topology.NodeID{}
	for i, d := range ds {
		out[i] = decisionJSON[Demand]{Node: d.Node, Demands: d.Demands, Candidates: d.Candidates}
		if len(d.Candidates) == 0 {
			continue
		}
		if at, ok := written[list{&d.Candidates[0], len(d.Candidates)}]; ok {
			out[i].Candidates, out[i].CandidatesOf = nil, at
			continue
		}
		for j := i - 1; j >= max(i-recentSize, 0); j-- { // lists equal, not shared
			if out[j].CandidatesOf == "" && sameCandidates(out[j].Candidates, d.Candidates) {
				out[i].Candidates, out[i].CandidatesOf = nil, out[j].Node
				break
			}
		}
		if out[i].CandidatesOf == "" {
			written[list{&d.Candidates[0], len(d.Candidates)}] = d.Node
		}
	}
	return out
}

// decisionsOf returns the decisions that ds holds in JSON, or an error
// for a "candidates_of" that names no earlier decision with candidates.
func decisionsOf(ds []decisionJSON[demandJSON]) ([]Decision, error) {
	out := make([]Decision, len(ds))
	index := make(map[topology.NodeID]int, len(ds))
	constraints := map[string]version.Constraint{} // each text parsed once
	for i, d := range ds {
		out[i] = Decision{Node: d.Node, Candidates: d.Candidates}
		if d.Demands != nil {
			out[i].Demands = make([]Demand, len(d.Demands))
		}
		for k, dj := range d.Demands {
			c, ok := constraints[dj.Constraint]
			if !ok {
				var err error
				if c, err = version.ParseConstraint(dj.Constraint); err != nil {
					return nil, fmt.Errorf("upgrade: %w: decisions[%d].demands[%d].constraint: %w", ErrInvalidPlan, i, k, err)
				}
				constraints[dj.Constraint] = c
			}
			out[i].Demands[k] = dj.Demand
			out[i].Demands[k].Constraint = c
		}
		if d.CandidatesOf != "" {
			j, ok := index[d.CandidatesOf]
			if !ok || len(d.Candidates) > 0 {
				return nil, fmt.Errorf("upgrade: %w: decisions[%d]: candidates_of %s names no earlier decision with candidates, or candidates are there too",
					ErrInvalidPlan, i, textID(d.CandidatesOf))
			}
			out[i].Candidates = out[j].Candidates
		}
		if len(out[i].Candidates) > 0 {
			index[d.Node] = i
		}
	}
	return out, nil
}

// WriteJSON writes the plan as indented JSON in the documented schema
// (see [Schema]). Its output is deterministic.
// It refuses, with an error matching ErrInvalidPlan, a plan with a step of
// no kind, which it could not write, as a plan built by hand may have.
func (p *Plan) WriteJSON(w io.Writer) error {
	for i := range p.Steps {
		if err := checkKind(&p.Steps[i]); err != nil {
			return err
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(planJSON[Demand]{Schema: Schema, Plan: p, Decisions: decisionsJSON(p.Decisions)})
}

// ReadJSON reads a plan written by WriteJSON, of at most MaxPlanSize
// bytes, after a byte-order mark if an editor put one there. It refuses,
// with an error matching ErrInvalidPlan, a plan of another schema, whose
// ID is not the hash of its content (it was edited), followed by anything
// but white space (another plan appended to the file), that gives a key
// twice, with an After list out of order or naming a step twice, or
// barriers out of order, whose steps cannot be ordered or are not in
// order (each after the steps its After list names), with a step whose To
// is not the version of the package or template it deploys, or whose From
// its package does not upgrade, with an
// application step of an application or template its request does not
// replace, or a platform step that names a request, with requests that
// PlanAll refuses, with a package that pkgsource.Package.Validate refuses
// (an error matching pkgsource.ErrInvalid too), or which holds an
// identifier outside the safe set of topology.CheckID (an error matching
// topology.ErrInvalidID too, naming the field).
func ReadJSON(r io.Reader) (*Plan, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxPlanSize+1))
	if err != nil {
		return nil, fmt.Errorf("upgrade: reading plan: %w", err)
	}
	if len(data) > MaxPlanSize {
		return nil, fmt.Errorf("upgrade: %w: larger than %d bytes", ErrInvalidPlan, MaxPlanSize)
	}
	// An editor may have put a byte-order mark before the plan while it
	// was reviewed; the plan's ID is of its content, not of its bytes.
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	if err := topology.CheckNotEmpty(data, `a plan as Plan.WriteJSON writes it, a JSON object with "schema": "`+Schema+`"; plan again to make one`); err != nil {
		return nil, fmt.Errorf("upgrade: %w: %w", ErrInvalidPlan, err)
	}
	in := planJSON[demandJSON]{Plan: &Plan{}}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		// A plan of another schema fails on its fields: name the schema.
		var other struct{ Schema string }
		if json.Unmarshal(data, &other) == nil && other.Schema != Schema {
			return nil, schemaError(other.Schema)
		}
		return nil, fmt.Errorf("upgrade: %w: %w", ErrInvalidPlan, topology.JSONError(data, err, &in))
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("upgrade: %w: data after the plan object: a plan file holds one plan, as WriteJSON writes it: write each plan to a file of its own", ErrInvalidPlan)
	}
	// encoding/json keeps the last of two keys in silence, where the
	// person who reviewed the file may have read the first.
	if err := topology.CheckJSONKeys(data); err != nil {
		return nil, fmt.Errorf("upgrade: %w: %w", ErrInvalidPlan, err)
	}
	if err := checkRead(&in); err != nil {
		return nil, err
	}
	return in.Plan, nil
}

// checkRead checks the plan ReadJSON decoded, in, as ReadJSON says, and
// completes it: its decisions, and its steps' links to their requests.
func checkRead(in *planJSON[demandJSON]) (err error) {
	if in.Schema != Schema {
		return schemaError(in.Schema)
	}
	if in.Plan.Decisions, err = decisionsOf(in.Decisions); err != nil {
		return err
	}
	if err := cmp.Or(checkPlanIDs(in.Plan), checkRequests(in.Plan), checkDecisions(in.Plan)); err != nil {
		return err
	}
	if id := planID(in.Plan); id != in.ID {
		return fmt.Errorf("upgrade: %w: id %s does not match its content (%s): the plan was changed after it was made; "+
			"review it again and plan again, or have the program that changed it set its ID to Plan.ComputeID", ErrInvalidPlan, textID(in.ID), id)
	}
	if err := checkSorted(in.Plan); err != nil {
		return err
	}
	g, order, err := stepGraph(in.Plan)
	if err != nil {
		return err
	}
	if err := checkOrder(in.Plan, g, order); err != nil {
		return err
	}
	return linkRequests(in.Plan)
}

// checkSorted refuses a plan read from a file with an After list,
// of a step or a barrier, out of order or naming a step twice, or with
// its barriers out of order: the planner and Plan.Roll sort each list and
// drop repeats (see Step.After), and sort the barriers by ID (two of one
// ID, edgesOf refuses).
func checkSorted(p *Plan) error {
	check := func(what string, id StepID, after []StepID) error {
		for k := 1; k < len(after); k++ {
			if after[k] > after[k-1] {
				continue
			}
			how := fmt.Sprintf("%s before %s", textID(after[k-1]), textID(after[k]))
			if after[k] == after[k-1] {
				how = textID(after[k]) + " twice"
			}
			return fmt.Errorf("upgrade: %w: %s %s lists %s in its After: list each step once, sorted, as the planner and Plan.Roll do, or plan again",
				ErrInvalidPlan, what, textID(id), how)
		}
		return nil
	}
	for i := range p.Steps {
		if err := check("step", p.Steps[i].ID, p.Steps[i].After); err != nil {
			return err
		}
	}
	for i := range p.Barriers {
		if err := check("barrier", p.Barriers[i].ID, p.Barriers[i].After); err != nil {
			return err
		}
		if i > 0 && p.Barriers[i].ID < p.Barriers[i-1].ID {
			return fmt.Errorf("upgrade: %w: barrier %s is listed after barrier %s: list the barriers sorted by ID, as Plan.Roll does, or plan again",
				ErrInvalidPlan, textID(p.Barriers[i].ID), textID(p.Barriers[i-1].ID))
		}
	}
	return nil
}

// checkRequests refuses a plan read from a file whose requests PlanAll
// refuses (see validateRequests): two that replace one template, one of
// no version, and so on. The error names the field as in JSON, such as
// requests[1].template.version.
func checkRequests(p *Plan) error {
	_, err := validateRequests(p.Requests)
	re, ok := errors.AsType[*RequestError](err)
	if !ok {
		return err
	}
	why := re.Reason
	if re.Err != nil {
		why = re.Err.Error()
	}
	return fmt.Errorf("upgrade: %w: requests[%d].%s: %s; plan again", ErrInvalidPlan, re.Request, strings.ToLower(re.Field), why)
}

// checkOrder refuses a plan read from a file whose steps are not in the
// order Plan promises, each after every step its After list names, a
// barrier standing for the steps it waits for: a host may run the steps
// of a plan one by one, in order. graph holds p's steps and then its
// barriers (see stepGraph), order a topological order of them.
func checkOrder(p *Plan, graph *dag.Graph, order []int) error {
	last := make([]int, graph.Len()) // of each vertex, the latest step it is, or stands for; -1 for none
	for _, v := range order {
		last[v] = -1
		if v < len(p.Steps) {
			last[v] = v
		}
		for _, d := range graph.Deps(v) {
			l := last[d]
			if v < len(p.Steps) && l > v {
				return fmt.Errorf("upgrade: %w: step %s comes before %s, which it comes after: list each step after those it comes after, as the planner and Plan.Roll do, or plan again",
					ErrInvalidPlan, textID(p.Steps[v].ID), textID(p.Steps[l].ID))
			}
			last[v] = max(last[v], l)
		}
	}
	return nil
}

// linkRequests points each Application step of p read from JSON at its
// request's template, refusing a step of no kind, of a request p does
// not have, or with a package that pkgsource.Package.Validate refuses.
func linkRequests(p *Plan) error {
	for i := range p.Steps {
		s := &p.Steps[i]
		if err := checkKind(s); err != nil {
			return err
		}
		if s.Kind == Application {
			if s.Request < 0 || s.Request >= len(p.Requests) {
				return fmt.Errorf("upgrade: %w: step %s names %s of %d: name one of the plan's requests, or plan again", ErrInvalidPlan, textID(s.ID), requestName(s.Request), len(p.Requests))
			}
			s.NewTemplate = &p.Requests[s.Request].Template
		}
		if s.Package != nil {
			if err := s.Package.Validate(); err != nil {
				return fmt.Errorf("upgrade: %w: steps[%d].package: %w", ErrInvalidPlan, i, err)
			}
		}
		if err := checkTarget(s, p.Requests); err != nil {
			return err
		}
	}
	return nil
}

// requestName names the request of index i, read from a file: "request
// #3", counted from 1, or "request index -1".
func requestName(i int) string {
	if i < 0 {
		return fmt.Sprintf("request index %d", i)
	}
	return fmt.Sprintf("request #%d", uint64(i)+1) // the largest int is one more: no overflow
}

// checkTarget refuses a step whose target contradicts what it deploys: a
// platform step goes to the version of its package, of its node's type,
// from a version the package upgrades (its From allows), and names no
// request; an application step is of a node of the
// application its request, of requests, upgrades, and of a template the
// request replaces (its Replaces, or its new template's ID, which a run
// may have moved the node to: see targets), goes to its new template's
// version, and installs no package. The planner makes them so. A plan
// edited by hand, its ID made again, may not be: the person who reviewed
// it read To, App and Template, where the executor installs the package
// or the request's template.
func checkTarget(s *Step, requests []Request) error {
	if s.Kind == Application {
		return checkApplicationTarget(s, &requests[s.Request])
	}
	switch {
	case s.Request != 0:
		return badTarget(s, "is a platform step and names %s, as only application steps do", requestName(s.Request))
	case s.Package == nil:
		return badTarget(s, "is a platform step and names no package to install")
	case s.Package.Type != s.Type:
		return badTarget(s, "is of a node of type %s, and installs a package of type %s", textID(s.Type), textID(s.Package.Type))
	case !s.To.Same(s.Package.Version):
		return badTarget(s, "goes to %s, and installs version %s of %s", s.To, s.Package.Version, textID(s.Package.Type))
	case !s.Package.From.Allows(s.From):
		return badTarget(s, "goes from %s, and installs %s %s, which upgrades from %s only", s.From, textID(s.Package.Type), s.Package.Version, s.Package.From)
	}
	return nil
}

// checkApplicationTarget is checkTarget of an application step, of
// request r.
func checkApplicationTarget(s *Step, r *Request) error {
	switch {
	case s.App != r.Application:
		return badTarget(s, "is of a node of application %s, and names request #%d, which upgrades application %s", textID(s.App), s.Request+1, textID(r.Application))
	case s.Template != r.Replaces && s.Template != r.Template.ID:
		return badTarget(s, "is of a node of template %s, and names request #%d, which replaces template %s with %s",
			textID(s.Template), s.Request+1, textID(r.Replaces), textID(r.Template.ID))
	case s.Package != nil:
		return badTarget(s, "is an application step and names a package, %s %s, which only platform steps install", textID(s.Package.Type), s.Package.Version)
	case !s.To.Same(s.NewTemplate.Version):
		return badTarget(s, "goes to %s, and deploys version %s of template %s", s.To, s.NewTemplate.Version, textID(s.NewTemplate.ID))
	}
	return nil
}

// badTarget refuses step s, which the format says contradicts itself.
func badTarget(s *Step, format string, a ...any) error {
	return fmt.Errorf("upgrade: %w: step %s %s: edit both to agree, or plan again", ErrInvalidPlan, textID(s.ID), fmt.Sprintf(format, a...))
}

// checkKind refuses a step of no kind, or of one unknown.
func checkKind(s *Step) error {
	if s.Kind == Platform || s.Kind == Application {
		return nil
	}
	what := "no kind"
	if s.Kind != 0 {
		what = "kind " + s.Kind.String()
	}
	return fmt.Errorf("upgrade: %w: step %s has %s: want %q or %q", ErrInvalidPlan, textID(s.ID), what, Platform, Application)
}

// schemaError refuses a plan of another schema.
func schemaError(schema string) error {
	return fmt.Errorf("upgrade: %w: schema %s, want %q: plan again with this release", ErrInvalidPlan, topology.Quote(schema), Schema)
}

// maxStepIDLength is the longest step or barrier ID ReadJSON accepts: the
// planner's are made of a node ID and a version, Roll's of an application
// and a template ID, each of at most topology.MaxIDLength bytes.
const maxStepIDLength = 3 * topology.MaxIDLength

// checkPlanIDs refuses a plan read from a file that holds an identifier
// outside the safe set of topology.CheckID: its steps would hand it to an
// executor. Its ID may well match its content, as anyone can hash it. The
// error matches ErrInvalidPlan and topology.ErrInvalidID and names the
// field, such as steps[2].node.
func checkPlanIDs(p *Plan) error {
	var c idChecker
	for i := range p.Requests {
		c.request(field{list: "requests", i: i, k: -1}, &p.Requests[i])
	}
	for i := range p.Steps {
		c.step(field{list: "steps", i: i, k: -1}, &p.Steps[i])
	}
	for i := range p.Barriers {
		b, at := &p.Barriers[i], field{list: "barriers", i: i, k: -1}
		c.check(at, ".id", "barrier", string(b.ID), false)
		c.after(at, b.After)
	}
	for i := range p.Satisfied {
		s, at := &p.Satisfied[i], field{list: "satisfied", i: i, k: -1}
		c.check(at, ".node", "node", string(s.Node), false)
		c.check(at, ".template", "template", string(s.Template), false)
		at.sub = ".demand"
		c.demand(at, &s.Demand)
	}
	for i := range p.Decisions {
		d, at := &p.Decisions[i], field{list: "decisions", i: i, k: -1}
		c.check(at, ".node", "node", string(d.Node), false)
		at.sub = ".demands"
		for at.k = range d.Demands {
			c.demand(at, &d.Demands[at.k])
		}
	}
	return c.err
}

// field names a field of a plan in an error, such as steps[2].after[0]:
// its list, the index in it, maybe a list within (sub, index k, -1 for
// none) and the field's name. Its text is made only for an error: a plan
// has a step per node.
type field struct {
	list string
	i    int
	sub  string
	k    int
	name string
}

func (f field) String() string {
	s := fmt.Sprintf("%s[%d]%s", f.list, f.i, f.sub)
	if f.k >= 0 {
		s += fmt.Sprintf("[%d]", f.k)
	}
	return s + f.name
}

// idChecker checks the identifiers of a plan read from a file, and keeps
// the first error.
type idChecker struct{ err error }

// check checks the identifier of field at's name, of a kind; an optional
// one may be empty.
func (c *idChecker) check(at field, name, kind, id string, optional bool) {
	if c.err != nil || optional && id == "" {
		return
	}
	max := topology.MaxIDLength
	if kind == "step" || kind == "barrier" {
		max = maxStepIDLength
	}
	if e := topology.CheckIDLength(kind, id, max); e != nil {
		at.name = name
		c.err = fmt.Errorf("upgrade: %w: %s: %w", ErrInvalidPlan, at, e)
	}
}

func (c *idChecker) request(at field, r *Request) {
	c.check(at, ".application", "application", string(r.Application), false)
	c.check(at, ".replaces", "template", string(r.Replaces), false)
	c.check(at, ".template.id", "template", string(r.Template.ID), false)
	c.check(at, ".template.type", "type", r.Template.Type, true)
	at.sub = ".template.requirements"
	for k, q := range r.Template.Requirements {
		at.k = k
		c.check(at, ".name", "requirement name", q.Name, true)
		c.check(at, ".template", "template", string(q.Template), false)
	}
}

func (c *idChecker) step(at field, s *Step) {
	c.check(at, ".id", "step", string(s.ID), false)
	c.check(at, ".app", "application", string(s.App), false)
	c.check(at, ".node", "node", string(s.Node), false)
	c.check(at, ".template", "template", string(s.Template), false)
	c.check(at, ".type", "type", s.Type, true)
	if s.Package != nil {
		c.check(at, ".package.type", "package type", s.Package.Type, false)
		pkg := at
		pkg.sub = ".package.requires"
		for k, r := range s.Package.Requires {
			pkg.k = k
			c.check(pkg, ".type", "package type", r.Type, false)
		}
	}
	c.after(at, s.After)
}

func (c *idChecker) after(at field, after []StepID) {
	at.sub = ".after"
	for k, a := range after {
		at.k = k
		c.check(at, "", "step", string(a), false)
	}
}

func (c *idChecker) demand(at field, d *Demand) {
	c.check(at, ".app", "application", string(d.App), true)
	c.check(at, ".template", "template", string(d.Template), true)
	c.check(at, ".node", "node", string(d.Node), true)
}

// checkDecisions refuses a plan whose decisions are not sorted by node,
// one per node, each of a node with platform steps.
func checkDecisions(p *Plan) error {
	stepped := map[topology.NodeID]bool{}
	for i := range p.Steps {
		if p.Steps[i].Kind == Platform {
			stepped[p.Steps[i].Node] = true
		}
	}
	for i := range p.Decisions {
		d := &p.Decisions[i]
		switch {
		case i > 0 && d.Node <= p.Decisions[i-1].Node:
			return fmt.Errorf("upgrade: %w: decisions[%d]: node %s is not after %s: one decision per node, sorted by node", ErrInvalidPlan, i, textID(d.Node), textID(p.Decisions[i-1].Node))
		case !stepped[d.Node]:
			return fmt.Errorf("upgrade: %w: decisions[%d]: node %s has no platform step: remove the decision, or plan again", ErrInvalidPlan, i, textID(d.Node))
		}
	}
	return nil
}

// WriteMermaid writes the plan's DAG as a Mermaid flowchart: a box per step,
// a small circle per barrier, and an arrow from each to what comes after
// it. Labels are
// escaped with Mermaid's entity codes: whatever a plan holds, a label
// cannot end early, hold markup or break its line.
func (p *Plan) WriteMermaid(w io.Writer) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintln(bw, "flowchart TD")
	index := make(map[StepID]string, len(p.Steps)+len(p.Barriers))
	for i, s := range p.Steps {
		index[s.ID] = fmt.Sprintf("s%d", i)
		fmt.Fprintf(bw, "  s%d[\"%s<br/>%s\"]\n", i, mermaidText(string(s.ID)), mermaidText(change(s)))
	}
	for i, b := range p.Barriers {
		index[b.ID] = fmt.Sprintf("b%d", i)
		fmt.Fprintf(bw, "  b%d((\"%s\"))\n", i, mermaidText(string(b.ID)))
	}
	edges := func(to string, after []StepID) {
		for _, a := range after {
			if from, ok := index[a]; ok {
				fmt.Fprintf(bw, "  %s --> %s\n", from, to)
			}
		}
	}
	for i, b := range p.Barriers {
		edges(fmt.Sprintf("b%d", i), b.After)
	}
	for i, s := range p.Steps {
		edges(fmt.Sprintf("s%d", i), s.After)
	}
	var platform, app []string
	for i, s := range p.Steps {
		if s.Kind == Platform {
			platform = append(platform, fmt.Sprintf("s%d", i))
		} else {
			app = append(app, fmt.Sprintf("s%d", i))
		}
	}
	fmt.Fprintln(bw, "  classDef platform fill:#e3ecfa,stroke:#3867b5")
	fmt.Fprintln(bw, "  classDef application fill:#e5f5e0,stroke:#3b8a3e")
	if len(platform) > 0 {
		fmt.Fprintf(bw, "  class %s platform\n", strings.Join(platform, ","))
	}
	if len(app) > 0 {
		fmt.Fprintf(bw, "  class %s application\n", strings.Join(app, ","))
	}
	return bw.Flush()
}

// WriteDOT writes the plan's DAG in Graphviz DOT: a box per step, a point
// per barrier, and an edge from each to what comes after it. Quotes and
// backslashes in strings are escaped, and a character that is not
// printable is written as its Go escape, shown as text by Graphviz.
func (p *Plan) WriteDOT(w io.Writer) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintln(bw, "digraph plan {")
	fmt.Fprintln(bw, "  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\"];")
	for _, s := range p.Steps {
		fill := "#e5f5e0"
		if s.Kind == Platform {
			fill = "#e3ecfa"
		}
		fmt.Fprintf(bw, "  \"%s\" [label=\"%s\\n%s\", fillcolor=%q];\n", dotText(string(s.ID)), dotText(string(s.ID)), dotText(change(s)), fill)
	}
	for _, b := range p.Barriers {
		fmt.Fprintf(bw, "  \"%s\" [shape=point, tooltip=\"%s\"];\n", dotText(string(b.ID)), dotText(string(b.ID)))
	}
	edges := func(to StepID, after []StepID) {
		for _, a := range after {
			fmt.Fprintf(bw, "  \"%s\" -> \"%s\";\n", dotText(string(a)), dotText(string(to)))
		}
	}
	for _, b := range p.Barriers {
		edges(b.ID, b.After)
	}
	for _, s := range p.Steps {
		edges(s.ID, s.After)
	}
	fmt.Fprintln(bw, "}")
	return bw.Flush()
}

// change describes what a step changes, such as "tomcat-1: 8.5.100 → 10.1.34".
func change(s Step) string { return fmt.Sprintf("%s: %s → %s", s.Node, s.From, s.To) }

// mermaidText escapes text for a quoted Mermaid label: the characters
// that would end the label or start markup (" < > # & `) become entity
// codes (#quot;, #35;), and every rune that is not printable its Go escape
// (see topology.Printable), so that a newline shows as \n.
func mermaidText(s string) string {
	return mermaidEscapes.Replace(topology.Printable(s))
}

// dotText escapes text for a quoted DOT string: a quote or backslash is
// escaped with a backslash, and every rune that is not printable is written
// as its Go escape with the backslash doubled, so that Graphviz shows it
// (\\n shows as \n) rather than breaking the line or the string. A
// backslash of s itself is shown as its Go escape too (\\\\ shows as
// \\), so that distinct strings stay distinct, as node names must: a
// newline and a backslash then "n" would otherwise name one node.
func dotText(s string) string {
	return dotEscapes.Replace(topology.Printable(strings.ReplaceAll(s, `\`, `\\`)))
}

// dotEscapes escapes what ends or escapes within a quoted DOT string.
var dotEscapes = strings.NewReplacer(`"`, `\"`, `\`, `\\`)

// Explain writes why the plan does what it does to a platform node: the
// demands on it and every package version considered, with why each was or
// was not chosen. It answers "why 10.1.18 and not 11.0.1?". For a node with
// a satisfied check it says which demands already hold, and for an
// application node with a step which request replaces it and what the
// step waits for. It returns an error matching topology.ErrNotFound for a
// node the plan has nothing about.
func (p *Plan) Explain(w io.Writer, node topology.NodeID) error {
	bw := bufio.NewWriter(w)
	var hops []Step
	for _, s := range p.Steps {
		if s.Kind == Platform && s.Node == node {
			hops = append(hops, s)
		}
	}
	if len(hops) == 0 {
		if !p.explainApplication(bw, node) && !p.explainSatisfied(bw, node) {
			return fmt.Errorf("upgrade: node %s %w in the plan: it has no step or check of the node; name one that the plan upgrades, replaces or checks",
				topology.Quote(string(node)), topology.ErrNotFound)
		}
		return bw.Flush()
	}
	first, last := hops[0], hops[len(hops)-1]
	fmt.Fprintf(bw, "%s (%s, %s): %s → %s in %s", textID(node), textID(first.Template), textID(first.Type), first.From, last.To, count(len(hops), "step"))
	for i, h := range hops {
		sep := " via "
		if i > 0 {
			sep = ", "
		}
		if len(hops) > 1 {
			fmt.Fprintf(bw, "%s%s", sep, h.To)
		}
	}
	var decision Decision
	if d, ok := p.Decision(node); ok {
		decision = *d
	}
	fmt.Fprintln(bw, "\nDemands:")
	for _, d := range decision.Demands {
		fmt.Fprintf(bw, "  %s\n", topology.Printable(d.String()))
	}
	fmt.Fprintln(bw, "Candidates, newest first:")
	for _, c := range decision.Candidates {
		verdict := "chosen"
		if !c.Chosen {
			verdict = "rejected: " + topology.Printable(c.Rejected)
		}
		fmt.Fprintf(bw, "  %-12s %s\n", c.Version, verdict)
	}
	return bw.Flush()
}

// explainApplication writes what the plan does to application node node,
// and reports whether it has a step for it.
func (p *Plan) explainApplication(bw *bufio.Writer, node topology.NodeID) bool {
	i := slices.IndexFunc(p.Steps, func(s Step) bool { return s.Kind == Application && s.Node == node })
	if i < 0 {
		return false
	}
	s := &p.Steps[i]
	fmt.Fprintf(bw, "%s (%s, %s): %s → %s in application step %s\n", textID(node), textID(s.Template), textID(s.Type), s.From, s.To, textID(s.ID))
	fmt.Fprintf(bw, "Why: %s\n", topology.Printable(s.Reason))
	if after := p.Prerequisites(s.ID); len(after) > 0 {
		fmt.Fprintln(bw, "After:")
		for _, a := range after {
			fmt.Fprintf(bw, "  %s\n", textID(a))
		}
	}
	return true
}

// explainSatisfied writes the satisfied checks of a node with no steps,
// and reports whether it has any.
func (p *Plan) explainSatisfied(bw *bufio.Writer, node topology.NodeID) bool {
	met := false
	for _, c := range p.Satisfied {
		if c.Node == node {
			if !met {
				fmt.Fprintf(bw, "%s (%s) has %s and needs no change:\n", textID(node), textID(c.Template), c.Version)
				met = true
			}
			fmt.Fprintf(bw, "  %s\n", topology.Printable(c.Demand.String()))
		}
	}
	return met
}

// mermaidEscapes replaces the characters Mermaid's labels cannot hold.
var mermaidEscapes = strings.NewReplacer(`"`, "#quot;", "<", "#lt;", ">", "#gt;", "#", "#35;", "&", "#amp;", "`", "#96;")
