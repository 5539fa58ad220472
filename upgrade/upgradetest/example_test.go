package upgradetest_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/upgrade/upgradetest"
)

func ExampleExecutor() {
	plan := &upgrade.Plan{Steps: []upgrade.Step{
		{ID: "platform/java-1@21.0.2", Node: "java-1"},
		{ID: "platform/tomcat-1@10.1.34", Node: "tomcat-1", After: []upgrade.StepID{"platform/java-1@21.0.2"}},
		{ID: "app/shop-1@2.0.0", Node: "shop-1", After: []upgrade.StepID{"platform/tomcat-1@10.1.34"}},
	}}

	exec := new(upgradetest.Executor)
	exec.FailTimes("platform/java-1@21.0.2", 1, errors.New("mirror timed out"))
	exec.FailVerify("app/shop-1@2.0.0", errors.New("health check failed"))

	report, err := upgrade.Run(context.Background(), plan, exec,
		upgrade.WithRetry(2, time.Millisecond, 0), upgrade.WithRollback())
	fmt.Println(err)
	for _, o := range report.Outcomes {
		fmt.Printf("%s: %s after %d attempt(s)\n", o.Step, o.State, o.Attempts)
	}
	fmt.Println("started:", exec.Started())
	fmt.Println("rolled back:", exec.RolledBack())
	// Output:
	// upgrade: step app/shop-1@2.0.0 on node "shop-1": verify: health check failed
	// platform/java-1@21.0.2: rolled back after 2 attempt(s)
	// platform/tomcat-1@10.1.34: rolled back after 1 attempt(s)
	// app/shop-1@2.0.0: rolled back after 2 attempt(s)
	// started: [platform/java-1@21.0.2 platform/java-1@21.0.2 platform/tomcat-1@10.1.34 app/shop-1@2.0.0 app/shop-1@2.0.0]
	// rolled back: [app/shop-1@2.0.0 platform/tomcat-1@10.1.34 platform/java-1@21.0.2]
}
