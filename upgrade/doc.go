// Package upgrade plans and runs platform-first upgrades.
//
// # Planning
//
// A [Request] asks for the nodes of one template of a deployed application
// to move to a new template, whose requirements name the platform templates
// beneath and the versions they must have. A [Planner] reads the deployment
// from a [topology.Topology] and packages from a [pkgsource.Source] and
// produces a [Plan]:
//
//   - every platform node that a replaced node runs on (down its hosting
//     chain, or where none there is of the required template, through
//     any relationship) that falls short of a requirement gets [Platform]
//     steps that install packages up to a version chosen by the
//     [Policy]: one step, or one per hop of the shortest chain when
//     packages only upgrade from some versions ([pkgsource.Package.From]);
//   - the chosen version must also suit every co-tenant, the other nodes
//     that run on the platform node, and a package's own requirements
//     ([pkgsource.Package.Requires]) are planned on the nodes beneath it,
//     lowest layer first: on the nodes of its hosting chain (hosted_on),
//     or where none is of the required type, on those it depends on;
//   - requirements already met are recorded as [Check] values, and so is a
//     replaced node that runs the new template's version already;
//   - every other replaced node gets an [Application] step that comes after
//     the platform steps beneath it, and nothing else; one above the new
//     version is a downgrade, refused unless allowed ([AllowDowngrades]).
//
// [Planner.PlanAll] plans several requests into one plan, with one set of
// steps for a platform node that several of them need. A node that one
// request replaces and that another request, or a package, requires a
// version of gets its application step only: what is required of it must
// allow its request's version (or the plan fails with a [*ConflictError]),
// and the steps of what runs on it come after its step. Whatever demands
// it, the co-tenants of a node that a request replaces must allow the new
// template's version, as they must a platform step's.
//
// Planning changes nothing. Its failures are typed errors that name the
// node, template or package at fault: [*NoPackageError],
// [*DowngradeError], [*NoPathError], [*ConflictError], [*CycleError],
// [*MissingNodeError] and [*RequestError], each matching a sentinel
// ([ErrNoPackage], [ErrDowngrade], …) with errors.Is.
//
// # Plans
//
// Plans are deterministic: the same topology, packages, requests and
// options give the same steps in the same order with the same IDs, whatever
// order the Topology and the Source list things in, and so the same
// [Plan.ID]. A plan renders as text for people ([Plan.WriteText]), as JSON
// in a versioned schema ([Plan.WriteJSON], [ReadJSON]), and as a picture of
// its DAG ([Plan.WriteMermaid], [Plan.WriteDOT]). Its [Decision] for each
// platform node with steps holds the demands on the node and the versions
// considered; [Plan.Explain] says from it why the node gets the version it
// gets, and why not the others. A program that changes a plan sets its ID
// to [Plan.ComputeID], as [ReadJSON] refuses a plan whose ID does not match
// its content.
//
// # Running
//
// [Run] executes a plan's steps with an [Executor], the host program's code
// that changes one node, each step only after the steps in its After list
// succeeded, up to a concurrency limit at once ([WithConcurrency]). When a
// step fails it stops starting steps ([FailFast], the default) or goes on
// with the independent ones ([ContinueIndependent]); the steps after a
// failed one are never run. Executors may also implement [Verifier] (a
// health check after each step) and [Rollbacker] ([WithRollback] undoes
// what was done, last first). Runs can retry ([WithRetry], [Permanent]),
// bound each step ([WithStepTimeout]), report progress ([WithEvents]), and
// be resumed after a crash from a [Journal] such as [FileJournal]
// ([WithJournal], [InDoubt]). [WithStaleCheck] refuses a plan whose
// topology has changed and [WithPrefetch] fetches and verifies every
// package before anything changes. [Plan.Roll] turns a rolling strategy
// (canaries, then batches, each with the platform only its instances need)
// into After edges, with a [Barrier] between batches. The report gives
// every step exactly one [State].
//
// The package upgradetest holds test doubles for the tests of host
// programs.
package upgrade
