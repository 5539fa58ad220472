package upgrade

import (
	"errors"
	"fmt"
	"strings"

	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/version"
)

// Sentinel errors, usable with errors.Is. Planning failures are typed
// errors (*RequestError, *NoPackageError, …) that match one of these.
// Unknown applications, templates and nodes match topology.ErrNotFound.
var (
	// ErrInvalidRequest reports a request that is incomplete or malformed.
	ErrInvalidRequest = errors.New("invalid request")
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
	// ErrInvalidPlan reports a plan whose steps cannot be run: a duplicate
	// step ID, an After naming an unknown step, or a cycle.
	ErrInvalidPlan = errors.New("invalid plan")
	// ErrStepFailed reports that a step's executor returned an error.
	ErrStepFailed = errors.New("step failed")
)

// RequestError reports a malformed request. It matches ErrInvalidRequest.
type RequestError struct {
	Request int    // index of the request in the call, from 0
	Field   string // such as "Template.Requirements[1].Template"
	Reason  string
}

func (e *RequestError) Error() string {
	return fmt.Sprintf("upgrade: request #%d: %s: %s", e.Request+1, e.Field, e.Reason)
}

// Is reports whether target is ErrInvalidRequest.
func (e *RequestError) Is(target error) bool { return target == ErrInvalidRequest }

// MissingNodeError reports that no node of a template was found: in an
// application (the nodes a request replaces), or beneath one of its nodes
// (the platform a requirement names). It matches topology.ErrNotFound.
type MissingNodeError struct {
	App      topology.AppID
	Template topology.TemplateID
	Beneath  topology.NodeID // empty when looking in the whole application
}

func (e *MissingNodeError) Error() string {
	if e.Beneath == "" {
		return fmt.Sprintf("upgrade: application %q has no node of template %q", e.App, e.Template)
	}
	return fmt.Sprintf("upgrade: no node of template %q beneath node %q of application %q", e.Template, e.Beneath, e.App)
}

// Is reports whether target is topology.ErrNotFound.
func (e *MissingNodeError) Is(target error) bool { return target == topology.ErrNotFound }

// Demand is one constraint placed on a platform node, and who places it.
type Demand struct {
	Constraint version.Constraint
	// By names who asks: a new template ("shop_app@2.0.0 (shop)") or a
	// co-tenant node ("node billing-1 (billing)").
	By string
}

func (d Demand) String() string { return fmt.Sprintf("%s requires %s", d.By, d.Constraint) }

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
	return fmt.Sprintf("upgrade: node %q (%s %s): no package satisfies %s; available: %s",
		e.Node, e.Type, e.Installed, joinDemands(e.Demands), joinVersions(e.Considered))
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
}

func (e *DowngradeError) Error() string {
	return fmt.Sprintf("upgrade: node %q (%s %s) is above the requirement: %s; meeting it needs a downgrade to one of %s, and downgrades are not allowed",
		e.Node, e.Type, e.Installed, joinDemands(e.Demands), joinVersions(e.Candidates))
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
	Targets   []version.Version // the satisfying versions, ascending
	// Furthest is the highest version reachable from Installed (Installed
	// itself when no package applies to it), and Reason why it goes no
	// further.
	Furthest version.Version
	Reason   string
}

func (e *NoPathError) Error() string {
	return fmt.Sprintf("upgrade: node %q (%s %s): no upgrade path to any of %s; furthest reachable is %s: %s",
		e.Node, e.Type, e.Installed, joinVersions(e.Targets), e.Furthest, e.Reason)
}

// Is reports whether target is ErrNoUpgradePath.
func (e *NoPathError) Is(target error) bool { return target == ErrNoUpgradePath }

// ConflictError reports a platform node on which the constraints of the
// requests and of the nodes that share it admit no common version among the
// packages available. It matches ErrConflict.
type ConflictError struct {
	Node      topology.NodeID
	Type      string
	Installed version.Version
	// Wanted are the demands of the requests being planned.
	Wanted []Demand
	// Blocking are the demands that rule out every version Wanted allows:
	// co-tenant nodes, or other requests.
	Blocking []Demand
	// Tried are the versions that satisfy Wanted, ascending.
	Tried []version.Version
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("upgrade: node %q (%s %s): %s, but %s; versions tried: %s",
		e.Node, e.Type, e.Installed, joinDemands(e.Wanted), joinDemands(e.Blocking), joinVersions(e.Tried))
}

// Is reports whether target is ErrConflict.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// StepError reports a step whose executor failed. It matches ErrStepFailed
// and unwraps to the executor's error.
type StepError struct {
	Step StepID
	Node topology.NodeID
	Err  error
}

func (e *StepError) Error() string {
	return fmt.Sprintf("upgrade: step %s on node %q: %v", e.Step, e.Node, e.Err)
}

// Unwrap returns ErrStepFailed and the executor's error.
func (e *StepError) Unwrap() []error { return []error{ErrStepFailed, e.Err} }

func joinDemands(ds []Demand) string {
	s := make([]string, len(ds))
	for i, d := range ds {
		s[i] = d.String()
	}
	return strings.Join(s, " and ")
}

func joinVersions(vs []version.Version) string {
	if len(vs) == 0 {
		return "none"
	}
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = v.String()
	}
	return strings.Join(s, ", ")
}
