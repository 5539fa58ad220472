package upgrade

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade/internal/nilerr"
	"github.com/stackup/stackup/version"
)

// Sentinel errors, usable with errors.Is. Planning failures are typed
// errors (*RequestError, *NoPackageError, …) that match one of these.
// Unknown applications, templates and nodes match topology.ErrNotFound.
var (
	// ErrInvalidRequest reports a request that is incomplete or malformed.
	ErrInvalidRequest = errors.New("invalid request")
	// ErrInvalidOption reports a Planner or Run option value it does not
	// know, such as an undefined Policy or FailurePolicy, or a negative
	// grace period.
	ErrInvalidOption = errors.New("invalid option")
	// ErrNoPackage reports that no package satisfies a requirement.
	ErrNoPackage = errors.New("no package satisfies the requirement")
	// ErrDowngrade reports that meeting a requirement needs a lower version
	// than the one installed, and downgrades were not allowed.
	ErrDowngrade = errors.New("requirement needs a downgrade")
	// ErrNoUpgradePath reports that packages satisfying a requirement exist
	// but none can be reached from the installed version.
	ErrNoUpgradePath = errors.New("no upgrade path")
	// ErrConflict reports constraints on one node that no version meets.
	ErrConflict = errors.New("conflicting constraints")
	// ErrCycle reports packages whose requirements form a cycle, or
	// relationships that do. It is topology.ErrCycle.
	ErrCycle = topology.ErrCycle
	// ErrInvalidPlan reports a plan whose steps cannot be run: a duplicate
	// step ID, an After naming an unknown step, or a cycle.
	ErrInvalidPlan = errors.New("invalid plan")
	// ErrStepFailed reports that a step's executor returned an error.
	ErrStepFailed = errors.New("step failed")
)

// RequestError reports a malformed request. It matches ErrInvalidRequest.
//
// An identifier outside the safe set of [topology.CheckID] gives a
// RequestError whose Err is the *topology.IDError: it matches
// topology.ErrInvalidID too.
type RequestError struct {
	Request int    // index of the request in the call, from 0
	Field   string // such as "Template.Requirements[1].Template"
	Reason  string // what is wrong, when Err does not say it
	Err     error  // the cause, such as a *topology.IDError, or nil
}

func (e *RequestError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("upgrade: request #%d: %s: %v", e.Request+1, e.Field, e.Err)
	}
	return fmt.Sprintf("upgrade: request #%d: %s: %s", e.Request+1, e.Field, e.Reason)
}

// Unwrap returns the cause, if any.
func (e *RequestError) Unwrap() error { return e.Err }

// topologyError reports item, which the caller's topology returned, as
// invalid: a *topology.Error naming it, matching topology.ErrInvalid, its
// cause formatted from format and args (which may wrap errors with %w).
func topologyError(item, format string, args ...any) error {
	return fmt.Errorf("upgrade: the topology returned %w",
		&topology.Error{Item: item, Err: fmt.Errorf("%w: "+format, append([]any{topology.ErrInvalid}, args...)...)})
}

// topologyIDError reports an identifier outside the safe set that the
// caller's topology returned, as a *topology.Error naming the item, which
// matches topology.ErrInvalid and topology.ErrInvalidID.
func topologyIDError(item string, err error) error { return topologyError(item, "%w", err) }

// Is reports whether target is ErrInvalidRequest.
func (e *RequestError) Is(target error) bool { return target == ErrInvalidRequest }

// MissingNodeError reports that no node of a template was found: in an
// application (the nodes a request replaces), beneath one of its nodes (the
// platform a requirement names), or of the type a package requires beneath
// the node it is installed on. It matches topology.ErrNotFound.
type MissingNodeError struct {
	App      topology.AppID
	Template topology.TemplateID // the template looked for, or
	Type     string              // the platform type a package requires
	Beneath  topology.NodeID     // empty when looking in the whole application
	Package  string              // the package that requires Type
	// TypeOf lists the templates beneath whose type is the Template looked
	// for: the requirement names a type where it should name a template.
	TypeOf []topology.TemplateID
}

