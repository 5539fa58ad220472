// Command rollback shows a failed health check and the rollback that
// follows.
//
// A shop of three instances moves to 2.0, whose instances need Tomcat 10.
// The plan is rolled out with one canary instance first, then the rest.
// The executor health-checks every step; shop-2 fails its check after its
// upgrade, so the run stops, and shop-2 (which may have changed in part)
// and every step that succeeded are undone, the last done first, leaving
// the fleet as it was.
package main

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/version"
)

func main() {
	if err := run(context.Background()); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context) error {
	var b topology.Builder
	b.Template("shop", topology.Template{ID: "shop_app", Type: "webapp", Version: version.MustParse("1.4.0")}).
		Template("shop", topology.Template{ID: "tomcat_server", Type: "tomcat", Version: version.MustParse("9.0.98")})
	for i := 1; i <= 3; i++ {
		tomcat := topology.NodeID(fmt.Sprintf("tomcat-%d", i))
		b.Node("shop", topology.Node{ID: tomcat, Template: "tomcat_server"}).
			Node("shop", topology.Node{ID: topology.NodeID(fmt.Sprintf("shop-%d", i)), Template: "shop_app",
				Relationships: []topology.Relationship{{Relation: topology.HostedOn, Target: tomcat}}})
	}
	topo, err := b.Build()
	if err != nil {
		return err
	}
	packages, err := pkgsource.NewMemory(pkgsource.Package{Type: "tomcat", Version: version.MustParse("10.1.34")})
	if err != nil {
		return err
	}
	plan, err := upgrade.NewPlanner(topo, packages).Plan(ctx, upgrade.Request{
		Application: "shop", Replaces: "shop_app",
		Template: topology.Template{ID: "shop_app", Type: "webapp", Version: version.MustParse("2.0.0"),
			Requirements: []topology.Requirement{{Template: "tomcat_server", Constraint: version.MustParseConstraint(">=10")}}},
	})
	if err != nil {
		return err
	}
	plan, err = plan.Roll(upgrade.Rolling{Canaries: 1, MaxInFlight: "100%"})
	if err != nil {
		return err
	}

	report, err := upgrade.Run(ctx, plan, healthChecked{unhealthy: "shop-2"}, upgrade.WithRollback(),
		upgrade.WithEvents(func(e upgrade.Event) {
			if e.Kind != upgrade.StepStarted {
				fmt.Printf("  %-11s %s\n", e.Kind, e.Step.ID)
			}
		}))
	fmt.Println("\nOutcome:")
	for _, o := range report.Outcomes {
		fmt.Printf("  %-26s %s\n", o.Step, o.State)
	}
	if !errors.Is(err, upgrade.ErrStepFailed) {
		return fmt.Errorf("expected the run to fail, got %v", err)
	}
	fmt.Println("\nRun error:", err)
	return nil
}

// healthChecked pretends to upgrade nodes, checks their health after each
// step, and can undo a step. Node unhealthy fails its health check.
type healthChecked struct{ unhealthy topology.NodeID }

func (h healthChecked) Execute(_ context.Context, s upgrade.Step) error {
	fmt.Printf("  %-11s %s: %s → %s\n", "upgrade", s.Node, s.From, s.To)
	return nil
}

func (h healthChecked) Verify(_ context.Context, s upgrade.Step) error {
	if s.Node == h.unhealthy {
		return fmt.Errorf("health check of %s: HTTP 503 from /health", s.Node)
	}
	return nil
}

func (h healthChecked) Rollback(_ context.Context, s upgrade.Step) error {
	fmt.Printf("  %-11s %s: %s → %s\n", "undo", s.Node, s.To, s.From)
	return nil
}
