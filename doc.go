// Package stackup plans and runs platform-first upgrades of deployed
// applications.
//
// A new version of an application often needs a newer platform underneath
// it: a newer Tomcat, Java runtime, database engine or operating system.
// stackup finds every platform node whose version falls short of what the
// new application template requires, picks upgrade packages that satisfy
// the requirement, upgrades those platform nodes first (bottom of the stack
// first) and only then the application nodes, each after the platform it
// runs on.
//
// This package holds only this overview; the code lives in its
// sub-packages.
//
// # Packages
//
//   - [github.com/stackup/stackup/version]: semantic versions and
//     constraints.
//   - [github.com/stackup/stackup/topology]: what is deployed: templates,
//     nodes, applications, and the [github.com/stackup/stackup/topology.Topology] interface a host
//     program implements over its inventory.
//   - [github.com/stackup/stackup/pkgsource]: upgrade packages and the
//     [github.com/stackup/stackup/pkgsource.Source] interface a package repository implements;
//     [github.com/stackup/stackup/pkgsource/sourcetest] checks an
//     implementation against that interface's contract.
//   - [github.com/stackup/stackup/upgrade]: requests, the
//     [github.com/stackup/stackup/upgrade.Planner], plans and steps, the
//     [github.com/stackup/stackup/upgrade.Executor] interface, the runner
//     ([github.com/stackup/stackup/upgrade.Run]) and the
//     [github.com/stackup/stackup/upgrade.Journal] a run resumes from.
//   - [github.com/stackup/stackup/upgrade/upgradetest]: a recording,
//     fault-injecting Executor for the tests of host programs.
//   - [github.com/stackup/stackup/upgrade/pgrun]: plans run by workers on
//     many hosts over PostgreSQL, with the semantics of Run.
//
// # How they fit
//
// A host program implements Topology over its inventory (or loads a file
// into a topology.Memory) and Source over its package repository (or uses
// pkgsource.Dir or pkgsource.HTTP). upgrade.NewPlanner reads both and
// makes a Plan, which changes nothing. upgrade.Run then carries out the
// plan's steps with the host's Executor, platform first; with a Journal
// (upgrade.OpenFileJournal), a run cut short resumes where it stopped.
//
// # Concepts
//
// A template describes what a node runs (its type and version) and the
// requirements it places on the nodes beneath it. A node is a deployed
// instance of a template, related to the nodes it is hosted on or depends
// on. A platform is a node that others run on. A package installs one
// version of a platform type and may say which versions it upgrades from. A
// plan is a set of steps, ordered so that each comes after the steps it
// depends on; an executor carries out one step.
//
// # Example
//
//	planner := upgrade.NewPlanner(topo, packages)
//	plan, err := planner.Plan(ctx, upgrade.Request{
//		Application: "shop",
//		Replaces:    "shop_app",
//		Template: topology.Template{
//			ID: "shop_app", Type: "webapp", Version: version.MustParse("2.0.0"),
//			Requirements: []topology.Requirement{
//				{Template: "tomcat_server", Constraint: version.MustParseConstraint(">=9.0, <11")},
//			},
//		},
//	})
//	if err != nil {
//		return err
//	}
//	fmt.Print(plan)                                  // what will change, and why
//	report, err := upgrade.Run(ctx, plan, executor) // platform first
//
// Run `go run ./examples/basic` in the repository for the whole flow.
package stackup