func (e *MissingNodeError) Error() string {
	switch {
	case e.Beneath == "":
		return fmt.Sprintf("upgrade: application %q has no node of template %q; replace a template it has nodes of, or deploy one first",
			e.App, e.Template)
	case e.Type != "":
		return fmt.Sprintf("upgrade: package %s requires %s, but no %s node is beneath node %q of application %q; relate the node to one, or publish a package that does not require it",
			e.Package, e.Type, e.Type, e.Beneath, e.App)
	case len(e.TypeOf) > 0:
		names := make([]string, len(e.TypeOf))
		for i, t := range e.TypeOf {
			names[i] = string(t)
		}
		return fmt.Sprintf("upgrade: no node of template %q beneath node %q of application %q; %q is the type of template %s beneath it: a requirement names a template, not a type",
			e.Template, e.Beneath, e.App, e.Template, strings.Join(names, ", "))
	}
	return fmt.Sprintf("upgrade: no node of template %q beneath node %q of application %q; relate the node to one, or fix the requirement",
		e.Template, e.Beneath, e.App)
}

// Is reports whether target is topology.ErrNotFound.
func (e *MissingNodeError) Is(target error) bool { return target == topology.ErrNotFound }

// Demand is one constraint placed on a platform node, and who places it:
// a request's new template, a co-tenant node that runs on the platform node,
// or a package that a node above is upgraded with.
type Demand struct {
	Constraint version.Constraint `json:"constraint"`
	// App is the application of the template, node or package node that
	// asks.
	App topology.AppID `json:"app"`
	// Template is the new template of a request, or the template of a
	// co-tenant node.
	Template topology.TemplateID `json:"template,omitempty"`
	// Version is the new template's version, for a request.
	Version version.Version `json:"version,omitzero"`
	// Node is the co-tenant node, or the node a package is installed on;
	// empty for a request.
	Node topology.NodeID `json:"node,omitempty"`
	// Package is the package whose Requires state the demand, such as
	// "tomcat 10.1.34"; empty otherwise.
	Package string `json:"package,omitempty"`
}

// Source names who places the demand: "shop_app@2.0.0 (shop)",
// "node billing-1 (billing)" or "package tomcat 10.1.34 for node tomcat-1".
func (d Demand) Source() string { return string(d.appendSource(nil)) }

func (d Demand) String() string { return string(d.appendString(nil)) }

func (d *Demand) appendSource(b []byte) []byte {
	switch {
	case d.Package != "":
		return append(append(append(append(b, "package "...), d.Package...), " for node "...), d.Node...)
	case d.Node != "":
		return append(append(append(append(append(b, "node "...), d.Node...), " ("...), d.App...), ')')
	}
	return append(append(append(append(append(append(b, d.Template...), '@'), d.Version.String()...), " ("...), d.App...), ')')
}

func (d *Demand) appendString(b []byte) []byte {
	return append(append(d.appendSource(b), " requires "...), d.Constraint.String()...)
}

// sameDemand reports whether two demands have equal fields.
func sameDemand(a, b *Demand) bool {
	return a.Node == b.Node && a.Package == b.Package && a.App == b.App && a.Template == b.Template &&
		a.Version == b.Version && a.Constraint.String() == b.Constraint.String()
}

// NoPackageError reports a platform node for which no package satisfies
// every demand. It matches ErrNoPackage.
type NoPackageError struct {
	Node       topology.NodeID
	Type       string
	Installed  version.Version
	Demands    []Demand
	Considered []version.Version // every package version of Type, ascending
}

func (e *NoPackageError) Error() string {
	return fmt.Sprintf("upgrade: node %q (%s %s): no %s package satisfies %s; %s packages available: %s; add one that does to the package source, or relax the demands",
		e.Node, e.Type, e.Installed, e.Type, joinDemands(e.Demands), e.Type, joinVersions(e.Considered)) +
		demandsHint(e.Demands, e.Considered)
}

// demandsHint returns "; " and the hint of the first demand that refuses
// one of vs, the highest first, only because it is a pre-release, or
// because its "~>" is not Terraform's (see version.Constraint's
// PrereleaseHint and PessimisticHint), or "".
func demandsHint(ds []Demand, vs []version.Version) string {
	for i := len(vs) - 1; i >= 0; i-- {
		for k := range ds {
			if h := rejectedHint(&ds[k], vs[i]); h != "" {
				return h
			}
		}
	}
	return ""
}

// fromPrereleaseHint returns "; " and the hint of the first package above
// installed whose From constraint refuses the installed pre-release only
// because it is one, or "": a From of ">=1.29, <1.30" does not upgrade an
// installed 1.29.3-eks-1.
func fromPrereleaseHint(installed version.Version, pkgs []pkgsource.Package) string {
	if installed.Prerelease() == "" {
		return ""
	}
	for _, p := range pkgs {
		if installed.Less(p.Version) {
			if h := p.From.PrereleaseHint(installed); h != "" {
				return "; package " + p.Key().String() + ": " + h
			}
		}
	}
	return ""
}

// suffixedReleaseHint returns, when furthest, the version a chain of
// upgrades cannot go on from, is a pre-release like next, the pre-release
// that leads on from it, "; " and the two ways on: a system that suffixes
// every release, as EKS writes 1.27.3-eks-a5565ad, has nothing but
// pre-releases to semantic versioning, which a chain does not pass
// through; otherwise "".
func suffixedReleaseHint(furthest, next version.Version) string {
	if furthest.Prerelease() == "" {
		return ""
	}
	meta := next.Prerelease()
	if m := next.Metadata(); m != "" {
		meta += "." + m
	}
	return fmt.Sprintf("; if their suffix names a build of a release, as in EKS's 1.27.3-eks-a5565ad, write it as build metadata (%d.%d.%d+%s) in the package source and the topology, or ask for >=%s first and plan again from there",
		next.Major(), next.Minor(), next.Patch(), meta, next)
}

// rejectedHint returns "; " and the hint when d refuses v only because it
// is a pre-release, or because d's "~>" is not Terraform's, or "", for a
// candidate's Rejected reason.
func rejectedHint(d *Demand, v version.Version) string {
	h := d.Constraint.PessimisticHint(v)
	if v.Prerelease() != "" {
		h = cmp.Or(d.Constraint.PrereleaseHint(v), h)
	}
	if h != "" {
		return "; " + h
	}
	return ""
}

// Is reports whether target is ErrNoPackage.
func (e *NoPackageError) Is(target error) bool { return target == ErrNoPackage }

// DowngradeError reports a node whose installed version is above what the
// demands allow, when downgrades are not allowed. It matches ErrDowngrade.
type DowngradeError struct {
	Node      topology.NodeID
	Type      string
	Installed version.Version
	Demands   []Demand
	// Candidates are the satisfying versions, all below Installed.
	Candidates []version.Version
	// Replaced says that Node is one a request replaces: the version below
	// is the request's.
	Replaced bool
}

func (e *DowngradeError) Error() string {
	if e.Replaced {
		return fmt.Sprintf("upgrade: node %q (%s %s) is above the version asked for: %s; deploying it is a downgrade, and downgrades are not allowed: "+
			"ask for %s or above, or allow them (upgrade.AllowDowngrades)",
			e.Node, e.Type, e.Installed, joinDemands(e.Demands), e.Installed)
	}
	return fmt.Sprintf("upgrade: node %q (%s %s) is above the requirement: %s; meeting it needs a downgrade to one of %s, and downgrades are not allowed: allow them (upgrade.AllowDowngrades), or relax the demands",
		e.Node, e.Type, e.Installed, joinDemands(e.Demands), joinVersions(e.Candidates)) +
		demandsHint(e.Demands, []version.Version{e.Installed})
}

// Is reports whether target is ErrDowngrade.
func (e *DowngradeError) Is(target error) bool { return target == ErrDowngrade }

// NoPathError reports a node for which satisfying packages exist but no
// chain of packages leads from the installed version to any of them. It
// matches ErrNoUpgradePath.
type NoPathError struct {
	Node      topology.NodeID
	Type      string
	Installed version.Version
	// Demands are the demands on the node, which Targets meet.
	Demands []Demand
	Targets []version.Version // the satisfying versions, ascending
	// Furthest is the highest version reachable from Installed (Installed
	// itself when no package applies to it), and Reason why it goes no
	// further.
	Furthest version.Version
	Reason   string
	// Blocking are the co-tenants' demands that rule out a version an
	// upgrade from Furthest would reach, each naming its node, its
	// application and its constraint; empty when no package upgrades
	// from Furthest at all.
	Blocking []Demand
}

func (e *NoPathError) Error() string {
	var needs string
	if len(e.Demands) > 0 {
		needs = ", one of which it needs as " + joinDemands(e.Demands)
	}
	return fmt.Sprintf("upgrade: node %q (%s %s): no upgrade path to any of %s%s; furthest reachable is %s: %s; add packages that lead on to the package source, or relax the demands",
		e.Node, e.Type, e.Installed, joinVersions(e.Targets), needs, e.Furthest, e.Reason)
}

// Is reports whether target is ErrNoUpgradePath.
func (e *NoPathError) Is(target error) bool { return target == ErrNoUpgradePath }

// ConflictError reports a platform node on which the constraints of the
// requests and of the nodes that share it admit no common version among the
// packages available, or a node a request replaces whose co-tenants, or
// what requires it, do not allow the request's version. It matches
// ErrConflict.
type ConflictError struct {
	Node      topology.NodeID
	Type      string
	Installed version.Version
	// Wanted are the demands of the requests being planned.
	Wanted []Demand
	// Blocking are the demands that rule out versions Wanted allows:
	// co-tenant nodes, other requests, or packages above. Each names its
	// node or template, its application and its constraint. All are
	// here; the message names the first few of each constraint and
	// counts the rest.
	Blocking []Demand
	// Tried are the versions that satisfy Wanted, ascending: those of the
	// packages, and the installed one when it does.
	Tried []version.Version
	// Replaced says that Node is one a request replaces: the version
	// Wanted and Tried name is the request's, not a package's.
	Replaced bool
}

func (e *ConflictError) Error() string {
	if e.Replaced {
		return fmt.Sprintf("upgrade: node %q (%s %s): %s, but %s; the version is the request's: change the demands so that they allow it, or ask for a version that they allow",
			e.Node, e.Type, e.Installed, joinDemands(e.Wanted), joinDemands(e.Blocking)) +
			demandsHint(e.Blocking, e.Tried)
	}
	return fmt.Sprintf("upgrade: node %q (%s %s): %s, but %s; versions tried: %s; change the demands so that one version meets them all, or add such a version to the package source",
		e.Node, e.Type, e.Installed, joinDemands(e.Wanted), joinDemands(e.Blocking), joinVersions(e.Tried)) +
		demandsHint(e.Blocking, e.Tried)
}

// Is reports whether target is ErrConflict.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// CycleError reports a cycle of package requirements or of relationships.
// It matches ErrCycle.
type CycleError struct {
	// Requirements says that packages' requirements form the cycle;
	// otherwise nodes' relationships do.
	Requirements bool
	// Path lists the cycle, its first element repeated at the end, such as
	// ["tomcat 10.1.34", "jdk 21.0.2", "tomcat"] (packages, then the type
	// that closes the cycle) or node IDs.
	Path []string
}

func (e *CycleError) Error() string {
	if e.Requirements {
		return fmt.Sprintf("upgrade: package requirement cycle: %s; a package cannot require its own type, directly or through others: fix the index",
			strings.Join(e.Path, " → "))
	}
	return fmt.Sprintf("upgrade: %v: %s; a node cannot be beneath itself: fix the topology's relationships", ErrCycle, strings.Join(e.Path, " → "))
}

// Is reports whether target is ErrCycle.
func (e *CycleError) Is(target error) bool { return target == ErrCycle }

// StepError reports a step whose executor failed. It matches ErrStepFailed
// and unwraps to the executor's error.
type StepError struct {
	Step StepID
	Node topology.NodeID
	Err  error
}

func (e *StepError) Error() string {
	return fmt.Sprintf("upgrade: step %s on node %s: %v", textID(e.Step), topology.Quote(string(e.Node)), e.Err)
}

// Unwrap returns ErrStepFailed and the executor's error.
func (e *StepError) Unwrap() []error { return []error{ErrStepFailed, e.Err} }

// An error names at most maxNamedAlike demands of one constraint, of at
// most maxNamedConstraints constraints, and at most maxNamedVersions
// versions, and counts the rest: a Tomcat that ten thousand applications
// run on would otherwise make a message of half a megabyte. The error's
// fields hold them all.
const (
	maxNamedAlike       = 3
	maxNamedConstraints = 8
	maxNamedVersions    = 32
)

// joinDemands names ds, joined with "and": all of them, in order, when
// there are few; else, constraint by constraint in the order they first
// come, the first maxNamedAlike of each and how many more have it, and
// how many more have other constraints.
func joinDemands(ds []Demand) string {
	type alike struct {
		constraint string
		named      []*Demand
		more       int
	}
	var groups []alike
	others, few := 0, true
	for i := range ds {
		c := ds[i].Constraint.String()
		g := slices.IndexFunc(groups, func(a alike) bool { return a.constraint == c })
		switch {
		case g < 0 && len(groups) == maxNamedConstraints:
			others, few = others+1, false
		case g < 0:
			groups = append(groups, alike{constraint: c, named: []*Demand{&ds[i]}})
		case len(groups[g].named) < maxNamedAlike:
			groups[g].named = append(groups[g].named, &ds[i])
		default:
			groups[g].more, few = groups[g].more+1, false
		}
	}
	var b []byte
	if few {
		for i := range ds {
			if i > 0 {
				b = append(b, " and "...)
			}
			b = ds[i].appendString(b)
		}
		return string(b)
	}
	for k, g := range groups {
		if k > 0 {
			b = append(b, " and "...)
		}
		for i, d := range g.named {
			if i > 0 {
				b = append(b, " and "...)
			}
			b = d.appendString(b)
		}
		if g.more > 0 {
			b = fmt.Appendf(b, ", and %d more with the same constraint", g.more)
		}
	}
	if others > 0 {
		b = fmt.Appendf(b, ", and %d more with other constraints", others)
	}
	return string(b)
}

// joinVersions names vs, joined with commas, or "none": all of them when
// there are at most maxNamedVersions, else the lowest and the highest,
// half of those each, and how many between: the ends are what a person
// relaxes a demand to, the newest a package source offers, or the
// nearest downgrade.
func joinVersions(vs []version.Version) string {
	if len(vs) == 0 {
		return "none"
	}
	if len(vs) <= maxNamedVersions {
		return versionList(vs)
	}
	half := maxNamedVersions / 2
	return fmt.Sprintf("%s, … %d more …, %s", versionList(vs[:half]), len(vs)-2*half, versionList(vs[len(vs)-half:]))
}

// versionList joins vs with commas.
func versionList(vs []version.Version) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = v.String()
	}
	return strings.Join(s, ", ")
}

// PanicError is a panic in the host's code (an Executor, Verifier or
// Rollbacker) that Run recovered: the call failed with it, and is not
// retried. Other runners report panics of the host's hooks with it too,
// such as upgrade/pgrun's WorkerOptions.Recorded.
type PanicError struct {
	Method string // "Execute", "Verify" or "Rollback"; or the hook's name, such as "Recorded"
	Step   StepID
	Value  any    // what was passed to panic
	Stack  []byte // the stack of the goroutine that panicked
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("upgrade: %s of step %s panicked: %v", e.Method, textID(e.Step), e.Value)
}

// Unwrap returns the panic's value when it is an error, but for a nil
// pointer (or map, slice, func or channel) of an error type, whose
// methods may need a receiver that is not nil.
func (e *PanicError) Unwrap() error {
	if err, ok := e.Value.(error); ok && !nilerr.Is(err) {
		return err
	}
	return nil
}

// AbandonedError reports host code that did not return within the grace
// period after its context was done. It matches ErrAbandoned.
type AbandonedError struct {
	Method string // "Execute", "Verify" or "Rollback"; "Open" for the Opener reading the step's package
	Step   StepID
	Grace  time.Duration
	Cause  error // why the context was done: cancellation or the step's timeout

	by *runMark // the Run that gave up on the call, nil for one made elsewhere (see run.abandoned)
}

func (e *AbandonedError) Error() string {
	return fmt.Sprintf("upgrade: %v: %s of step %s had not returned %v after its context was done (%v); it may still be running",
		ErrAbandoned, e.Method, textID(e.Step), e.Grace, e.Cause)
}

// Unwrap returns ErrAbandoned and the cause.
func (e *AbandonedError) Unwrap() []error { return []error{ErrAbandoned, e.Cause} }
